"""Every resource kind of the contract, as users spell it, with the methods that read it.

The catalog is built from the service descriptors: a kind is the resource message of a
``Get<Kind>`` and a ``List<Kinds>`` method (``google.api.resource`` says which
``ResourceKind`` it is), so a kind added to the contract appears here by itself. For each
kind it records what name lookups need: the field that scopes a name in ``Get``
(``dataset_id`` for a dataset version), the kind that field points at, whether ``Get``
selects a version of that parent (``version``), and the reference fields of ``List``.

Users spell a kind as its message name in kebab case (``dataset-version``); ``parse_kind``
also takes the plural, any case, ``_`` or no separator, and ``RESOURCE_KIND_DATASET_VERSION``.

Example:
    >>> parse_kind("Dataset_Versions").name
    'dataset-version'
    >>> parse_kind("stage-report").scope_field is None
    True
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor, message_factory
from google.protobuf.message import Message

from mlspec.client.refs import kind_of
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import data_service_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2
from mlspec.metadata.v1 import metadata_service_pb2
from mlspec.models.v1 import models_service_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2
from mlspec.tracking.v1 import tracking_service_pb2

__all__ = [
    "KINDS",
    "Kind",
    "ListParent",
    "UnknownKind",
    "by_number",
    "kind_names",
    "kind_of_message",
    "methods_by_request",
    "parse_kind",
    "reference_kind",
    "service_methods",
]

K = reference_pb2.ResourceKind

# The attribute of ``mlspec.client.Client`` that holds each service's stub.
SERVICE_ATTRIBUTES = {
    "mlspec.data.v1.DataService": "data",
    "mlspec.pipelines.v1.PipelinesService": "pipelines",
    "mlspec.tracking.v1.TrackingService": "tracking",
    "mlspec.models.v1.ModelsService": "models",
    "mlspec.lifecycle.v1.LifecycleService": "lifecycle",
    "mlspec.monitoring.v1.MonitoringService": "monitoring",
    "mlspec.metadata.v1.MetadataService": "metadata",
}
_SERVICE_FILES = (
    data_service_pb2,
    pipelines_service_pb2,
    tracking_service_pb2,
    models_service_pb2,
    lifecycle_service_pb2,
    monitoring_service_pb2,
    metadata_service_pb2,
)

# Kinds whose names the contract makes unique in the whole workspace (each resource's
# `meta` comment says so). A ResourceRef by name to one of these is resolved by the
# server; names of the other kinds are unique only within a parent (a run, a dataset, ...).
NAMES_UNIQUE_IN_WORKSPACE = frozenset(
    {
        K.RESOURCE_KIND_DATASTORE,
        K.RESOURCE_KIND_DATASET,
        K.RESOURCE_KIND_MODULE,
        K.RESOURCE_KIND_PIPELINE_DRAFT,
        K.RESOURCE_KIND_PIPELINE_RUN,
        K.RESOURCE_KIND_EXPERIMENT,
        K.RESOURCE_KIND_MODEL,
        K.RESOURCE_KIND_ALERT,
        K.RESOURCE_KIND_ROLLBACK_POLICY,
        K.RESOURCE_KIND_WORKFLOW_METADATA_RECORD,
    }
)

_PAGING = {"page_size", "page_token", "filter", "order_by", "show_deprecated", "show_archived"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class UnknownKind(ValueError):
    """A word that names no resource kind; the message lists the kinds there are."""


@dataclass(frozen=True)
class ListParent:
    """A reference field of a ``List`` request: the parent whose children are listed."""

    field: str
    kind: int
    required: bool
    repeated: bool


@dataclass(frozen=True)
class Kind:
    """One resource kind and the methods that read it.

    Attributes:
        number: the ``ResourceKind`` value.
        message: the resource message class (``DatasetVersion``).
        name: the user's spelling, kebab case (``dataset-version``).
        plural: the plural in kebab case (``dataset-versions``).
        service: the ``Client`` attribute of the service (``data``).
        get: the ``Get`` method; ``list``: the ``List`` method; ``create``: the method that
            creates one (``CreateDataset``, ``ReportStage``), None where another does
            (pipelines are published, pipeline runs submitted).
        scope_field: the ``Get`` request field that scopes a name (``dataset_id``).
        parent: the kind ``scope_field`` points at (None without a scope field).
        versioned: ``Get`` selects by ``version`` within the parent (dataset, model and
            module versions), which a ``ResourceRef`` to the parent with ``version`` names.
        list_parents: the reference fields of the ``List`` request.
        unique_in_workspace: names are unique in the workspace, so the server resolves a
            ``ResourceRef`` by name.
    """

    number: int
    message: type[Message]
    name: str
    plural: str
    service: str
    get: descriptor.MethodDescriptor
    list: descriptor.MethodDescriptor
    create: descriptor.MethodDescriptor | None
    scope_field: str | None
    parent: int | None
    versioned: bool
    list_parents: tuple[ListParent, ...]
    unique_in_workspace: bool

    @property
    def label(self) -> str:
        """The message name, for example ``DatasetVersion``."""
        return self.message.DESCRIPTOR.name

    @property
    def enum_name(self) -> str:
        """The ``ResourceKind`` value name, for example ``RESOURCE_KIND_DATASET_VERSION``."""
        return K.Name(self.number)  # type: ignore[arg-type]

    def get_request(self) -> Message:
        """A new, empty request message of ``Get``."""
        return message_factory.GetMessageClass(self.get.input_type)()

    def list_request(self) -> Message:
        """A new, empty request message of ``List``."""
        return message_factory.GetMessageClass(self.list.input_type)()

    @property
    def get_field(self) -> str:
        """The field of the ``Get`` response that holds the resource."""
        return _resource_field(self.get.output_type, self.message.DESCRIPTOR)

    @property
    def list_field(self) -> str:
        """The repeated field of the ``List`` response that holds the resources."""
        return _resource_field(self.list.output_type, self.message.DESCRIPTOR)

    @property
    def main_list_parent(self) -> ListParent | None:
        """The parent a list is usually narrowed to: the required one, else the scope's."""
        required = [p for p in self.list_parents if p.required]
        if required:
            return required[0]
        same = [p for p in self.list_parents if p.kind == self.parent]
        if same:
            return same[0]
        return self.list_parents[0] if self.list_parents else None


