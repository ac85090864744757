"""Why request bytes do not decode: the field where decoding fails, read off the wire.

The protobuf runtime refuses a message nested deeper than 100 levels, a string that is
not UTF-8 and truncated bytes, with an error that names no field. ``explain`` reads the
same bytes guided by the message's descriptor, without recursion (so no depth stops
it), and names the first field that is the cause: a type nested within itself past
``limits.MAX_NESTING`` levels, text that is not UTF-8, a field cut short, or bytes that
are not protobuf at all. It runs only for requests that failed to decode, so it favours
clarity over speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor

from mlspec.domain.common.limits import MAX_NESTING, self_nesting
from mlspec.errors import FieldViolation

FD = descriptor.FieldDescriptor
# Reading stops after this many fields: an explanation must not cost more than the call.
MAX_FIELDS_READ = 100_000
_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = range(6)


class _Malformed(Exception):
    """Bytes that are not protobuf; ``description`` completes "the field ..."."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass
class _Frame:
    """One message being read: its type (None inside an unknown group), where it ends."""

    desc: Any  # a message Descriptor, or None inside an unknown group
    end: int | None  # None for a group, which ends at its end-group tag
    path: list[str]
    counts: dict[int, int] = field(default_factory=dict)  # items seen per field number

    @property
    def is_entry(self) -> bool:
        return self.desc is not None and bool(self.desc.GetOptions().map_entry)


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise _Malformed("ends in the middle of a number")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed("holds a number longer than 10 bytes")


def explain(desc: Any, data: bytes) -> FieldViolation | None:
    """The field where ``data`` stops being a valid ``desc``, or None if none is found."""
    stack = [_Frame(desc, len(data), [])]
    nesting: dict[str, int] = {}
    pos = 0
    for _ in range(MAX_FIELDS_READ):
        frame = stack[-1]
        if frame.end is not None and pos == frame.end:
            if len(stack) == 1:
                return None
            stack.pop()
            if frame.desc is not None:
                nesting[frame.desc.full_name] -= 1
            continue
        limit = next(f.end for f in reversed(stack) if f.end is not None)
        try:
            tag, pos = _varint(data, pos, limit)
            number, wire = tag >> 3, tag & 7
            fd = frame.desc.fields_by_number.get(number) if frame.desc is not None else None
            part = _part(frame, fd, number)
            if wire == _END_GROUP:
                if frame.end is not None:
                    raise _Malformed("closes a group that was never opened")
                stack.pop()
            elif wire == _START_GROUP:
                stack.append(_Frame(None, None, part))
            elif wire == _VARINT:
                value, pos = _varint(data, pos, limit)
                _name_entry(frame, number, value)
            elif wire in (_FIXED64, _FIXED32):
                pos += 8 if wire == _FIXED64 else 4
                if pos > limit:
                    raise _Malformed("ends in the middle of a fixed-size number")
            elif wire == _LENGTH:
                length, pos = _varint(data, pos, limit)
                if pos + length > limit:
                    raise _Malformed(f"says it holds {length:,} bytes but {limit - pos:,} follow")
                if fd is not None and fd.type == FD.TYPE_MESSAGE:
                    child: Any = fd.message_type
                    level = nesting.get(child.full_name, 0) + 1
                    nesting[child.full_name] = level
                    if level > MAX_NESTING and self_nesting(child):
                        return FieldViolation(
                            ".".join(part),
                            f"nests {child.name} more than {MAX_NESTING} levels deep within itself",
                        )
                    stack.append(_Frame(child, pos + length, part))
                    continue
                if fd is not None and fd.type == FD.TYPE_STRING:
                    try:
                        text = data[pos : pos + length].decode("utf-8")
                    except UnicodeDecodeError:
                        return FieldViolation(".".join(part), "is not valid UTF-8 text")
                    _name_entry(frame, number, text)
                pos += length
            else:
                raise _Malformed(f"uses wire type {wire}, which protobuf does not define")
        except _Malformed as problem:
            where = ".".join(frame.path) or "the request"
            return FieldViolation(where, f"is not valid protobuf: it {problem.description}")
    return None  # too many fields to read them all for an explanation


def _part(frame: _Frame, fd: FD | None, number: int) -> list[str]:
    """The path of the next field of ``frame`` (``...inputs[3]``, ``...labels['k']``)."""
    if frame.is_entry:  # a map entry's key and value are the entry itself
        return list(frame.path)
    if fd is None:
        return [*frame.path, f"<field {number}>"]
    if not fd.is_repeated:
        return [*frame.path, fd.name]
    index = frame.counts.get(number, 0)
    frame.counts[number] = index + 1
    return [*frame.path, f"{fd.name}[{index}]"]


def _name_entry(frame: _Frame, number: int, key: object) -> None:
    """Once a map entry's key is read, its path names the key rather than an index."""
    if frame.is_entry and number == 1 and frame.path:
        name = frame.path[-1].split("[", 1)[0]
        frame.path[-1] = f"{name}[{key!r}]"
