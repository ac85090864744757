"""Create, Get, List, Update and batch create for every resource kind, from descriptors.

The routing tables (``server/services/*.py``) name these for an RPC; each builder reads
the method's request and response descriptors once (the resource field, the ``selector``
oneof of a Get, the paging fields and typed filters of a List, the ``update_mask`` of an
Update) and refuses a method without that shape (``NotStandard``), so a wrong route fails
at start. The work itself is ``mlspec.domain.resources.Resources`` plus the per-kind rules
of ``mlspec.domain.kind_rules``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor, message_factory
from google.protobuf.message import Message

from mlspec import errors
from mlspec.domain import kind_rules
from mlspec.domain.common import field_behavior, listing
from mlspec.domain.common.kinds import (
    KindSpec,
    indexed_members,
    referenced_kinds,
    spec_for_message,
)
from mlspec.domain.common.resources import ACTIVE, ARCHIVED, DEPRECATED, Resources
from mlspec.query import And, Comparison, Newest, Node, Not, Or, OrderKey, parse_filter
from mlspec.server import paging
from mlspec.server.paging import encode_token
from mlspec.store.api import FieldSpec, ListQuery

Fn = Callable[[Any, Resources], Message]

MAX_BATCH = 1000
BATCH_LIMITS = {"stage_reports": 500}  # where the contract allows fewer than MAX_BATCH
LIST_FIELDS = {"page_size", "page_token", "filter", "order_by", "show_deprecated", "show_archived"}


def _resource_field(
    desc: descriptor.Descriptor,
) -> tuple[descriptor.FieldDescriptor, KindSpec] | None:
    for fd in desc.fields:
        if fd.message_type is not None:
            spec = spec_for_message(fd.message_type)
            if spec is not None:
                return fd, spec
    return None


class NotStandard(RuntimeError):
    """A route names a standard method whose request or response does not have its shape."""


def _resource_fields(
    method: descriptor.MethodDescriptor, what: str
) -> tuple[descriptor.FieldDescriptor | None, descriptor.FieldDescriptor, KindSpec]:
    """The resource field of the request (if any) and of the response, or NotStandard."""
    found_in = _resource_field(method.input_type)
    found_out = _resource_field(method.output_type)
    if found_out is None:
        raise NotStandard(
            f"{method.full_name} is not a standard {what}: no resource in its response"
        )
    return (found_in[0] if found_in else None), found_out[0], found_out[1]


def create(method: descriptor.MethodDescriptor) -> Fn:
    """Create (or Report): the request holds one new resource, the response the stored one."""
    field_in, field_out, _ = _resource_fields(method, "Create")
    if field_in is None or field_in.is_repeated:
        raise NotStandard(f"{method.full_name} is not a standard Create: no single resource")
    return _create(
        field_in.name, field_out.name, message_factory.GetMessageClass(method.output_type)
    )


def batch_create(method: descriptor.MethodDescriptor) -> Fn:
    """BatchCreate: the request holds a list of new resources, the response the stored ones."""
    field_in, field_out, _ = _resource_fields(method, "BatchCreate")
    if field_in is None or not field_in.is_repeated:
        raise NotStandard(f"{method.full_name} is not a standard BatchCreate: no resource list")
    return _batch_create(
        field_in.name, field_out.name, message_factory.GetMessageClass(method.output_type)
    )


def get(method: descriptor.MethodDescriptor) -> Fn:
    """Get: a ``selector`` oneof (id, name, ...) in the request, the resource in the response."""
    _, field_out, spec = _resource_fields(method, "Get")
    if "selector" not in method.input_type.oneofs_by_name:
        raise NotStandard(f"{method.full_name} is not a standard Get: no selector oneof")
    return _get(
        field_out.name, spec, method.input_type, message_factory.GetMessageClass(method.output_type)
    )


def list_(method: descriptor.MethodDescriptor) -> Fn:
    """List: AIP-158 paging fields in the request, a repeated resource in the response."""
    _, field_out, spec = _resource_fields(method, "List")
    if not field_out.is_repeated or "page_token" not in method.input_type.fields_by_name:
        raise NotStandard(f"{method.full_name} is not a standard List: no paging")
    return _list(
        field_out.name, spec, method.input_type, message_factory.GetMessageClass(method.output_type)
    )


def update(method: descriptor.MethodDescriptor) -> Fn:
    """Update: the resource and an ``update_mask`` in the request, the stored one in the response."""
    field_in, field_out, _ = _resource_fields(method, "Update")
    if field_in is None or "update_mask" not in method.input_type.fields_by_name:
        raise NotStandard(f"{method.full_name} is not a standard Update: no resource and mask")
    return _update(
        field_in.name, field_out.name, message_factory.GetMessageClass(method.output_type)
    )


def _create(field_in: str, field_out: str, response_cls: type[Message]) -> Fn:
    def create(request: Any, res: Resources) -> Message:
        message = getattr(request, field_in)
        if not request.HasField(field_in):
            raise errors.invalid(field_in, "is required")
        stored = kind_rules.create(res, message, field_in)
        response = response_cls()
        getattr(response, field_out).CopyFrom(stored)
        return response

    return create


def _batch_create(field_in: str, field_out: str, response_cls: type[Message]) -> Fn:
    def batch(request: Any, res: Resources) -> Message:
        items = getattr(request, field_in)
        if not items:
            raise errors.invalid(field_in, "holds no items")
        limit = BATCH_LIMITS.get(field_in, MAX_BATCH)
        if len(items) > limit:
            raise errors.too_many(field_in, len(items), limit)
        response = response_cls()
        out = getattr(response, field_out)
        for i, item in enumerate(items):
            where = f"{field_in}[{i}]"
            try:
                out.add().CopyFrom(kind_rules.create(res, item, where))
            except errors.DomainError as exc:  # say which item, also where no field path does
                if where not in exc.message:
                    exc.message = f"{where}: {exc.message}"
                raise
        return response

    return batch


def _get(
    field_out: str, spec: KindSpec, request_desc: descriptor.Descriptor, response_cls: type[Message]
) -> Fn:
    scope_field = next((f for f in spec.scope_fields if f in request_desc.fields_by_name), None)

    def get(request: Any, res: Resources) -> Message:
        selector = request.WhichOneof("selector")
        scope_id = getattr(request, scope_field) if scope_field else ""
        if selector is None:
            raise errors.invalid("id", "set id or name (or another selector of this method)")
        if selector not in ("id", "external_id") and scope_field and not scope_id:
            raise errors.invalid(scope_field, f"is required to select a {spec.label} by {selector}")
        if selector == "id":
            loaded = res.get(spec.kind, request.id)
        elif selector == "external_id":  # unique per kind in the workspace: no scope needed
            loaded = res.get_by_external_id(spec.kind, request.external_id)
        elif selector == "name" and scope_field is None and spec.scope_fields:
            loaded = _get_by_name_in_any_scope(res, spec, request.name)
        elif selector == "name":
            loaded = res.get_by_name(spec.kind, request.name, scope_id)
        else:
            loaded = _get_by_member(res, spec, selector, getattr(request, selector), scope_id)
        if loaded.record.status == DEPRECATED:
            res.check_usable(loaded, selector)
        response = response_cls()
        getattr(response, field_out).CopyFrom(loaded.message)
        return response

    return get


def _get_by_name_in_any_scope(res: Resources, spec: KindSpec, name: str) -> Any:
    """A scoped kind selected by name alone (GetStageReport): the name must be unambiguous."""
    ids = [] if "\x00" in name else res.ids_named_in_any_scope(spec.kind, name)
    if not ids:
        return res.get_by_name(spec.kind, name)  # NOT_FOUND, worded as for any name
    if len(ids) > 1:
        raise errors.invalid(
            "name",
            f"several {spec.label}s in different {spec.scope_fields[0]} scopes are named "
            f"{name!r}; select by id",
        )
    return res.get(spec.kind, ids[0])


def _get_by_member(res: Resources, spec: KindSpec, member: str, value: Any, scope_id: str) -> Any:
    members = indexed_members(spec.full_name)
    selector = member
    if member not in members:  # a singular selector of a repeated field: alias -> aliases
        member = next((m for m in (member + "es", member + "s") if m in members), member)
    if member not in members:
        raise errors.invalid(selector, "selecting by this field is not supported by this server")
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=spec.kind,
        scope=scope_id if spec.scope_fields else None,
        statuses=(ACTIVE, DEPRECATED),
        filter=Comparison((member,), "=", str(value)),
        page_size=1,
        order_by=[],
        members=_field_specs(spec),
    )
    page = res.list_page(query)
    if not page.records:
        raise errors.NotFound(
            f"no {spec.label} with {member} = {value!r}",
            reason="RESOURCE_NOT_FOUND",
            resource_type=spec.full_name,
            resource_name=str(value),
        )
    return res.get(spec.kind, page.records[0].id)


def _field_specs(spec: KindSpec) -> dict[str, FieldSpec]:
    return {
        name: FieldSpec(kind, values)
        for name, (kind, values) in indexed_members(spec.full_name).items()
    }


def _list(
    field_out: str, spec: KindSpec, request_desc: descriptor.Descriptor, response_cls: type[Message]
) -> Fn:
    extras = [f for f in request_desc.fields if f.name not in LIST_FIELDS]
    members = _field_specs(spec)
    parents = _parent_fields(spec, extras)
    declared = listing.declaration(request_desc)
    if declared is None:
        raise NotStandard(f"{request_desc.full_name} declares no (mlspec.common.v1.list)")
    ranges = [
        (f.name, f.name.removesuffix("_after") + "_before")
        for f in extras
        if f.name.endswith("_after")
        and f.name.removesuffix("_after") + "_before" in request_desc.fields_by_name
    ]

    def list_(request: Any, res: Resources) -> Message:
        page_size = paging.page_size(request.page_size, declared.default_page_size)
        for since, until in ranges:
            if (
                request.HasField(since)
                and request.HasField(until)
                and getattr(request, until).ToNanoseconds()
                < getattr(request, since).ToNanoseconds()
            ):
                raise errors.invalid(until, f"is before {since}; the time range is empty")
        for fd, kinds, required in parents:  # NOT_FOUND for a parent that does not exist
            ids = [
                i
                for i in (
                    getattr(request, fd.name) if fd.is_repeated else [getattr(request, fd.name)]
                )
                if i
            ]
            if required and not ids:
                raise errors.invalid(fd.name, "is required")
            for i in ids:
                res.get_one_of(kinds, i, fd.name)
        statuses = [ACTIVE]
        if getattr(request, "show_deprecated", False):
            statuses.append(DEPRECATED)
        if getattr(request, "show_archived", False):
            statuses.append(ARCHIVED)
        conditions: list[Node] = []
        parsed = parse_filter(getattr(request, "filter", ""))
        if parsed is not None:
            listing.check_filter(declared, parsed)
            conditions.append(parsed)
        scope: str | None = None
        for fd in extras:
            scope, condition = _extra_condition(spec, fd, request, scope)
            if condition is not None:
                conditions.append(condition)
        node: Node | None = None
        if conditions:
            node = conditions[0] if len(conditions) == 1 else And(tuple(conditions))
        order = [
            OrderKey(spec.sort_members.get(k.member, k.member), k.descending)
            for k in listing.order(declared, request.order_by)
        ]
        if not request.order_by and order == [OrderKey("create_time")]:
            # Creation order by default: the store's insertion order, which a filtered
            # page may read through the field index.
            order = []
        fingerprint = paging.query_fingerprint(request)
        after = None
        if request.page_token:
            token = paging.token_fields(request.page_token, q=fingerprint)
            after = (_token_position(token, order), paging.token_int(token, "s"))
        query = ListQuery(
            workspace=res.scope.workspace,
            kind=spec.kind,
            scope=scope,
            statuses=tuple(statuses),
            filter=node,
            order_by=order,
            page_size=page_size,
            after=after,
            members=members,
        )
        page = paging.within_bytes(res.list_page, query, res.list_page(query))
        response = response_cls()
        out = getattr(response, field_out)
        for record in page.records:
            out.add().MergeFromString(record.data)
        if page.more and page.last is not None:
            next_token = encode_token({"q": fingerprint, "v": page.last[0], "s": page.last[1]})
            setattr(response, "next_page_token", next_token)  # noqa: B010 - generic over List responses
        return response

    return list_


def _token_position(token: dict[str, Any], order: list[OrderKey]) -> Any:
    """The sort values a page token carries for ``order`` (INVALID_ARGUMENT if tampered).

    Creation order carries none; one built-in key (name, times) its value; any other
    order a list with one value per key.
    """
    single = order[0].member.removeprefix("meta.") if len(order) == 1 else ""
    if not order:  # creation order: the position is seq alone
        return None
    value = token.get("v")
    if single in ("name", "create_time", "update_time"):
        return paging.token_str(token, "v") if single == "name" else paging.token_int(token, "v")
    if (
        not isinstance(value, list)
        or len(value) != len(order)
        or not all(v is None or isinstance(v, (str, int, float)) for v in value)
    ):
        raise errors.invalid("page_token", "is not a page token this server issued")
    return value


def _parent_fields(
    spec: KindSpec, extras: list[descriptor.FieldDescriptor]
) -> list[tuple[descriptor.FieldDescriptor, tuple[int, ...], bool]]:
    """The reference fields of a list request (dataset_id, experiment_ids, ...).

    Which kinds each may name comes from its `google.api.resource_reference`.
    """
    found = []
    for fd in extras:
        kinds = referenced_kinds(fd)
        if not kinds:
            continue
        required = field_behavior.REQUIRED in field_behavior.behaviors(fd)
        found.append((fd, kinds, required))
    return found


# List request fields that are not an equality on one member: what each asks for.
SPECIAL_FIELDS: dict[str, Callable[[Any], Node | None]] = {
    # ListDatasetProfiles: stale profiles only when asked for.
    "include_stale": lambda v: None if v else Not(Comparison(("freshness", "stale"), "=", "true")),
    # ListPipelines: the latest active version of each name series.
    "latest_only": lambda v: Newest(("name",), statuses=(ACTIVE,), same_scope=False) if v else None,
    # ListStepRuns: the latest attempt of each vertex and iteration of the pipeline run.
    "latest_attempt_only": lambda v: Newest(("vertex_id", "iteration_index")) if v else None,
    # ListWorkflowMetadataRecords: the model name, case-insensitively.
    "model_name": lambda v: Comparison(("model_name",), "=", v.lower()) if v else None,
}


def _extra_condition(
    spec: KindSpec, fd: descriptor.FieldDescriptor, request: Any, scope: str | None
) -> tuple[str | None, Node | None]:
    """Turns a list request's extra field (run_id, stage, states, ...) into a condition."""
    members = indexed_members(spec.full_name)
    name = fd.name
    if name in SPECIAL_FIELDS:
        return scope, SPECIAL_FIELDS[name](getattr(request, name))
    if fd.is_repeated:
        values = list(getattr(request, name))
        if not values:
            return scope, None
        member = name[:-1] if name.endswith("s") else name
        if member.endswith("_id") is False and member + "_id" in members:
            member += "_id"
        if member not in members:
            raise errors.invalid(
                name, "filtering by this field is not supported by this server yet"
            )
        enum_names = dict((v, n) for n, v in members[member][1])
        return scope, Or(
            tuple(Comparison((member,), "=", str(enum_names.get(v, v))) for v in values)
        )
    if fd.message_type is not None:
        if not request.HasField(name):
            return scope, None
        value = getattr(request, name)
        if fd.message_type.full_name == "mlspec.common.v1.ResourceRef":
            if value.id:
                return scope, Comparison((name, "id"), "=", value.id)
            return scope, Comparison((name, "name"), "=", value.name.lower())
        if fd.message_type.full_name == "google.protobuf.Timestamp":
            for suffix, op in (("_after", ">="), ("_before", "<")):
                if name.endswith(suffix) and name[: -len(suffix)] in members:
                    return scope, Comparison(
                        (name[: -len(suffix)],), op, value.ToJsonString(), quoted=True
                    )
        raise errors.invalid(name, "filtering by this field is not supported by this server yet")
    value = getattr(request, name)
    if value in ("", 0, False):
        return scope, None
    if name in spec.scope_fields and scope is None:
        return str(value), None
    if name in members:
        if fd.enum_type is not None:
            value = fd.enum_type.values_by_number[value].name
        return scope, Comparison((name,), "=", str(value))
    raise errors.invalid(name, "filtering by this field is not supported by this server yet")


def _update(field_in: str, field_out: str, response_cls: type[Message]) -> Fn:
    def update(request: Any, res: Resources) -> Message:
        if not request.HasField(field_in):
            raise errors.invalid(field_in, "is required")
        stored = kind_rules.update(res, getattr(request, field_in), request.update_mask, field_in)
        response = response_cls()
        getattr(response, field_out).CopyFrom(stored)
        return response

    return update
