"""The MUST-reject rules of the comments and their status codes (groups 5 and 6).

Each case is a rule a comment states that the server did not keep before: a request
that breaks it is refused with the documented code, and the one that keeps it passes.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.conformance.engine import Client

SHA = {"digests": {"sha256": "a" * 64}}
MV = "RESOURCE_KIND_MODEL_VERSION"


@pytest.fixture
def client(channel: grpc.Channel) -> Client:
    return Client(channel, "musts")


def refused(client: Client, method: str, body: dict[str, Any], code: str, field: str = "") -> None:
    outcome = client.call(method, body)
    assert outcome.code.name == code, (method, outcome.code.name, outcome.message)
    if field:
        assert field in outcome.violations, outcome.violations


def model_version(
    client: Client, model: str, major: int, signature: dict[str, Any]
) -> dict[str, Any]:
    version: dict[str, Any] = {
        "model_id": model,
        "version": {"major": major, "minor": 1 if signature.get("later") else 0},
        "artifact": {"uri": "s3://m", "digest": SHA},
    }
    if signature:
        version["signature"] = {k: v for k, v in signature.items() if k != "later"}
    return {"model_version": version}


def test_a_version_keeps_the_signature_of_its_major(client: Client) -> None:
    model = client.ok("ModelsService.CreateModel", {"model": {"meta": {"name": "sig"}}})["model"]
    x = {"name": "x", "datatype": "TENSOR_DATA_TYPE_FP32", "shape": [-1, 4]}
    y = {"name": "y", "datatype": "TENSOR_DATA_TYPE_FP32"}
    client.ok(
        "ModelsService.CreateModelVersion",
        model_version(client, model["meta"]["id"], 1, {"inputs": [x], "outputs": [y]}),
    )
    retyped = dict(x, datatype="TENSOR_DATA_TYPE_INT64")
    for signature in (
        {"inputs": [retyped], "outputs": [y]},
        {"inputs": [dict(x, shape=[-1, 5])], "outputs": [y]},
        {"inputs": [x, {"name": "z", "datatype": "TENSOR_DATA_TYPE_FP32"}], "outputs": [y]},
        {"inputs": [x], "outputs": [{"name": "p", "datatype": "TENSOR_DATA_TYPE_FP32"}]},
    ):
        refused(
            client,
            "ModelsService.CreateModelVersion",
            model_version(client, model["meta"]["id"], 1, {**signature, "later": True}),
            "FAILED_PRECONDITION",
            "model_version.signature",
        )
    optional = {"name": "z", "datatype": "TENSOR_DATA_TYPE_FP32", "optional": True}
    client.ok(  # an optional input is a compatible addition; a new major may break
        "ModelsService.CreateModelVersion",
        model_version(
            client, model["meta"]["id"], 1, {"inputs": [x, optional], "outputs": [y], "later": True}
        ),
    )
    client.ok(
        "ModelsService.CreateModelVersion",
        model_version(client, model["meta"]["id"], 2, {"inputs": [retyped], "outputs": [y]}),
    )


def test_data_paths_stay_inside_their_datastore(client: Client) -> None:
    client.ok(
        "DataService.CreateDatastore",
        {"datastore": {"meta": {"name": "lake"}, "type": "DATASTORE_TYPE_S3"}},
    )
    dataset = client.ok("DataService.CreateDataset", {"dataset": {"meta": {"name": "d"}}})
    for path in ("/etc/passwd", "raw/../../secrets/", ".."):
        refused(
            client,
            "DataService.CreateDatasetVersion",
            {
                "dataset_version": {
                    "dataset_id": dataset["dataset"]["meta"]["id"],
                    "definition": {
                        "data_path": {
                            "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                            "path": {"relative_path": path},
                        }
                    },
                }
            },
            "INVALID_ARGUMENT",
            "dataset_version.definition.data_path.path.relative_path",
        )


def test_a_new_run_holds_at_most_100_distinct_params_and_100_tags(client: Client) -> None:
    experiment = client.ok(
        "TrackingService.CreateExperiment", {"experiment": {"meta": {"name": "limits"}}}
    )["experiment"]["meta"]["id"]
    params = [{"key": f"p{i}", "value": {"int_value": i}} for i in range(101)]
    tags = {f"t{i}": "x" for i in range(101)}
    twice = [{"key": "lr", "value": {"double_value": 0.1}}] * 2
    for run, field in (
        ({"params": params}, "run.params"),
        ({"tags": tags}, "run.tags"),
        ({"params": twice}, "run.params[1].key"),
    ):
        refused(
            client,
            "TrackingService.CreateRun",
            {"run": {"experiment_id": experiment, **run}},
            "INVALID_ARGUMENT",
            field,
        )


def test_evaluations_do_not_claim_what_their_results_deny(client: Client) -> None:
    experiment = client.ok(
        "TrackingService.CreateExperiment", {"experiment": {"meta": {"name": "gate"}}}
    )["experiment"]["meta"]["id"]
    run = client.ok("TrackingService.CreateRun", {"run": {"experiment_id": experiment}})["run"]
    model = client.ok("ModelsService.CreateModel", {"model": {"meta": {"name": "g"}}})["model"]
    version = client.ok(
        "ModelsService.CreateModelVersion",
        model_version(client, model["meta"]["id"], 1, {}),
    )["model_version"]
    failed = {
        "metric_key": {"name": "auc"},
        "threshold": {"value_threshold": {"lower_bound": 0.8}},
        "value": 0.7,
        "outcome": "THRESHOLD_OUTCOME_FAILED",
        "blocking": True,
    }
    passed = dict(failed, value=0.9, outcome="THRESHOLD_OUTCOME_PASSED")

    def report(evaluation: dict[str, Any]) -> dict[str, Any]:
        return {
            "stage_report": {
                "stage": "LIFECYCLE_STAGE_MODEL_EVALUATION",
                "run_id": run["meta"]["id"],
                "start_time": "2026-03-01T10:00:00Z",
                "status": "STAGE_REPORT_STATUS_SUCCEEDED",
                "model_evaluation": {
                    "candidate_model": {"kind": MV, "id": version["meta"]["id"]},
                    "datasets": [
                        {"dataset": {"kind": MV, "id": version["meta"]["id"]}, "digest": SHA}
                    ],
                    "objectives_outcome": "THRESHOLD_OUTCOME_PASSED",
                    "decision": "MODEL_GATE_DECISION_APPROVED",
                    **evaluation,
                },
            }
        }

    path = "stage_report.model_evaluation"
    refused(
        client,
        "LifecycleService.ReportStage",
        report({"threshold_results": [failed], "validation_ok": True}),
        "INVALID_ARGUMENT",
        f"{path}.validation_ok",
    )
    refused(
        client,
        "LifecycleService.ReportStage",
        report({"threshold_results": [passed], "failures": [passed]}),
        "INVALID_ARGUMENT",
        f"{path}.failures[0]",
    )
    # validation_ok is the server's: recomputed both ways.
    ok = client.ok("LifecycleService.ReportStage", report({"threshold_results": [passed]}))
    assert ok["stage_report"]["model_evaluation"]["validation_ok"] is True
    no = client.ok(
        "LifecycleService.ReportStage",
        report({"threshold_results": [failed], "failures": [failed]}),
    )
    assert "validation_ok" not in no["stage_report"]["model_evaluation"]


def test_unknown_streams_and_unprotected_models_are_not_found(client: Client) -> None:
    for method in ("LoggingService.ListInferenceLogs", "LoggingService.VerifyLogChain"):
        refused(client, method, {"log_stream_id": "nowhere"}, "NOT_FOUND")
    model = client.ok("ModelsService.CreateModel", {"model": {"meta": {"name": "bare"}}})["model"]
    version = client.ok(
        "ModelsService.CreateModelVersion", model_version(client, model["meta"]["id"], 1, {})
    )["model_version"]
    refused(
        client,
        "MonitoringService.EvaluateRollback",
        {"model_version": {"kind": MV, "id": version["meta"]["id"]}},
        "NOT_FOUND",
    )


def test_ranges_that_end_before_they_start_are_invalid(client: Client) -> None:
    late, early = "2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z"
    for method, body, field in (
        ("MonitoringService.ListSignals", {"start_time": late, "end_time": early}, "end_time"),
        ("LoggingService.ListInferenceLogs", {"start_time": late, "end_time": early}, "end_time"),
        ("ResourceService.ListAuditEvents", {"start_time": late, "end_time": early}, "end_time"),
        (
            "LoggingService.VerifyLogChain",
            {"log_stream_id": "s", "start_sequence_number": 5, "end_sequence_number": 2},
            "end_sequence_number",
        ),
    ):
        refused(client, method, body, "INVALID_ARGUMENT", field)


def test_views_are_resolved_by_name_and_profiled_on_their_own_version(client: Client) -> None:
    client.ok(
        "DataService.CreateDatastore",
        {"datastore": {"meta": {"name": "lake"}, "type": "DATASTORE_TYPE_S3"}},
    )
    dataset = client.ok("DataService.CreateDataset", {"dataset": {"meta": {"name": "w"}}})
    versions = []
    for path in ("w/1/", "w/2/"):
        versions.append(
            client.ok(
                "DataService.CreateDatasetVersion",
                {
                    "dataset_version": {
                        "dataset_id": dataset["dataset"]["meta"]["id"],
                        "definition": {
                            "data_path": {
                                "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                                "path": {"relative_path": path},
                            }
                        },
                    }
                },
            )["dataset_version"]["meta"]["id"]
        )
    view = client.ok(
        "DataService.CreateDatasetView",
        {
            "dataset_view": {
                "meta": {"name": "Weather_2015"},
                "dataset_version_id": versions[0],
                "filter_expression": "year = 2015",
                "filter_dialect": "sql",
            }
        },
    )["dataset_view"]
    resolved = client.ok(
        "ResourceService.ResolveResource",
        {"resource": {"kind": "RESOURCE_KIND_DATASET_VIEW", "name": "weather_2015"}},
    )
    assert resolved["meta"]["id"] == view["meta"]["id"]
    profile = {
        "dataset_version_id": versions[1],
        "dataset_view_id": view["meta"]["id"],
        "computed_time": "2026-03-01T00:00:00Z",
        "freshness": {"computed_from": {"observe_time": "2026-03-01T00:00:00Z"}},
        "statistics": {"num_examples": 10},
    }
    refused(
        client,
        "DataService.CreateDatasetProfile",
        {"dataset_profile": profile},
        "INVALID_ARGUMENT",
        "dataset_profile.dataset_view_id",
    )
    client.ok(
        "DataService.CreateDatasetProfile",
        {"dataset_profile": dict(profile, dataset_version_id=versions[0])},
    )
