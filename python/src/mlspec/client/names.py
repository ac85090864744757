"""Finding resources by what users call them: ids, names, names within a parent, versions.

A reference as a user writes it (``REF``) is one of::

    ID                  an id (a UUID), for example 4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07
    NAME                a name, for example churn (unique in the workspace, or in one parent)
    PARENT/NAME         a name within its parent, for example churn/train-7 (run train-7 of
                        experiment churn); PARENT is itself a REF of the parent's kind
    NAME@VERSION        a version of a dataset, model or module, for example churn-xgb@7.0.0

``parse_ref`` reads that text; ``Resolver`` finds the resource on a server. Where the
server resolves names itself (a ``ResourceRef`` by name to a kind whose names are unique
in the workspace, or to a parent with a ``version``), the resolver leaves the reference
as it is; ``resolve_references`` fills in ids only where the server would not find the
resource: ``*_id`` fields written as names, and references by name to kinds whose names
are unique only within a parent (artifacts, runs, stage reports, ...).

Example:
    >>> parse_ref("churn/train-7")
    Ref(name='train-7', version='', parent=Ref(name='churn', version='', parent=None))
    >>> str(parse_ref("churn-xgb@7.0.0"))
    'churn-xgb@7.0.0'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.client.errors import InvalidArgument, MLSpecError, NotFound
from mlspec.client.kinds import Kind, by_number, parse_kind, reference_kind
from mlspec.client.refs import kind_of
from mlspec.common.v1 import reference_pb2, resource_service_pb2

__all__ = [
    "BadReference",
    "Ref",
    "Resolver",
    "UnresolvedReference",
    "is_id",
    "parse_ref",
]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MAX_DEPTH = 4
REF_TYPE = "mlspec.common.v1.ResourceRef"


class BadReference(ValueError):
    """Text that is not a reference (``REF``); the message says what a reference looks like."""


class UnresolvedReference(LookupError):
    """A reference that names no resource, or more than one.

    Attributes:
        path: where the reference is in the message it came from ('' for a command line).
        code: the status code name, ``NOT_FOUND`` or ``INVALID_ARGUMENT`` (ambiguous).
    """

    def __init__(self, message: str, *, path: str = "", code: str = "NOT_FOUND") -> None:
        """Keeps the message, the field path and the status code name."""
        super().__init__(message)
        self.message = message
        self.path = path
        self.code = code

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.code}: {where}{self.message}"


def is_id(text: str) -> bool:
    """Whether ``text`` has the form of a server-assigned id (a UUID)."""
    return _UUID.fullmatch(text) is not None


@dataclass(frozen=True)
class Ref:
    """A parsed reference: a name or id, an optional version, an optional parent."""

    name: str
    version: str = ""
    parent: Ref | None = None

    def __str__(self) -> str:
        text = self.name + (f"@{self.version}" if self.version else "")
        return f"{self.parent}/{text}" if self.parent is not None else text


def parse_ref(text: str) -> Ref:
    """Reads a ``REF`` (see the module docstring); ``BadReference`` says what is wrong.

    Example:
        >>> parse_ref("churn@3")
        Ref(name='churn', version='3', parent=None)
    """
    if not text:
        raise BadReference("an empty reference; give an id, NAME, PARENT/NAME or NAME@VERSION")
    parts = text.split("/")
    if len(parts) > _MAX_DEPTH:
        raise BadReference(f"{text!r} nests more than {_MAX_DEPTH} levels of parents")
    ref: Ref | None = None
    for part in parts:
        name, at, version = part.partition("@")
        if not NAME.fullmatch(name):
            raise BadReference(
                f"{text!r}: {name!r} is not a name or an id (letters, digits, '-' and '_', "
                "starting with a letter or digit); write ID, NAME, PARENT/NAME or NAME@VERSION"
            )
        if at and not VERSION.fullmatch(version):
            raise BadReference(f"{text!r}: {version!r} is not a version (for example 3 or 1.4.0)")
        ref = Ref(name, version, ref)
    assert ref is not None
    return ref


class Resolver:
    """Finds resources of a server by reference, remembering what it found.

    ``client`` is a ``mlspec.client.Client`` (anything with its stub attributes).

    Example:
        >>> resolver = Resolver(client)  # doctest: +SKIP
        >>> resolver.get("model-version", "churn-xgb@7.0.0").meta.id  # doctest: +SKIP
    """

    def __init__(self, client: Any) -> None:
        """Binds the resolver to a client; nothing is called yet."""
        self.client = client
        self._found: dict[tuple[int, str], Message] = {}

    # -- one reference --------------------------------------------------------------------

    def get(self, kind: Kind | str | int, ref: Ref | str) -> Message:
        """The resource ``ref`` names, of ``kind`` (a ``Kind``, a user spelling or a number).

        Raises ``BadReference``, ``UnresolvedReference`` (nothing or several match) or
        the client's ``NotFound`` and other call errors.
        """
        target = _kind(kind)
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        key = (target.number, str(parsed))
        if key not in self._found:
            self._found[key] = self._lookup(target, parsed)
        return self._found[key]

    def resolve_id(self, kind: Kind | str | int, ref: Ref | str) -> str:
        """The id of the resource ``ref`` names (an id is checked, not just passed on)."""
        found: str = self.get(kind, ref).meta.id  # type: ignore[attr-defined]
        return found

    def remember(self, message: Message) -> None:
        """Remembers a resource just created, so that references to it need no call."""
        meta = getattr(message, "meta", None)
        if meta is None or not meta.id:
            return
        try:
            kind = by_number(_number_of(message))
        except (LookupError, ValueError):
            return
        self._found[(kind.number, meta.id)] = message

    def _lookup(self, kind: Kind, ref: Ref) -> Message:
        if ref.version:
            return self._version(kind, ref)
        if ref.parent is not None:
            return self._in_parent(kind, ref)
        if not is_id(ref.name):
            return self._by_name(kind, ref.name)
        try:
            return self._get(kind, id=ref.name)
        except NotFound as missing:
            try:  # a name that looks like an id
                return self._by_name(kind, ref.name)
            except (NotFound, UnresolvedReference):
                raise missing from None

    def _get(self, kind: Kind, **selector: str) -> Message:
        request = kind.get_request()
        for field, value in selector.items():
            setattr(request, field, value)
        stub = getattr(self.client, kind.service)
        response = getattr(stub, kind.get.name)(request)
        found: Message = getattr(response, kind.get_field)
        return found

    def _version(self, kind: Kind, ref: Ref) -> Message:
        if "version" in kind.get.input_type.fields_by_name and not kind.versioned:
            # A series told apart by a version label (pipelines): name and version select.
            return self._get(kind, name=ref.name, version=ref.version)
        if not kind.versioned or kind.parent is None:
            raise BadReference(
                f"{str(ref)!r}: a {kind.name} has no versions; NAME@VERSION names a version "
                "of a dataset, model or module (dataset-version, model-version, module-version)"
            )
        if ref.parent is not None:
            raise BadReference(
                f"{str(ref)!r}: a {by_number(kind.parent).name} is named in the whole "
                "workspace; write NAME@VERSION without a parent"
            )
        reference = reference_pb2.ResourceRef(
            kind=kind.parent,  # type: ignore[arg-type]
            version=ref.version,
        )
        if is_id(ref.name):
            reference.id = ref.name
        else:
            reference.name = ref.name
        response = self.client.resources.ResolveResource(
            resource_service_pb2.ResolveResourceRequest(resource=reference)
        )
        found = kind.message()
        if not response.resource.Unpack(found):  # pragma: no cover - the server's promise
            raise UnresolvedReference(f"{str(ref)!r} is not a {kind.label}")
        return found

    def _in_parent(self, kind: Kind, ref: Ref) -> Message:
        assert ref.parent is not None
        if kind.scope_field is not None and kind.parent is not None:
            owner = self.get(kind.parent, ref.parent)
            if is_id(ref.name):
                found = self._get(kind, id=ref.name)
                if getattr(found, kind.scope_field) != _id(owner):
                    raise UnresolvedReference(f"{kind.label} {ref.name} is not in {ref.parent}")
                return found
            return self._get(kind, name=ref.name, **{kind.scope_field: _id(owner)})
        parent = kind.main_list_parent
        if parent is None:
            raise BadReference(
                f"{str(ref)!r}: a {kind.name} is named in the whole workspace; write its NAME "
                "or id without a parent"
            )
        owner = self.get(parent.kind, ref.parent)
        return self._one(kind, ref, **{parent.field: _id(owner)})

    def _by_name(self, kind: Kind, name: str) -> Message:
        if "version" in kind.get.input_type.fields_by_name and not kind.versioned:
            return self._one(kind, Ref(name))  # the latest of a series (pipelines)
        if kind.scope_field is None:  # the server finds it (in any parent, when unambiguous)
            return self._get(kind, name=name)
        if any(p.required for p in kind.list_parents):
            parent = by_number(kind.parent) if kind.parent is not None else kind
            example = f"{parent.name.upper().replace('-', '_')}/{name}" + (
                f" or {parent.name.upper().replace('-', '_')}@VERSION" if kind.versioned else ""
            )
            raise UnresolvedReference(
                f"a {kind.name} is named within its {parent.name}: write {example}",
                code="INVALID_ARGUMENT",
            )
        return self._one(kind, Ref(name))

    def _one(self, kind: Kind, ref: Ref, **parent: str) -> Message:
        """The one resource of ``kind`` named ``ref.name`` among a list (in any parent)."""
        request = kind.list_request()
        for field, value in parent.items():
            target = request.DESCRIPTOR.fields_by_name[field]
            if target.is_repeated:
                getattr(request, field).append(value)
            else:
                setattr(request, field, value)
        request.filter = f'meta.name = "{ref.name}"'  # type: ignore[attr-defined]
        request.page_size = 2  # type: ignore[attr-defined]
        if "latest_only" in request.DESCRIPTOR.fields_by_name:
            request.latest_only = True  # type: ignore[attr-defined]
        stub = getattr(self.client, kind.service)
        found = list(getattr(getattr(stub, kind.list.name)(request), kind.list_field))
        if not found:
            raise UnresolvedReference(f"no {kind.label} named {str(ref)!r}")
        if len(found) > 1:
            scope = kind.scope_field or "parent"
            raise UnresolvedReference(
                f"several {kind.label}s are named {ref.name!r} (in different {scope} "
                f"scopes); write PARENT/{ref.name} or the id",
                code="INVALID_ARGUMENT",
            )
        first: Message = found[0]
        return first

    # -- references inside a message ------------------------------------------------------

    def resolve_references(self, message: Message, path: str = "") -> list[str]:
        """Fills in ids where the server would not find a resource by what ``message`` says.

        Two things are resolved, everywhere in ``message``: string fields that hold the
        id of a resource of one kind (``run_id``, ``dataset_id``, ...) when their value is
        not an id (it is read as a ``REF`` of that kind), and ``ResourceRef`` messages by
        name whose kind is named only within a parent (or whose name is a ``REF`` with
        ``/`` or ``@``). Returns the paths of the fields it changed. Errors carry the
        field's path (``UnresolvedReference.path``).
        """
        changed: list[str] = []
        for field_path, holder, field, index in _reference_fields(message, path):
            try:
                if field.message_type is not None:
                    ref = (
                        getattr(holder, field.name)[index]
                        if index is not None
                        else getattr(holder, field.name)
                    )
                    if self._resolve_ref_message(ref):
                        changed.append(field_path)
                    continue
                kind = reference_kind(field)
                values = getattr(holder, field.name)
                value = values[index] if index is not None else values
                if not value or is_id(value) or kind is None:
                    continue
                resolved = self.resolve_id(kind, value)
                if index is not None:
                    values[index] = resolved
                else:
                    setattr(holder, field.name, resolved)
                changed.append(field_path)
            except (BadReference, UnresolvedReference, NotFound, InvalidArgument) as exc:
                raise _located(exc, field_path) from exc
        return changed

    def _resolve_ref_message(self, ref: reference_pb2.ResourceRef) -> bool:
        """Fills ``ref.id`` when the server would not resolve its name; True if it did."""
        if ref.WhichOneof("target") != "name" or ref.version:
            return False  # an id, or a version through its parent: the server resolves it
        try:
            kind = by_number(ref.kind)
        except ValueError:
            return False  # the server says what is wrong with the kind
        plain = "/" not in ref.name and "@" not in ref.name
        if plain and kind.unique_in_workspace:
            return False
        ref.id = _id(self.get(kind, ref.name))
        return True


def _kind(kind: Kind | str | int) -> Kind:
    if isinstance(kind, Kind):
        return kind
    if isinstance(kind, str):
        return parse_kind(kind)
    return by_number(kind)


def _id(message: Message) -> str:
    found: str = message.meta.id  # type: ignore[attr-defined]
    return found


def _number_of(message: Message) -> int:
    return kind_of(message.DESCRIPTOR)


def _reference_fields(
    message: Message, path: str
) -> Iterator[tuple[str, Message, descriptor.FieldDescriptor, int | None]]:
    """(path, holder, field, index) of every id string field and ResourceRef in a message."""
    for field, value in message.ListFields():
        name = f"{path}.{field.name}" if path else field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                for key, item in value.items():
                    yield from _reference_fields(item, f"{name}[{key!r}]")
            continue
        if field.message_type is not None and field.message_type.full_name == REF_TYPE:
            if field.is_repeated:
                for i in range(len(value)):
                    yield f"{name}[{i}]", message, field, i
            else:
                yield name, message, field, None
            continue
        if field.message_type is not None:
            items = list(value) if field.is_repeated else [value]
            for i, item in enumerate(items):
                yield from _reference_fields(item, f"{name}[{i}]" if field.is_repeated else name)
            continue
        if field.type == descriptor.FieldDescriptor.TYPE_STRING and reference_kind(field):
            if field.is_repeated:
                for i in range(len(value)):
                    yield f"{name}[{i}]", message, field, i
            else:
                yield name, message, field, None


def _located(exc: Exception, path: str) -> UnresolvedReference:
    if isinstance(exc, UnresolvedReference):
        return UnresolvedReference(exc.message, path=path, code=exc.code)
    if isinstance(exc, MLSpecError):
        return UnresolvedReference(exc.message, path=path, code=exc.code.name)
    return UnresolvedReference(str(exc), path=path, code="INVALID_ARGUMENT")
