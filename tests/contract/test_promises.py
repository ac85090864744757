"""The promises of the comments are declared where servers and tools can read them.

A field comment that starts "Required." carries ``google.api.field_behavior = REQUIRED``
and one that starts "Output only." carries OUTPUT_ONLY (conditional requirements are
written "Optional. ... required when ..."); a oneof whose comment starts "Required."
carries ``(mlspec.common.v1.required_oneof)``; every List request declares its sort keys,
default order and filter fields once in ``(mlspec.common.v1.list)``; every request with
an idempotency key offers ``validate_only`` (AIP-163) under the same number. The server
enforces all of these generically from the descriptors, so a comment without its
declaration would be a promise nobody keeps.
"""

from __future__ import annotations

import re
import subprocess
import sys

from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2

from mlspec.common.v1 import options_pb2

from .catalog import ROOT
from .test_descriptors import MSG_FIELD, MSG_NESTED, MSG_ONEOF, _comments

REQUIRED = field_behavior_pb2.REQUIRED
OUTPUT_ONLY = field_behavior_pb2.OUTPUT_ONLY
VALIDATE_ONLY_NUMBER = 100
_KEY = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*(\.\*)?$")


def _messages(
    image: descriptor_pb2.FileDescriptorSet,
) -> list[tuple[str, descriptor_pb2.DescriptorProto, tuple[int, ...], dict[tuple[int, ...], str]]]:
    found = []

    def walk(
        msg: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
        prefix: str,
        comments: dict[tuple[int, ...], str],
    ) -> None:
        full = f"{prefix}.{msg.name}"
        found.append((full, msg, path, comments))
        for i, nested in enumerate(msg.nested_type):
            if not nested.options.map_entry:
                walk(nested, (*path, MSG_NESTED, i), full, comments)

    for file in image.file:
        for i, msg in enumerate(file.message_type):
            walk(msg, (4, i), file.package, _comments(file))
    return found


def _behaviors(field: descriptor_pb2.FieldDescriptorProto) -> set[int]:
    return set(field.options.Extensions[field_behavior_pb2.field_behavior])


def test_required_comments_and_required_annotations_agree(
    image: descriptor_pb2.FileDescriptorSet,
) -> None:
    wrong = []
    for full, msg, path, comments in _messages(image):
        if full.endswith("Response"):
            continue
        for i, field in enumerate(msg.field):
            said = comments.get((*path, MSG_FIELD, i), "").startswith("Required.")
            if said != (REQUIRED in _behaviors(field)):
                wrong.append(
                    f"{full}.{field.name}: comment {'says' if said else 'lacks'} Required."
                )
    assert wrong == []


def test_output_only_comments_and_annotations_agree(
    image: descriptor_pb2.FileDescriptorSet,
) -> None:
    wrong = []
    for full, msg, path, comments in _messages(image):
        if full.endswith("Response"):
            continue
        for i, field in enumerate(msg.field):
            said = comments.get((*path, MSG_FIELD, i), "").startswith("Output only.")
            if said != (OUTPUT_ONLY in _behaviors(field)):
                wrong.append(f"{full}.{field.name}")
    assert wrong == []


def test_required_scalars_have_no_meaningful_zero(image: descriptor_pb2.FileDescriptorSet) -> None:
    """REQUIRED on a number or bool without presence means "not zero": zero must be invalid.

    Fields whose zero is a real value (a count, a bound, version 0) are Optional; the
    ones left here are those where zero means nothing was said.
    """
    F = descriptor_pb2.FieldDescriptorProto
    numeric = {F.TYPE_BOOL, F.TYPE_DOUBLE, F.TYPE_FLOAT, F.TYPE_INT32, F.TYPE_INT64}
    found = sorted(
        f"{full}.{field.name}"
        for full, msg, _, _ in _messages(image)
        for field in msg.field
        if field.type in numeric
        and field.label != F.LABEL_REPEATED
        and not field.proto3_optional
        and REQUIRED in _behaviors(field)
    )
    assert found == [
        "mlspec.common.v1.Accelerator.count",
        "mlspec.data.v1.ValueFrequency.frequency",
        "mlspec.lifecycle.v1.EvaluationConfidenceInterval.level",
        "mlspec.lifecycle.v1.ServingCanaryStep.percent",
        "mlspec.lifecycle.v1.TransformationVocabulary.size",
        "mlspec.metadata.v1.LearningRate.value",
        "mlspec.metadata.v1.TrainingParameters.batch_size",
    ]


def test_required_oneofs_are_declared(image: descriptor_pb2.FileDescriptorSet) -> None:
    wrong = []
    for full, msg, path, comments in _messages(image):
        for i, oneof in enumerate(msg.oneof_decl):
            if oneof.name.startswith("_"):
                continue
            said = comments.get((*path, MSG_ONEOF, i), "").startswith("Required.")
            declared = oneof.options.Extensions[options_pb2.required_oneof]
            if said != declared:
                wrong.append(f"{full}.{oneof.name}")
    assert wrong == []


def test_every_list_request_declares_its_orders_and_filters(
    image: descriptor_pb2.FileDescriptorSet,
) -> None:
    wrong = []
    for full, msg, _, _ in _messages(image):
        names = {f.name for f in msg.field}
        declared = msg.options.HasExtension(options_pb2.list)
        if ({"filter", "order_by"} & names) and full.endswith("Request") and not declared:
            wrong.append(f"{full}: no (mlspec.common.v1.list) option")
        if not declared:
            continue
        spec = msg.options.Extensions[options_pb2.list]
        keys = set(spec.sort_keys)
        for part in spec.default_order.split(","):
            key = part.split()[0] if part.split() else ""
            if key not in keys:
                wrong.append(f"{full}: default order key {key!r} is not a sort key")
        for name in [*spec.sort_keys, *spec.filter_fields]:
            if name != "*" and not _KEY.match(name):
                wrong.append(f"{full}: {name!r} is not a field path")
        if "order_by" in names and not spec.sort_keys:
            wrong.append(f"{full}: no sort keys")
        if ("page_size" in names) != (spec.default_page_size > 0):
            wrong.append(f"{full}: default_page_size is set exactly where page_size is")
    assert wrong == []


def test_every_idempotent_request_offers_validate_only(
    image: descriptor_pb2.FileDescriptorSet,
) -> None:
    wrong = []
    for full, msg, path, comments in _messages(image):
        fields = {f.name: (i, f) for i, f in enumerate(msg.field)}
        if "request_id" not in fields or not full.endswith("Request"):
            continue
        i, _ = fields["request_id"]
        if "Idempotency key" not in comments.get((*path, MSG_FIELD, i), ""):
            continue  # a correlation id to filter by, not an idempotency key
        validate_only = fields.get("validate_only", (0, None))[1]
        if (
            validate_only is None
            or validate_only.number != VALIDATE_ONLY_NUMBER
            or validate_only.type != descriptor_pb2.FieldDescriptorProto.TYPE_BOOL
        ):
            wrong.append(full)
    assert wrong == []


def test_the_list_reference_is_generated_from_the_declarations() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "list_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
