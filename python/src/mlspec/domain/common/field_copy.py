"""Copying one field of a message onto another message of the same type.

Field masks (``update_mask`` of an update, the OUTPUT_ONLY fields an update keeps) and
partial responses (the fields a caller asked for) both move single fields between two
messages of one type; ``copy_field`` is that move, for every kind of field.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message


def copy_field(source: Message, target: Message, fd: Any) -> None:
    """Replaces field ``fd`` of ``target`` with the same field of ``source``.

    A map or repeated field is replaced by a copy of the source's items, a singular
    message is copied when the source has it (and left cleared when not), a scalar is
    copied as it is.
    """
    target.ClearField(fd.name)
    value = getattr(source, fd.name)
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        dest = getattr(target, fd.name)
        message_values = fd.message_type.fields_by_name["value"].message_type is not None
        for key, item in value.items():
            if message_values:
                dest[key].CopyFrom(item)
            else:
                dest[key] = item
    elif fd.is_repeated:
        getattr(target, fd.name).extend(value)
    elif fd.message_type is not None:
        if source.HasField(fd.name):
            getattr(target, fd.name).CopyFrom(value)
    else:
        setattr(target, fd.name, value)
