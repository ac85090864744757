"""What importers need of the contract, through a real server: external identities,
display names, digests unknown at the source (and the stage 10/11 gate that refuses
them), ImportResource and parameters bound from an upstream step's output.

The contract sentences are in object_meta.proto, digest.proto, resource_service.proto,
module.proto and graph.proto.
"""

from __future__ import annotations

import hashlib
import pathlib
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mlspec.client import Client, PermissionDenied
from mlspec.common.v1 import object_meta_pb2, run_state_pb2
from mlspec.common.v1 import resource_service_pb2 as rpb
from mlspec.domain.access.tokens import create_token
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.models.v1 import models_service_pb2
from mlspec.pipelines.v1 import pipeline_pb2
from mlspec.server.app import build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import experiment_pb2, run_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as tpb

from .conftest import Stubs
from .messages import make
from .test_pipeline_rules import create_version, fails, new_module, rules, step, validate

EXT = {"system": "mlflow", "id": "0a1b2c", "uri": "sqlite:///mlruns.db"}


def experiment(stubs: Stubs, name: str, **meta: Any) -> experiment_pb2.Experiment:
    created: experiment_pb2.Experiment = stubs.tracking.CreateExperiment(
        make(tpb.CreateExperimentRequest, {"experiment": {"meta": {"name": name, **meta}}})
    ).experiment
    return created


def reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


# -- external identities and display names -----------------------------------------------


def test_external_ids_are_unique_per_kind_filterable_and_a_get_selector(stubs: Stubs) -> None:
    created = experiment(stubs, "churn", external_id=EXT, display_name="Churn (from MLflow) v0.1")
    assert created.meta.external_id.id == "0a1b2c"
    got = stubs.tracking.GetExperiment(make(tpb.GetExperimentRequest, {"external_id": EXT}))
    assert got.experiment.meta.id == created.meta.id
    listed = stubs.tracking.ListExperiments(
        tpb.ListExperimentsRequest(filter='meta.external_id.system = "mlflow"')
    ).experiments
    assert [e.meta.id for e in listed] == [created.meta.id]
    by_display = stubs.tracking.ListExperiments(
        tpb.ListExperimentsRequest(filter='meta.display_name = "Churn (from MLflow) v0.1"')
    ).experiments
    assert [e.meta.id for e in by_display] == [created.meta.id]
    taken = fails(
        grpc.StatusCode.ALREADY_EXISTS, lambda: experiment(stubs, "other", external_id=EXT)
    )
    assert reason(taken) == "EXTERNAL_ID_TAKEN"
    # Another kind may carry the same identity; a run is found without its experiment.
    run = stubs.tracking.CreateRun(
        make(
            tpb.CreateRunRequest,
            {"run": {"experiment_id": created.meta.id, "meta": {"external_id": EXT}}},
        )
    ).run
    got_run = stubs.tracking.GetRun(make(tpb.GetRunRequest, {"external_id": EXT})).run
    assert got_run.meta.id == run.meta.id
    # The identity never changes; archiving frees it, and archived objects are not found by it.
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: stubs.tracking.UpdateExperiment(
            make(
                tpb.UpdateExperimentRequest,
                {
                    "experiment": {
                        "meta": {
                            "id": created.meta.id,
                            "external_id": {"system": "mlflow", "id": "x"},
                        }
                    },
                    "update_mask": "meta.externalId",
                },
            )
        ),
    )
    stubs.resources.ArchiveResource(
        make(
            rpb.ArchiveResourceRequest,
            {"resource": {"kind": "RESOURCE_KIND_EXPERIMENT", "id": created.meta.id}},
        )
    )
    fails(
        grpc.StatusCode.NOT_FOUND,
        lambda: stubs.tracking.GetExperiment(make(tpb.GetExperimentRequest, {"external_id": EXT})),
    )
    again = experiment(stubs, "churn-again", external_id=EXT)
    # Reactivating the archived one would make the identity ambiguous.
    err = fails(
        grpc.StatusCode.ALREADY_EXISTS,
        lambda: stubs.resources.ReactivateResource(
            make(
                rpb.ReactivateResourceRequest,
                {"resource": {"kind": "RESOURCE_KIND_EXPERIMENT", "id": created.meta.id}},
            )
        ),
    )
    assert again.meta.id in str(err.details())


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"external_id": {"system": "MLflow", "id": "1"}}, "experiment.meta.external_id.system"),
        ({"external_id": {"system": "mlflow"}}, "experiment.meta.external_id.id"),
        ({"external_id": {"system": "mlflow", "id": "x" * 1025}}, "experiment.meta.external_id.id"),
        ({"display_name": "d" * 1025}, "experiment.meta.display_name"),
    ],
)
def test_bad_external_ids_and_display_names_are_invalid(
    stubs: Stubs, meta: dict[str, Any], field: str
) -> None:
    err = fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: experiment(stubs, "e", **meta))
    assert field in str(err.details())


