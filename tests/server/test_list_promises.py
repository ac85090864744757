"""Lists keep the orders and filters they declare (issue 8, groups 3 and 4).

The declarations themselves are checked for every List method by the conformance
promise suite; these tests check that the server's answers mean what they say: runs
searched by metrics, params and tags in SQL, model versions in semantic-version order,
several sort keys, absent values last.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.conformance.engine import Client

RUNS = "TrackingService.ListRuns"
VERSIONS = "ModelsService.ListModelVersions"


@pytest.fixture
def client(channel: grpc.Channel) -> Client:
    return Client(channel, "lists")


def ids(answer: dict[str, Any], field: str) -> list[str]:
    return [item["meta"]["id"] for item in answer.get(field, [])]


def new_run(client: Client, experiment: str, **record: Any) -> str:
    run_id: str = client.ok("TrackingService.CreateRun", {"run": {"experiment_id": experiment}})[
        "run"
    ]["meta"]["id"]
    if "metrics" in record:
        metrics = [{"key": k, "value": {"double_value": v}} for k, v in record["metrics"].items()]
        client.ok("TrackingService.LogMetrics", {"run_id": run_id, "metrics": metrics})
    if "params" in record:
        params = [{"key": k, "value": v} for k, v in record["params"].items()]
        client.ok("TrackingService.LogParams", {"run_id": run_id, "params": params})
    if "tags" in record:
        client.ok("TrackingService.SetRunTags", {"run_id": run_id, "tags": record["tags"]})
    return run_id


def test_runs_are_searched_and_sorted_by_metrics_params_and_tags(client: Client) -> None:
    experiment = client.ok(
        "TrackingService.CreateExperiment", {"experiment": {"meta": {"name": "search"}}}
    )["experiment"]["meta"]["id"]
    a = new_run(
        client,
        experiment,
        metrics={"auc": 0.91},
        params={"depth": {"int_value": 6}, "opt": {"string_value": "adam"}},
        tags={"team": "risk"},
    )
    b = new_run(
        client,
        experiment,
        metrics={"auc": 0.72},
        params={"depth": {"int_value": 3}, "opt": {"string_value": "sgd"}},
        tags={"team": "ops"},
    )
    c = new_run(client, experiment, params={"depth": {"int_value": 6}})  # no metric
    cases = {
        "metrics.auc > 0.8": [a],
        "metrics.auc < 0.8 OR params.depth = 6": [a, b, c],
        "params.depth = 6 AND NOT metrics.auc:*": [c],
        'params.opt = "sgd"': [b],
        'tags.team = "risk"': [a],
        "tags.team:*": [a, b],
    }
    for text, expected in cases.items():
        assert ids(client.ok(RUNS, {"filter": text}), "runs") == expected, text
    # Absent values sort last both ways; a second key breaks ties.
    assert ids(client.ok(RUNS, {"order_by": "metrics.auc desc"}), "runs") == [a, b, c]
    assert ids(client.ok(RUNS, {"order_by": "metrics.auc"}), "runs") == [b, a, c]
    assert ids(client.ok(RUNS, {"order_by": "params.depth desc, metrics.auc"}), "runs") == [
        a,
        c,
        b,
    ]
    # Pages of one keep the order (the token carries every key's value).
    seen: list[str] = []
    token = ""
    while True:
        page = client.ok(
            RUNS,
            {"order_by": "params.depth desc, metrics.auc", "page_size": 1, "page_token": token},
        )
        seen += ids(page, "runs")
        token = page.get("next_page_token", "")
        if not token:
            break
    assert seen == [a, c, b]


def test_undeclared_sort_keys_and_filter_fields_are_invalid(client: Client) -> None:
    for body in (
        {"order_by": "color"},
        {"order_by": "start_time, start_time desc"},
        {"filter": 'color = "red"'},
    ):
        outcome = client.call(RUNS, body)
        assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, body
        assert outcome.violations in (["order_by"], ["filter"])


def test_model_versions_come_newest_semantic_version_first(client: Client) -> None:
    model = client.ok("ModelsService.CreateModel", {"model": {"meta": {"name": "ranked"}}})
    model_id = model["model"]["meta"]["id"]
    made = {}
    for text, auc in (("1.2.0", 0.7), ("1.10.0", 0.9), ("2.0.0-rc1", 0.8), ("2.0.0", None)):
        core, _, pre = text.partition("-")
        major, minor, patch = (int(x) for x in core.split("."))
        version: dict[str, Any] = {
            "model_id": model_id,
            "version": {"major": major, "minor": minor, "patch": patch, "prerelease": pre},
            "artifact": {"uri": f"s3://m/{text}", "digest": {"digests": {"sha256": "a" * 64}}},
        }
        if auc is not None:
            version["metrics"] = [{"key": "auc", "value": {"double_value": auc}}]
        made[text] = client.ok("ModelsService.CreateModelVersion", {"model_version": version})[
            "model_version"
        ]["meta"]["id"]
    listed = ids(client.ok(VERSIONS, {"model_id": model_id}), "model_versions")
    assert listed == [made[v] for v in ("2.0.0", "2.0.0-rc1", "1.10.0", "1.2.0")]
    ascending = ids(
        client.ok(VERSIONS, {"model_id": model_id, "order_by": "version"}), "model_versions"
    )
    assert ascending == listed[::-1]
    best = client.ok(
        VERSIONS,
        {"model_id": model_id, "filter": "metrics.auc >= 0.8", "order_by": "metrics.auc desc"},
    )
    assert ids(best, "model_versions") == [made["1.10.0"], made["2.0.0-rc1"]]


def test_models_are_filtered_by_framework_name(client: Client) -> None:
    for name, framework in (("xgb", "xgboost"), ("torchy", "pytorch")):
        client.ok(
            "ModelsService.CreateModel",
            {"model": {"meta": {"name": name}, "framework": {"name": framework, "version": "1"}}},
        )
    found = client.ok("ModelsService.ListModels", {"filter": 'framework.name = "xgboost"'})
    assert [m["meta"]["name"] for m in found["models"]] == ["xgb"]


def test_metric_history_comes_in_step_then_time_order(client: Client) -> None:
    experiment = client.ok(
        "TrackingService.CreateExperiment", {"experiment": {"meta": {"name": "history"}}}
    )["experiment"]["meta"]["id"]
    run_id = new_run(client, experiment)
    points = [
        {"key": "loss", "step": step, "timestamp": when, "value": {"double_value": value}}
        for step, when, value in (
            (3, "2026-03-01T10:00:03Z", 0.3),
            (1, "2026-03-01T10:00:09Z", 0.9),
            (1, "2026-03-01T10:00:01Z", 0.1),
            (2, "2026-03-01T10:00:02Z", 0.2),
        )
    ]
    client.ok("TrackingService.LogMetrics", {"run_id": run_id, "metrics": points})
    values: list[float] = []
    token = ""
    while True:
        page = client.ok(
            "TrackingService.GetMetricHistory",
            {"run_id": run_id, "key": "loss", "page_size": 1, "page_token": token},
        )
        values += [p["value"]["double_value"] for p in page["history"].get("points", [])]
        token = page.get("next_page_token", "")
        if not token:
            break
    assert values == [0.1, 0.9, 0.2, 0.3]


def test_stale_profiles_are_left_out_unless_asked_for(client: Client) -> None:
    client.ok(
        "DataService.CreateDatastore",
        {"datastore": {"meta": {"name": "lake"}, "type": "DATASTORE_TYPE_S3"}},
    )
    dataset = client.ok("DataService.CreateDataset", {"dataset": {"meta": {"name": "p"}}})
    version = client.ok(
        "DataService.CreateDatasetVersion",
        {
            "dataset_version": {
                "dataset_id": dataset["dataset"]["meta"]["id"],
                "definition": {
                    "data_path": {
                        "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                        "path": {"relative_path": "p/"},
                    }
                },
            }
        },
    )["dataset_version"]["meta"]["id"]
    seen = {
        "observe_time": "2026-03-01T00:00:00Z",
        "source_fingerprint": {"digests": {"sha256": "a" * 64}},
    }
    made = []
    for _ in range(2):
        made.append(
            client.ok(
                "DataService.CreateDatasetProfile",
                {
                    "dataset_profile": {
                        "dataset_version_id": version,
                        "computed_time": "2026-03-01T00:00:00Z",
                        "freshness": {"computed_from": seen},
                        "statistics": {"num_examples": 3},
                    }
                },
            )["dataset_profile"]["meta"]["id"]
        )
    changed = dict(seen, source_fingerprint={"digests": {"sha256": "b" * 64}})
    stale = client.ok(
        "DataService.UpdateDatasetProfile",
        {
            "dataset_profile": {
                "meta": {"id": made[0]},
                "freshness": {"latest_observation": changed},
            },
            "update_mask": "freshness.latestObservation",
        },
    )["dataset_profile"]
    assert stale["freshness"]["stale"] is True
    assert stale["freshness"]["staleness_reason"] == "STALENESS_REASON_FINGERPRINT_CHANGED"
    listed = client.ok("DataService.ListDatasetProfiles", {"dataset_version_id": version})
    assert ids(listed, "dataset_profiles") == [made[1]]
    everything = client.ok(
        "DataService.ListDatasetProfiles", {"dataset_version_id": version, "include_stale": True}
    )
    assert sorted(ids(everything, "dataset_profiles")) == sorted(made)


def test_workflow_records_are_found_by_model_name_in_any_case(client: Client) -> None:
    from mlspec.metadata.v1 import workflow_metadata_pb2
    from tests.conformance.payloads import as_dict, example, minimal

    metadata = as_dict(
        minimal(example("metadata/workflow", workflow_metadata_pb2.WorkflowMetadata))
    )
    record = client.ok(
        "MetadataService.CreateWorkflowMetadataRecord",
        {"workflow_metadata_record": {"workflow_metadata": metadata}},
    )["workflow_metadata_record"]
    name = metadata["model"]["name"]
    for asked, expected in ((name.upper(), [record["meta"]["id"]]), ("other", [])):
        found = client.ok("MetadataService.ListWorkflowMetadataRecords", {"model_name": asked})
        assert ids(found, "workflow_metadata_records") == expected
