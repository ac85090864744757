"""Resource references (``mlspec.common.v1.ResourceRef``) built in one place.

Helpers that take inputs, outputs or lineage start points accept any resource message
that has ``meta`` (``Dataset``, ``DatasetVersion``, ``Artifact``, ``ModelVersion``, ``Run``,
...), a ``ResourceRef`` as it is, or a ``LineageEndpoint``. The kind comes from the
message's ``google.api.resource`` type (``mlspec.io/DatasetVersion`` is
``RESOURCE_KIND_DATASET_VERSION``), so every resource kind of the contract works.

Example:
    >>> from mlspec.data.v1.dataset_pb2 import DatasetVersion
    >>> version = DatasetVersion()
    >>> version.meta.id = "d-1"
    >>> ref = to_ref(version)
    >>> (ResourceKind.Name(ref.kind), ref.id)
    ('RESOURCE_KIND_DATASET_VERSION', 'd-1')
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

from google.api import resource_pb2
from google.protobuf import message as protobuf_message

from mlspec.common.v1 import digest_pb2
from mlspec.common.v1.reference_pb2 import ResourceKind, ResourceRef
from mlspec.lifecycle.v1 import stage_report_pb2

RefLike: TypeAlias = "protobuf_message.Message | ResourceRef"
"""A resource message with ``meta``, a ``ResourceRef`` or a ``LineageEndpoint``."""

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def kind_of(message_type: Any) -> int:
    """The ``ResourceKind`` of a resource message type (from its resource annotation).

    Raises ``TypeError`` for a message type that is not an MLSpec resource.
    """
    options = message_type.GetOptions()
    resource = options.Extensions[resource_pb2.resource]
    if not resource.type:
        raise TypeError(f"{message_type.full_name} is not an MLSpec resource")
    name = resource.type.split("/", 1)[1]
    return ResourceKind.Value("RESOURCE_KIND_" + _CAMEL.sub("_", name).upper())


def to_ref(resource: Any, *, version: str = "") -> ResourceRef:
    """Builds a ``ResourceRef`` to a resource message (by id), or copies a reference.

    Example:
        >>> to_ref(ResourceRef(kind=ResourceKind.RESOURCE_KIND_RUN, id="r")).id
        'r'
    """
    if isinstance(resource, ResourceRef):
        ref = ResourceRef()
        ref.CopyFrom(resource)
        if version:
            ref.version = version
        return ref
    if isinstance(resource, stage_report_pb2.LineageEndpoint):
        return to_ref(resource.resource, version=version)
    if not isinstance(resource, protobuf_message.Message) or "meta" not in (
        resource.DESCRIPTOR.fields_by_name
    ):
        raise TypeError(
            f"expected a resource message with meta or a ResourceRef, got {type(resource)!r}"
        )
    meta = resource.meta  # type: ignore[attr-defined]
    kind = kind_of(resource.DESCRIPTOR)
    if meta.id:
        return ResourceRef(kind=kind, id=meta.id, version=version)  # type: ignore[arg-type]
    if meta.name:
        return ResourceRef(kind=kind, name=meta.name, version=version)  # type: ignore[arg-type]
    raise ValueError(f"the {resource.DESCRIPTOR.name} has neither meta.id nor meta.name")


def digest_of(resource: Any) -> digest_pb2.DigestSet | None:
    """The content digest a resource message records, if any.

    ``Artifact.digest``, ``DatasetVersion.content_digest`` and
    ``ModelVersion.artifact.digest`` are the recorded digests of their content.
    """
    if not isinstance(resource, protobuf_message.Message):
        return None
    for path in (("digest",), ("content_digest",), ("artifact", "digest")):
        current: Any = resource
        for part in path:
            if part not in current.DESCRIPTOR.fields_by_name or not current.HasField(part):
                current = None
                break
            current = getattr(current, part)
        if isinstance(current, digest_pb2.DigestSet) and current.digests:
            return current
    return None


def to_endpoint(
    resource: Any, *, role: str = "", uri: str = ""
) -> stage_report_pb2.LineageEndpoint:
    """Builds a ``LineageEndpoint`` (one lineage edge of a stage report).

    The digest is copied from the resource when it records one; a ``LineageEndpoint`` is
    returned as a copy (``role`` and ``uri`` override its own when given).

    Example:
        >>> ref = ResourceRef(kind=ResourceKind.RESOURCE_KIND_ARTIFACT, id="a")
        >>> to_endpoint(ref, role="model").role
        'model'
    """
    if isinstance(resource, stage_report_pb2.LineageEndpoint):
        endpoint = stage_report_pb2.LineageEndpoint()
        endpoint.CopyFrom(resource)
    else:
        endpoint = stage_report_pb2.LineageEndpoint(resource=to_ref(resource))
        digest = digest_of(resource)
        if digest is not None:
            endpoint.digest.CopyFrom(digest)
    if role:
        endpoint.role = role
    if uri:
        endpoint.uri = uri
    return endpoint
