"""``mlspec report``: stage reports from YAML and JSON files, and where a bad one is wrong.

Files are checked before anything is sent, and every failure is one line that starts with
``FILE:LINE:COLUMN`` of the field at fault: a syntax error, an unknown field, a document
of another type, a name that names nothing, or a field the server refused.
"""

from __future__ import annotations

import json
import pathlib
import textwrap

import pytest
import yaml

from mlspec import yaml_format
from mlspec.lifecycle.v1 import stage_report_pb2

from .conftest import invoke, one_error_line

HEADER = "# message: mlspec.lifecycle.v1.StageReport\n"


def training_report(name: str, **extra: str) -> str:
    """A small stage 7 report of the seeded run, as YAML (``extra`` adds top-level lines)."""
    text = textwrap.dedent(
        f"""\
        meta:
          name: {name}
        stage: LIFECYCLE_STAGE_MODEL_TRAINING
        run_id: churn-weekly-2026-03-02
        start_time: "2026-03-02T08:00:00Z"
        status: STAGE_REPORT_STATUS_SUCCEEDED
        inputs:
          - resource: {{kind: RESOURCE_KIND_DATASET, name: customer-features-train, version: "1"}}
            role: training_data
            digest:
              digests: {{sha256: 3b7e9a1c5d2f4e6a8b0c1d3e5f7a9b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a}}
        outputs:
          - resource: {{kind: RESOURCE_KIND_ARTIFACT, name: churn-xgb-7-model}}
            role: model
        model_training:
          model_format: xgboost-json
          output_model: {{kind: RESOURCE_KIND_ARTIFACT, name: churn-xgb-7-model}}
        """
    )
    for key, value in extra.items():
        text = text.replace(f"{key}: ", f"{key}: {value}  # ", 1) if f"\n{key}: " in text else text
    return text


def write(folder: pathlib.Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def report(target: str, *args: str) -> tuple[int, str, str]:
    result = invoke("--server", target, "report", *args)
    return result.exit_code, result.stdout, result.stderr


def test_one_report_in_every_output_format(seeded: str, tmp_path: pathlib.Path) -> None:
    code, out, err = report(seeded, write(tmp_path, "a.yaml", HEADER + training_report("t-table")))
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["STAGE", "NAME", "STATUS", "ID"]
    assert rows[1][:3] == ["MODEL_TRAINING", "t-table", "SUCCEEDED"]
    code, out, _ = report(
        seeded, write(tmp_path, "b.yaml", training_report("t-json")), "-o", "json"
    )
    (stored,) = json.loads(out)
    assert stored["meta"]["name"] == "t-json"
    # The names were resolved: the run to its id, the artifact and the version too.
    assert (
        stored["runId"]
        == json.loads(
            invoke("--server", seeded, "-o", "json", "get", "run", "churn-weekly-2026-03-02").stdout
        )["meta"]["id"]
    )
    assert all("id" in e["resource"] for e in stored["inputs"] + stored["outputs"])
    code, out, _ = report(
        seeded, "-o", "yaml", write(tmp_path, "c.yaml", training_report("t-yaml"))
    )
    assert yaml_format.load(out, stage_report_pb2.StageReport()).meta.name == "t-yaml"


def test_many_documents_and_json_files(seeded: str, tmp_path: pathlib.Path) -> None:
    many = write(
        tmp_path,
        "many.yaml",
        HEADER + training_report("m-1") + "---\n" + training_report("m-2"),
    )
    as_json = json.dumps(yaml.safe_load(training_report("m-3")), indent=2)
    one_json = write(tmp_path, "one.json", HEADER + as_json)
    code, out, err = report(seeded, many, one_json, "-o", "json")
    assert (code, err) == (0, "")
    assert [r["meta"]["name"] for r in json.loads(out)] == ["m-1", "m-2", "m-3"]


def test_a_report_may_name_one_sent_before_it(seeded: str, tmp_path: pathlib.Path) -> None:
    first = training_report("chain-1")
    second = training_report("chain-2").replace(
        "outputs:",
        "  - resource: {kind: RESOURCE_KIND_STAGE_REPORT, name: chain-1}\n    role: before\noutputs:",
    )
    code, out, err = report(seeded, write(tmp_path, "chain.yaml", first + "---\n" + second))
    assert code == 0, err
    assert len(out.splitlines()) == 3


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("meta:\n  name: [x\n", "3:1", "not valid YAML: expected ',' or ']'"),
        (
            "meta:\n  nmae: x\n",
            "2:3",
            "unknown field 'nmae' in mlspec.common.v1.ObjectMeta; did you mean 'name'?",
        ),
        (
            "stage: LIFECYCLE_STAGE_MODEL_TRAINNG\n",
            "1:8",
            "stage: 'LIFECYCLE_STAGE_MODEL_TRAINNG' is not a value of ",
        ),
        (
            "# message: mlspec.data.v1.Dataset\nmeta: {name: x}\n",
            "2:1",
            "a mlspec.data.v1.Dataset document; this command takes mlspec.lifecycle.v1.StageReport",
        ),
        ("# only a comment\n", "1:1", "no document: the file holds only comments"),
        (
            "meta:\n  nmae: x\n  sttus: y\n  lables: z\n",
            "2:3",
            "(and 2 more problems: mlspec validate ",
        ),
    ],
)
def test_a_bad_file_is_one_line_at_its_place_and_nothing_is_sent(
    seeded: str, tmp_path: pathlib.Path, text: str, where: str, message: str
) -> None:
    good = write(tmp_path, "good.yaml", training_report("never-sent"))
    bad = write(tmp_path, "bad.yaml", text)
    result = invoke("--server", seeded, "report", good, bad)
    line = one_error_line(result)
    assert line.startswith(f"mlspec: {bad}:{where}: "), line
    assert message in line
    assert result.stdout == ""
    assert invoke("--server", seeded, "get", "stage-report", "never-sent").exit_code == 1


