"""``render``: every message kind as a table, proto3 JSON or YAML documents."""

from __future__ import annotations

import io
import json

import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2
from rich.console import Console

from mlspec import yaml_format
from mlspec.cli.errors import CliError
from mlspec.cli.file_check import check_text
from mlspec.cli.output import detail_table, format_yaml, is_resource, print_tables, render
from mlspec.data.v1 import dataset_pb2
from mlspec.models.v1 import model_pb2

ID = "0b6f5a0e-6c69-4d8f-8d2b-3f1f3c9d2a10"


def dataset(name: str, status: str = "OBJECT_STATUS_ACTIVE") -> dataset_pb2.Dataset:
    return json_format.ParseDict(
        {
            "meta": {
                "id": f"{ID}-{name}",
                "name": name,
                "status": status,
                "createTime": "2026-03-02T10:00:00Z",
                "labels": {"team": "risk"},
            }
        },
        dataset_pb2.Dataset(),
    )


def rendered(messages: object, output: str) -> str:
    out = io.StringIO()
    render(messages, output, Console(file=out, width=200))  # type: ignore[arg-type]
    return out.getvalue()


def test_a_list_of_resources_is_one_row_each() -> None:
    text = rendered([dataset("churn"), dataset("old", "OBJECT_STATUS_ARCHIVED")], "table")
    lines = text.splitlines()
    assert lines[0].split() == ["KIND", "ID", "NAME", "STATUS", "CREATED"]
    assert lines[1].split() == ["Dataset", f"{ID}-churn", "churn", "ACTIVE", "2026-03-02T10:00:00Z"]
    assert lines[2].split()[2:4] == ["old", "ARCHIVED"]


def test_any_kind_with_meta_is_a_resource() -> None:
    model = json_format.ParseDict({"meta": {"name": "m"}}, model_pb2.Model())
    assert is_resource(model) and not is_resource(health_pb2.HealthCheckResponse())
    assert rendered(model, "table").splitlines()[1].split() == ["Model", "m"]


def test_other_messages_get_a_field_value_table() -> None:
    text = rendered(
        health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING), "table"
    )
    assert "grpc.health.v1.HealthCheckResponse" in text
    assert text.splitlines()[-1].split() == ["status", "SERVING"]


def test_json_is_proto3_json_one_document() -> None:
    one = json.loads(rendered(dataset("churn"), "json"))
    assert one["meta"]["createTime"] == "2026-03-02T10:00:00Z"
    many = json.loads(rendered([dataset("a"), dataset("b")], "json"))
    assert [m["meta"]["name"] for m in many] == ["a", "b"]
    assert json.loads(rendered([], "json")) == []


def test_yaml_is_one_document_per_message_and_reads_back() -> None:
    items = [dataset("a"), dataset("b")]
    text = rendered(items, "yaml")
    assert text == format_yaml(items)
    documents = text.split("---\n")
    assert [yaml_format.load(d, dataset_pb2.Dataset()) for d in documents] == items
    report = check_text("# message: mlspec.data.v1.Dataset\n" + text, "out.yaml")
    assert (report.documents, report.problems) == (2, [])


def test_an_unknown_output_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown output"):
        rendered(dataset("a"), "xml")


@pytest.mark.parametrize("output", ["table", "json", "yaml"])
def test_every_output_through_the_command(output: str, target: str) -> None:
    from .conftest import invoke

    result = invoke("-o", output, "--server", target, "health")
    assert result.exit_code == 0, result.stderr
    assert "SERVING" in result.stdout


def test_tables_to_a_pipe_neither_fold_nor_end_in_blanks(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    long_name = "a-dataset-name-that-is-much-longer-than-any-terminal-is-wide-" * 3
    render([dataset("x"), dataset(long_name)], "table")  # to stdout, which is captured
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # a header and one line per resource, whatever the width
    assert long_name in lines[2]
    assert all(line == line.rstrip() for line in lines)


def test_a_detail_table_has_a_row_per_field() -> None:
    out = io.StringIO()
    print_tables([detail_table(dataset("churn"))], Console(file=out, width=200))
    rows = [line.split(None, 1) for line in out.getvalue().splitlines()]
    assert rows[0] == ["mlspec.data.v1.Dataset"]
    assert ["meta.name", "churn"] in rows
    assert ["meta.labels.team", "risk"] in rows


def test_dot_is_for_lineage_only() -> None:
    with pytest.raises(CliError, match="only for 'mlspec lineage'"):
        render(dataset("churn"), "dot", Console(file=io.StringIO()))


def test_version_is_the_installed_distributions() -> None:
    from importlib import metadata

    from .conftest import run

    done = run("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"mlspec {metadata.version('mlspec-contract')}\n"
    assert done.stdout != "mlspec unknown\n"