# -- ImportResource ----------------------------------------------------------------------


def imported(stubs: Stubs, message: Any) -> rpb.ImportResourceResponse:
    packed = any_pb2.Any()
    packed.Pack(message)
    response: rpb.ImportResourceResponse = stubs.resources.ImportResource(
        rpb.ImportResourceRequest(resource=packed)
    )
    return response


def test_a_model_version_is_got_by_its_external_id_alone(stubs: Stubs) -> None:
    model = stubs.models.CreateModel(
        make(models_service_pb2.CreateModelRequest, {"model": {"meta": {"name": "ext-m"}}})
    ).model
    ext = {"system": "mlflow", "id": "models:/ext-m/3"}
    created = stubs.models.CreateModelVersion(
        make(
            models_service_pb2.CreateModelVersionRequest,
            {
                "model_version": {
                    "meta": {"external_id": ext},
                    "model_id": model.meta.id,
                    "version": {"major": 3},
                    "artifact": {"uri": "s3://m/3", "digest": {"digests": {"sha256": "a" * 64}}},
                }
            },
        )
    ).model_version
    got = stubs.models.GetModelVersion(
        make(models_service_pb2.GetModelVersionRequest, {"external_id": ext})
    ).model_version
    assert got.meta.id == created.meta.id
    missing = {"system": "mlflow", "id": "models:/ext-m/4"}
    fails(
        grpc.StatusCode.NOT_FOUND,
        lambda: stubs.models.GetModelVersion(
            make(models_service_pb2.GetModelVersionRequest, {"external_id": missing})
        ),
    )


def test_an_imported_resource_is_checked_inside_its_any(stubs: Stubs) -> None:
    """Bytes that are no Experiment, a time outside Timestamp's range and a label over
    its limit are INVALID_ARGUMENT naming the field, never INTERNAL or stored."""
    garbage = any_pb2.Any(type_url="type.googleapis.com/mlspec.tracking.v1.Experiment")
    garbage.value = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, a length beyond the bytes
    err = fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: stubs.resources.ImportResource(rpb.ImportResourceRequest(resource=garbage)),
    )
    assert "resource.value" in str(err.details())
    late = experiment_pb2.Experiment()
    late.meta.name = "late"
    late.meta.external_id.system, late.meta.external_id.id = "mlflow", "late"
    late.meta.create_time.seconds = 253_402_300_800  # year 10000
    err = fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: imported(stubs, late))
    assert "resource.meta.create_time" in str(err.details())
    wide = experiment_pb2.Experiment()
    wide.CopyFrom(late)
    wide.meta.ClearField("create_time")
    wide.meta.labels["team"] = "x" * 100_000
    err = fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: imported(stubs, wide))
    assert "resource.meta.labels" in str(err.details())
    listed = stubs.tracking.ListExperiments(tpb.ListExperimentsRequest())
    assert "late" not in {e.meta.name for e in listed.experiments}


