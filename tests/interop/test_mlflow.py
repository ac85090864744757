"""MLflow: a real tracking store (built by mlflow in tool_scripts/mlflow_store.py) imports
completely, every metric point included, and a second import adds nothing.
"""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from mlspec.cli.root import cli
from mlspec.client import Client
from mlspec.common.v1 import run_state_pb2
from mlspec.data.v1 import data_service_pb2 as dpb
from mlspec.interop import mlflow as mlflow_import
from mlspec.models.v1 import models_service_pb2 as mpb
from mlspec.server.app import RunningServer
from mlspec.tracking.v1 import run_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as tpb

Store = tuple[str, dict[str, Any]]


def runs_by_mlflow_id(client: Client) -> dict[str, run_pb2.Run]:
    runs = client.tracking.ListRuns(tpb.ListRunsRequest(page_size=100)).runs
    return {r.meta.external_id.id: r for r in runs if r.meta.external_id.system == "mlflow"}


def history(client: Client, run_id: str, key: str) -> list[tuple[int, float, int]]:
    points: list[tuple[int, float, int]] = []
    token = ""
    while True:
        page = client.tracking.GetMetricHistory(
            tpb.GetMetricHistoryRequest(run_id=run_id, key=key, page_size=1000, page_token=token)
        )
        points += [
            (m.step, m.value.double_value, m.timestamp.ToMilliseconds())
            for m in page.history.points
        ]
        token = page.next_page_token
        if not token:
            return points


def test_a_store_imports_completely_and_twice_without_duplicates(
    client: Client, mlflow_store: Store
) -> None:
    uri, expected = mlflow_store
    first = mlflow_import.import_store(client, uri)
    assert first.metric_points == sum(expected["points"].values())
    assert first.counts.created == {
        "Experiment": 3,  # with MLflow's Default
        "Run": 4,
        "Artifact": 4,
        "Model": 1,
        "ModelVersion": 2,
    }
    second = mlflow_import.import_store(client, uri)
    assert second.counts.total_created == 0 and second.metric_points == 0
    runs = runs_by_mlflow_id(client)
    assert set(runs) == set(expected["runs"])
    for mlflow_id, name in expected["runs"].items():
        run = runs[mlflow_id]
        assert run.meta.display_name == name
        keys = {s.key for s in run.latest_metrics} or {"loss", "accuracy", "best_accuracy", "mape"}
        total = sum(len(history(client, run.meta.id, key)) for key in keys)
        assert total == expected["points"][mlflow_id], name
    child, parent = next(iter(expected["parent"].items()))
    assert runs[child].parent_run_id == runs[parent].meta.id
    loss = history(client, runs[child].meta.id, "loss")
    assert [(step, value) for step, value, _ in loss] == [(s, 1.0 / (s + 1)) for s in range(400)]
    assert {p.key: p.value.string_value for p in runs[child].params} == {
        "lr": runs[child].meta.display_name.removeprefix("logreg-lr-"),
        "penalty": "l2",
    }
    assert runs[child].tags["model_type"] == "logreg"
    assert runs[child].state == run_state_pb2.RUN_STATE_SUCCEEDED
    assert runs[child].artifact_uri.endswith(f"{child}/artifacts")
    assert runs[child].meta.create_time == runs[child].start_time  # the MLflow start, not now
    broken = next(r for r in runs.values() if r.meta.display_name == "broken run")
    assert broken.state == run_state_pb2.RUN_STATE_FAILED and broken.HasField("end_time")
    experiments = {
        e.meta.display_name: e
        for e in client.tracking.ListExperiments(tpb.ListExperimentsRequest()).experiments
    }
    assert experiments["Forecasting.Daily v2"].meta.name == "Forecasting-Daily-v2"
    assert broken.experiment_id == experiments["Forecasting.Daily v2"].meta.id
    artifacts = client.data.ListArtifacts(
        dpb.ListArtifactsRequest(run_id=runs[child].meta.id)
    ).artifacts
    assert sorted(a.meta.display_name for a in artifacts) == expected["artifacts"][child]
    assert all(a.uri.startswith(runs[child].artifact_uri) and a.size_bytes > 0 for a in artifacts)
    assert all(a.digest.unknown_reason for a in artifacts)


def test_registered_versions_keep_numbers_aliases_and_runs(
    client: Client, mlflow_store: Store
) -> None:
    uri, expected = mlflow_store
    mlflow_import.import_store(client, uri)
    runs = runs_by_mlflow_id(client)
    model = client.models.GetModel(mpb.GetModelRequest(name="churn-classifier")).model
    versions = client.models.ListModelVersions(
        mpb.ListModelVersionsRequest(model_id=model.meta.id)
    ).model_versions
    by_number = {v.source_version: v for v in versions}
    assert set(by_number) == set(expected["versions"])
    for number, mlflow_run in expected["versions"].items():
        version = by_number[number]
        assert version.version.major == int(number)
        assert version.lineage.run_id == runs[mlflow_run].meta.id
        assert version.artifact.uri == f"runs:/{mlflow_run}/model"
        assert version.artifact.digest.unknown_reason.startswith("mlflow:")
    for alias, number in expected["aliases"].items():
        assert list(by_number[number].aliases) == [alias]
        found = client.models.GetModelVersion(
            mpb.GetModelVersionRequest(model_id=model.meta.id, alias=alias)
        )
        assert found.model_version.source_version == number


def test_the_import_command(server: RunningServer, mlflow_store: Store) -> None:
    uri, _ = mlflow_store
    runner = CliRunner()
    target = f"127.0.0.1:{server.port}"
    done = runner.invoke(cli, ["--server", target, "import", "mlflow", "--tracking-uri", uri])
    assert done.exit_code == 0, done.output
    assert "806 metric points" in done.output and "ModelVersion" in done.output
    missing = runner.invoke(
        cli,
        [
            "--server",
            target,
            "import",
            "mlflow",
            "--tracking-uri",
            "sqlite:////nowhere/x/mlflow.db",
        ],
    )
    assert missing.exit_code == 1 and missing.stderr.startswith("mlspec: ")
