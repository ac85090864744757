"""validate_only (AIP-163): every rule runs, the answer is what would be stored, nothing is.

A mutating request with ``validate_only`` gets the response it would get (or the error),
but the store is left as it was: no resource, no lineage edge, no audit entry, and its
``request_id`` is not remembered.
"""

from __future__ import annotations

import grpc

from mlspec.server.app import RunningServer
from tests.conformance.engine import Client


def audit_size(running: RunningServer) -> int:
    with running.store.transaction(write=False) as tx:
        return len(tx.audit_page("checks", 0, 1000))


def test_a_valid_request_answers_what_would_be_stored_and_stores_nothing(
    channel: grpc.Channel, running: RunningServer
) -> None:
    client = Client(channel, "checks")
    body = {"dataset": {"meta": {"name": "churn"}}, "request_id": "first"}
    checked = client.ok("DataService.CreateDataset", {**body, "validate_only": True})
    assert checked["dataset"]["meta"]["name"] == "churn"
    assert checked["dataset"]["meta"]["status"] == "OBJECT_STATUS_ACTIVE"
    assert client.ok("DataService.ListDatasets", {}) == {}
    assert audit_size(running) == 0
    # The request_id was not remembered: the same id now really creates the dataset.
    made = client.ok("DataService.CreateDataset", body)
    assert (
        client.ok("DataService.GetDataset", {"name": "churn"})["dataset"]["meta"]["id"]
        == (made["dataset"]["meta"]["id"])
    )
    assert audit_size(running) == 1
    # Checking it again now finds the name taken, and still writes nothing.
    again = client.call(
        "DataService.CreateDataset", {"dataset": {"meta": {"name": "CHURN"}}, "validate_only": True}
    )
    assert again.code == grpc.StatusCode.ALREADY_EXISTS
    assert audit_size(running) == 1


def test_an_invalid_report_answers_every_violation(channel: grpc.Channel) -> None:
    client = Client(channel, "checks")
    report = {
        "stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
        "start_time": "2026-03-01T10:00:00Z",
        "end_time": "2026-03-01T09:00:00Z",
        "status": "STAGE_REPORT_STATUS_SUCCEEDED",
        "meta": {"name": "-bad", "labels": {"Team!": "x"}},
        "model_training": {"model_format": "onnx"},
    }
    outcome = client.call(
        "LifecycleService.ReportStage", {"stage_report": report, "validate_only": True}
    )
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {
        "stage_report.run_id",
        "stage_report.end_time",
        "stage_report.meta.name",
        "stage_report.model_training.output_model",
    } <= set(outcome.violations)


def test_a_checked_report_makes_no_lineage(channel: grpc.Channel) -> None:
    client = Client(channel, "checks")
    experiment = client.ok(
        "TrackingService.CreateExperiment", {"experiment": {"meta": {"name": "e"}}}
    )["experiment"]["meta"]["id"]
    run = client.ok("TrackingService.CreateRun", {"run": {"experiment_id": experiment}})["run"]
    model = client.ok("ModelsService.CreateModel", {"model": {"meta": {"name": "m"}}})["model"]
    version = client.ok(
        "ModelsService.CreateModelVersion",
        {
            "model_version": {
                "model_id": model["meta"]["id"],
                "version": {"major": 1},
                "artifact": {"uri": "s3://m/1", "digest": {"digests": {"sha256": "a" * 64}}},
            }
        },
    )["model_version"]
    mv = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": version["meta"]["id"]}
    report = {
        "stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
        "run_id": run["meta"]["id"],
        "start_time": "2026-03-01T10:00:00Z",
        "status": "STAGE_REPORT_STATUS_SUCCEEDED",
        "outputs": [{"resource": mv}],
        "model_training": {"model_format": "onnx", "output_model": mv},
    }
    checked = client.ok(
        "LifecycleService.ReportStage", {"stage_report": report, "validate_only": True}
    )
    assert checked["stage_report"]["meta"]["name"].startswith("model-training-")
    graph = client.ok(
        "LifecycleService.GetLineage",
        {"start": mv, "direction": "LINEAGE_DIRECTION_UPSTREAM", "max_depth": 5},
    )["graph"]
    kinds = {n["resource"]["kind"] for n in graph["nodes"]}
    assert "RESOURCE_KIND_STAGE_REPORT" not in kinds
    assert client.ok("LifecycleService.ListStageReports", {}) == {}