def test_import_keeps_the_source_history_and_adds_nothing_the_second_time(stubs: Stubs) -> None:
    exp = make(
        experiment_pb2.Experiment,
        {"meta": {"name": "churn", "external_id": EXT, "create_time": "2021-03-04T05:06:07Z"}},
    )
    first = imported(stubs, exp)
    assert not first.already_existed
    assert first.meta.create_time.ToJsonString() == "2021-03-04T05:06:07Z"
    run = make(
        run_pb2.Run,
        {
            "meta": {
                "display_name": "logreg-lr-0.01",
                "external_id": {"system": "mlflow", "id": "run-1"},
                "create_time": "2021-03-04T06:00:00Z",
            },
            "experiment_id": first.meta.id,
            "state": "RUN_STATE_SUCCEEDED",
            "start_time": "2021-03-04T06:00:00Z",
            "end_time": "2021-03-04T06:05:00Z",
            "artifact_uri": "file:///mlruns/1/run-1/artifacts",
        },
    )
    stored_run = run_pb2.Run()
    assert imported(stubs, run).resource.Unpack(stored_run)
    assert stored_run.state == run_state_pb2.RUN_STATE_SUCCEEDED
    assert stored_run.artifact_uri == "file:///mlruns/1/run-1/artifacts"
    assert stored_run.state_history[0].time.ToJsonString() == "2021-03-04T06:00:00Z"
    second = imported(stubs, exp)
    assert second.already_existed and second.meta.id == first.meta.id
    assert imported(stubs, run).already_existed
    listed = stubs.tracking.ListRuns(tpb.ListRunsRequest(experiment_ids=[first.meta.id])).runs
    assert len(listed) == 1
    # The oldest first, by the original times.
    ordered = stubs.tracking.ListExperiments(
        tpb.ListExperimentsRequest(order_by="create_time")
    ).experiments
    assert ordered[0].meta.id == first.meta.id
    # An ordinary create never keeps client times or starts a run finished.
    plain = stubs.tracking.CreateRun(
        make(
            tpb.CreateRunRequest,
            {
                "run": {
                    "experiment_id": first.meta.id,
                    "meta": {"create_time": "2021-01-01T00:00:00Z"},
                }
            },
        )
    ).run
    assert plain.meta.create_time.ToJsonString() != "2021-01-01T00:00:00Z"


def test_import_needs_an_external_id_and_a_resource_kind(stubs: Stubs) -> None:
    err = fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: imported(stubs, make(experiment_pb2.Experiment, {"meta": {"name": "x"}})),
    )
    assert "external_id" in str(err.details())
    fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: imported(stubs, object_meta_pb2.ExternalId()))
    made_by_the_server = pipeline_pb2.Pipeline()
    made_by_the_server.meta.external_id.system = "kfp"
    made_by_the_server.meta.external_id.id = "p"
    err = fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: imported(stubs, made_by_the_server))
    assert "cannot be imported" in str(err.details())


def test_only_admins_import_when_the_server_authenticates(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url, auth="token"), store=store)
    try:
        with store.transaction() as tx:
            writer = create_token(tx, "team", "writer", name="w").text
            admin = create_token(tx, "team", "admin", name="a").text
        exp = make(experiment_pb2.Experiment, {"meta": {"name": "e", "external_id": EXT}})
        packed = any_pb2.Any()
        packed.Pack(exp)
        request = rpb.ImportResourceRequest(resource=packed)
        with (
            Client(f"127.0.0.1:{running.port}", token=writer, timeout=10) as client,
            pytest.raises(PermissionDenied),
        ):
            client.resources.ImportResource(request)
        with Client(f"127.0.0.1:{running.port}", token=admin, timeout=10) as client:
            assert client.resources.ImportResource(request).meta.external_id.id == EXT["id"]
    finally:
        running.stop(0)


# -- digests unknown at the source ---------------------------------------------------------

