"""Descriptor-level rules every .proto file of the contract must follow.

The rules are the house style of docs/proto-style.md: every element has a comment, field
comments say whether the field is required, every resource carries the common object
fields, every enum starts with an ``_UNSPECIFIED`` zero value, RPC comments name their
status codes, and the generated Python matches the sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from google.api import resource_pb2
from google.protobuf import descriptor_pb2, descriptor_pool

from mlspec.common.v1 import reference_pb2

from .catalog import PROTO_ROOT, generated_modules

# Field numbers of descriptor.proto used in SourceCodeInfo paths.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MSG_FIELD, MSG_NESTED, MSG_ENUM, MSG_ONEOF = 2, 3, 4, 8
ENUM_VALUE, SERVICE_METHOD = 2, 2

FIELD_PREFIXES = ("Required.", "Optional.", "Output only.")
STATUS_CODES = re.compile(
    r"\b(OK|CANCELLED|UNKNOWN|INVALID_ARGUMENT|DEADLINE_EXCEEDED|NOT_FOUND|ALREADY_EXISTS|"
    r"PERMISSION_DENIED|RESOURCE_EXHAUSTED|FAILED_PRECONDITION|ABORTED|OUT_OF_RANGE|"
    r"UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS|UNAUTHENTICATED)\b"
)


@dataclass(frozen=True)
class Element:
    """One commented element of a .proto file."""

    kind: str
    name: str
    comment: str
    parent: str = ""


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {
        tuple(loc.path): (loc.leading_comments or loc.trailing_comments).strip()
        for loc in file.source_code_info.location
    }


def _walk_message(
    msg: descriptor_pb2.DescriptorProto,
    path: tuple[int, ...],
    prefix: str,
    comments: dict[tuple[int, ...], str],
) -> Iterator[Element]:
    full = f"{prefix}.{msg.name}"
    yield Element("message", full, comments.get(path, ""))
    for i, field in enumerate(msg.field):
        yield Element(
            "field", f"{full}.{field.name}", comments.get((*path, MSG_FIELD, i), ""), full
        )
    for i, oneof in enumerate(msg.oneof_decl):
        if not oneof.name.startswith("_"):  # proto3 `optional` makes synthetic oneofs
            yield Element("oneof", f"{full}.{oneof.name}", comments.get((*path, MSG_ONEOF, i), ""))
    for i, enum in enumerate(msg.enum_type):
        yield from _walk_enum(enum, (*path, MSG_ENUM, i), full, comments)
    for i, nested in enumerate(msg.nested_type):
        if not nested.options.map_entry:
            yield from _walk_message(nested, (*path, MSG_NESTED, i), full, comments)


def _walk_enum(
    enum: descriptor_pb2.EnumDescriptorProto,
    path: tuple[int, ...],
    prefix: str,
    comments: dict[tuple[int, ...], str],
) -> Iterator[Element]:
    full = f"{prefix}.{enum.name}"
    yield Element("enum", full, comments.get(path, ""))
    for i, value in enumerate(enum.value):
        yield Element(
            "enum value", f"{full}.{value.name}", comments.get((*path, ENUM_VALUE, i), "")
        )


def elements(image: descriptor_pb2.FileDescriptorSet) -> Iterator[Element]:
    """Every message, field, oneof, enum, enum value, service and RPC of the contract."""
    for file in image.file:
        comments = _comments(file)
        for i, msg in enumerate(file.message_type):
            yield from _walk_message(msg, (FILE_MESSAGE, i), file.package, comments)
        for i, enum in enumerate(file.enum_type):
            yield from _walk_enum(enum, (FILE_ENUM, i), file.package, comments)
        for i, service in enumerate(file.service):
            full = f"{file.package}.{service.name}"
            yield Element("service", full, comments.get((FILE_SERVICE, i), ""))
            for j, method in enumerate(service.method):
                path = (FILE_SERVICE, i, SERVICE_METHOD, j)
                yield Element("rpc", f"{full}.{method.name}", comments.get(path, ""))


def test_image_holds_the_whole_contract(image: descriptor_pb2.FileDescriptorSet) -> None:
    on_disk = {p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto")}
    assert {f.name for f in image.file} == on_disk
    areas = {f.package.split(".")[1] for f in image.file}
    assert areas >= {
        "common", "data", "pipelines", "tracking", "models",
        "lifecycle", "logging", "monitoring", "metadata",
    }  # fmt: skip


def test_every_element_has_a_comment(image: descriptor_pb2.FileDescriptorSet) -> None:
    missing = [f"{e.kind} {e.name}" for e in elements(image) if not e.comment]
    assert missing == []


def test_field_comments_say_whether_the_field_is_required(
    image: descriptor_pb2.FileDescriptorSet,
) -> None:
    wrong = [
        f"{e.name}: {e.comment[:60]!r}"
        for e in elements(image)
        if e.kind == "field"
        and not e.parent.endswith("Response")
        and not e.comment.startswith(FIELD_PREFIXES)
    ]
    assert wrong == []


def test_rpc_comments_name_status_codes(image: descriptor_pb2.FileDescriptorSet) -> None:
    silent = [
        e.name for e in elements(image) if e.kind == "rpc" and not STATUS_CODES.search(e.comment)
    ]
    assert silent == []


def test_every_enum_starts_with_an_unspecified_zero(
    image: descriptor_pb2.FileDescriptorSet,
) -> None:
    def enums() -> Iterator[descriptor_pb2.EnumDescriptorProto]:
        def nested(
            msg: descriptor_pb2.DescriptorProto,
        ) -> Iterator[descriptor_pb2.EnumDescriptorProto]:
            yield from msg.enum_type
            for inner in msg.nested_type:
                yield from nested(inner)

        for file in image.file:
            yield from file.enum_type
            for msg in file.message_type:
                yield from nested(msg)

    wrong = [
        e.name
        for e in enums()
        if e.value[0].number != 0 or not e.value[0].name.endswith("_UNSPECIFIED")
    ]
    assert wrong == []


def test_every_package_matches_its_folder(image: descriptor_pb2.FileDescriptorSet) -> None:
    for file in image.file:
        assert file.name.rsplit("/", 1)[0] == file.package.replace(".", "/")


def test_every_area_has_a_service_file(image: descriptor_pb2.FileDescriptorSet) -> None:
    services = {f.package: f.name for f in image.file if f.service}
    for package in {f.package for f in image.file}:
        assert package in services, f"{package} defines no service"
        assert services[package].endswith("_service.proto")


def _resource_messages() -> list[tuple[str, object]]:
    found = []
    for module in generated_modules():
        for msg in module.DESCRIPTOR.message_types_by_name.values():
            options = msg.GetOptions()
            if options.HasExtension(resource_pb2.resource):
                found.append((msg.full_name, msg))
    return found


RESOURCES = _resource_messages()


def upper_snake(name: str) -> str:
    """``DatasetVersion`` -> ``DATASET_VERSION``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def test_the_contract_defines_the_resources_of_the_spec() -> None:
    names = {name.rsplit(".", 1)[1] for name, _ in RESOURCES}
    assert names >= {
        "Datastore", "Artifact", "Dataset", "DatasetVersion", "Module", "ModuleVersion",
        "PipelineDraft", "Pipeline", "PipelineRun", "StepRun", "Experiment", "Run",
        "Model", "ModelVersion", "StageReport",
    }  # fmt: skip


