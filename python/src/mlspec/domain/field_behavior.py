"""Generic enforcement of ``google.api.field_behavior`` annotations.

One validator for every message of the contract, driven by the descriptors: it clears
OUTPUT_ONLY fields a client sent (they are the server's to fill), reports REQUIRED fields
that are missing and IMMUTABLE fields that an update tried to change. Nested messages are
walked wherever they are set.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.domain.errors import FieldViolation

OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
_REQUIRED = field_behavior_pb2.REQUIRED
_IMMUTABLE = field_behavior_pb2.IMMUTABLE


@cache
def behaviors(field: descriptor.FieldDescriptor) -> frozenset[int]:
    options = field.GetOptions()
    return frozenset(options.Extensions[field_behavior_pb2.field_behavior])


def _is_map(field: descriptor.FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _children(message: Message) -> list[tuple[str, Message]]:
    """The set sub-messages of ``message`` with their path suffixes."""
    found: list[tuple[str, Message]] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if _is_map(field):
            if field.message_type.fields_by_name["value"].message_type is not None:
                found.extend((f"{field.name}[{k!r}]", v) for k, v in value.items())
        elif field.is_repeated:
            found.extend((f"{field.name}[{i}]", v) for i, v in enumerate(value))
        else:
            found.append((field.name, value))
    return found


def clear_output_only(message: Message) -> None:
    """Clears every OUTPUT_ONLY field in ``message`` and the messages it holds."""
    for field in message.DESCRIPTOR.fields:
        if OUTPUT_ONLY in behaviors(field):
            message.ClearField(field.name)
    for _, child in _children(message):
        clear_output_only(child)


def _is_set(message: Message, field: Any) -> bool:
    if field.is_repeated:
        return len(getattr(message, field.name)) > 0
    if field.has_presence:
        return message.HasField(field.name)
    return bool(getattr(message, field.name))


def missing_required(message: Message, path: str) -> list[FieldViolation]:
    """Reports every REQUIRED field that is not set, in ``message`` and below it."""
    found = [
        FieldViolation(f"{path}.{field.name}", "is required")
        for field in message.DESCRIPTOR.fields
        if _REQUIRED in behaviors(field) and not _is_set(message, field)
    ]
    for suffix, child in _children(message):
        found.extend(missing_required(child, f"{path}.{suffix}"))
    return found


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
