"""Output-only fields the server computes, computed where their source changes (group 2).

A new version updates its parent's latest version and count in the same call; a status
change moves the latest active one; names the contract says the server generates are
generated; digests, URIs, times and staleness are filled when the resource is written.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.conformance.engine import Client

SHA = {"digests": {"sha256": "a" * 64}}


@pytest.fixture
def client(channel: grpc.Channel) -> Client:
    return Client(channel, "computed")


def meta_id(answer: dict[str, Any], field: str) -> str:
    return str(answer[field]["meta"]["id"])


def test_a_dataset_follows_its_versions(client: Client) -> None:
    client.ok(
        "DataService.CreateDatastore",
        {
            "datastore": {
                "meta": {"name": "lake"},
                "type": "DATASTORE_TYPE_S3",
                "root_uri": "s3://lake/",
            }
        },
    )
    dataset = meta_id(
        client.ok("DataService.CreateDataset", {"dataset": {"meta": {"name": "d"}}}), "dataset"
    )
    versions = []
    for path in ("raw/1/", "raw/2/"):
        made = client.ok(
            "DataService.CreateDatasetVersion",
            {
                "dataset_version": {
                    "dataset_id": dataset,
                    "definition": {
                        "data_path": {
                            "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                            "path": {"relative_path": path},
                        }
                    },
                }
            },
        )["dataset_version"]
        versions.append(made)
    assert [v["meta"]["name"] for v in versions] == ["v1", "v2"]
    assert versions[1]["definition"]["data_path"]["resolved_uri"] == "s3://lake/raw/2/"
    got = client.ok("DataService.GetDataset", {"id": dataset})["dataset"]
    assert (got["latest_version"], got["latest_active_version_id"]) == (
        "2",
        versions[1]["meta"]["id"],
    )
    client.ok(
        "ResourceService.DeprecateResource",
        {"resource": {"kind": "RESOURCE_KIND_DATASET_VERSION", "id": versions[1]["meta"]["id"]}},
    )
    got = client.ok("DataService.GetDataset", {"id": dataset})["dataset"]
    assert (got["latest_version"], got["latest_active_version_id"]) == (
        "2",
        versions[0]["meta"]["id"],
    )


def test_a_model_follows_its_versions(client: Client) -> None:
    model = meta_id(
        client.ok("ModelsService.CreateModel", {"model": {"meta": {"name": "churn"}}}), "model"
    )
    for version in ({"major": 1, "minor": 2}, {"major": 2, "prerelease": "rc1"}):
        made = client.ok(
            "ModelsService.CreateModelVersion",
            {
                "model_version": {
                    "model_id": model,
                    "version": version,
                    "artifact": {"uri": "s3://m", "digest": SHA},
                }
            },
        )["model_version"]
    assert made["meta"]["name"] == "churn-2-0-0-rc1"
    got = client.ok("ModelsService.GetModel", {"id": model})["model"]
    assert got["version_count"] == "2"
    assert got["latest_version"]["version"] == "1.2.0"  # a release beats a newer pre-release


def test_an_experiment_and_a_parent_run_follow_their_runs(client: Client) -> None:
    experiment = client.ok(
        "TrackingService.CreateExperiment",
        {"experiment": {"meta": {"name": "e"}, "artifact_location": "s3://ml/e"}},
    )["experiment"]
    parent = client.ok(
        "TrackingService.CreateRun", {"run": {"experiment_id": experiment["meta"]["id"]}}
    )["run"]
    child = client.ok(
        "TrackingService.CreateRun",
        {"run": {"experiment_id": experiment["meta"]["id"], "parent_run_id": parent["meta"]["id"]}},
    )["run"]
    assert child["meta"]["name"].startswith("run-")
    assert child["submit_time"] == child["meta"]["create_time"]
    assert child["artifact_uri"] == f"s3://ml/e/{child['meta']['id']}/"
    artifact = client.ok(
        "DataService.CreateArtifact",
        {
            "artifact": {
                "meta": {"name": "model"},
                "run_id": parent["meta"]["id"],
                "type": "ARTIFACT_TYPE_MODEL",
                "uri": "s3://ml/e/m",
            }
        },
    )["artifact"]
    got = client.ok("TrackingService.GetRun", {"id": parent["meta"]["id"]})["run"]
    assert got["child_run_ids"] == [child["meta"]["id"]]
    assert got["artifact_ids"] == [artifact["meta"]["id"]]
    exp = client.ok("TrackingService.GetExperiment", {"id": experiment["meta"]["id"]})["experiment"]
    assert exp["run_count"] == "2"
    assert exp["last_run_time"] == child["meta"]["create_time"]


def test_a_module_follows_its_versions_and_digests_their_spec(client: Client) -> None:
    module = meta_id(
        client.ok(
            "PipelinesService.CreateModule",
            {"module": {"meta": {"name": "train"}, "kind": "MODULE_KIND_PRIMITIVE"}},
        ),
        "module",
    )
    spec = {
        "module_id": module,
        "snapshot": {
            "git": {"repository_uri": "https://git/x", "commit_sha": "a" * 40},
            "digest": SHA,
        },
        "interface": {},
        "executor": {"command": ["python", "-m", "train"]},
    }
    first = client.ok("PipelinesService.CreateModuleVersion", {"module_version": spec})[
        "module_version"
    ]
    second = client.ok(
        "PipelinesService.CreateModuleVersion",
        {"module_version": {**spec, "executor": {"command": ["python", "-m", "train2"]}}},
    )["module_version"]
    assert first["spec_digest"]["digests"]["sha256"] != second["spec_digest"]["digests"]["sha256"]
    got = client.ok("PipelinesService.GetModule", {"id": module})["module"]
    assert (got["version_count"], got["latest_version_id"], got["latest_version"]) == (
        2,
        second["meta"]["id"],
        "2",
    )


def test_alerts_record_their_state_times_and_never_leave_resolved(client: Client) -> None:
    model = meta_id(
        client.ok("ModelsService.CreateModel", {"model": {"meta": {"name": "m"}}}), "model"
    )
    version = client.ok(
        "ModelsService.CreateModelVersion",
        {
            "model_version": {
                "model_id": model,
                "version": {"major": 1},
                "artifact": {"uri": "s3://m", "digest": SHA},
            }
        },
    )["model_version"]
    alert = client.ok(
        "MonitoringService.CreateAlert",
        {
            "alert": {
                "severity": "ALERT_SEVERITY_WARNING",
                "condition": {
                    "signal_type": "SIGNAL_TYPE_DRIFT",
                    "threshold": {"value_threshold": {"upper_bound": 0.1}},
                },
                "model_version": {
                    "kind": "RESOURCE_KIND_MODEL_VERSION",
                    "id": version["meta"]["id"],
                },
            }
        },
    )["alert"]
    assert alert["meta"]["name"] == f"alert-{alert['meta']['id']}"
    assert alert["state"] == "ALERT_STATE_FIRING" and "acknowledge_time" not in alert
    for state, stamp in (
        ("ALERT_STATE_ACKNOWLEDGED", "acknowledge_time"),
        ("ALERT_STATE_RESOLVED", "resolve_time"),
    ):
        alert = client.ok(
            "MonitoringService.UpdateAlert",
            {
                "alert": {"meta": {"id": alert["meta"]["id"]}, "state": state},
                "update_mask": "state",
            },
        )["alert"]
        assert stamp in alert
    reopened = client.call(
        "MonitoringService.UpdateAlert",
        {
            "alert": {"meta": {"id": alert["meta"]["id"]}, "state": "ALERT_STATE_FIRING"},
            "update_mask": "state",
        },
    )
    assert reopened.code == grpc.StatusCode.FAILED_PRECONDITION


def test_a_workflow_record_gets_its_digest_and_name(client: Client) -> None:
    from mlspec.metadata.v1 import workflow_metadata_pb2
    from tests.conformance.payloads import as_dict, example, minimal

    metadata = as_dict(
        minimal(example("metadata/workflow", workflow_metadata_pb2.WorkflowMetadata))
    )
    record = client.ok(
        "MetadataService.CreateWorkflowMetadataRecord",
        {"workflow_metadata_record": {"workflow_metadata": metadata}},
    )["workflow_metadata_record"]
    assert len(record["canonical_digest"]["digests"]["sha256"]) == 64
    assert record["meta"]["name"].endswith(record["meta"]["id"])
    future = dict(metadata, schema_version="2.0")
    refused = client.call(
        "MetadataService.CreateWorkflowMetadataRecord",
        {"workflow_metadata_record": {"workflow_metadata": future}},
    )
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.violations == ["workflow_metadata_record.workflow_metadata.schema_version"]
