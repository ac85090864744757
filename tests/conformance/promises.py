"""What the promise suite derives from the contract: mutations, documented codes, requests.

Nothing here is written per method. ``required_mutations`` walks a valid request with
the descriptors and yields one copy per REQUIRED field (and required oneof) that is set,
at any depth, with that one thing taken away; ``unknown_references`` yields copies with
one reference pointed at nothing; ``documented_codes`` reads the status codes each RPC's
comment names from the contract's source (built with buf). The valid requests start
from the smallest valid payloads of the examples (``payloads.py``).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor, descriptor_pb2
from google.protobuf.message import Message

from mlspec.common.v1 import options_pb2

ROOT = Path(__file__).resolve().parents[2]
CODES = re.compile(
    r"\b(CANCELLED|UNKNOWN|INVALID_ARGUMENT|DEADLINE_EXCEEDED|NOT_FOUND|ALREADY_EXISTS|"
    r"PERMISSION_DENIED|RESOURCE_EXHAUSTED|FAILED_PRECONDITION|ABORTED|OUT_OF_RANGE|"
    r"UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS|UNAUTHENTICATED)\b"
)
# Codes any method may answer whatever its comment says: the transport's and access's.
ALWAYS = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "UNAVAILABLE", "DEADLINE_EXCEEDED"})
_REF = "mlspec.common.v1.ResourceRef"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@cache
def documented_codes() -> dict[str, frozenset[str]]:
    """Method full name (``pkg.Service.Method``) -> the status codes its comment names."""
    from tests.contract.catalog import find_buf

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "image.binpb"
        subprocess.run(
            [find_buf(), "build", "proto", "--exclude-imports", "-o", str(out)],
            cwd=ROOT,
            check=True,
        )
        image = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    found = {}
    for file in image.file:
        comments = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
        for i, service in enumerate(file.service):
            for j, method in enumerate(service.method):
                text = comments.get((6, i, 2, j), "")
                name = f"{file.package}.{service.name}.{method.name}"
                found[name] = frozenset(CODES.findall(text)) | ALWAYS
    return found


def _required(field: descriptor.FieldDescriptor) -> bool:
    return (
        field_behavior_pb2.REQUIRED
        in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    )


def _output_only(field: descriptor.FieldDescriptor) -> bool:
    return (
        field_behavior_pb2.OUTPUT_ONLY
        in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    )


def _set_children(message: Message) -> Iterator[tuple[str, Message, Any]]:
    """(path suffix, child, field) of every set sub-message (list items and map values)."""
    for field, value in message.ListFields():
        if field.message_type is None or _output_only(field):
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            for key, item in value.items():
                yield f"{field.name}[{key!r}]", item, field
        elif field.is_repeated:
            for i, item in enumerate(value):
                yield f"{field.name}[{i}]", item, field
        else:
            yield field.name, value, field


def _required_here(message: Message) -> Iterator[tuple[str, str]]:
    """(field or oneof name, how to clear it) of what ``message`` sets and must set."""
    for field, _ in message.ListFields():
        if _required(field):
            yield field.name, field.name
    for oneof in message.DESCRIPTOR.oneofs:
        member = message.WhichOneof(oneof.name)
        if member is not None and oneof.GetOptions().Extensions[options_pb2.required_oneof]:
            yield oneof.name, member


def required_mutations(request: Message) -> Iterator[tuple[str, Message]]:
    """(violated path, request copy) for each set REQUIRED thing, taken away alone."""
    yield from _mutations(request, request, [])


def _mutations(root: Message, message: Message, trail: list[str]) -> Iterator[tuple[str, Message]]:
    for name, member in _required_here(message):
        copy = type(root)()
        copy.CopyFrom(root)
        _at(copy, trail).ClearField(member)
        yield ".".join([*trail, name]), copy
    for suffix, child, _ in _set_children(message):
        yield from _mutations(root, child, [*trail, suffix])


_STEP = re.compile(r"^([a-z_0-9]+)(?:\[(\d+)\]|\['(.*)'\])?$")


def _at(message: Any, trail: list[str]) -> Any:
    for part in trail:
        match = _STEP.match(part)
        assert match is not None, part
        name, index, key = match.groups()
        value = getattr(message, name)
        message = (
            value[int(index)] if index is not None else value[key] if key is not None else value
        )
    return message


def unknown_references(request: Message) -> Iterator[tuple[str, Message]]:
    """(path, request copy) with one reference by id pointed at no resource.

    The references are ResourceRefs by id at any depth, and the reference fields
    (``run_id``, ``dataset_id``, ...) of the request and of the resource it carries.
    """
    holders: list[tuple[list[str], Message]] = [([], request)]
    for field, value in request.ListFields():
        target = field.message_type
        if target is not None and not field.is_repeated and _is_resource(target):
            holders.append(([field.name], value))
    for trail, holder in holders:
        for field, _ in holder.ListFields():
            if field.type == field.TYPE_STRING and not field.is_repeated and _is_reference(field):
                copy = type(request)()
                copy.CopyFrom(request)
                setattr(_at(copy, trail), field.name, UNKNOWN_ID)
                yield ".".join([*trail, field.name]), copy
    yield from _unknown_refs(request, request, [])


def _is_resource(message: descriptor.Descriptor) -> bool:
    return message.GetOptions().HasExtension(resource_pb2.resource)


def _is_reference(field: descriptor.FieldDescriptor) -> bool:
    return field.GetOptions().HasExtension(resource_pb2.resource_reference)


def _unknown_refs(
    root: Message, message: Message, trail: list[str]
) -> Iterator[tuple[str, Message]]:
    for suffix, child, _ in _set_children(message):
        if child.DESCRIPTOR.full_name == _REF:
            if child.WhichOneof("target") == "id":
                copy = type(root)()
                copy.CopyFrom(root)
                _at(copy, [*trail, suffix]).id = UNKNOWN_ID
                yield ".".join([*trail, suffix]), copy
        else:
            yield from _unknown_refs(root, child, [*trail, suffix])
