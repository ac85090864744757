"""Values that protobuf accepts on the wire but that mean nothing in the contract.

Time ranges too: a message with `start_time` and `end_time` (or `<x>_after` and
`<x>_before`) whose end is before its start names no time at all.

Proto3 enums are open: a client may send any number, and the runtime keeps it. Timestamps
and Durations are two integers that can hold instants no calendar has. Stored as they
are, such values break later readers (a Timestamp beyond year 9999 cannot be printed as
JSON; a huge one overflows the database's integer column). Every request is checked once,
before any handler runs, so that each of these is INVALID_ARGUMENT naming the field.

Which fields of a message type can lead to a checked value is worked out once per type
(``field_behavior``'s walk), so a request is only descended where there is something to
check. The dispatcher first runs ``request_checks``, one pass compiled per message type
that checks these values and the limits together and only answers whether a request
passes; this check runs on a request that does not, to name its fields.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.domain.common import field_behavior
from mlspec.domain.common.compiled import CompiledChecks
from mlspec.errors import FieldViolation

FD = descriptor.FieldDescriptor
_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"
# RFC 3339 years 0001 to 9999, as google.protobuf.Timestamp documents.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
# About 10,000 years, as google.protobuf.Duration documents.
_MAX_DURATION_SECONDS = 315_576_000_000
_NANOS = 999_999_999


def _kind(field: FD) -> str:
    """What is checked in a field's values: enum, timestamp, duration or nothing."""
    value = _map_value(field) if _is_map(field) else field
    if value.enum_type is not None:
        return "enum"
    name = value.message_type.full_name if value.message_type is not None else ""
    return {_TIMESTAMP: "timestamp", _DURATION: "duration"}.get(name, "")


def _is_map(field: FD) -> bool:
    entry = field.message_type
    return entry is not None and bool(entry.GetOptions().map_entry)


def _checked(field: FD) -> bool:
    return _kind(field) != ""


_SINGLE, _OPTIONAL, _REPEATED, _MAP = range(4)


def _shape(field: FD) -> int:
    if _is_map(field):
        return _MAP
    if field.is_repeated:
        return _REPEATED
    return _OPTIONAL if field.message_type is not None or field.has_presence else _SINGLE


@cache
def _plan(desc: Any) -> tuple[tuple[tuple[FD, str, int], ...], tuple[tuple[str, int], ...]]:
    """The checked fields of a message type and the fields to descend into."""
    direct = tuple((f, _kind(f), _shape(f)) for f in desc.fields if _checked(f))
    descend = tuple((f.name, _shape(f)) for f in field_behavior.paths_to(desc, _checked))
    return direct, descend


@cache
def _ranges(desc: Any) -> tuple[tuple[str, str], ...]:
    """The (start, end) Timestamp pairs of a message type (`start_time`/`end_time`, ...)."""
    names = {f.name for f in desc.fields if _kind(f) == "timestamp" and not f.is_repeated}
    pairs = [("start_time", "end_time")] + [
        (n, n.removesuffix("_after") + "_before") for n in names if n.endswith("_after")
    ]
    return tuple((a, b) for a, b in pairs if a in names and b in names)


def inverted_ranges(
    message: Message, path: str = "", skip: tuple[str, ...] = ()
) -> list[FieldViolation]:
    """Every time range in ``message`` (at any depth) that ends before it starts.

    ``skip`` names top-level fields left out (the resources of a request, which their
    kind's rules check with the rest of the resource).
    """
    found: list[FieldViolation] = []
    _walk_ranges(message, (path,) if path else (), found, skip)
    return found


def _walk_ranges(
    message: Message, path: tuple[str, ...], found: list[FieldViolation], skip: tuple[str, ...]
) -> None:
    for start, end in _ranges(message.DESCRIPTOR):
        if message.HasField(start) and message.HasField(end):
            a, b = getattr(message, start), getattr(message, end)
            if (b.seconds, b.nanos) < (a.seconds, a.nanos):
                found.append(
                    FieldViolation(".".join((*path, end)), f"is before {start}; the range is empty")
                )
    for name, shape in _plan(message.DESCRIPTOR)[1]:
        if name in skip:
            continue
        if shape == _OPTIONAL:
            if message.HasField(name):
                _walk_ranges(getattr(message, name), (*path, name), found, ())
        elif shape == _REPEATED:
            for i, child in enumerate(getattr(message, name)):
                _walk_ranges(child, (*path, f"{name}[{i}]"), found, ())
        else:
            for key, child in getattr(message, name).items():
                _walk_ranges(child, (*path, f"{name}[{key!r}]"), found, ())


