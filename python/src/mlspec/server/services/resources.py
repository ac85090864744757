"""mlspec.common.v1.ResourceService: resolve, rename, archive, deprecate, reactivate, import."""

from __future__ import annotations

from functools import cache

from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError, Message

from mlspec import errors
from mlspec.common.v1 import audit_pb2
from mlspec.common.v1 import resource_service_pb2 as pb
from mlspec.domain import kind_rules
from mlspec.domain.clock import micros_to_timestamp
from mlspec.domain.common import limits, well_formed
from mlspec.domain.common.kinds import BY_MESSAGE
from mlspec.domain.common.resources import ACTIVE, ARCHIVED, DEPRECATED, Loaded, Resources
from mlspec.errors import FieldViolation
from mlspec.server import paging
from mlspec.server.routes import read, write

SERVICE = "mlspec.common.v1.ResourceService"
AUDIT_PAGE_DEFAULT = 100


def _fill(response: Message, loaded: Loaded) -> Message:
    response.meta.CopyFrom(loaded.meta)  # type: ignore[attr-defined]
    response.resource.Pack(loaded.message)  # type: ignore[attr-defined]
    return response


def resolve(request: pb.ResolveResourceRequest, res: Resources) -> Message:
    """Resolves a reference; deprecated targets come with a warning."""
    loaded = res.resolve(request.resource, "resource", for_use=False)
    if loaded.record.status == DEPRECATED:
        res.check_usable(loaded, "resource")
    return _fill(pb.ResolveResourceResponse(), loaded)


def rename(request: pb.RenameResourceRequest, res: Resources) -> Message:
    """Renames a resource referenced by id."""
    loaded = res.rename(request.resource, request.new_name, request.etag, "resource")
    return _fill(pb.RenameResourceResponse(), loaded)


def archive(request: pb.ArchiveResourceRequest, res: Resources) -> Message:
    """Archives a resource referenced by id."""
    loaded = kind_rules.set_status(res, request.resource, ARCHIVED, request.etag, "resource")
    return _fill(pb.ArchiveResourceResponse(), loaded)


def deprecate(request: pb.DeprecateResourceRequest, res: Resources) -> Message:
    """Deprecates a resource referenced by id."""
    loaded = kind_rules.set_status(res, request.resource, DEPRECATED, request.etag, "resource")
    return _fill(pb.DeprecateResourceResponse(), loaded)


def reactivate(request: pb.ReactivateResourceRequest, res: Resources) -> Message:
    """Reactivates a resource referenced by id (its name must still be free)."""
    loaded = kind_rules.set_status(res, request.resource, ACTIVE, request.etag, "resource")
    return _fill(pb.ReactivateResourceResponse(), loaded)


@cache
def _creatable_kinds() -> frozenset[int]:
    """Kinds that some area service creates with a standard Create (or ReportStage) route."""
    from mlspec.server import standard_methods
    from mlspec.server.services import area_routes

    kinds = set()
    pool = descriptor_pool.Default()
    for key, route in area_routes().items():
        if route.standard is not standard_methods.create:
            continue
        method = pool.FindMethodByName(key.replace("/", "."))
        for field in method.input_type.fields:
            spec = BY_MESSAGE.get(field.message_type.full_name) if field.message_type else None
            if spec is not None:
                kinds.add(spec.kind)
    return frozenset(kinds)


def import_resource(request: pb.ImportResourceRequest, res: Resources) -> Message:
    """Creates a resource keeping its source's history, or returns the one already imported."""
    full_name = request.resource.TypeName()
    spec = BY_MESSAGE.get(full_name)
    if spec is None:
        raise errors.invalid(
            "resource.type_url", f"{full_name or 'an empty type'} is not a resource kind"
        )
    if spec.kind not in _creatable_kinds():
        raise errors.invalid(
            "resource.type_url",
            f"a {spec.label} is made by the server's own methods (publish, submit, ...), "
            "not created, so it cannot be imported",
        )
    message = spec.message()
    try:
        unpacked = request.resource.Unpack(message)
    except DecodeError:
        raise errors.invalid("resource.value", f"is not a valid {spec.label}") from None
    if not unpacked:
        raise errors.invalid("resource", f"does not hold a {spec.label}")
    # The dispatcher's checks of limits and values stop at the Any: run them inside it.
    found = [
        FieldViolation(f"resource.{v.field}", v.description)
        for v in limits.violations(message, len(request.resource.value))
    ] + well_formed.violations(message, "resource")
    if found:
        raise errors.not_valid(f"the imported {spec.label} is not valid", found, "INVALID_VALUE")
    meta = message.meta  # type: ignore[attr-defined]
    if not meta.HasField("external_id"):
        raise errors.invalid(
            "resource.meta.external_id", "is required: say where the imported object comes from"
        )
    existing = res.find_by_external_id(spec.kind, meta.external_id.system, meta.external_id.id)
    response = pb.ImportResourceResponse()
    if existing is not None:
        response.already_existed = True
        return _fill(response, existing)
    res.scope.importing = True
    stored = kind_rules.create(res, message, "resource")
    response.meta.CopyFrom(stored.meta)  # type: ignore[attr-defined]
    response.resource.Pack(stored)
    return response


# Every RPC of ResourceService and what serves it (server/routes.py says how to read this).
def list_audit_events(request: pb.ListAuditEventsRequest, res: Resources) -> Message:
    """The caller's workspace's audit trail, oldest first (admins only: server/auth.py)."""
    size = paging.page_size(request.page_size, AUDIT_PAGE_DEFAULT)
    fingerprint = paging.query_fingerprint(request)
    after = 0
    if request.page_token:
        after = paging.token_int(paging.token_fields(request.page_token, q=fingerprint), "s")
    rows = res.audit_page(
        after,
        size + 1,
        start_time=request.start_time.ToMicroseconds() if request.HasField("start_time") else None,
        end_time=request.end_time.ToMicroseconds() if request.HasField("end_time") else None,
        method=request.method,
        resource_id=request.resource_id,
    )
    response = pb.ListAuditEventsResponse()
    for row in rows[:size]:
        response.audit_events.append(
            audit_pb2.AuditEvent(
                sequence_number=row.seq,
                time=micros_to_timestamp(row.time),
                principal=row.principal,
                method=row.method,
                resource_id=row.resource_id,
                request_id=row.request_id,
                code=row.code,
                message=row.message,
            )
        )
    if len(rows) > size:
        response.next_page_token = paging.encode_token({"q": fingerprint, "s": rows[size - 1].seq})
    return response


ROUTES = {
    "ResolveResource": read(resolve),
    "RenameResource": write(rename),
    "ArchiveResource": write(archive),
    "DeprecateResource": write(deprecate),
    "ReactivateResource": write(reactivate),
    "ListAuditEvents": read(list_audit_events),
    "ImportResource": write(import_resource),
}