UNKNOWN = {"unknown_reason": "kfp: image python:3.11 is given by tag"}


def module_version(stubs: Stubs, snapshot: dict[str, Any], **extra: Any) -> Any:
    return create_version(
        stubs,
        {
            "module_id": new_module(
                stubs, f"m-{hashlib.sha1(repr(snapshot).encode()).hexdigest()[:8]}"
            ),
            "snapshot": snapshot,
            "interface": {},
            "executor": {"command": ["python"]},
            **extra,
        },
    )


def test_images_by_tag_and_inline_code_are_recorded_as_the_source_has_them(stubs: Stubs) -> None:
    by_tag = module_version(stubs, {"container_image": {"image": "python:3.11"}, "digest": UNKNOWN})
    assert by_tag.snapshot.digest.unknown_reason.startswith("kfp:")
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: module_version(stubs, {"container_image": {"image": "python:3.12"}, "digest": {}}),
    )
    both = fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: module_version(
            stubs,
            {
                "container_image": {"image": "python:3.13"},
                "digest": {"digests": {"sha256": "a" * 64}, **UNKNOWN},
            },
        ),
    )
    assert "unknown_reason" in str(both.details())
    code = "def add(a: float, b: float) -> float:\n    return a + b\n"
    sha = hashlib.sha256(code.encode()).hexdigest()
    inline = module_version(
        stubs,
        {"inline": {"code": code, "language": "python"}, "digest": {"digests": {"sha256": sha}}},
    )
    assert inline.snapshot.inline.code == code
    wrong = fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: module_version(
            stubs,
            {"inline": {"code": code + "#"}, "digest": {"digests": {"sha256": sha}}},
        ),
    )
    assert "SHA-256 of the inline code" in str(wrong.details())


def test_the_deployment_gate_refuses_digests_unknown_at_the_source(stubs: Stubs) -> None:
    exp = experiment(stubs, "gate")
    run = stubs.tracking.CreateRun(
        make(tpb.CreateRunRequest, {"run": {"experiment_id": exp.meta.id}})
    ).run
    model = stubs.models.CreateModel(
        make(models_service_pb2.CreateModelRequest, {"model": {"meta": {"name": "m"}}})
    ).model
    unknown_mv = stubs.models.CreateModelVersion(
        make(
            models_service_pb2.CreateModelVersionRequest,
            {
                "model_version": {
                    "model_id": model.meta.id,
                    "version": {"major": 3},
                    "source_version": "3",
                    "artifact": {
                        "uri": "models:/m/3",
                        "digest": {"unknown_reason": "mlflow: registry source has no checksum"},
                    },
                }
            },
        )
    ).model_version
    assert unknown_mv.source_version == "3"
    mv_ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": unknown_mv.meta.id}

    def report(stage: str, **fields: Any) -> Any:
        body = {
            "stage": stage,
            "run_id": run.meta.id,
            "start_time": "2026-03-01T10:00:00Z",
            "status": "STAGE_REPORT_STATUS_SUCCEEDED",
            **fields,
        }
        return stubs.lifecycle.ReportStage(make(lc.ReportStageRequest, {"stage_report": body}))

    # Earlier stages may use it: training produced it.
    report(
        "LIFECYCLE_STAGE_MODEL_TRAINING",
        outputs=[{"resource": mv_ref}],
        model_training={"model_format": "onnx", "output_model": mv_ref},
    )
    package = {"model": mv_ref, "package_format": "onnx", "package_uri": "s3://m/p"}
    packaging = {
        "model_packaging": {**package, "package_digest": {"digests": {"sha256": "c" * 64}}}
    }
    err = fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        lambda: report(
            "LIFECYCLE_STAGE_MODEL_PACKAGING", inputs=[{"resource": mv_ref}], **packaging
        ),
    )
    assert reason(err) == "DIGEST_UNKNOWN"
    err = fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        lambda: report(
            "LIFECYCLE_STAGE_MODEL_PACKAGING",
            model_packaging={**package, "package_digest": {"unknown_reason": "never computed"}},
        ),
    )
    assert "package_digest" in str(err.details())
    serving = {
        "endpoint": {"uri": "https://serve.example/m", "protocol": "SERVING_PROTOCOL_REST"},
        "model_name": "m",
        "model": mv_ref,
        "rollout_strategy": "ROLLOUT_STRATEGY_ALL_AT_ONCE",
        "transition_status": "SERVING_TRANSITION_STATUS_UP_TO_DATE",
        "rollout_result": "ROLLOUT_RESULT_SUCCEEDED",
    }
    err = fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        lambda: report(
            "LIFECYCLE_STAGE_MODEL_SERVING",
            model_version=mv_ref,
            model_serving=serving,
        ),
    )
    assert reason(err) == "DIGEST_UNKNOWN"
    # A failed rollout of it is history, not a deployment.
    report(
        "LIFECYCLE_STAGE_MODEL_SERVING",
        model_version=mv_ref,
        status="STAGE_REPORT_STATUS_FAILED",
        model_serving=dict(serving, rollout_result="ROLLOUT_RESULT_FAILED"),
    )
    long_version = fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: stubs.models.CreateModelVersion(
            make(
                models_service_pb2.CreateModelVersionRequest,
                {
                    "model_version": {
                        "model_id": model.meta.id,
                        "version": {"major": 4},
                        "source_version": "4" * 65,
                    }
                },
            )
        ),
    )
    assert "source_version" in str(long_version.details())


