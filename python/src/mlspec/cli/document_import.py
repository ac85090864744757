"""Importing one document into a server, whatever message it holds.

- A workflow metadata file (``mlspec.metadata.v1.WorkflowMetadata``, SPEC.md section 8)
  recreates the run it describes (``mlspec.client.workflows.recreate_run``): experiment,
  PENDING run with its parameters, tags and known dataset inputs, and the stored record.
- A resource (any message with ``meta``: ``Datastore``, ``Dataset``, ``DatasetVersion``,
  ``Run``, ``ModelVersion``, ...) is created with its kind's create method unless it
  exists already: a named resource is looked up by name first, and a create refused with
  ALREADY_EXISTS (the same dataset definition, a taken model version) finds the existing one.
- A request message of an RPC (``SubmitPipelineDraftRequest``, ...) is sent to that RPC;
  ALREADY_EXISTS (a run name that is taken) counts as done before.

Before a document is sent, names are resolved to ids where the server would not resolve
them (``mlspec.client.names``), so documents refer to each other by name and importing a
file twice adds nothing.
"""

from __future__ import annotations

import hashlib
import pathlib
from dataclasses import dataclass

import click
from google.protobuf import message_factory
from google.protobuf.message import Message

from mlspec.cli.documents import Document, failure_at
from mlspec.cli.errors import CliError
from mlspec.client import AlreadyExists, Client, MLSpecError, NotFound
from mlspec.client.kinds import Kind, kind_of_message, methods_by_request
from mlspec.client.names import Resolver, UnresolvedReference
from mlspec.client.workflows import recreate_run
from mlspec.domain.models.versions import canonical_version
from mlspec.metadata.v1 import workflow_metadata_pb2
from mlspec.models.v1 import model_version_pb2

__all__ = ["CREATED", "EXISTS", "SENT", "Outcome", "import_document"]

CREATED = "created"
EXISTS = "exists"
SENT = "sent"
WORKFLOW_METADATA = workflow_metadata_pb2.WorkflowMetadata.DESCRIPTOR.full_name


@dataclass(frozen=True)
class Outcome:
    """What importing a document did to one resource."""

    document: Document
    kind: str
    name: str
    id: str
    result: str

    def record(self) -> dict[str, object]:
        """The outcome as a plain record (for ``-o json`` and ``-o yaml``)."""
        spot = self.document.where().rsplit(":", 2)
        return {
            "file": self.document.path,
            "document": self.document.number,
            "line": int(spot[1]),
            "kind": self.kind,
            "name": self.name,
            "id": self.id,
            "result": self.result,
        }


def import_document(client: Client, resolver: Resolver, document: Document) -> list[Outcome]:
    """Imports one document (see the module); ``CliError`` says where it failed."""
    message = type(document.message)()
    message.CopyFrom(document.message)
    try:
        if document.type_name == WORKFLOW_METADATA:
            assert isinstance(message, workflow_metadata_pb2.WorkflowMetadata)
            return _workflow(client, resolver, document, message)
        resolver.resolve_references(message)
        kind = kind_of_message(message)
        if kind is not None:
            return [_resource(client, resolver, document, kind, message)]
        return [_request(client, document, message)]
    except UnresolvedReference as exc:
        raise CliError(f"{document.where(exc.path)}: {exc}") from exc
    except MLSpecError as exc:
        raise CliError(failure_at(document, exc)) from exc


def _workflow(
    client: Client,
    resolver: Resolver,
    document: Document,
    metadata: workflow_metadata_pb2.WorkflowMetadata,
) -> list[Outcome]:
    single = document.number == 1 and document.text.count("\n---") == 0
    digest = hashlib.sha256(document.text.encode("utf-8")).hexdigest() if single else ""
    done = recreate_run(client, metadata, file_digest=digest, source_uri=_uri(document.path))
    for path in done.dropped:
        click_warning(f"{document.where(path)}: {path}: not on this server; left out of the record")
    resolver.remember(done.run)
    return [
        Outcome(
            document,
            "experiment",
            done.experiment.meta.name,
            done.experiment.meta.id,
            CREATED if done.experiment_created else EXISTS,
        ),
        Outcome(
            document,
            "run",
            done.run.meta.name,
            done.run.meta.id,
            CREATED if done.run_created else EXISTS,
        ),
        Outcome(
            document,
            "workflow-metadata-record",
            done.record.meta.name,
            done.record.meta.id,
            CREATED if done.record_created else EXISTS,
        ),
    ]


def click_warning(text: str) -> None:
    """Prints a warning line on stderr (not an error: the import goes on)."""
    click.echo(f"warning: {text}", err=True)


def _uri(path: str) -> str:
    return pathlib.Path(path).resolve().as_uri()