def _resource_field(container: descriptor.Descriptor, resource: Any) -> str:
    for field in container.fields:
        if field.message_type is not None and field.message_type.full_name == resource.full_name:
            return field.name
    raise LookupError(f"{container.full_name} holds no {resource.full_name}")  # pragma: no cover


def kebab(message_name: str) -> str:
    """``DatasetVersion`` -> ``dataset-version``."""
    return _CAMEL.sub("-", message_name).lower()


def reference_kind(field: descriptor.FieldDescriptor) -> int | None:
    """The ``ResourceKind`` a field's ``google.api.resource_reference`` names, if one kind."""
    options = field.GetOptions()
    if not options.HasExtension(resource_pb2.resource_reference):
        return None
    target = options.Extensions[resource_pb2.resource_reference].type
    if "/" not in target:  # "*": the message says which kind (ResourceRef)
        return None
    name = "RESOURCE_KIND_" + _CAMEL.sub("_", target.split("/", 1)[1]).upper()
    try:
        return int(K.Value(name))
    except ValueError:  # a kind this version of the contract does not know
        return None


def _required(field: descriptor.FieldDescriptor) -> bool:
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.REQUIRED in behaviors


def _resource_of(message: descriptor.Descriptor, *, repeated: bool) -> descriptor.Descriptor | None:
    for field in message.fields:
        if (
            field.message_type is not None
            and field.is_repeated == repeated
            and field.message_type.GetOptions().Extensions[resource_pb2.resource].type
        ):
            return field.message_type
    return None


def service_methods() -> Iterator[tuple[str, descriptor.MethodDescriptor]]:
    """(``Client`` attribute, method) of every RPC of the area services."""
    for module in _SERVICE_FILES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield SERVICE_ATTRIBUTES[service.full_name], method


