"""``mlspec validate --remote``: the server's rules at the lines of the file, nothing stored."""

from __future__ import annotations

import pathlib

from .conftest import EXAMPLES, invoke, one_error_line

REPORT = """# message: mlspec.lifecycle.v1.StageReport
stage: LIFECYCLE_STAGE_MODEL_TRAINING
run_id: no-such-run
start_time: "2026-03-01T10:00:00Z"
status: STAGE_REPORT_STATUS_SUCCEEDED
model_training:
  model_format: onnx
"""
DATASET = """# message: mlspec.data.v1.Dataset
meta:
  name: churn
"""


def test_the_server_names_each_problem_at_its_line(target: str, tmp_path: pathlib.Path) -> None:
    report = tmp_path / "report.yaml"
    report.write_text(REPORT)
    result = invoke("--server", target, "validate", "--remote", str(report))
    assert result.exit_code == 1, result.stderr
    # The run named is not found (line 3), and the missing output model is reported at
    # its parent, the payload, on line 7.
    assert f"{report}:3:" in result.stdout and "no-such-run" in result.stdout
    assert f"{report}:7:3: server: model_training.output_model is required" in result.stdout
    assert result.stdout.endswith("2 problems in 1 of 1 file (1 document)\n")


def test_names_are_resolved_as_report_resolves_them(target: str) -> None:
    """The example training report names its run, artifacts and model version, as people
    write them; validated against the seeded server it has no problem, and stays unsent."""
    imported = invoke("--server", target, "import", str(EXAMPLES / "seed.yaml"))
    assert imported.exit_code == 0, imported.stderr
    training = EXAMPLES / "lifecycle" / "stage-07-model-training.yaml"
    for _ in range(2):  # not stored: the report's name stays free
        result = invoke("--server", target, "validate", "--remote", str(training))
        assert result.exit_code == 0, result.stdout + result.stderr
        assert result.stdout == "1 file, 1 document: no problems\n"


def test_a_document_the_server_accepts_is_not_stored(target: str, tmp_path: pathlib.Path) -> None:
    dataset = tmp_path / "dataset.yaml"
    dataset.write_text(DATASET)
    for _ in range(2):  # not stored: the name stays free
        result = invoke("--server", target, "validate", "--remote", str(dataset))
        assert result.exit_code == 0, result.stdout + result.stderr
        assert result.stdout == "1 file, 1 document: no problems\n"


def test_an_unreachable_server_is_the_one_line_of_every_command(tmp_path: pathlib.Path) -> None:
    dataset = tmp_path / "dataset.yaml"
    dataset.write_text(DATASET)
    result = invoke("--server", "127.0.0.1:1", "validate", "--remote", str(dataset))
    listed = invoke("--server", "127.0.0.1:1", "list", "datasets")
    line = one_error_line(result)
    assert result.stdout == ""
    assert line.startswith("mlspec: UNAVAILABLE: ")
    assert line.endswith("; is the server running? point --server (MLSPEC_TARGET) at it")
    assert one_error_line(listed).split(": ")[:2] == line.split(": ")[:2]
