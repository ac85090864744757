"""What a List method accepts, read from its ``(mlspec.common.v1.list)`` declaration.

Every List request message of the contract declares its sort keys, default order,
filter fields and default page size once (``proto/mlspec/common/v1/options.proto``).
This module turns a declaration into the checks every List method makes: ``order``
parses ``order_by`` (the default order when it is empty) and refuses any key not
declared; ``check_filter`` refuses a filter naming a field not declared. The common
object fields may be written with or without ``meta.``. docs/lists.md is generated from
the same declarations (``tools/list_reference.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from google.protobuf import descriptor

from mlspec import errors
from mlspec.common.v1 import options_pb2
from mlspec.query import And, Comparison, Node, Not, Or, OrderKey, parse_order_by

# The common object fields, addressed with or without `meta.`.
COMMON = frozenset(
    {
        "name",
        "status",
        "create_time",
        "update_time",
        "labels",
        "description",
        "display_name",
        "external_id",
    }
)
# ObjectMeta's display name and external identity are filter fields of every list of
# resources, as object_meta.proto promises, without each declaration repeating them.
META_FILTER_FIELDS = frozenset(
    {"display_name", "external_id.system", "external_id.id", "external_id.uri"}
)


@dataclass(frozen=True)
class Declaration:
    """One List method's declaration: what its filter and order_by accept."""

    request: str
    default_order: tuple[OrderKey, ...]
    sort_keys: frozenset[str]
    filter_fields: frozenset[str]
    default_page_size: int

    @property
    def any_field(self) -> bool:
        """Whether the filter may test any field path of the listed record (``*``)."""
        return "*" in self.filter_fields

    def sorts_by(self, key: str) -> bool:
        """Whether ``key`` (canonical) is a declared sort key or in a declared family."""
        return _declared(key, self.sort_keys)

    def filters_by(self, member: str) -> bool:
        """Whether ``member`` (canonical) is a declared filter field or in a family."""
        return self.any_field or _declared(member, self.filter_fields)


def _declared(name: str, declared: frozenset[str]) -> bool:
    if name in declared:
        return True
    return any(
        d.endswith(".*") and name.startswith(d[:-1]) and len(name) > len(d) - 1 for d in declared
    )


def canonical(member: str) -> str:
    """``meta.create_time`` -> ``create_time``; other members unchanged."""
    if member.startswith("meta.") and member[5:].split(".", 1)[0] in COMMON:
        return member[5:]
    return member


@cache
def declaration(request: descriptor.Descriptor) -> Declaration | None:
    """The declaration of a List request message, or None when it has none.

    A list of resources (its items carry an ObjectMeta) also filters by
    ``META_FILTER_FIELDS``.
    """
    options = request.GetOptions()
    if not options.HasExtension(options_pb2.list):
        return None
    spec = options.Extensions[options_pb2.list]
    return Declaration(
        request=request.full_name,
        default_order=tuple(
            OrderKey(canonical(k.member), k.descending) for k in parse_order_by(spec.default_order)
        ),
        sort_keys=frozenset(spec.sort_keys),
        filter_fields=frozenset(spec.filter_fields)
        | (META_FILTER_FIELDS if _lists_resources(request) else frozenset()),
        default_page_size=spec.default_page_size,
    )


def _lists_resources(request: descriptor.Descriptor) -> bool:
    """Whether the List method of ``request`` answers items that carry an ObjectMeta."""
    service_file = request.file
    for service in service_file.services_by_name.values():
        for method in service.methods:
            if method.input_type is request:
                return any(
                    f.is_repeated and _has_object_meta(f.message_type)
                    for f in method.output_type.fields
                )
    return False


def _has_object_meta(message: descriptor.Descriptor | None) -> bool:
    meta = message.fields_by_name.get("meta") if message is not None else None
    kind = meta.message_type if meta is not None else None
    return kind is not None and kind.full_name == "mlspec.common.v1.ObjectMeta"


def order(declared: Declaration, order_by: str) -> list[OrderKey]:
    """The sort keys of a request (the declared default for an empty ``order_by``).

    INVALID_ARGUMENT for a key that is not declared, naming the ones that are.
    """
    keys = [OrderKey(canonical(k.member), k.descending) for k in parse_order_by(order_by)]
    if not keys:
        return list(declared.default_order)
    for key in keys:
        if not declared.sorts_by(key.member):
            raise errors.invalid(
                "order_by",
                f"cannot sort by {key.member!r}; sort keys: {', '.join(sorted(declared.sort_keys))}",
            )
    seen = [k.member for k in keys]
    if len(set(seen)) != len(seen):
        raise errors.invalid("order_by", "names a sort key more than once")
    return keys


def comparisons(node: Node) -> Iterator[Comparison]:
    """Every comparison of a filter tree."""
    if isinstance(node, (And, Or)):
        for operand in node.operands:
            yield from comparisons(operand)
    elif isinstance(node, Not):
        yield from comparisons(node.operand)
    elif isinstance(node, Comparison):
        yield node


def check_filter(declared: Declaration, node: Node) -> None:
    """INVALID_ARGUMENT when the filter tests a field the method does not declare."""
    if declared.any_field:
        return
    for comparison in comparisons(node):
        member = canonical(".".join(comparison.member))
        if member == "labels" and comparison.op == ":":
            member = "labels.*"  # `labels:team`, the presence of a label key
        if member.startswith("labels.") and "labels.*" in declared.filter_fields:
            continue
        if not declared.filters_by(member):
            raise errors.invalid(
                "filter",
                f"cannot filter by {member!r}; filter fields: "
                f"{', '.join(sorted(declared.filter_fields))}",
            )
