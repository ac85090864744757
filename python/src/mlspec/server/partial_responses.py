"""Partial responses (AIP-157): the fields a caller asks for, and never more than it can take.

A caller names the fields it wants in the ``x-mlspec-response-fields`` header
(comma-separated paths of the response message; a path through a repeated field or a
map applies to each item), and gets only those. Unknown paths are INVALID_ARGUMENT,
checked before the call runs, so a bad header never follows a committed change.

A mutation's full response may be larger than gRPC clients accept by default (4 MiB):
it then carries only the ``meta`` of each resource it holds, its scalar fields and its
warnings, plus a RESPONSE_TRIMMED warning, so that a committed change never looks failed
to a client with default settings. ``common/v1/limits.proto`` states both promises.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import warning_pb2
from mlspec.domain.common.field_copy import copy_field

HEADER = "x-mlspec-response-fields"
# gRPC clients' default receive limit: a mutation's response never exceeds it.
CLIENT_RECEIVE_LIMIT = 4 * 1024 * 1024
MAX_PATHS = 100

Tree = dict[str, "Tree"]  # field name -> the sub-fields wanted ({} for all of it)


def requested(metadata: Iterable[tuple[str, Any]] | None, desc: Any) -> Tree:
    """The fields the caller asked for ({} for all), checked against the response type."""
    text = next((str(v) for k, v in metadata or () if k == HEADER), "")
    paths = [p.strip() for p in text.split(",") if p.strip()]
    if len(paths) > MAX_PATHS:
        raise errors.invalid(HEADER, f"names {len(paths)} paths; at most {MAX_PATHS}")
    tree: Tree = {}
    for path in paths:
        node: Tree = tree
        current: Any = desc
        parts = path.split(".")
        for i, part in enumerate(parts):
            fd = current.fields_by_name.get(part) if current is not None else None
            if fd is None:
                raise errors.invalid(
                    HEADER,
                    f"{path!r} is not a field path of {desc.full_name} "
                    f"({'.'.join(parts[: i + 1])!r} is unknown)",
                )
            if node.get(part) == {} and part in node:
                break  # the whole field is wanted already
            last = i == len(parts) - 1
            node = node.setdefault(part, {})
            if last:
                node.clear()
            current = _held_type(fd)
    return tree


def _is_map(fd: Any) -> bool:
    return fd.message_type is not None and bool(fd.message_type.GetOptions().map_entry)


def _held_type(fd: Any) -> Any:
    if _is_map(fd):
        return fd.message_type.fields_by_name["value"].message_type
    return fd.message_type


def shape(response: Message, wanted: Tree, writes: bool) -> Message:
    """The response as the caller may receive it: projected, and trimmed when too large."""
    if wanted:
        response = project(response, wanted)
    if writes and response.ByteSize() > CLIENT_RECEIVE_LIMIT:
        response = _trimmed(response)
    return response


def project(source: Message, wanted: Tree) -> Message:
    """A copy of ``source`` holding only the ``wanted`` fields."""
    target = type(source)()
    _project(source, target, wanted)
    return target


def _project(source: Message, target: Message, wanted: Tree) -> None:
    for name, inner in wanted.items():
        fd = source.DESCRIPTOR.fields_by_name[name]
        value = getattr(source, name)
        if not inner:
            copy_field(source, target, fd)
        elif _is_map(fd):
            for key, item in value.items():
                _project(item, getattr(target, name)[key], inner)
        elif fd.is_repeated:
            for item in value:
                _project(item, getattr(target, name).add(), inner)
        elif source.HasField(name):
            getattr(target, name).SetInParent()
            _project(value, getattr(target, name), inner)


def _trimmed(response: Message) -> Message:
    """The response with each resource reduced to its ``meta``; a warning says so."""
    wanted: Tree = {}
    for fd in response.DESCRIPTOR.fields:
        held = _held_type(fd)
        if held is None or fd.name == "warnings":
            wanted[fd.name] = {}
        elif "meta" in held.fields_by_name:
            wanted[fd.name] = {"meta": {}}
    size = response.ByteSize()
    trimmed = project(response, wanted)
    if "warnings" in response.DESCRIPTOR.fields_by_name:
        trimmed.warnings.append(  # type: ignore[attr-defined]
            warning_pb2.Warning(
                code="RESPONSE_TRIMMED",
                message=(
                    f"the change is committed; its full response ({size:,} bytes) is larger "
                    f"than gRPC clients accept by default ({CLIENT_RECEIVE_LIMIT:,}), so only "
                    "each resource's meta is returned: read the resource to get all of it"
                ),
            )
        )
    return trimmed
