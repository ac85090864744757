"""``mlspec validate``: every problem of every document, as FILE:LINE:COLUMN: message."""

from __future__ import annotations

import json
import pathlib
import textwrap

import pytest

from mlspec.cli.file_check import check_file, check_text

from .conftest import invoke

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
DATASET = "# message: mlspec.data.v1.Dataset\n"


def problems(text: str, *, is_json: bool = False) -> list[str]:
    report = check_text(text, "f.yaml", is_json=is_json)
    return [f"{p.position.line}:{p.position.column}: {p.message}" for p in report.problems]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.relative_to(ROOT).as_posix() for p in EXAMPLES])
def test_every_example_validates_clean(path: pathlib.Path) -> None:
    assert problems(path.read_text(encoding="utf-8")) == []


def test_the_examples_folder_through_the_command() -> None:
    result = invoke("validate", str(ROOT / "examples"))
    assert result.exit_code == 0, result.stdout
    documents = sum(check_file(p).documents for p in EXAMPLES)
    assert documents > len(EXAMPLES)  # the seed holds many
    assert result.stdout == f"{len(EXAMPLES)} files, {documents} documents: no problems\n"


def test_every_problem_is_reported_with_its_position() -> None:
    text = DATASET + textwrap.dedent(
        """\
        meta:
          nmae: churn
          status: ACTIV
          labels: {team: 1}
          create_time: yesterday
          description: [not, a, string]
        version_count: 3
        """
    )
    assert problems(text) == [
        "3:3: unknown field 'nmae' in mlspec.common.v1.ObjectMeta; did you mean 'name'?",
        "4:11: meta.status: 'ACTIV' is not a value of mlspec.common.v1.ObjectStatus; "
        "did you mean 'OBJECT_STATUS_ACTIVE'?",
        "5:18: meta.labels['team']: expected a string, got an integer '1'; "
        "quote it to make it a string",
        "6:16: meta.create_time: Failed to parse timestamp: missing valid timezone offset",
        "7:16: meta.description: expected a string, got a list",
        "8:1: unknown field 'version_count' in mlspec.data.v1.Dataset",
    ]


def test_wrong_nesting_and_oneofs() -> None:
    report = "# message: mlspec.lifecycle.v1.StageReport\n" + textwrap.dedent(
        """\
        meta: churn
        stage: LIFECYCLE_STAGE_MODEL_TRAINING
        model_training: {}
        model_serving: {}
        """
    )
    assert problems(report) == [
        "2:7: meta: expected a mapping (mlspec.common.v1.ObjectMeta), got a string",
        "5:1: 'model_serving' and 'model_training' are both set, but they are members of "
        "oneof payload: keep one",
    ]


def test_lists_where_a_list_belongs_and_fields_given_twice() -> None:
    text = DATASET + "meta:\n  name: a\n  labels: [a]\n  name: b\n"
    assert problems(text) == [
        "4:11: meta.labels: expected a mapping (a map), got a list",
        "5:3: field 'name' is given twice (first on line 3)",
    ]


def test_yaml_syntax_errors_have_their_position() -> None:
    assert problems(DATASET + "meta: {name: [}\n") == [
        "2:15: not valid YAML: expected the node content, but found '}'"
    ]


def test_multi_document_files_check_each_document_against_its_header() -> None:
    text = (
        DATASET
        + "meta: {name: a}\n---\nmeta: {nmae: b}\n---\n"
        + "# message: mlspec.models.v1.Model\nmeta: {name: m}\nbogus: 1\n"
    )
    report = check_text(text, "many.yaml")
    assert report.documents == 3
    assert [(p.position.line, p.position.column) for p in report.problems] == [(4, 8), (8, 1)]
    assert "mlspec.models.v1.Model" in report.problems[1].message


def test_a_missing_header_or_unknown_type_is_reported_at_the_start() -> None:
    assert problems("meta: {name: a}\n") == [
        "1:1: the first line must name the message: '# message: <full.Name>'"
    ]
    assert problems("# message: mlspec.nope.v1.Thing\na: 1\n") == [
        "2:1: unknown message type 'mlspec.nope.v1.Thing'"
    ]
    assert problems(DATASET) == ["1:1: no document: the file holds only comments"]


def test_json_documents_are_checked_too(tmp_path: pathlib.Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(DATASET + json.dumps({"meta": {"name": "a", "labels": {"x": "y"}}}))
    bad = tmp_path / "bad.json"
    bad.write_text(DATASET + '{\n  "meta": {"name": 5}\n}\n')
    broken = tmp_path / "broken.json"
    broken.write_text(DATASET + '{"meta": {"name": "a",}}\n')
    result = invoke("validate", str(good), str(bad), str(broken))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}:3:20: meta.name: expected a string, got an integer '5'; quote it to make it a string",
        f"{broken}:2:23: not valid JSON: Expecting property name enclosed in double quotes",
        "2 problems in 2 of 3 files (2 documents)",
    ]


def test_the_type_can_be_given_for_files_without_a_header(tmp_path: pathlib.Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("meta:\n  name: a\n")
    assert invoke("validate", str(plain)).exit_code == 1
    result = invoke("validate", "--message", "mlspec.data.v1.Dataset", str(plain))
    assert result.exit_code == 0, result.stdout


def test_problems_as_json_records(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(DATASET + "meta: {nmae: a}\n")
    result = invoke("-o", "json", "validate", str(path))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "file": str(path),
            "line": 2,
            "column": 8,
            "message": "unknown field 'nmae' in mlspec.common.v1.ObjectMeta; did you mean 'name'?",
        }
    ]
