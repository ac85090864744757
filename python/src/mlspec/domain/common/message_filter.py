"""Evaluates a parsed AIP-160 filter (``domain.filters``) against protobuf messages.

Resources are filtered in SQL through the field index. Records that are stored whole and
not indexed field by field (inference log records, monitoring signals) are filtered with
this module instead: the filter is compiled once per request against the message type,
so an unknown member or a value of the wrong type is INVALID_ARGUMENT before any record
is read, and the compiled predicate then runs on each decoded record.

Semantics:

- a member is a path of field names (``access.status``); a map field takes the key as
  the next segment (``inference.attributes.region``);
- a path through a repeated message field or ending in a repeated field holds when any
  element satisfies the comparison; a path through an unset message holds nothing, so
  every comparison on it is false (``NOT`` of it is true);
- ``=``, ``!=``, ``<``, ``>``, ``<=``, ``>=`` compare numbers, strings (by code point),
  booleans (``true``/``false``), enums (by value name, or number; ordered by number),
  timestamps (RFC 3339) and durations (``"1.5s"``);
- ``member:*`` holds when the member is set (a message present, a scalar not at its
  default, a repeated or map field not empty); ``map:key`` holds when the key is
  present; ``member:value`` on any other member means ``=`` (on a repeated one: some
  element is equal).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor, duration_pb2, timestamp_pb2
from google.protobuf.message import Message

from mlspec.errors import invalid
from mlspec.query import And, Comparison, Newest, Node, Not, Or

Predicate = Callable[[Message], bool]

FD = descriptor.FieldDescriptor
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_INTEGERS = {
    FD.TYPE_INT32,
    FD.TYPE_INT64,
    FD.TYPE_UINT32,
    FD.TYPE_UINT64,
    FD.TYPE_SINT32,
    FD.TYPE_SINT64,
    FD.TYPE_FIXED32,
    FD.TYPE_FIXED64,
    FD.TYPE_SFIXED32,
    FD.TYPE_SFIXED64,
}
_FLOATS = {FD.TYPE_FLOAT, FD.TYPE_DOUBLE}
_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"


@dataclass(frozen=True)
class _Step:
    """One segment of a member path: a field, or the key of the map field before it."""

    field: FD
    map_key: str | None = None


def compile_filter(node: Node | None, message: descriptor.Descriptor) -> Predicate | None:
    """A predicate for ``node`` over messages of type ``message`` (None: keep all)."""
    if node is None:
        return None
    return _compile(node, message)


def _compile(node: Node, message: descriptor.Descriptor) -> Predicate:
    if isinstance(node, And):
        parts = [_compile(n, message) for n in node.operands]
        return lambda m: all(p(m) for p in parts)
    if isinstance(node, Or):
        parts = [_compile(n, message) for n in node.operands]
        return lambda m: any(p(m) for p in parts)
    if isinstance(node, Not):
        inner = _compile(node.operand, message)
        return lambda m: not inner(m)
    if isinstance(node, Newest):  # built by resource lists only, never parsed
        raise invalid("filter", "cannot be evaluated on records")
    return _comparison(node, message)


def _comparison(node: Comparison, message: descriptor.Descriptor) -> Predicate:
    name = ".".join(node.member)
    steps, leaf = _resolve(node.member, message, name)
    if node.value is None:  # `member:*`
        return _present(steps)
    if node.op == ":" and _is_map(leaf) and steps[-1].map_key is None:  # `labels:env`
        return _present([*steps[:-1], _Step(steps[-1].field, node.value)])
    op = "=" if node.op == ":" else node.op
    literal = _literal(leaf, node.value, name)
    compare = _ORDERING[op]
    if leaf.type == FD.TYPE_BOOL and op not in ("=", "!="):
        raise invalid("filter", f"{name} is a boolean; only = and != apply")
    convert = _leaf_value(leaf)

    def holds(m: Message) -> bool:
        return any(compare(convert(v), literal) for v in _values(m, steps))

    return holds


def _resolve(
    member: tuple[str, ...], message: descriptor.Descriptor, name: str
) -> tuple[list[_Step], FD]:
    """The steps of a member path and the field whose values are compared."""
    steps: list[_Step] = []
    current: descriptor.Descriptor | None = message
    leaf: FD | None = None
    segments = list(member)
    while segments:
        segment = segments.pop(0)
        if current is None:
            raise invalid("filter", f"{name}: {leaf.name if leaf else ''} has no fields")
        found = current.fields_by_name.get(segment)
        if found is None:
            raise invalid("filter", f"{name}: {current.name} has no field {segment!r}")
        is_map = _is_map(found)
        if is_map and segments:
            key = segments.pop(0)
            steps.append(_Step(found, key))
            assert found.message_type is not None
            leaf = found.message_type.fields_by_name["value"]
        else:
            steps.append(_Step(found))
            leaf = found
        well_known = leaf.type == FD.TYPE_MESSAGE and _type_name(leaf) in (
            _TIMESTAMP,
            _DURATION,
        )
        is_message = leaf.type == FD.TYPE_MESSAGE and not (is_map and steps[-1].map_key is None)
        current = leaf.message_type if is_message and not well_known else None
        if well_known and segments:
            raise invalid("filter", f"{name}: {leaf.name} is compared as a whole")
    assert leaf is not None
    return steps, leaf


def _values(m: Message, steps: list[_Step]) -> list[Any]:
    """The values a member path reaches in ``m`` (several through repeated fields)."""
    found: list[Any] = [m]
    for step in steps:
        fd = step.field
        reached: list[Any] = []
        for item in found:
            if step.map_key is not None:
                entries = getattr(item, fd.name)
                if step.map_key in entries:
                    reached.append(entries[step.map_key])
            elif fd.is_repeated:
                reached.extend(getattr(item, fd.name))
            elif fd.type == FD.TYPE_MESSAGE or fd.has_presence:
                if item.HasField(fd.name):
                    reached.append(getattr(item, fd.name))
            else:
                reached.append(getattr(item, fd.name))
        found = reached
    return found


def _type_name(fd: FD) -> str:
    return fd.message_type.full_name if fd.message_type is not None else ""


def _enum_values(fd: FD) -> dict[str, Any]:
    assert fd.enum_type is not None
    return dict(fd.enum_type.values_by_name)


def _is_map(fd: FD) -> bool:
    entry = fd.message_type
    return entry is not None and bool(entry.GetOptions().map_entry)


def _present(steps: list[_Step]) -> Predicate:
    """Whether the member is set: see the module docstring."""
    last = steps[-1].field
    if steps[-1].map_key is None and (last.is_repeated or _is_map(last)):
        container = steps[:-1]
        return lambda m: any(len(getattr(v, last.name)) > 0 for v in _values(m, container))
    if last.type == FD.TYPE_MESSAGE or steps[-1].map_key is not None or last.has_presence:
        return lambda m: bool(_values(m, steps))
    default = last.default_value
    return lambda m: any(v != default for v in _values(m, steps))


def _leaf_value(leaf: FD) -> Callable[[Any], Any]:
    if leaf.type == FD.TYPE_MESSAGE:
        if _type_name(leaf) == _TIMESTAMP:
            return lambda t: t.seconds * 1_000_000_000 + t.nanos
        return lambda d: d.seconds * 1_000_000_000 + d.nanos
    return lambda v: v


def _literal(leaf: FD, text: str, name: str) -> Any:
    """The filter's value as the type of the compared field."""
    try:
        if leaf.type in _INTEGERS:
            return int(text)
        if leaf.type in _FLOATS:
            value = float(text)
            if math.isnan(value):
                raise ValueError("NaN")
            return value
        if leaf.type == FD.TYPE_BOOL:
            if text not in ("true", "false"):
                raise ValueError("not true or false")
            return text == "true"
        if leaf.type == FD.TYPE_ENUM:
            by_name = _enum_values(leaf).get(text)
            return by_name.number if by_name is not None else int(text)
        if leaf.type == FD.TYPE_STRING:
            return text
        if leaf.type == FD.TYPE_MESSAGE and _type_name(leaf) == _TIMESTAMP:
            stamp = timestamp_pb2.Timestamp()
            stamp.FromJsonString(text)
            return stamp.seconds * 1_000_000_000 + stamp.nanos
        if leaf.type == FD.TYPE_MESSAGE and _type_name(leaf) == _DURATION:
            length = duration_pb2.Duration()
            length.FromJsonString(text)
            return length.seconds * 1_000_000_000 + length.nanos
    except ValueError as exc:
        raise invalid("filter", f"{name}: {text!r} is not a value of this field ({exc})") from exc
    kind = _type_name(leaf) if leaf.type == FD.TYPE_MESSAGE else "bytes"
    raise invalid("filter", f"{name} ({kind}) can only be tested for presence with :*")