@pytest.mark.parametrize("full_name,message", RESOURCES, ids=[n for n, _ in RESOURCES])
def test_every_resource_carries_the_common_object_fields(full_name: str, message: object) -> None:
    meta = message.fields_by_name.get("meta")  # type: ignore[attr-defined]
    assert meta is not None, f"{full_name} has no `meta` field"
    assert meta.number == 1
    assert meta.message_type.full_name == "mlspec.common.v1.ObjectMeta"
    resource = message.GetOptions().Extensions[resource_pb2.resource]  # type: ignore[attr-defined]
    assert resource.type == f"mlspec.io/{message.name}"  # type: ignore[attr-defined]
    kind = "RESOURCE_KIND_" + upper_snake(message.name)  # type: ignore[attr-defined]
    assert kind in reference_pb2.ResourceKind.DESCRIPTOR.values_by_name, (
        f"no {kind} in ResourceKind"
    )


def test_every_resource_kind_names_a_resource() -> None:
    resources = {upper_snake(n.rsplit(".", 1)[1]) for n, _ in RESOURCES}
    kinds = {
        k.removeprefix("RESOURCE_KIND_")
        for k in reference_pb2.ResourceKind.DESCRIPTOR.values_by_name
    }
    assert kinds - {"UNSPECIFIED"} == resources


def test_generated_python_matches_the_sources(image: descriptor_pb2.FileDescriptorSet) -> None:
    generated_modules()  # importing registers every generated file in the default pool
    pool = descriptor_pool.Default()
    for file in image.file:
        generated = descriptor_pb2.FileDescriptorProto()
        pool.FindFileByName(file.name).CopyToProto(generated)
        source = descriptor_pb2.FileDescriptorProto()
        source.CopyFrom(file)
        source.ClearField("source_code_info")
        source.DiscardUnknownFields()  # buf adds its own image extensions
        assert generated == source, f"{file.name}: generated code is stale, run `make generate`"
