"""The promise suite: what the contract's comments and declarations promise, method by method.

Driven by the descriptors and the declarations rather than written per method:

- every mutating request below is valid (``validate_only``, so nothing is stored), and
  taking away any one REQUIRED field or required oneof at any depth makes it
  INVALID_ARGUMENT naming that field;
- pointing any one of its references at nothing is NOT_FOUND, and every Get is NOT_FOUND
  for an unknown id;
- every sort key and filter field a List method declares is accepted (ascending and
  descending), anything else is INVALID_ARGUMENT, and the default order is the declared
  one;
- every error any of these calls gets is a code the method's comment names.

Runs against the local servers or any server given with ``--server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.common.v1 import reference_pb2
from mlspec.domain.common import listing
from mlspec.lifecycle.v1 import stage_pb2
from mlspec.metadata.v1 import workflow_metadata_pb2

from . import payloads
from .engine import SERVICES, Client, Outcome, method_descriptor
from .promises import UNKNOWN_ID, documented_codes, required_mutations, unknown_references

K = reference_pb2.ResourceKind
SHA = {"digests": {"sha256": "a" * 64}}
T0, T1 = "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"


@pytest.fixture(scope="module")
def world(channel: grpc.Channel) -> Iterator[tuple[Client, dict[str, str]]]:
    """One workspace with one resource of each kind the requests below refer to."""
    import uuid

    client = Client(channel, f"promises-{uuid.uuid4().hex[:12]}")
    ids: dict[str, str] = {}

    def made(name: str, method: str, body: dict[str, Any], field: str) -> str:
        ids[name] = str(client.ok(method, body)[field]["meta"]["id"])
        return ids[name]

    made("store", "DataService.CreateDatastore", {"datastore": datastore("lake")}, "datastore")
    made("ds", "DataService.CreateDataset", {"dataset": {"meta": {"name": "d"}}}, "dataset")
    for i in (1, 2):
        made(
            f"dsv{i}",
            "DataService.CreateDatasetVersion",
            {"dataset_version": dataset_version(ids["ds"], f"d/{i}/")},
            "dataset_version",
        )
    made(
        "exp",
        "TrackingService.CreateExperiment",
        {"experiment": {"meta": {"name": "e"}}},
        "experiment",
    )
    made("run", "TrackingService.CreateRun", {"run": {"experiment_id": ids["exp"]}}, "run")
    made("model", "ModelsService.CreateModel", {"model": {"meta": {"name": "m"}}}, "model")
    made(
        "mv",
        "ModelsService.CreateModelVersion",
        {"model_version": model_version(ids["model"], 1)},
        "model_version",
    )
    made(
        "module",
        "PipelinesService.CreateModule",
        {"module": {"meta": {"name": "mod"}, "kind": "MODULE_KIND_PRIMITIVE"}},
        "module",
    )
    made(
        "modv",
        "PipelinesService.CreateModuleVersion",
        {"module_version": module_version(ids["module"])},
        "module_version",
    )
    made(
        "profile",
        "DataService.CreateDatasetProfile",
        {"dataset_profile": profile(ids["dsv1"])},
        "dataset_profile",
    )
    made(
        "artifact",
        "DataService.CreateArtifact",
        {"artifact": artifact(ids["run"], "a")},
        "artifact",
    )
    made(
        "evaluation",
        "LifecycleService.ReportStage",
        {"stage_report": report(ids, "model_evaluation")},
        "stage_report",
    )
    yield client, ids


# -- valid requests ------------------------------------------------------------------


def datastore(name: str) -> dict[str, Any]:
    return {"meta": {"name": name}, "type": "DATASTORE_TYPE_S3", "s3": {"bucket": "lake"}}


def dataset_version(dataset_id: str, path: str) -> dict[str, Any]:
    locator = {"datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"}}
    return {
        "dataset_id": dataset_id,
        "definition": {"data_path": {**locator, "path": {"relative_path": path}}},
    }


def model_version(model_id: str, major: int) -> dict[str, Any]:
    tensor = {"name": "x", "datatype": "TENSOR_DATA_TYPE_FP32", "shape": [-1, 4]}
    return {
        "model_id": model_id,
        "version": {"major": major},
        "artifact": {"uri": f"s3://m/{major}", "digest": SHA},
        "signature": {"inputs": [tensor], "outputs": [dict(tensor, name="y")]},
    }


def module_version(module_id: str) -> dict[str, Any]:
    return {
        "module_id": module_id,
        "snapshot": {
            "git": {"repository_uri": "https://git/x", "commit_sha": "b" * 40},
            "digest": SHA,
        },
        "interface": {"inputs": [{"name": "data", "artifact_type": {"schema_title": "x"}}]},
        "executor": {"command": ["python", "-m", "x"]},
    }


def profile(version_id: str) -> dict[str, Any]:
    return {
        "dataset_version_id": version_id,
        "computed_time": T0,
        "freshness": {"computed_from": {"observe_time": T0}},
        "statistics": {"num_examples": 10},
    }


def artifact(run_id: str, name: str) -> dict[str, Any]:
    return {
        "meta": {"name": name},
        "run_id": run_id,
        "type": "ARTIFACT_TYPE_MODEL",
        "uri": "s3://a",
    }


def report(ids: dict[str, str], payload: str) -> dict[str, Any]:
    """A SUCCEEDED report of a stage with its smallest valid payload (from the examples)."""
    refs = {
        K.RESOURCE_KIND_DATASET_VERSION: ids["dsv1"],
        K.RESOURCE_KIND_MODEL_VERSION: ids["mv"],
        K.RESOURCE_KIND_ARTIFACT: ids["artifact"],
        K.RESOURCE_KIND_MODULE_VERSION: ids["modv"],
    }
    body = payloads.minimal_payload(payload, refs)
    extra: dict[str, Any] = {}
    if payload == "model_test":  # a separate hold-back set, after the stage 8 report
        body["evaluation_report_id"] = ids["evaluation"]
        for where in (
            body["holdback_dataset"]["dataset"],
            body["disjointness"]["holdback_dataset"],
        ):
            where["id"] = ids["dsv2"]
    if payload in ("model_packaging", "model_serving"):  # past the deployment gate
        extra["deployment_approval"] = {
            "approver": {"name": "Ada"},
            "reason": "the promise suite checks the report, not the gate",
            "override": True,
        }
    stage = stage_pb2.LifecycleStage.Name(payloads.stage_examples()[payload].stage)
    return {
        "stage": stage,
        "run_id": ids["run"],
        "start_time": T1 if payload == "model_test" else T0,
        "status": "STAGE_REPORT_STATUS_SUCCEEDED",
        payload: body,
        **extra,
    }


def valid_requests(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A valid request of each mutating method the suite checks, by case name."""
    run, mv = ids["run"], {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": ids["mv"]}
    condition = {
        "signal_type": "SIGNAL_TYPE_DRIFT",
        "threshold": {"value_threshold": {"upper_bound": 0.1}},
    }
    workflow = payloads.as_dict(
        payloads.minimal(
            payloads.example("metadata/workflow", workflow_metadata_pb2.WorkflowMetadata)
        )
    )
    requests: dict[str, dict[str, Any]] = {
        "DataService.CreateDatastore": {"datastore": datastore("lake2")},
        "DataService.CreateDataset": {"dataset": {"meta": {"name": "d2"}}},
        "DataService.CreateDatasetVersion": {"dataset_version": dataset_version(ids["ds"], "d/3/")},
        "DataService.CreateArtifact": {"artifact": artifact(run, "b")},
        "DataService.CreateDatasetProfile": {"dataset_profile": profile(ids["dsv1"])},
        "DataService.CreateDatasetCheckpoint": {
            "dataset_checkpoint": {
                "meta": {"name": "cp"},
                "dataset_version_id": ids["dsv1"],
                "profile_id": ids["profile"],
            }
        },
        "DataService.CreateDatasetView": {
            "dataset_view": {
                "meta": {"name": "v"},
                "dataset_version_id": ids["dsv1"],
                "filter_expression": "x > 1",
                "filter_dialect": "sql",
            }
        },
        "TrackingService.CreateExperiment": {"experiment": {"meta": {"name": "e2"}}},
        "TrackingService.CreateRun": {"run": {"experiment_id": ids["exp"]}},
        "TrackingService.LogMetrics": {
            "run_id": run,
            "metrics": [{"key": "auc", "value": {"double_value": 0.9}}],
        },
        "TrackingService.LogParams": {
            "run_id": run,
            "params": [{"key": "lr", "value": {"double_value": 0.1}}],
        },
        "TrackingService.LogRunInputs": {
            "run_id": run,
            "inputs": [{"resource": {"kind": "RESOURCE_KIND_DATASET_VERSION", "id": ids["dsv1"]}}],
        },
        "TrackingService.LogRunOutputs": {"run_id": run, "outputs": [{"resource": mv}]},
        "TrackingService.UpdateRunState": {"run_id": run, "state": "RUN_STATE_RUNNING"},
        "ModelsService.CreateModel": {"model": {"meta": {"name": "m2"}}},
        "ModelsService.CreateModelVersion": {"model_version": model_version(ids["model"], 2)},
        "PipelinesService.CreateModule": {
            "module": {"meta": {"name": "mod2"}, "kind": "MODULE_KIND_PRIMITIVE"}
        },
        "PipelinesService.CreateModuleVersion": {"module_version": module_version(ids["module"])},
        "PipelinesService.CreatePipelineDraft": {"pipeline_draft": {"meta": {"name": "draft"}}},
        "MonitoringService.CreateAlert": {
            "alert": {
                "severity": "ALERT_SEVERITY_WARNING",
                "condition": condition,
                "model_version": mv,
            }
        },
        "MonitoringService.CreateRollbackPolicy": {
            "rollback_policy": {
                "meta": {"name": "p"},
                "model_version": mv,
                "triggers": [{"condition": condition}],
                "target": {"artifact_uri": "s3://m/old", "digest": SHA},
                "mode": "ROLLBACK_MODE_MANUAL",
            }
        },
        "MetadataService.CreateWorkflowMetadataRecord": {
            "workflow_metadata_record": {"workflow_metadata": workflow}
        },
        "ResourceService.DeprecateResource": {
            "resource": {"kind": "RESOURCE_KIND_DATASET_VERSION", "id": ids["dsv2"]}
        },
    }
    for payload in payloads.stage_examples():
        requests[f"LifecycleService.ReportStage[{payload}]"] = {
            "stage_report": report(ids, payload)
        }
    return requests


CASES = sorted(
    valid_requests(
        dict.fromkeys(
            (
                "store",
                "ds",
                "dsv1",
                "dsv2",
                "exp",
                "run",
                "model",
                "mv",
                "module",
                "modv",
                "profile",
                "artifact",
                "evaluation",
            ),
            UNKNOWN_ID,
        )
    )
)


def method_of(case: str) -> str:
    return case.split("[", 1)[0]


def build(client: Client, case: str, body: dict[str, Any]) -> Message:
    """The case's request with ``validate_only``: the server checks it and stores nothing."""
    return client.request(method_of(case), {**body, "validate_only": True})


def send(client: Client, case: str, request: Message) -> Outcome:
    """Calls the case's method; checks the answer's code is one its comment names."""
    outcome = client.invoke(method_of(case), request)
    md = method_descriptor(method_of(case))
    if outcome.code != grpc.StatusCode.OK:
        assert outcome.code.name in documented_codes()[md.full_name], (
            f"{md.full_name} answered {outcome.code.name}, which its comment does not name: "
            f"{outcome.message}"
        )
    return outcome


# -- the promises ----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_required_fields_at_every_depth(world: tuple[Client, dict[str, str]], case: str) -> None:
    client, ids = world
    request = build(client, case, valid_requests(ids)[case])
    base = send(client, case, request)
    assert base.code == grpc.StatusCode.OK, f"the valid request of {case} failed: {base.message}"
    checked = 0
    for path, mutated in required_mutations(request):
        outcome = send(client, case, mutated)
        assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, (
            f"{case} without {path}: {outcome.code.name} {outcome.message}"
        )
        parent = path.rsplit(".", 1)[0]
        assert any(v == path or v.startswith(parent) for v in outcome.violations), (
            f"{case} without {path}: violations {outcome.violations}"
        )
        checked += 1
    assert checked, f"{case} has no required field to take away"


@pytest.mark.parametrize("case", CASES)
def test_unknown_references_are_not_found(world: tuple[Client, dict[str, str]], case: str) -> None:
    client, ids = world
    request = build(client, case, valid_requests(ids)[case])
    for path, mutated in unknown_references(request):
        outcome = send(client, case, mutated)
        assert outcome.code == grpc.StatusCode.NOT_FOUND, (
            f"{case} with {path} unknown: {outcome.code.name} {outcome.message}"
        )


def _gets() -> list[descriptor.MethodDescriptor]:
    return [
        m
        for s in SERVICES.values()
        for m in s.methods
        if m.name.startswith("Get")
        and "selector" in m.input_type.oneofs_by_name
        and "id" in m.input_type.fields_by_name
    ]


GETS = _gets()


@pytest.mark.parametrize("method", GETS, ids=[m.full_name for m in GETS])
def test_get_by_unknown_id_is_not_found(
    world: tuple[Client, dict[str, str]], method: descriptor.MethodDescriptor
) -> None:
    client, _ = world
    name = f"{method.containing_service.name}.{method.name}"
    outcome = send(client, name, client.request(name, {"id": UNKNOWN_ID}))
    assert outcome.code == grpc.StatusCode.NOT_FOUND, outcome.message


def _lists() -> list[descriptor.MethodDescriptor]:
    return [
        m
        for s in SERVICES.values()
        for m in s.methods
        if (declared := listing.declaration(m.input_type)) is not None
        and not m.server_streaming
        and "order_by" in m.input_type.fields_by_name
        and declared.filter_fields != {"*"}
    ]


LISTS = _lists()
# What each list's required scope field names in the world.
SCOPES = {
    "dataset_id": "ds",
    "dataset_version_id": "dsv1",
    "model_id": "model",
    "module_id": "module",
}


def _key(name: str) -> str:
    return name.replace("*", "auc") if name.endswith(".*") else name


@pytest.mark.parametrize("method", LISTS, ids=[m.full_name for m in LISTS])
def test_lists_accept_what_they_declare_and_nothing_else(
    world: tuple[Client, dict[str, str]], method: descriptor.MethodDescriptor
) -> None:
    client, ids = world
    name = f"{method.containing_service.name}.{method.name}"
    declared = listing.declaration(method.input_type)
    assert declared is not None
    base: dict[str, Any] = {}
    for field in method.input_type.fields:
        if field.name in SCOPES:
            base[field.name] = ids[SCOPES[field.name]]
    if "pipeline_run_id" in method.input_type.fields_by_name:
        pytest.skip("needs a pipeline run; its declaration is checked in tests/server")

    def call(**extra: Any) -> Outcome:
        return send(client, name, client.request(name, {**base, **extra}))

    for key in sorted(declared.sort_keys):
        for order in (_key(key), f"{_key(key)} desc"):
            outcome = call(order_by=order)
            assert outcome.code == grpc.StatusCode.OK, f"order_by {order!r}: {outcome.message}"
    for member in sorted(declared.filter_fields):
        text = f"{_key(member)}:*" if member != "labels.*" else "labels.team:*"
        outcome = call(filter=text)
        assert outcome.code == grpc.StatusCode.OK, f"filter {text!r}: {outcome.message}"
    for bad in ({"order_by": "no_such_key"}, {"filter": "no_such_field = 1"}):
        outcome = call(**bad)
        assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, bad
    default = call()
    explicit = call(
        order_by=declared.request
        and ", ".join(
            f"{k.member}{' desc' if k.descending else ''}" for k in declared.default_order
        )
    )
    assert default.as_dict() == explicit.as_dict(), "the default order is not the declared one"


def test_every_creatable_kind_has_a_valid_request() -> None:
    """The suite holds a valid request of every Create method (a step run excepted)."""
    kinds = {
        m.name.removeprefix("Create")
        for s in SERVICES.values()
        for m in s.methods
        if m.name.startswith("Create")
    }
    covered = {method_of(c).split(".")[1].removeprefix("Create") for c in CASES}
    missing = kinds - covered - {"StepRun"}  # a step run needs a submitted pipeline
    assert not missing, f"no valid request for Create{sorted(missing)}"