def violations(message: Message, path: str = "") -> list[FieldViolation]:
    """Every enum number outside its enum, and every out-of-range Timestamp or Duration."""
    found: list[tuple[Any, Any, str]] = []
    _compiled(message.DESCRIPTOR)(message, (), found)
    prefix = (path,) if path else ()
    return [
        FieldViolation(".".join((*prefix, *_parts(at), _part(name))), text)
        for at, name, text in found
    ]


def reference_violations(message: Message, path: str = "") -> list[FieldViolation]:
    """The same check, by walking the plan field by field.

    It is the specification that ``violations`` runs compiled; the tests hold the two to
    the same answers.
    """
    found: list[FieldViolation] = []
    _walk(message, (path,) if path else (), found)
    return found


def _parts(at: Any) -> list[str]:
    """The path parts of a linked path ``(parent, part)`` (``()`` is the root).

    A part is a field name, ``(name, index)`` for an item of a list, or
    ``(name, key, None)`` for an entry of a map.
    """
    parts: list[str] = []
    while at:
        at, part = at
        parts.append(_part(part))
    parts.reverse()
    return parts


def _part(part: Any) -> str:
    if isinstance(part, str):
        return part
    if len(part) == 2:
        return f"{part[0]}[{part[1]}]"
    return f"{part[0]}[{part[1]!r}]"


# A type's check, compiled once into straight-line code: it runs on every request, over
# every record of a batch, and a loop over a plan costs several times more per field.
# Paths are linked tuples ``(parent, part)``, joined only for a violation.
def _nothing(message: Message, path: Any, found: list[tuple[Any, str, str]]) -> None:
    """The check of a type that holds nothing to check."""


def _build(desc: Any) -> Any:
    direct, descend = _plan(desc)
    oneof = _single_oneof(desc, direct, descend)
    if not direct and not descend:
        return _nothing
    env: dict[str, Any] = {
        "MIN_S": _MIN_SECONDS,
        "MAX_S": _MAX_SECONDS,
        "NANOS": _NANOS,
        "MAX_D": _MAX_DURATION_SECONDS,
        "TIME": _TIME_PROBLEM,
        "DURATION": _DURATION_PROBLEM,
    }
    lines = ["def check(m, path, found):"]
    if oneof:
        lines.append(f"    w = m.WhichOneof({oneof!r})")
    children: list[tuple[str, Any]] = []
    for number, (field, kind, shape) in enumerate(direct):
        _emit_direct(lines, env, number, field, kind, shape, oneof)
    for number, (name, shape) in enumerate(descend):
        field = desc.fields_by_name[name]
        child = field.message_type
        if shape == _MAP:
            child = _map_value(field).message_type
        children.append((f"C{number}", child))
        _emit_descend(lines, number, name, shape, oneof)
    exec("\n".join(lines), env)  # noqa: S102  (code built from descriptors, not input)
    check = env["check"]
    _compiled.building(desc, check)  # before the children: recursive types find it
    for alias, child in children:
        env[alias] = _compiled(child)
    return check


_compiled = CompiledChecks(_build)


def _single_oneof(desc: Any, direct: Any, descend: Any) -> str:
    """The oneof every checked field of a type belongs to (as in a Value); '' if none."""
    names = [f.name for f, _, _ in direct] + [name for name, _ in descend]
    oneofs = {desc.fields_by_name[n].containing_oneof for n in names}
    only = next(iter(oneofs)) if len(oneofs) == 1 else None
    return "" if only is None or only.name.startswith("_") else str(only.name)


def _guard(lines: list[str], name: str, shape: int, oneof: str) -> str:
    """Opens the loop or test over a field's values; returns the indent inside it."""
    if oneof:
        lines.append(f"    if w == {name!r}:")
        lines.append(f"        v = m.{name}")
        return "        "
    if shape == _SINGLE:
        lines.append(f"    v = m.{name}")
        return "    "
    if shape == _OPTIONAL:
        lines.append(f"    if m.HasField({name!r}):")
        lines.append(f"        v = m.{name}")
        return "        "
    if shape == _REPEATED:
        lines.append(f"    for i, v in enumerate(m.{name}):")
        return "        "
    lines.append(f"    for k, v in m.{name}.items():")
    return "        "


def _label(name: str, shape: int, oneof: str) -> str:
    """The expression of a value's last path part (see ``_parts``)."""
    if oneof or shape in (_SINGLE, _OPTIONAL):
        return repr(name)
    if shape == _REPEATED:
        return f"({name!r}, i)"
    return f"({name!r}, k, None)"


