"""Hypothesis strategies of hostile requests for any RPC, built from its request descriptor.

Every field type gets the values an attacker or a broken client sends: invalid names,
oversize strings, SQL metacharacters, NUL, malformed filters and page tokens, integer
extremes, enum numbers outside their enum, NaN, huge lists and maps (one item past the
field's limit), values nested past the nesting limit. On the wire, some requests also get
a string field that is not UTF-8, their last byte cut off, or a garbage prefix.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message import Message
from hypothesis import strategies as st

from mlspec.common.v1 import value_pb2
from mlspec.domain.common import limits

MAX_DEPTH = 3
# What lands in string fields: names, ids, filters, order_by, page tokens, request ids.
HOSTILE_TEXT = [
    "",
    "-bad name",
    "../../etc/passwd",
    "Ünïcødé-名前",
    "a" * 256,
    "x" * (limits.DEFAULT_STRING_LENGTH + 1),
    "'; DROP TABLE resources; --",
    '" OR "1"="1',
    "%",
    "_",
    "\\",
    "\x00",
    "nul\x00inside",
    "labels.team = ",
    "(((",
    'name = "unterminated',
    'create_time > "not-a-time"',
    "meta.name desc, , asc",
    "status = ARCHIVED OR 1=1",
    "!!!not-base64!!!",
    "eyJxIjoiYm9ndXMiLCJzIjotMX0",
    "00000000-0000-0000-0000-000000000000",
]
_INTS = {
    F.TYPE_INT32: [0, 1, -1, 2**31 - 1, -(2**31)],
    F.TYPE_SINT32: [0, -1, 2**31 - 1, -(2**31)],
    F.TYPE_SFIXED32: [0, -1, 2**31 - 1, -(2**31)],
    F.TYPE_UINT32: [0, 1, 2**32 - 1],
    F.TYPE_FIXED32: [0, 2**32 - 1],
    F.TYPE_INT64: [0, -1, 2**63 - 1, -(2**63)],
    F.TYPE_SINT64: [0, -1, 2**63 - 1, -(2**63)],
    F.TYPE_SFIXED64: [0, 2**63 - 1, -(2**63)],
    F.TYPE_UINT64: [0, 2**64 - 1],
    F.TYPE_FIXED64: [0, 2**64 - 1],
}
_FLOATS = [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1e308]
_BYTES = [b"", b"\xff\xfe\x00", b"\x00" * (limits.DEFAULT_BYTES_LENGTH + 1)]
_ENUMS = [0, 1, 2, 999, -7]


def _scalar(field: Any) -> st.SearchStrategy[Any]:
    if field.type == F.TYPE_STRING:
        return st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=8))
    if field.type == F.TYPE_BYTES:
        return st.sampled_from(_BYTES)
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type == F.TYPE_ENUM:
        return st.sampled_from(_ENUMS)
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.sampled_from(_FLOATS)
    return st.sampled_from(_INTS[field.type])


def nested_value(depth: int) -> value_pb2.Value:
    """A Value that is an array in an array ... ``depth`` levels in all."""
    value = value_pb2.Value(int_value=1)
    for _ in range(depth - 1):
        outer = value_pb2.Value()
        outer.array_value.values.add().CopyFrom(value)
        value = outer
    return value


@st.composite
def hostile_message(draw: st.DrawFn, desc: Any, depth: int = 0) -> Message:
    """A message of ``desc`` with a few of its fields set to hostile values."""
    cls: Any = message_factory.GetMessageClass(desc)
    message: Message = cls()
    if desc.full_name == "mlspec.common.v1.Value" and draw(st.booleans()):
        message.CopyFrom(nested_value(draw(st.sampled_from([2, limits.MAX_NESTING + 5]))))
        return message
    if depth > MAX_DEPTH or not desc.fields:
        return message
    chosen = draw(st.lists(st.sampled_from(list(desc.fields)), max_size=4, unique=True))
    for field in chosen:
        if field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name):
            continue
        _fill(draw, message, field, depth)
    return message


def _fill(draw: st.DrawFn, message: Any, field: Any, depth: int) -> None:
    limit = limits.limit_of(field)
    if limit.is_map:
        entry = field.message_type
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        target = getattr(message, field.name)
        huge = draw(st.integers(0, 5)) == 0
        count = limit.max_items + 1 if huge else draw(st.integers(0, 2))
        keys = (
            [f"k{i}" for i in range(count)]
            if huge
            else draw(st.lists(_scalar(key_field), max_size=count, unique=True))
        )
        for key in keys:
            if value_field.message_type is not None:
                target[key].CopyFrom(
                    message_factory.GetMessageClass(value_field.message_type)()
                    if huge
                    else draw(hostile_message(value_field.message_type, depth + 1))
                )
            else:
                target[key] = draw(_scalar(value_field))
        return
    if field.is_repeated:
        target = getattr(message, field.name)
        huge = draw(st.integers(0, 5)) == 0
        count = limit.max_items + 1 if huge else draw(st.integers(0, 2))
        if field.message_type is not None:
            for _ in range(count):
                item = target.add()
                if not huge:
                    item.CopyFrom(draw(hostile_message(field.message_type, depth + 1)))
        else:
            value = draw(_scalar(field))
            target.extend([value] * count)
        return
    if field.message_type is not None:
        getattr(message, field.name).CopyFrom(draw(hostile_message(field.message_type, depth + 1)))
        return
    setattr(message, field.name, draw(_scalar(field)))


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


@st.composite
def hostile_request(draw: st.DrawFn, desc: Any) -> bytes:
    """The bytes of a hostile request of ``desc``, sometimes also broken on the wire."""
    data = draw(hostile_message(desc)).SerializeToString()
    strings = [f for f in desc.fields if f.type == F.TYPE_STRING]
    wire = draw(st.sampled_from(["as is", "as is", "not utf-8", "cut short", "garbage"]))
    if wire == "not utf-8" and strings:
        field = draw(st.sampled_from(strings))
        data += _varint(field.number << 3 | 2) + _varint(2) + b"\xc3\x28"
    elif wire == "cut short" and data:
        data = data[:-1]
    elif wire == "garbage":
        data = b"\xff\xff\xff\xff\x0f" + data
    return data