def test_a_later_document_is_found_by_its_own_line(seeded: str, tmp_path: pathlib.Path) -> None:
    text = HEADER + training_report("doc-1") + "---\n" + "meta:\n  name: doc-2\n  nmae: x\n"
    bad = write(tmp_path, "second.yaml", text)
    line = one_error_line(invoke("--server", seeded, "report", bad))
    second_start = text.splitlines().index("---") + 2
    assert line.startswith(f"mlspec: {bad}:{second_start + 2}:3: unknown field 'nmae'"), line


def test_a_bad_json_file_says_where(seeded: str, tmp_path: pathlib.Path) -> None:
    bad = write(tmp_path, "bad.json", '{\n  "meta": {"name": "x"},\n  "stage": ]\n}\n')
    line = one_error_line(invoke("--server", seeded, "report", bad))
    assert line.startswith(f"mlspec: {bad}:3:12: not valid JSON"), line


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_name_that_names_nothing_is_found_in_the_file(
    seeded: str, tmp_path: pathlib.Path
) -> None:
    text = training_report("lost").replace("run_id: churn-weekly-2026-03-02", "run_id: no-such-run")
    bad = write(tmp_path, "lost.yaml", text)
    line = one_error_line(invoke("--server", seeded, "report", bad))
    assert line == (
        f"mlspec: {bad}:{line_of(text, 'run_id')}:9: NOT_FOUND: run_id: no Run named 'no-such-run'"
    )
    text = training_report("lost").replace("churn-xgb-7-model", "no-such-artifact")
    bad = write(tmp_path, "lost2.yaml", text)
    line = one_error_line(invoke("--server", seeded, "report", bad))
    expected = (
        f"mlspec: {bad}:{line_of(text, 'no-such-artifact')}:15: NOT_FOUND: outputs[0].resource:"
    )
    assert line.startswith(expected), line


def test_a_field_the_server_refuses_is_found_in_the_file(
    seeded: str, tmp_path: pathlib.Path
) -> None:
    text = training_report("wrong-digest").replace("sha256: 3b7e9a1c", "sha256: 0000aaaa")
    bad = write(tmp_path, "digest.yaml", text)
    result = invoke("--server", seeded, "report", bad)
    line = one_error_line(result)
    digest_line = line_of(text, "sha256: 0000aaaa")
    assert line.startswith(f"mlspec: {bad}:{digest_line}:"), line
    assert "FAILED_PRECONDITION: an input's digest disagrees" in line
    text = training_report("wrong-payload")
    text = text[: text.index("model_training:")] + "data_analysis: {tool_name: x}\n"
    bad = write(tmp_path, "payload.yaml", text)
    line = one_error_line(invoke("--server", seeded, "report", bad))
    assert line.startswith(f"mlspec: {bad}:{line_of(text, 'data_analysis')}:16: INVALID_ARGUMENT:")


def test_what_was_sent_before_a_failure_is_printed(seeded: str, tmp_path: pathlib.Path) -> None:
    text = training_report("sent-first") + "---\n" + training_report("sent-first")
    result = invoke("--server", seeded, "report", write(tmp_path, "twice.yaml", text))
    line = one_error_line(result)
    assert "ALREADY_EXISTS" in line
    assert line.startswith(f"mlspec: {tmp_path / 'twice.yaml'}:{line_of(text, '---') + 1}:1: ")
    assert [row.split()[1] for row in result.stdout.splitlines()[1:]] == ["sent-first"]


def test_many_documents_show_progress_on_a_terminal(
    seeded: str, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stderr for a terminal
    text = "---\n".join(training_report(f"bar-{i}") for i in range(12))
    result = invoke("--server", seeded, "report", write(tmp_path, "bar.yaml", text))
    assert result.exit_code == 0, result.stderr
    assert "reporting" in result.stderr
    assert "12/12" in result.stderr
    few = invoke("--server", seeded, "report", write(tmp_path, "few.yaml", training_report("nb")))
    assert few.exit_code == 0 and few.stderr == ""