# -- parameters bound from an upstream step's output -------------------------------------


def value_module(stubs: Stubs, name: str, outputs: dict[str, str], params: dict[str, str]) -> str:
    module_id = new_module(stubs, name)
    create_version(
        stubs,
        {
            "module_id": module_id,
            "snapshot": {"container_image": {"image": f"r/{name}:1"}, "digest": UNKNOWN},
            "interface": {
                "outputs": [{"name": n, "value_type": t} for n, t in outputs.items()],
                "parameters": [{"name": n, "type": t} for n, t in params.items()],
            },
            "executor": {"command": ["run"]},
        },
    )
    return module_id


def test_a_parameter_bound_to_a_step_output_orders_the_steps(stubs: Stubs) -> None:
    produce = value_module(
        stubs,
        "produce",
        {"sum": "VALUE_TYPE_DOUBLE", "msg": "VALUE_TYPE_STRING"},
        {"a": "VALUE_TYPE_DOUBLE"},
    )
    consume = value_module(
        stubs, "consume", {"sum": "VALUE_TYPE_DOUBLE"}, {"a": "VALUE_TYPE_DOUBLE"}
    )

    def graph(source: str, port: str, back: bool = False) -> dict[str, Any]:
        first = {"a": {"value": {"double_value": 1.0}}}
        if back:
            first = {"a": {"step_output": {"vertex_id": "second", "port_name": "sum"}}}
        return {
            "vertices": [
                step("first", produce, parameters=first),
                step(
                    "second",
                    consume,
                    parameters={"a": {"step_output": {"vertex_id": source, "port_name": port}}},
                ),
            ]
        }

    assert validate(stubs, graph("first", "sum")).valid
    assert rules(validate(stubs, graph("first", "msg"))) == {
        "GRAPH_VALIDATION_RULE_PORT_TYPE_MISMATCH"
    }
    assert rules(validate(stubs, graph("first", "nothing"))) == {
        "GRAPH_VALIDATION_RULE_EDGE_UNKNOWN_PORT"
    }
    assert rules(validate(stubs, graph("ghost", "sum"))) == {
        "GRAPH_VALIDATION_RULE_EDGE_UNKNOWN_VERTEX"
    }
    assert rules(validate(stubs, graph("first", "sum", back=True))) == {
        "GRAPH_VALIDATION_RULE_CYCLE"
    }