def _emit_direct(
    lines: list[str], env: dict[str, Any], number: int, field: FD, kind: str, shape: int, oneof: str
) -> None:
    at = _guard(lines, field.name, shape, oneof)
    label = _label(field.name, shape, oneof)
    if kind == "enum":
        enum = field.enum_type if field.enum_type is not None else _map_value(field).enum_type
        assert enum is not None
        env[f"E{number}"] = frozenset(enum.values_by_number)
        lines.append(f"{at}if v not in E{number}:")
        lines.append(
            f"{at}    found.append((path, {label}, f'{{v}} is not a value of {enum.full_name}'))"
        )
        return
    lines.append(f"{at}s = v.seconds; n = v.nanos")
    if kind == "timestamp":
        lines.append(f"{at}if not (MIN_S <= s <= MAX_S and 0 <= n <= NANOS):")
        lines.append(f"{at}    found.append((path, {label}, TIME))")
        return
    lines.append(
        f"{at}if not (-MAX_D <= s <= MAX_D and -NANOS <= n <= NANOS"
        " and (s == 0 or n == 0 or (s > 0) == (n > 0))):"
    )
    lines.append(f"{at}    found.append((path, {label}, DURATION))")


def _emit_descend(lines: list[str], number: int, name: str, shape: int, oneof: str) -> None:
    at = _guard(lines, name, shape, oneof)
    lines.append(f"{at}C{number}(v, (path, {_label(name, shape, oneof)}), found)")


def _walk(message: Message, path: tuple[str, ...], found: list[FieldViolation]) -> None:
    # Paths are kept as parts and only joined for a violation: this runs on every call.
    direct, descend = _plan(message.DESCRIPTOR)
    for field, kind, shape in direct:
        name = field.name
        if shape == _SINGLE:
            items: Any = (("", getattr(message, name)),)
        elif shape == _OPTIONAL:
            items = (("", getattr(message, name)),) if message.HasField(name) else ()
        elif shape == _REPEATED:
            items = ((f"[{i}]", v) for i, v in enumerate(getattr(message, name)))
        else:
            items = ((f"[{k!r}]", v) for k, v in getattr(message, name).items())
        for suffix, item in items:
            problem = _problem(field, kind, item)
            if problem:
                found.append(FieldViolation(".".join((*path, name + suffix)), problem))
    for name, shape in descend:
        if shape == _OPTIONAL:
            if message.HasField(name):
                _walk(getattr(message, name), (*path, name), found)
        elif shape == _REPEATED:
            for i, child in enumerate(getattr(message, name)):
                _walk(child, (*path, f"{name}[{i}]"), found)
        else:
            for key, child in getattr(message, name).items():
                _walk(child, (*path, f"{name}[{key!r}]"), found)


_TIME_PROBLEM = "is not a time between years 0001 and 9999 (or its nanos are out of range)"
_DURATION_PROBLEM = "is not a duration within 10,000 years (or its nanos are out of range)"


def _problem(field: FD, kind: str, value: Any) -> str:
    if kind == "enum":
        enum = field.enum_type if field.enum_type is not None else _map_value(field).enum_type
        assert enum is not None
        if value in enum.values_by_number:
            return ""
        return f"{value} is not a value of {enum.full_name}"
    seconds, nanos = value.seconds, value.nanos
    if kind == "timestamp":
        if _MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos <= _NANOS:
            return ""
        return _TIME_PROBLEM
    same_sign = seconds == 0 or nanos == 0 or (seconds > 0) == (nanos > 0)
    if abs(seconds) <= _MAX_DURATION_SECONDS and abs(nanos) <= _NANOS and same_sign:
        return ""
    return _DURATION_PROBLEM


def _map_value(field: FD) -> FD:
    assert field.message_type is not None
    return field.message_type.fields_by_name["value"]


# What the one compiled pass over a request (``request_checks``) reads of these rules.
TIME_SECONDS = (_MIN_SECONDS, _MAX_SECONDS)
MAX_DURATION_SECONDS = _MAX_DURATION_SECONDS
MAX_NANOS = _NANOS


def checked_kind(field: FD) -> str:
    """What is checked in a field's values: ``enum``, ``timestamp``, ``duration`` or ''."""
    return _kind(field)


def descended(desc: Any) -> frozenset[str]:
    """The message-typed fields of ``desc`` under which some value is checked."""
    return frozenset(name for name, _ in _plan(desc)[1])


def problem(field: FD, kind: str, value: Any) -> str:
    """Why one value of ``field`` (of ``checked_kind``) is not well formed; '' if it is."""
    return _problem(field, kind, value)