def _resource(
    client: Client, resolver: Resolver, document: Document, kind: Kind, message: Message
) -> Outcome:
    if kind.create is None:
        raise CliError(
            f"{document.where()}: a {kind.label} is not created directly; import the request "
            "that makes one (for example a SubmitPipelineDraftRequest for a pipeline run)"
        )
    existing = _named(client, kind, message)
    if existing is not None:
        return _outcome(document, kind, existing, EXISTS)
    service, _ = methods_by_request()[kind.create.input_type.full_name]
    request = message_factory.GetMessageClass(kind.create.input_type)()
    field = next(
        f.name for f in kind.create.input_type.fields if f.message_type is message.DESCRIPTOR
    )
    getattr(request, field).CopyFrom(message)
    try:
        response = getattr(getattr(client, service), kind.create.name)(request)
    except AlreadyExists:
        found = _after_conflict(client, kind, message)
        if found is None:
            return Outcome(document, kind.name, _name(message), "", EXISTS)
        return _outcome(document, kind, found, EXISTS)
    _warn(document, response)
    stored: Message = getattr(response, kind.get_field)
    resolver.remember(stored)
    return _outcome(document, kind, stored, CREATED)


def _named(client: Client, kind: Kind, message: Message) -> Message | None:
    """The resource of this kind with the message's name (in its scope), if there is one."""
    name = _name(message)
    if not name:
        return None
    selector: dict[str, str] = {"name": name}
    if kind.scope_field is not None:
        scope = getattr(message, kind.scope_field, "")
        if not scope:
            return None
        selector[kind.scope_field] = scope
    elif not kind.unique_in_workspace:
        return None  # named within a parent the Get cannot be given: create and see
    return _get(client, kind, **selector)


def _after_conflict(client: Client, kind: Kind, message: Message) -> Message | None:
    """The existing resource a create was refused for (ALREADY_EXISTS), when findable."""
    scope = getattr(message, kind.scope_field, "") if kind.scope_field else ""
    if isinstance(message, model_version_pb2.ModelVersion) and scope:
        text = canonical_version(message.version)
        return _get(client, kind, version=text, **{kind.scope_field or "": scope})
    label = getattr(message, "version", None)
    if kind.versioned and scope and isinstance(label, str) and label:  # module versions
        return _get(client, kind, version=label, **{kind.scope_field or "": scope})
    if kind.versioned and scope:  # the same definition as the latest version (datasets)
        request = kind.list_request()
        setattr(request, kind.scope_field or "", scope)
        request.order_by = "meta.create_time desc"  # type: ignore[attr-defined]
        request.page_size = 1  # type: ignore[attr-defined]
        listed = getattr(getattr(client, kind.service), kind.list.name)(request)
        items = list(getattr(listed, kind.list_field))
        return items[0] if items else None
    return None


def _get(client: Client, kind: Kind, **selector: str) -> Message | None:
    request = kind.get_request()
    for field, value in selector.items():
        setattr(request, field, value)
    try:
        response = getattr(getattr(client, kind.service), kind.get.name)(request)
    except NotFound:
        return None
    found: Message = getattr(response, kind.get_field)
    return found


def _request(client: Client, document: Document, message: Message) -> Outcome:
    found = methods_by_request().get(document.type_name)
    if found is None:
        raise CliError(
            f"{document.where()}: a {document.type_name} is neither a resource, a request "
            "nor a workflow metadata file; there is nothing to import it as"
        )
    service, method = found
    if method.server_streaming or method.client_streaming:
        raise CliError(
            f"{document.where()}: {method.name} streams; a file can send only requests of "
            "unary methods (use the SDK for streams)"
        )
    label = method.name
    try:
        response = getattr(getattr(client, service), method.name)(message)
    except AlreadyExists:
        name = str(getattr(message, "run_name", "") or getattr(message, "name", ""))
        return Outcome(document, label, name, "", EXISTS)
    _warn(document, response)
    for field, value in response.ListFields():
        if field.message_type is not None and not field.is_repeated:
            kind = kind_of_message(value)
            if kind is not None:
                return _outcome(document, kind, value, CREATED)
    return Outcome(document, label, "", "", SENT)


def _warn(document: Document, response: Message) -> None:
    for warning in getattr(response, "warnings", ()):
        click_warning(f"{document.where()}: {warning.code}: {warning.message}")


def _name(message: Message) -> str:
    meta = getattr(message, "meta", None)
    return str(meta.name) if meta is not None else ""


def _outcome(document: Document, kind: Kind, message: Message, result: str) -> Outcome:
    meta = getattr(message, "meta")  # noqa: B009 - every resource has meta
    return Outcome(document, kind.name, meta.name, meta.id, result)