@cache
def _catalog() -> tuple[Kind, ...]:
    gets: dict[str, tuple[str, descriptor.MethodDescriptor]] = {}
    lists: dict[str, descriptor.MethodDescriptor] = {}
    creates: dict[str, descriptor.MethodDescriptor] = {}
    for service, method in service_methods():
        if method.name.startswith("Get") and "selector" in method.input_type.oneofs_by_name:
            found = _resource_of(method.output_type, repeated=False)
            if found is not None:
                gets[found.full_name] = (service, method)
        elif method.name.startswith("List") and "page_token" in method.input_type.fields_by_name:
            found = _resource_of(method.output_type, repeated=True)
            if found is not None:
                lists[found.full_name] = method
        elif method.name.startswith(("Create", "Report")):
            found = _resource_of(method.input_type, repeated=False)
            if found is not None:
                creates[found.full_name] = method
    kinds = []
    for full_name, (service, get) in gets.items():
        listing = lists.get(full_name)
        resource_type = _resource_of(get.output_type, repeated=False)
        if listing is None or resource_type is None:  # pragma: no cover - all have both
            continue
        message = message_factory.GetMessageClass(resource_type)
        scope = next(
            (
                f
                for f in get.input_type.fields
                if f.containing_oneof is None and reference_kind(f) is not None
            ),
            None,
        )
        selectors = {f.name for f in get.input_type.oneofs_by_name["selector"].fields}
        parents = tuple(
            ListParent(f.name, kind, _required(f), f.is_repeated)
            for f in listing.input_type.fields
            if f.name not in _PAGING and (kind := reference_kind(f)) is not None
        )
        resource = message.DESCRIPTOR.GetOptions().Extensions[resource_pb2.resource]
        number = kind_of(message.DESCRIPTOR)
        kinds.append(
            Kind(
                number=number,
                message=message,
                name=kebab(message.DESCRIPTOR.name),
                plural=kebab(resource.plural[:1].upper() + resource.plural[1:]),
                service=service,
                get=get,
                list=listing,
                create=creates.get(full_name),
                scope_field=scope.name if scope is not None else None,
                parent=reference_kind(scope) if scope is not None else None,
                versioned="version" in selectors and scope is not None,
                list_parents=parents,
                unique_in_workspace=number in NAMES_UNIQUE_IN_WORKSPACE,
            )
        )
    return tuple(sorted(kinds, key=lambda k: k.name))


KINDS: tuple[Kind, ...] = _catalog()
"""Every kind, sorted by name."""

_BY_NUMBER = {kind.number: kind for kind in KINDS}


def _squash(text: str) -> str:
    return re.sub(r"[\s_-]", "", text.lower())


@cache
def _spellings() -> dict[str, Kind]:
    found: dict[str, Kind] = {}
    for kind in KINDS:
        for spelling in (kind.name, kind.plural, kind.label, kind.enum_name):
            found[_squash(spelling)] = kind
            found[_squash(spelling.removeprefix("RESOURCE_KIND_"))] = kind
    return found


@cache
def methods_by_request() -> dict[str, tuple[str, descriptor.MethodDescriptor]]:
    """(``Client`` attribute, method) of every RPC, by the full name of its request."""
    return {method.input_type.full_name: (service, method) for service, method in service_methods()}


def kind_of_message(message: Message) -> Kind | None:
    """The kind of a resource message (``Dataset``), None for any other message."""
    name = message.DESCRIPTOR.full_name
    return next((kind for kind in KINDS if kind.message.DESCRIPTOR.full_name == name), None)


def kind_names() -> list[str]:
    """The user spelling of every kind, sorted."""
    return [kind.name for kind in KINDS]


def by_number(number: int) -> Kind:
    """The kind of a ``ResourceKind`` value; ``UnknownKind`` for one without methods."""
    try:
        return _BY_NUMBER[number]
    except KeyError:
        raise UnknownKind(f"no resource kind numbered {number}") from None


def parse_kind(text: str) -> Kind:
    """The kind a user's word names, or ``UnknownKind`` listing the valid spellings.

    Example:
        >>> parse_kind("RESOURCE_KIND_MODEL_VERSION").name
        'model-version'
    """
    found = _spellings().get(_squash(text))
    if found is not None:
        return found
    close = difflib.get_close_matches(kebab(text).replace("_", "-"), kind_names(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownKind(f"unknown kind {text!r}{hint}; the kinds are {', '.join(kind_names())}")
