"""Messages from keyword arguments: one converter that knows the contract's field types.

Helpers of the client accept either a message or keyword arguments; :func:`fill` sets
the keyword arguments on a message field by field, converting plain Python values:

- ``mlspec.common.v1.Value`` fields and ``map<string, Value>`` fields take plain values
  (see ``mlspec.client.values``);
- ``ResourceRef`` fields take resource messages (see ``mlspec.client.refs``);
- ``Timestamp`` fields take ``datetime`` (naive means UTC) or epoch seconds,
  ``Duration`` fields take ``timedelta`` or seconds;
- enum fields take the member's number, its full name or its short name
  (``"SUCCEEDED"`` for ``STAGE_REPORT_STATUS_SUCCEEDED``);
- other message fields take a message of their type or a dict (filled recursively);
- repeated fields take any iterable of the above.

Nothing is hidden: every field of the message can be set this way.

Example:
    >>> from mlspec.tracking.v1.run_pb2 import Run
    >>> run = fill(Run(), meta={"name": "r1"}, properties={"git_dirty": True})
    >>> run.meta.name, run.properties["git_dirty"].bool_value
    ('r1', True)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf import descriptor, duration_pb2, timestamp_pb2
from google.protobuf import message as protobuf_message

from mlspec.client.refs import to_ref
from mlspec.client.values import to_value
from mlspec.common.v1 import reference_pb2, value_pb2

M = TypeVar("M", bound=protobuf_message.Message)

_FD = descriptor.FieldDescriptor


def fill(message: M, **fields: Any) -> M:
    """Sets each keyword argument on the message (converted) and returns the message.

    Raises ``AttributeError`` for a name that is not a field of the message.
    """
    by_name = message.DESCRIPTOR.fields_by_name
    for name, value in fields.items():
        field = by_name.get(name)
        if field is None:
            raise AttributeError(f"{message.DESCRIPTOR.full_name} has no field {name!r}")
        set_field(message, field, value)
    return message


def build(cls: type[M], source: M | Mapping[str, Any] | None = None, /, **fields: Any) -> M:
    """A new ``cls`` message: a copy of ``source`` (message or dict), then ``fields``.

    ``cls`` and ``source`` are positional only, so that every field name (``source``
    too, as in ``PredictionFeedback``) can be a keyword argument.

    Example:
        >>> from mlspec.common.v1.reference_pb2 import ResourceRef
        >>> build(ResourceRef, {"id": "x"}, version="2").version
        '2'
    """
    out = cls()
    if isinstance(source, protobuf_message.Message):
        out.CopyFrom(source)
    elif source is not None:
        fill(out, **dict(source))
    return fill(out, **fields)


def set_field(message: protobuf_message.Message, field: Any, value: Any) -> None:
    """Sets one field of a message from a plain or message value."""
    name = field.name
    if _is_map(field):
        target = getattr(message, name)
        target.clear()
        value_field = field.message_type.fields_by_name["value"]
        for key, item in dict(value).items():
            if value_field.type == _FD.TYPE_MESSAGE:
                target[key].CopyFrom(_convert_message(value_field.message_type, item))
            else:
                target[key] = _convert_scalar(value_field, item)
        return
    if _is_repeated(field):
        target = getattr(message, name)
        del target[:]
        items = [value] if isinstance(value, (str, bytes, Mapping)) else list(value)
        if field.type == _FD.TYPE_MESSAGE:
            target.extend(_convert_message(field.message_type, item) for item in items)
        else:
            target.extend(_convert_scalar(field, item) for item in items)
        return
    if field.type == _FD.TYPE_MESSAGE:
        getattr(message, name).CopyFrom(_convert_message(field.message_type, value))
        return
    setattr(message, name, _convert_scalar(field, value))


def _is_repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf 7; `label` is gone there
    if flag is not None:
        return bool(flag)
    return bool(field.label == _FD.LABEL_REPEATED)


def _is_map(field: Any) -> bool:
    return bool(
        _is_repeated(field)
        and field.type == _FD.TYPE_MESSAGE
        and field.message_type.GetOptions().map_entry
    )


def _convert_message(message_type: Any, value: Any) -> Any:
    full = message_type.full_name
    if isinstance(value, protobuf_message.Message) and value.DESCRIPTOR.full_name == full:
        return value
    if full == value_pb2.Value.DESCRIPTOR.full_name:
        return to_value(value)
    if full == reference_pb2.ResourceRef.DESCRIPTOR.full_name and not isinstance(value, Mapping):
        return to_ref(value)
    if full == timestamp_pb2.Timestamp.DESCRIPTOR.full_name:
        return to_timestamp(value)
    if full == duration_pb2.Duration.DESCRIPTOR.full_name:
        return to_duration(value)
    if isinstance(value, Mapping):
        from google.protobuf import message_factory

        cls = message_factory.GetMessageClass(message_type)
        return fill(cls(), **dict(value))
    raise TypeError(f"cannot use {type(value).__name__} as {full}")


def _convert_scalar(field: Any, value: Any) -> Any:
    if field.type == _FD.TYPE_ENUM and isinstance(value, str):
        return enum_number(field.enum_type, value)
    if field.type == _FD.TYPE_ENUM and hasattr(value, "value") and not isinstance(value, int):
        return int(value.value)  # a Python enum member, for example mlspec.client.Stage
    return value


def enum_number(enum_type: Any, name: str) -> int:
    """The number of an enum member given by its full or short name (case-insensitive).

    Example:
        >>> from mlspec.lifecycle.v1 import stage_report_pb2
        >>> enum_number(stage_report_pb2.StageReportStatus.DESCRIPTOR, "failed")
        3
    """
    upper = name.upper()
    by_name = enum_type.values_by_name
    if upper in by_name:
        return int(by_name[upper].number)
    for member in enum_type.values:
        if member.name.endswith("_" + upper):
            return int(member.number)
    raise ValueError(f"{name!r} is not a member of {enum_type.full_name}")


def to_timestamp(value: dt.datetime | float | int | timestamp_pb2.Timestamp) -> Any:
    """A ``Timestamp`` from a datetime (naive is UTC) or epoch seconds."""
    if isinstance(value, timestamp_pb2.Timestamp):
        return value
    out = timestamp_pb2.Timestamp()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        out.FromDatetime(value)
        return out
    seconds = float(value)
    out.seconds = int(seconds // 1)
    out.nanos = round((seconds - out.seconds) * 1e9) % 1_000_000_000
    return out


def to_duration(value: dt.timedelta | float | int | duration_pb2.Duration) -> Any:
    """A ``Duration`` from a timedelta or seconds."""
    if isinstance(value, duration_pb2.Duration):
        return value
    out = duration_pb2.Duration()
    if isinstance(value, dt.timedelta):
        out.FromTimedelta(value)
    else:
        out.FromNanoseconds(round(float(value) * 1e9))
    return out
