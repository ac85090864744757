"""Generic enforcement of ``google.api.field_behavior`` annotations.

One validator for every message of the contract, driven by the descriptors: it clears
OUTPUT_ONLY fields a client sent (they are the server's to fill), reports REQUIRED fields
that are missing and IMMUTABLE fields that an update tried to change. Nested messages are
walked wherever they are set. Which fields can lead to an annotated field is worked out
once per message type, so a walk only descends where there is something to find.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import cache
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.errors import FieldViolation

OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
_REQUIRED = REQUIRED = field_behavior_pb2.REQUIRED
_IMMUTABLE = field_behavior_pb2.IMMUTABLE


@cache
def behaviors(field: descriptor.FieldDescriptor) -> frozenset[int]:
    """The field_behavior annotations of a field."""
    options = field.GetOptions()
    return frozenset(options.Extensions[field_behavior_pb2.field_behavior])


@cache
def _is_map(field: descriptor.FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _value_type(field: descriptor.FieldDescriptor) -> Any:
    """The message type a field holds (a map's value type for maps), or None."""
    if _is_map(field):
        return field.message_type.fields_by_name["value"].message_type  # type: ignore[union-attr]
    return field.message_type


def _has(behavior: int) -> Callable[[descriptor.FieldDescriptor], bool]:
    return lambda field: behavior in behaviors(field)


@cache
def _paths_to(
    desc: descriptor.Descriptor, predicate: Callable[[descriptor.FieldDescriptor], bool]
) -> tuple[Any, ...]:
    """The message-typed fields of ``desc`` under which some field satisfies ``predicate``."""
    found = []
    for field in desc.fields:
        target = _value_type(field)
        if target is not None and _reaches(target, predicate, frozenset()):
            found.append(field)
    return tuple(found)


def _reaches(
    desc: descriptor.Descriptor,
    predicate: Callable[[descriptor.FieldDescriptor], bool],
    seen: frozenset[str],
) -> bool:
    if desc.full_name in seen:
        return False
    if any(predicate(f) for f in desc.fields):
        return True
    inner = seen | {desc.full_name}
    return any(
        (target := _value_type(f)) is not None and _reaches(target, predicate, inner)
        for f in desc.fields
    )


def _children(message: Message, fields: tuple[Any, ...]) -> Iterator[tuple[str, Message]]:
    """The set sub-messages of ``message`` held in ``fields``, with their path suffixes."""
    for field in fields:
        value = getattr(message, field.name)
        if _is_map(field):
            yield from ((f"{field.name}[{k!r}]", v) for k, v in value.items())
        elif field.is_repeated:
            yield from ((f"{field.name}[{i}]", v) for i, v in enumerate(value))
        elif message.HasField(field.name):
            yield field.name, value


_OUTPUT_ONLY_PRED = _has(OUTPUT_ONLY)
_REQUIRED_PRED = _has(_REQUIRED)


@cache
def _direct(desc: descriptor.Descriptor, behavior: int) -> tuple[Any, ...]:
    return tuple(f for f in desc.fields if behavior in behaviors(f))


def clear_output_only(message: Message) -> None:
    """Clears every OUTPUT_ONLY field in ``message`` and the messages it holds."""
    desc = message.DESCRIPTOR
    for field in _direct(desc, OUTPUT_ONLY):
        message.ClearField(field.name)
    for _, child in _children(message, _paths_to(desc, _OUTPUT_ONLY_PRED)):
        clear_output_only(child)


def _is_set(message: Message, field: Any) -> bool:
    if field.is_repeated:
        return len(getattr(message, field.name)) > 0
    if field.has_presence:
        return message.HasField(field.name)
    return bool(getattr(message, field.name))


def missing_required(message: Message, path: str) -> list[FieldViolation]:
    """Reports every REQUIRED field that is not set, in ``message`` and below it."""
    found: list[tuple[Any, Any]] = []
    _required_check(message.DESCRIPTOR)(message, (), found)
    return [
        FieldViolation(".".join((path, *_path_parts(at), _path_part(name))), "is required")
        for at, name in found
    ]


def reference_missing_required(message: Message, path: str) -> list[FieldViolation]:
    """The same check, by walking the descriptors field by field.

    It is the specification that ``missing_required`` runs compiled; the tests hold the
    two to the same answers.
    """
    desc = message.DESCRIPTOR
    found = [
        FieldViolation(f"{path}.{field.name}", "is required")
        for field in _direct(desc, _REQUIRED)
        if not _is_set(message, field)
    ]
    for suffix, child in _children(message, _paths_to(desc, _REQUIRED_PRED)):
        found.extend(reference_missing_required(child, f"{path}.{suffix}"))
    return found


def _path_parts(at: Any) -> list[str]:
    """The parts of a linked path ``(parent, part)``; ``()`` is the root."""
    parts: list[str] = []
    while at:
        at, part = at
        parts.append(_path_part(part))
    parts.reverse()
    return parts


def _path_part(part: Any) -> str:
    """A field name, ``(name, index)`` of a list item, or ``(name, key, None)`` of a map entry."""
    if isinstance(part, str):
        return part
    if len(part) == 2:
        return f"{part[0]}[{part[1]}]"
    return f"{part[0]}[{part[1]!r}]"


# The check of a type, compiled once into straight-line code (it runs on every record of
# every write); paths are linked tuples, joined only for a field that is missing.
_REQUIRED_CODE: dict[str, Any] = {}


def _no_required(message: Message, path: Any, found: list[tuple[Any, Any]]) -> None:
    """The check of a type under which no field is REQUIRED."""


def _required_check(desc: Any) -> Any:
    done = _REQUIRED_CODE.get(desc.full_name)
    if done is not None:
        return done
    direct = _direct(desc, _REQUIRED)
    descend = _paths_to(desc, _REQUIRED_PRED)
    if not direct and not descend:
        _REQUIRED_CODE[desc.full_name] = _no_required
        return _no_required
    lines = ["def check(m, path, found):"]
    for field in direct:
        name = field.name
        if field.is_repeated:
            test = f"not len(m.{name})"
        elif field.has_presence:
            test = f"not m.HasField({name!r})"
        else:
            test = f"not m.{name}"
        lines.append(f"    if {test}:")
        lines.append(f"        found.append((path, {name!r}))")
    children = []
    for number, field in enumerate(descend):
        name = field.name
        target = _value_type(field)
        children.append((f"C{number}", target))
        if _is_map(field):
            lines.append(f"    for k, v in m.{name}.items():")
            lines.append(f"        C{number}(v, (path, ({name!r}, k, None)), found)")
        elif field.is_repeated:
            lines.append(f"    for i, v in enumerate(m.{name}):")
            lines.append(f"        C{number}(v, (path, ({name!r}, i)), found)")
        else:
            lines.append(f"    if m.HasField({name!r}):")
            lines.append(f"        C{number}(m.{name}, (path, {name!r}), found)")
    env: dict[str, Any] = {}
    exec("\n".join(lines), env)  # noqa: S102  (code built from descriptors, not input)
    check = env["check"]
    _REQUIRED_CODE[desc.full_name] = check  # before the children: recursive types find it
    for alias, child in children:
        env[alias] = _required_check(child)
    return check


def changed_immutable(old: Message, new: Message, path: str) -> list[FieldViolation]:
    """Reports every IMMUTABLE field whose value differs between ``old`` and ``new``."""
    found = []
    for field in new.DESCRIPTOR.fields:
        if _IMMUTABLE in behaviors(field):
            if getattr(old, field.name) != getattr(new, field.name):
                found.append(FieldViolation(f"{path}.{field.name}", "is immutable"))
        elif (
            field.message_type is not None
            and not field.is_repeated
            and old.HasField(field.name)
            and new.HasField(field.name)
        ):
            found.extend(
                changed_immutable(
                    getattr(old, field.name), getattr(new, field.name), f"{path}.{field.name}"
                )
            )
    return found


@cache
def holding(desc: descriptor.Descriptor, full_name: str) -> tuple[Any, ...]:
    """The fields of ``desc`` that hold a ``full_name`` message, or messages that can."""
    predicate = _holds(full_name)
    return tuple(
        f
        for f in desc.fields
        if (target := _value_type(f)) is not None
        and (target.full_name == full_name or _reaches(target, predicate, frozenset()))
    )


@cache
def _holds(full_name: str) -> Callable[[descriptor.FieldDescriptor], bool]:
    return lambda field: (t := _value_type(field)) is not None and t.full_name == full_name


def paths_within(paths: list[str], allowed: Collection[str]) -> list[str]:
    """The mask paths that are one of ``allowed`` or lie under one (``tags`` covers ``tags.x``)."""
    return [p for p in paths if any(p == a or p.startswith(a + ".") for a in allowed)]


def paths_to(
    desc: descriptor.Descriptor, predicate: Callable[[descriptor.FieldDescriptor], bool]
) -> tuple[Any, ...]:
    """The message-typed fields of ``desc`` that can lead to a field satisfying ``predicate``.

    Cached per (type, predicate): pass a module-level function, not a new lambda.
    """
    return _paths_to(desc, predicate)


def children(message: Message, fields: tuple[Any, ...]) -> Iterator[tuple[str, Message]]:
    """Public form of the walk: set sub-messages in ``fields`` with path suffixes."""
    return _children(message, fields)
