"""The YAML examples under examples/ parse strictly into the messages they declare.

Each example's first line is ``# message: <full.Name>``. Together the examples must show
a StageReport for every reportable lifecycle stage (1 to 11), monitoring (stage 12) and
inference logging (stage 13) messages, and a workflow metadata file (SPEC.md section 8).
"""

from __future__ import annotations

import pathlib

import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from mlspec import yaml_format
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2
from mlspec.metadata.v1 import workflow_metadata_pb2

from .catalog import ROOT, generated_modules

EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
HEADER = "# message:"

# StageReport payload field (oneof `payload`) for each reportable stage.
PAYLOAD_OF_STAGE = {
    stage_pb2.LIFECYCLE_STAGE_CODIFY_OBJECTIVES: "codified_objectives",
    stage_pb2.LIFECYCLE_STAGE_DATA_INGESTION: "data_ingestion",
    stage_pb2.LIFECYCLE_STAGE_DATA_ANALYSIS: "data_analysis",
    stage_pb2.LIFECYCLE_STAGE_DATA_TRANSFORMATION: "data_transformation",
    stage_pb2.LIFECYCLE_STAGE_DATA_VALIDATION: "data_validation",
    stage_pb2.LIFECYCLE_STAGE_DATA_SPLITTING: "data_splitting",
    stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING: "model_training",
    stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION: "model_evaluation",
    stage_pb2.LIFECYCLE_STAGE_MODEL_TEST: "model_test",
    stage_pb2.LIFECYCLE_STAGE_MODEL_PACKAGING: "model_packaging",
    stage_pb2.LIFECYCLE_STAGE_MODEL_SERVING: "model_serving",
}


def declared_type(path: pathlib.Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(HEADER), f"{path}: first line must be '{HEADER} <full.Name>'"
    return first[len(HEADER) :].strip()


def parse(path: pathlib.Path) -> Message:
    generated_modules()  # register every generated type in the default pool
    desc = descriptor_pool.Default().FindMessageTypeByName(declared_type(path))
    cls = message_factory.GetMessageClass(desc)
    return yaml_format.load(path.read_text(encoding="utf-8"), cls())


def parse_all(path: pathlib.Path) -> list[Message]:
    """Every document of a file: ``---`` separates them, a ``# message:`` line switches type."""
    generated_modules()
    found: list[Message] = []
    type_name = declared_type(path)
    for chunk in path.read_text(encoding="utf-8").split("\n---\n"):
        for line in chunk.splitlines():
            if line.startswith(HEADER):
                type_name = line[len(HEADER) :].strip()
        desc = descriptor_pool.Default().FindMessageTypeByName(type_name)
        found.append(yaml_format.load(chunk, message_factory.GetMessageClass(desc)()))
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.relative_to(ROOT).as_posix() for p in EXAMPLES])
def test_example_parses_strictly_and_round_trips(path: pathlib.Path) -> None:
    for message in parse_all(path):
        assert message.ListFields(), f"{path} has an empty document"
        again = yaml_format.load(yaml_format.dump(message), type(message)())
        assert again == message


def test_examples_cover_every_lifecycle_stage() -> None:
    reports = [parse(p) for p in EXAMPLES if declared_type(p) == "mlspec.lifecycle.v1.StageReport"]
    covered = set()
    for report in reports:
        assert isinstance(report, stage_report_pb2.StageReport)
        assert report.WhichOneof("payload") == PAYLOAD_OF_STAGE[report.stage]
        covered.add(report.stage)
    assert covered == set(PAYLOAD_OF_STAGE)
    types = {declared_type(p) for p in EXAMPLES}
    assert any(t.startswith("mlspec.monitoring.v1.") for t in types)  # stage 12
    assert "mlspec.logging.v1.InferenceLogRecord" in types  # stage 13


def test_a_workflow_metadata_file_is_shown() -> None:
    files = [p for p in EXAMPLES if declared_type(p) == "mlspec.metadata.v1.WorkflowMetadata"]
    assert files
    for path in files:
        assert isinstance(parse(path), workflow_metadata_pb2.WorkflowMetadata)


def test_the_payload_map_matches_the_stage_report_oneof() -> None:
    oneof = stage_report_pb2.StageReport.DESCRIPTOR.oneofs_by_name["payload"]
    assert {f.name for f in oneof.fields} == set(PAYLOAD_OF_STAGE.values())
