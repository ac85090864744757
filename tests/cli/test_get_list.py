"""``mlspec get`` and ``mlspec list`` against a real server with the examples' seed.

Every output format prints what the server holds (JSON and YAML read back into the
message); kinds and references are taken in every form users write them; what names
nothing is one ``mlspec: NOT_FOUND: ...`` line.
"""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from mlspec import yaml_format
from mlspec.client import Client
from mlspec.data.v1 import data_service_pb2, dataset_pb2
from mlspec.models.v1 import model_version_pb2

from .conftest import invoke, one_error_line


def mlspec(target: str, *args: str) -> tuple[int, str, str]:
    result = invoke("--server", target, *args)
    return result.exit_code, result.stdout, result.stderr


def test_get_prints_a_resource_in_every_format(seeded: str) -> None:
    code, table, _ = mlspec(seeded, "get", "dataset", "customer-snapshot")
    assert code == 0
    lines = table.splitlines()
    assert lines[0] == "mlspec.data.v1.Dataset"
    assert lines[1].split() == ["FIELD", "VALUE"]
    assert ["meta.name", "customer-snapshot"] in [line.split() for line in lines]
    code, text, _ = mlspec(seeded, "-o", "json", "get", "dataset", "customer-snapshot")
    as_json = json_format.Parse(text, dataset_pb2.Dataset())
    code, text, _ = mlspec(seeded, "get", "datasets", "customer-snapshot", "-o", "yaml")
    assert yaml_format.load(text, dataset_pb2.Dataset()) == as_json
    assert as_json.meta.name == "customer-snapshot" and as_json.meta.id


@pytest.mark.parametrize(
    ("kind", "ref"),
    [
        ("model-version", "churn-xgb@7.0.0"),  # a version through its parent (server-side)
        ("ModelVersion", "churn-xgb@7.0.0"),
        ("model-version", "churn-xgb:7.0.0"),  # the spelling of gate and logs
        ("dataset-version", "customer-features@1"),
        ("run", "churn-weekly-2026-03-02"),  # one run of that name in any experiment
        ("run", "churn/churn-xgb-trial-0017"),  # PARENT/NAME
        ("artifact", "churn-weekly-2026-03-02/plan-type-vocab"),
        ("artifacts", "churn/churn-weekly-2026-03-02/plan-type-vocab"),
        ("stage-report", "churn-eval-2026-03-02"),
        ("RESOURCE_KIND_DATASTORE", "crm-postgres"),
        ("module-version", "churn-transform@3.2.0"),
    ],
)
def test_get_takes_every_form_of_reference(seeded: str, kind: str, ref: str) -> None:
    code, text, err = mlspec(seeded, "-o", "json", "get", kind, ref)
    assert code == 0, err
    found = json.loads(text)
    by_id = json.loads(mlspec(seeded, "-o", "json", "get", kind, found["meta"]["id"])[1])
    assert by_id == found


def test_a_version_reference_names_the_version(seeded: str) -> None:
    text = mlspec(seeded, "-o", "json", "get", "model-version", "churn-xgb@6.0.0")[1]
    version = json_format.Parse(text, model_version_pb2.ModelVersion())
    assert (version.version.major, version.artifact.uri.endswith("/6/model.json")) == (6, True)


@pytest.mark.parametrize(
    ("args", "expected", "code"),
    [
        (
            ["get", "dataset", "no-such-dataset"],
            "mlspec: NOT_FOUND: no Dataset named 'no-such-dataset' ...",
            1,
        ),
        (
            ["get", "run", "no-such-run"],
            "mlspec: NOT_FOUND: no Run named 'no-such-run'",
            1,
        ),
        (
            ["get", "dataset", "4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07"],
            "mlspec: NOT_FOUND: Dataset '4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07' does not exist ...",
            1,
        ),
        (
            ["get", "model-version", "churn-xgb@9.9.9"],
            "mlspec: NOT_FOUND: Model ... has no version '9.9.9' ...",
            1,
        ),
        (
            ["get", "dataset-version", "4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07"],
            "mlspec: NOT_FOUND: DatasetVersion '4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07' does not ...",
            1,
        ),
        (
            ["get", "dataset-version", "v1"],
            "mlspec: INVALID_ARGUMENT: a dataset-version is named within its dataset: "
            "write DATASET/v1 or DATASET@VERSION",
            1,
        ),
        (
            ["get", "dataset", "churn@1"],
            "mlspec: 'churn@1': a dataset has no versions; NAME@VERSION names a version of a "
            "dataset, model or module (dataset-version, model-version, module-version)",
            2,
        ),
        (["get", "dataset", "bad name"], "mlspec: 'bad name': 'bad name' is not a name ...", 2),
        (
            ["get", "datset", "x"],
            "mlspec: unknown kind 'datset' (did you mean 'dataset'?); the kinds are alert, ...",
            2,
        ),
        (
            ["-o", "dot", "get", "dataset", "x"],
            "mlspec: --output dot is only for 'mlspec lineage'; choose table, json or yaml ...",
            2,
        ),
        (
            ["list", "model-versions"],
            "mlspec: list model-versions needs the model they belong to: "
            "mlspec list model-version MODEL",
            2,
        ),
        (
            ["list", "datastores", "x"],
            "mlspec: a datastore list has no parent; narrow it with --filter instead",
            2,
        ),
        (
            ["list", "datasets", "--filter", "meta.name = "],
            "mlspec: INVALID_ARGUMENT: ...",
            1,
        ),
    ],
)
def test_what_names_nothing_is_one_line(
    seeded: str, args: list[str], expected: str, code: int
) -> None:
    result = invoke("--server", seeded, *args)
    line = one_error_line(result)
    parts = expected.split("...")
    assert line.startswith(parts[0]) and line.endswith(parts[-1]), line
    assert result.exit_code == code


