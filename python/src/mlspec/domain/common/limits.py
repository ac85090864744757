"""Limits on every input, read from the contract's descriptors (``common/v1/limits.proto``).

Every string, bytes, repeated and map field of every request has a limit: the one its
``(mlspec.common.v1.limits)`` option sets, or the default of ``FieldLimits``. A message
type that can contain itself (``Value``, ``FeatureSchema``) nests at most
``MAX_NESTING`` levels within itself, and a request is at most ``MAX_REQUEST_BYTES``.
``violations`` checks a decoded request against all of them, once, before any handler
runs; the dispatcher answers INVALID_ARGUMENT naming each field over its limit.

The walk visits only the fields that are set (``ListFields``), and skips every part of
the request whose serialized size proves it cannot break a limit: a string of n
characters and a list of n items take at least n bytes on the wire, and each level of
nesting at least two, so a message no larger than the smallest limit reachable from its
type (``floor``), and too small to nest too deep, is within every one of them. Most
requests, and most items of a large one, are never descended into.

This walk is the specification. The dispatcher first runs ``request_checks``, one pass
compiled per message type that checks these limits and well-formed values together and
only answers whether a request passes; the walk runs to name the fields of one that
does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.common.v1 import limits_pb2
from mlspec.errors import FieldViolation

FD = descriptor.FieldDescriptor
DEFAULT_ITEMS = 1000
DEFAULT_STRING_LENGTH = 65_536
DEFAULT_BYTES_LENGTH = 1_048_576
MAX_NESTING = 20
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# Enough to tell a caller what to fix; a hostile request cannot make the answer huge.
MAX_VIOLATIONS = 20

_SCALAR, _STRING, _BYTES, _MESSAGE = range(4)


@dataclass(frozen=True)
class FieldLimit:
    """The limits of one field and what its values are."""

    name: str
    repeated: bool
    is_map: bool
    max_items: int
    max_length: int
    value_kind: int  # _SCALAR, _STRING, _BYTES or _MESSAGE (a map's value)
    key_is_string: bool = False


def _kind(field: FD) -> int:
    if field.message_type is not None:
        return _MESSAGE
    if field.type == FD.TYPE_STRING:
        return _STRING
    if field.type == FD.TYPE_BYTES:
        return _BYTES
    return _SCALAR


def is_map(field: FD) -> bool:
    """Whether a field is a map (a repeated field of a map-entry message)."""
    return field.message_type is not None and bool(field.message_type.GetOptions().map_entry)


@cache
def limit_of(field: FD) -> FieldLimit:
    """The limits of ``field``: its ``limits`` option, else the defaults."""
    option = field.GetOptions().Extensions[limits_pb2.limits]
    mapped = is_map(field)
    value = field.message_type.fields_by_name["value"] if mapped else field  # type: ignore[union-attr]
    kind = _kind(value)
    default_length = DEFAULT_BYTES_LENGTH if kind == _BYTES else DEFAULT_STRING_LENGTH
    key_is_string = mapped and field.message_type.fields_by_name["key"].type == FD.TYPE_STRING  # type: ignore[union-attr]
    return FieldLimit(
        name=field.name,
        repeated=field.is_repeated and not mapped,
        is_map=mapped,
        max_items=option.max_items or DEFAULT_ITEMS,
        max_length=option.max_length or default_length,
        value_kind=kind,
        key_is_string=key_is_string,
    )


def _value_type(field: FD) -> Any:
    """The message type a field holds (a map's value type for maps), or None."""
    if is_map(field):
        return field.message_type.fields_by_name["value"].message_type  # type: ignore[union-attr]
    return field.message_type


@cache
def self_nesting(desc: descriptor.Descriptor) -> bool:
    """Whether a message type can contain itself (directly or through other types).

    Map entries are left out: a map's entries are counted as the map's value type.
    """
    if desc.GetOptions().map_entry:
        return False
    seen: set[str] = set()
    pending = [t for f in desc.fields if (t := _value_type(f)) is not None]
    while pending:
        current = pending.pop()
        if current.full_name == desc.full_name:
            return True
        if current.full_name in seen:
            continue
        seen.add(current.full_name)
        pending.extend(t for f in current.fields if (t := _value_type(f)) is not None)
    return False


@cache
def _reachable(desc: descriptor.Descriptor) -> tuple[descriptor.Descriptor, ...]:
    """Every message type a message of ``desc`` can hold, itself included."""
    found: dict[str, descriptor.Descriptor] = {}
    pending = [desc]
    while pending:
        current = pending.pop()
        if current.full_name in found:
            continue
        found[current.full_name] = current
        pending.extend(t for f in current.fields if (t := _value_type(f)) is not None)
    return tuple(found.values())


@cache
def floor(desc: descriptor.Descriptor) -> int:
    """The smallest item or length limit anywhere inside ``desc``.

    A message of ``desc`` that is no larger on the wire breaks none of them: n items or
    n characters take at least n bytes.
    """
    smallest = MAX_REQUEST_BYTES
    for current in _reachable(desc):
        if current.GetOptions().map_entry:
            continue  # a map's limits are on the map field itself
        for field in current.fields:
            limit = limit_of(field)
            if limit.repeated or limit.is_map:
                smallest = min(smallest, limit.max_items)
            if limit.value_kind in (_STRING, _BYTES) or limit.key_is_string:
                smallest = min(smallest, limit.max_length)
    return smallest


@cache
def nests(desc: descriptor.Descriptor) -> bool:
    """Whether a message of ``desc`` can hold a self-nesting type (``Value``, ...)."""
    return any(self_nesting(current) for current in _reachable(desc))


def _within(desc: Any, size: int, nesting: dict[str, int]) -> bool:
    """Whether a message of ``size`` bytes is sure to be within every limit.

    Each level of nesting takes at least two bytes (a tag and a length), so a message
    smaller than twice the levels left cannot nest too deep.
    """
    if size > floor(desc):
        return False
    if not nests(desc):
        return True
    return size < 2 * (MAX_NESTING - max(nesting.values(), default=0))


def violations(message: Message, size: int | None = None) -> list[FieldViolation]:
    """Every field of ``message`` over its limit (at most ``MAX_VIOLATIONS``).

    ``size`` is the serialized size when known. Parts of the message that are too small
    to break a limit (``_within``) are not walked.
    """
    found: list[FieldViolation] = []
    _walk(message, (), {}, found, size)
    return found


def _join(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _walk(
    message: Message,
    path: tuple[str, ...],
    nesting: dict[str, int],
    found: list[FieldViolation],
    size: int | None = None,
) -> None:
    desc = message.DESCRIPTOR
    if _within(desc, message.ByteSize() if size is None else size, nesting):
        return
    counted = self_nesting(desc)
    if counted:
        level = nesting.get(desc.full_name, 0) + 1
        if level > MAX_NESTING:
            found.append(
                FieldViolation(
                    _join(path),
                    f"nests {desc.name} more than {MAX_NESTING} levels deep within itself",
                )
            )
            return
        nesting[desc.full_name] = level
    for field, value in message.ListFields():
        if len(found) >= MAX_VIOLATIONS:
            break
        limit = limit_of(field)
        where = (*path, limit.name)
        if limit.repeated or limit.is_map:
            count = len(value)
            if count > limit.max_items:
                noun = "entries" if limit.is_map else "items"
                found.append(
                    FieldViolation(
                        _join(where), f"holds {count:,} {noun}; at most {limit.max_items:,}"
                    )
                )
                continue
            if limit.is_map:
                _check_map(value, limit, where, nesting, found)
            elif limit.value_kind == _MESSAGE:
                item_type = field.message_type
                small = floor(item_type)  # most items are small: skip them here, in one loop
                if nests(item_type):
                    small = min(small, 2 * (MAX_NESTING - max(nesting.values(), default=0)) - 1)
                for i, item in enumerate(value):
                    if item.ByteSize() > small:
                        _walk(item, (*path, f"{limit.name}[{i}]"), nesting, found)
            elif limit.value_kind != _SCALAR:
                for i, item in enumerate(value):
                    _check_length(item, limit, (*path, f"{limit.name}[{i}]"), found)
        elif limit.value_kind == _MESSAGE:
            _walk(value, where, nesting, found)
        elif limit.value_kind != _SCALAR:
            _check_length(value, limit, where, found)
    if counted:
        nesting[desc.full_name] -= 1


def _check_map(
    entries: Any,
    limit: FieldLimit,
    where: tuple[str, ...],
    nesting: dict[str, int],
    found: list[FieldViolation],
) -> None:
    parent, name = where[:-1], where[-1]
    for key, item in entries.items():
        if len(found) >= MAX_VIOLATIONS:
            return
        if limit.key_is_string and len(key) > limit.max_length:
            found.append(
                FieldViolation(
                    _join(where),
                    f"has a key of {len(key):,} characters; at most {limit.max_length:,}",
                )
            )
            continue
        item_path = (*parent, f"{name}[{key!r}]")
        if limit.value_kind == _MESSAGE:
            _walk(item, item_path, nesting, found)
        elif limit.value_kind != _SCALAR:
            _check_length(item, limit, item_path, found)


def _check_length(
    value: str | bytes, limit: FieldLimit, where: tuple[str, ...], found: list[FieldViolation]
) -> None:
    if len(value) > limit.max_length:
        unit = "bytes" if isinstance(value, bytes) else "characters"
        found.append(
            FieldViolation(
                _join(where), f"is {len(value):,} {unit} long; at most {limit.max_length:,}"
            )
        )


def largest_fields(message: Message, count: int = 3) -> list[tuple[str, int]]:
    """The top-level fields of ``message`` with the most serialized bytes, largest first."""
    sizes = []
    for field, value in message.ListFields():
        if field.message_type is not None and not field.is_repeated:
            size = value.ByteSize()
        elif field.message_type is not None:
            size = sum(v.ByteSize() for v in (value.values() if is_map(field) else value))
        else:
            size = len(value) if isinstance(value, str | bytes) else 0
        sizes.append((field.name, size))
    return sorted(sizes, key=lambda item: -item[1])[:count]
