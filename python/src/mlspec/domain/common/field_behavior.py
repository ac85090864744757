"""Generic enforcement of ``google.api.field_behavior`` annotations.

One validator for every message of the contract, driven by the descriptors: it clears
OUTPUT_ONLY fields a client sent (they are the server's to fill), reports REQUIRED fields
and ``(mlspec.common.v1.required_oneof)`` oneofs that are missing, at every depth, and
IMMUTABLE fields that an update tried to change. Nested messages are walked wherever they
are set. Requirements that depend on other fields are the kinds' own hooks
(``domain.common.hooks``), next to the rest of each kind's rules. Which fields can lead
to an annotated field is worked out once per message type, so a walk only descends
where there is something to find.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import cache
from typing import Any

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.common.v1 import options_pb2
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


# Required fields whose comment lets another field of the same message stand in for
# them: the walk counts the field as set when the stand-in is. A digest set holds digests,
# or (for records imported from a system that kept none) says why in unknown_reason; a
# run's input is a resource, or the URI of data never registered as one.
STANDS_IN = {
    "mlspec.common.v1.DigestSet.digests": "unknown_reason",
    "mlspec.tracking.v1.RunInput.resource": "source_uri",
}


@cache
def required_oneofs(desc: descriptor.Descriptor) -> tuple[Any, ...]:
    """The oneofs of ``desc`` declared ``(mlspec.common.v1.required_oneof)``."""
    return tuple(o for o in desc.oneofs if o.GetOptions().Extensions[options_pb2.required_oneof])


def _demands(field: descriptor.FieldDescriptor) -> bool:
    return _REQUIRED in behaviors(field)


@cache
def _requires_something(desc: descriptor.Descriptor) -> bool:
    """Whether a message type, or one it holds outside output-only fields, requires a field."""
    return _requires(desc, frozenset())


def _requires(desc: descriptor.Descriptor, seen: frozenset[str]) -> bool:
    if desc.full_name in seen:
        return False
    if required_oneofs(desc) or any(_demands(f) for f in desc.fields):
        return True
    inner = seen | {desc.full_name}
    return any(
        (target := _value_type(f)) is not None and _requires(target, inner)
        for f in desc.fields
        if OUTPUT_ONLY not in behaviors(f)
    )


_SCALAR, _PRESENCE, _LIST, _MAP = range(4)


def _shape(field: descriptor.FieldDescriptor) -> int:
    if _is_map(field):
        return _MAP
    if field.is_repeated:
        return _LIST
    return _PRESENCE if field.has_presence else _SCALAR


@cache
def _required_plan(
    desc: descriptor.Descriptor,
) -> tuple[
    tuple[tuple[str, int, str], ...], tuple[tuple[str, str], ...], tuple[tuple[str, int], ...]
]:
    """(REQUIRED fields, required oneofs, fields to descend into) of a message type.

    Fields come with their shape; oneofs with the text naming their members. Output-only
    fields are never descended into: the server fills them, a client's values there are
    cleared.
    """
    direct = tuple(
        (f.name, _shape(f), STANDS_IN.get(f.full_name, "")) for f in desc.fields if _demands(f)
    )
    oneofs = tuple((o.name, ", ".join(f.name for f in o.fields)) for o in required_oneofs(desc))
    descend = tuple(
        (f.name, _shape(f))
        for f in desc.fields
        if OUTPUT_ONLY not in behaviors(f)
        and (target := _value_type(f)) is not None
        and _requires_something(target)
    )
    return direct, oneofs, descend


def missing_required(
    message: Message, path: str, waived: Collection[str] = ()
) -> list[FieldViolation]:
    """Every REQUIRED field and required oneof left unset, in ``message`` and below it.

    A REQUIRED string, bytes, number or enum without presence is unset at its zero
    value, a message when absent, a list or map when empty; a required oneof when no
    member is set. Set sub-messages are checked at every depth (list items and map
    values too), except under output-only fields and under the ``waived`` fields (paths
    relative to ``message``, which a kind's hook waives for this message).
    """
    found: list[FieldViolation] = []
    _collect_missing(message, path, found, skip=())
    if waived:
        prefixes = tuple(f"{path}.{w}." if path else f"{w}." for w in waived)
        found = [v for v in found if not v.field.startswith(prefixes)]
    return found


def missing_in_request(request: Message, skip_fields: Collection[str] = ()) -> list[FieldViolation]:
    """``missing_required`` over a whole request, paths relative to it.

    Resources a request carries are skipped: the kind's rules check them when they are
    created (a kind may waive requirements that depend on other fields) or, for an
    Update (whose resource holds only the fields it changes), once the update is merged.
    So are the top-level ``skip_fields``, which the method checks itself.
    """
    desc = request.DESCRIPTOR
    skip = tuple(f.name for f in desc.fields if _is_resource(f)) + tuple(skip_fields)
    found: list[FieldViolation] = []
    _collect_missing(request, "", found, skip=skip)
    return found


def resource_fields(request: Any) -> tuple[str, ...]:
    """The top-level fields of a request that hold a resource."""
    return tuple(f.name for f in request.fields if _is_resource(f))


@cache
def _is_resource(field: descriptor.FieldDescriptor) -> bool:
    target = field.message_type
    return target is not None and target.GetOptions().HasExtension(resource_pb2.resource)


def _collect_missing(
    message: Message, path: str, found: list[FieldViolation], *, skip: tuple[str, ...]
) -> None:
    # This runs on every request: the plan says where to look, paths are built lazily.
    direct, oneofs, descend = _required_plan(message.DESCRIPTOR)
    prefix = f"{path}." if path else ""
    for name, shape, stand_in in direct:
        if name in skip:
            continue
        if shape == _PRESENCE:
            missing = not message.HasField(name)
        elif shape == _SCALAR:
            missing = not getattr(message, name)
        else:
            missing = not len(getattr(message, name))
        if missing and not (stand_in and getattr(message, stand_in)):
            found.append(FieldViolation(prefix + name, "is required"))
    for name, members in oneofs:
        if message.WhichOneof(name) is None:
            found.append(FieldViolation(prefix + name, f"is required: set one of {members}"))
    for name, shape in descend:
        if name in skip:
            continue
        if shape == _PRESENCE:
            if message.HasField(name):
                _collect_missing(getattr(message, name), prefix + name, found, skip=())
        elif shape == _LIST:
            for i, child in enumerate(getattr(message, name)):
                _collect_missing(child, f"{prefix}{name}[{i}]", found, skip=())
        elif shape == _MAP:
            for key, child in getattr(message, name).items():
                _collect_missing(child, f"{prefix}{name}[{key!r}]", found, skip=())


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