def test_list_prints_one_row_per_resource_in_every_format(seeded: str) -> None:
    code, table, _ = mlspec(seeded, "list", "datasets")
    assert code == 0
    rows = [line.split() for line in table.splitlines()]
    assert rows[0] == ["KIND", "ID", "NAME", "STATUS", "CREATED"]
    names = {row[2] for row in rows[1:]}
    assert {"customer-snapshot", "support-tickets", "customer-features-holdback"} <= names
    listed = json.loads(mlspec(seeded, "list", "datasets", "-o", "json")[1])
    assert {d["meta"]["name"] for d in listed} == names
    text = mlspec(seeded, "-o", "yaml", "list", "datasets")[1]
    documents = [yaml_format.load(d, dataset_pb2.Dataset()) for d in text.split("---\n")]
    assert {d.meta.name for d in documents} == names


def test_list_narrows_to_a_parent_filters_orders_and_pages(seeded: str) -> None:
    versions = json.loads(mlspec(seeded, "-o", "json", "list", "model-versions", "churn-xgb")[1])
    assert sorted(v["version"].get("major") for v in versions) == [6, 7]
    artifacts = json.loads(
        mlspec(seeded, "-o", "json", "list", "artifact", "churn/churn-weekly-2026-03-02")[1]
    )
    assert len(artifacts) == 17
    filtered = json.loads(
        mlspec(
            seeded,
            "-o", "json",
            "list", "artifacts",
            "--filter", 'type = ARTIFACT_TYPE_MODEL',
            "--order-by", "meta.name desc",
        )[1]
    )  # fmt: skip
    names = [a["meta"]["name"] for a in filtered]
    assert names == sorted(names, reverse=True) and len(names) == 4
    result = invoke("--server", seeded, "-o", "json", "list", "artifacts", "--page-size", "5")
    first = json.loads(result.stdout)
    assert len(first) == 5
    assert result.stderr.startswith("(more: --all, or --page-token ")
    token = result.stderr.split("--page-token ", 1)[1].rstrip(")\n")
    second = json.loads(
        mlspec(
            seeded, "-o", "json", "list", "artifacts", "--page-size", "5", "--page-token", token
        )[1]
    )
    assert {a["meta"]["id"] for a in first}.isdisjoint(a["meta"]["id"] for a in second)
    every = json.loads(
        mlspec(seeded, "-o", "json", "list", "artifacts", "--page-size", "5", "--all")[1]
    )
    with Client(seeded) as client:
        stored = client.data.ListArtifacts(data_service_pb2.ListArtifactsRequest(page_size=1000))
    assert sorted(a["meta"]["id"] for a in every) == sorted(a.meta.id for a in stored.artifacts)
    assert len(every) == 17


def test_an_empty_list_says_so(seeded: str) -> None:
    result = invoke("--server", seeded, "list", "alerts")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "(no alerts)\n"
    assert json.loads(mlspec(seeded, "-o", "json", "list", "alerts")[1]) == []


def test_all_pages_count_on_a_terminal(seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stderr for a terminal
    result = invoke(
        "--server", seeded, "-o", "json", "list", "artifacts", "--all", "--page-size", "5"
    )
    assert result.exit_code == 0
    assert "listing artifacts" in result.stderr
    assert len(json.loads(result.stdout)) == 17
