"""Hypothesis strategies that build arbitrary, valid instances of any protobuf message.

The strategy walks the message descriptor: scalars get values of their type, enums one of
their values, repeated fields and maps a few entries, oneofs at most one member, nested
messages recurse up to a depth limit. Well-known types get values that their proto3 JSON
form can represent (timestamps within years 1..9999, field-mask paths in snake_case).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor, message_factory
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message import Message
from hypothesis import strategies as st

MAX_DEPTH = 3
_INT32 = st.integers(-(2**31), 2**31 - 1)
_UINT32 = st.integers(0, 2**32 - 1)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_UINT64 = st.integers(0, 2**64 - 1)
_DOUBLE = st.floats(allow_nan=False)
_FLOAT = st.floats(allow_nan=False, width=32)
_TEXT = st.text(max_size=12)
_KEY = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)

_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    F.TYPE_DOUBLE: _DOUBLE,
    F.TYPE_FLOAT: _FLOAT,
    F.TYPE_INT32: _INT32,
    F.TYPE_SINT32: _INT32,
    F.TYPE_SFIXED32: _INT32,
    F.TYPE_UINT32: _UINT32,
    F.TYPE_FIXED32: _UINT32,
    F.TYPE_INT64: _INT64,
    F.TYPE_SINT64: _INT64,
    F.TYPE_SFIXED64: _INT64,
    F.TYPE_UINT64: _UINT64,
    F.TYPE_FIXED64: _UINT64,
    F.TYPE_BOOL: st.booleans(),
    F.TYPE_STRING: _TEXT,
    F.TYPE_BYTES: st.binary(max_size=12),
}


def _special(desc: descriptor.Descriptor) -> st.SearchStrategy[Message] | None:
    # Any: the generated class's constructor takes the fields as keywords; the stubs type
    # GetMessageClass as returning the base Message class, which takes none.
    cls: Any = message_factory.GetMessageClass(desc)
    name = desc.full_name
    if name == "google.protobuf.Timestamp":
        return st.builds(
            lambda s, n: cls(seconds=s, nanos=n),
            st.integers(-62135596800, 253402300799),
            st.integers(0, 999_999_999),
        )
    if name == "google.protobuf.Duration":
        return st.builds(
            lambda s, n: cls(seconds=s, nanos=n if s >= 0 else -n),
            st.integers(-315_576_000_000, 315_576_000_000),
            st.integers(0, 999_999_999),
        )
    if name == "google.protobuf.FieldMask":
        path = st.lists(
            _KEY.filter(lambda k: "__" not in k and not k.endswith("_") and k[0] != "_"),
            min_size=1,
            max_size=3,
        ).map(".".join)
        return st.lists(path, max_size=3).map(lambda paths: cls(paths=paths))
    if name == "google.protobuf.Any":
        return st.just(cls())
    if name in {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}:
        return st.just(cls())
    return None


def messages(desc: descriptor.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """A strategy for instances of the message type ``desc``."""
    special = _special(desc)
    if special is not None:
        return special
    cls = message_factory.GetMessageClass(desc)
    real_oneofs = [
        o
        for o in desc.oneofs
        if not (len(o.fields) == 1 and o.fields[0].has_presence and o.name.startswith("_"))
    ]
    in_oneof = {f.name for o in real_oneofs for f in o.fields}
    plain = [f for f in desc.fields if f.name not in in_oneof]
    if depth >= MAX_DEPTH:
        # Deep enough: only scalar fields, so recursive types terminate.
        plain = [f for f in plain if f.type not in (F.TYPE_MESSAGE, F.TYPE_GROUP)]
        real_oneofs = []

    parts: dict[str, st.SearchStrategy[Any]] = {f.name: _field(f, depth) for f in plain}
    for oneof in real_oneofs:
        choices = [st.tuples(st.just(f.name), _single(f, depth)) for f in oneof.fields]
        parts["__oneof__" + oneof.name] = st.none() | st.one_of(choices)

    def build(values: dict[str, Any]) -> Message:
        instance = cls()
        for key, value in values.items():
            if key.startswith("__oneof__"):
                if value is not None:
                    _assign(instance, desc.fields_by_name[value[0]], value[1])
            elif value is not None:
                _assign(instance, desc.fields_by_name[key], value)
        return instance

    return st.fixed_dictionaries({}, optional=parts).map(build)


def _single(field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        return messages(field.message_type, depth + 1)
    if field.enum_type is not None:
        return st.sampled_from([v.number for v in field.enum_type.values])
    return _SCALARS[field.type]


def _field(field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key_field = field.message_type.fields_by_name["key"]
        value_field = field.message_type.fields_by_name["value"]
        keys = _KEY if key_field.type == F.TYPE_STRING else _single(key_field, depth)
        return st.dictionaries(keys, _single(value_field, depth), max_size=2)
    if field.is_repeated:
        return st.lists(_single(field, depth), max_size=2)
    return _single(field, depth)


def _assign(instance: Message, field: descriptor.FieldDescriptor, value: Any) -> None:
    target = getattr(instance, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            if value_field.type == F.TYPE_MESSAGE:
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif field.is_repeated:
        if field.type == F.TYPE_MESSAGE:
            for item in value:
                target.add().CopyFrom(item)
        else:
            target.extend(value)
    elif field.type == F.TYPE_MESSAGE:
        target.CopyFrom(value)
        if not value.ListFields():
            getattr(instance, field.name).SetInParent()
    else:
        setattr(instance, field.name, value)
