"""The smallest valid form of any message, derived from the descriptors and the examples.

``minimal(message)`` keeps what the contract requires and nothing else: every REQUIRED
field (recursively reduced) and the set member of every required oneof. Applied to the
stage reports of ``examples/lifecycle/``, it gives each stage's smallest valid payload;
``rebind`` points its references at resources that exist in a test's workspace. The
promise suite starts from these and takes one required thing away at a time.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

from google.api import field_behavior_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from mlspec import yaml_format
from mlspec.common.v1 import options_pb2, reference_pb2
from mlspec.lifecycle.v1 import stage_report_pb2

M = TypeVar("M", bound=Message)
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
REQUIRED = field_behavior_pb2.REQUIRED
_REF = "mlspec.common.v1.ResourceRef"


def _required(field: Any) -> bool:
    return REQUIRED in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]


def _kept(message: Message) -> list[Any]:
    """The fields of ``message`` that its smallest valid form keeps."""
    desc = message.DESCRIPTOR
    keep = [f for f in desc.fields if _required(f)]
    for oneof in desc.oneofs:
        member = message.WhichOneof(oneof.name)
        if oneof.GetOptions().Extensions[options_pb2.required_oneof] and member is not None:
            keep.append(desc.fields_by_name[member])
    return keep


def minimal(message: M) -> M:
    """A copy of ``message`` with only its required fields (and required oneof members)."""
    out = type(message)()
    if message.DESCRIPTOR.full_name == _REF:  # a reference keeps its target
        out.CopyFrom(message)
        return out
    for field in _kept(message):
        value = getattr(message, field.name)
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if is_map:
            getattr(out, field.name).MergeFrom(value)
        elif field.is_repeated:
            target = getattr(out, field.name)
            if field.message_type is not None:
                for item in value[:1]:
                    target.add().CopyFrom(minimal(item))
            else:
                target.extend(value[:1])
        elif field.message_type is not None:
            if message.HasField(field.name):
                getattr(out, field.name).CopyFrom(minimal(value))
        else:
            setattr(out, field.name, value)
    return out


def example(name: str, cls: type[M]) -> M:
    """The example ``examples/<name>.yaml`` parsed as ``cls``."""
    text = (EXAMPLES / f"{name}.yaml").read_text()
    return yaml_format.load(text, cls())


@cache
def stage_examples() -> dict[str, stage_report_pb2.StageReport]:
    """The example report of every stage, by its payload field name."""
    found: dict[str, stage_report_pb2.StageReport] = {}
    for path in sorted((EXAMPLES / "lifecycle").glob("stage-*.yaml")):
        report = example(f"lifecycle/{path.stem}", stage_report_pb2.StageReport)
        payload = report.WhichOneof("payload")
        assert payload is not None
        found[payload] = report
    return found


def references(message: Message) -> list[reference_pb2.ResourceRef]:
    """Every ResourceRef set anywhere in ``message``."""
    found: list[reference_pb2.ResourceRef] = []
    if isinstance(message, reference_pb2.ResourceRef):
        return [message]
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        for item in value if field.is_repeated else [value]:
            found.extend(references(item))
    return found


def rebind(message: M, ids: Mapping[int, str]) -> M:
    """``message`` with every reference pointed by id at ``ids[kind]`` (its kind kept)."""
    out = type(message)()
    out.CopyFrom(message)
    for ref in references(out):
        kind = ref.kind
        if ref.version and kind in _VERSION_OF:
            kind = _VERSION_OF[kind]
        ref.kind = kind
        ref.id = ids[kind]
        ref.ClearField("version")
    return out


K = reference_pb2.ResourceKind
_VERSION_OF = {
    K.RESOURCE_KIND_DATASET: K.RESOURCE_KIND_DATASET_VERSION,
    K.RESOURCE_KIND_MODEL: K.RESOURCE_KIND_MODEL_VERSION,
    K.RESOURCE_KIND_MODULE: K.RESOURCE_KIND_MODULE_VERSION,
}


def _threshold(example: Any, reduced: Any) -> None:
    # An objective checks its threshold's bounds (or an expression): an empty one is
    # refused.
    reduced.objectives[0].threshold.CopyFrom(example.objectives[0].threshold)


def _split(example: Any, reduced: Any) -> None:
    # A hold-back test names its split.
    reduced.holdback_dataset.split = example.holdback_dataset.split


CONDITIONAL = {"codified_objectives": (_threshold,), "model_test": (_split,)}


def as_dict(message: Message) -> dict[str, Any]:
    """A message in its proto3-JSON dict form with proto field names."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def minimal_payload(payload: str, ids: Mapping[int, str] | None = None) -> dict[str, Any]:
    """The smallest valid payload of a stage (``model_training``, ...) as a dict.

    Its references point at ``ids[kind]``; without ``ids`` the payload must hold none.
    Requirements that depend on other fields (the kinds' hooks) are not annotations, so
    the fields they require are kept from the example (``CONDITIONAL``).
    """
    report = stage_examples()[payload]
    reduced = minimal(getattr(report, payload))
    for keep in CONDITIONAL.get(payload, ()):
        keep(getattr(report, payload), reduced)
    if ids is not None:
        reduced = rebind(reduced, ids)
    else:
        assert not references(reduced), f"the {payload} payload holds references; pass ids"
    return as_dict(reduced)
