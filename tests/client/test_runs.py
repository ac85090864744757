"""start_run, get-or-create by name, buffered metrics and params, stages."""

from __future__ import annotations

import pathlib

import pytest

from mlspec.client import Client, FailedPrecondition, InvalidArgument, Stage
from mlspec.common.v1 import run_state_pb2
from mlspec.data.v1 import datastore_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.lifecycle.v1 import stage_report_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as tr
from tests.client.helpers import all_points


def test_get_or_create_twice_returns_the_same_resources(client: Client) -> None:
    def pipeline() -> list[str]:
        return [
            client.get_or_create_datastore("lake", type="S3", root_uri="s3://lake").meta.id,
            client.get_or_create_dataset(
                "transactions", meta={"description": "card payments"}
            ).meta.id,
            client.get_or_create_experiment("churn").meta.id,
            client.get_or_create_module("trainer").meta.id,
            client.get_or_create_model("churn-model").meta.id,
        ]

    first = pipeline()
    assert all(first)
    assert pipeline() == first
    # Names are matched case-insensitively by the server.
    assert client.get_or_create_experiment("CHURN").meta.id == first[2]


def test_get_or_create_takes_a_message(client: Client) -> None:
    message = datastore_pb2.Datastore(type=datastore_pb2.DATASTORE_TYPE_GCS)
    message.meta.name = "bucket"
    store = client.get_or_create_datastore(message=message)
    assert store.type == datastore_pb2.DATASTORE_TYPE_GCS and store.meta.name == "bucket"


def test_start_run_succeeds(client: Client) -> None:
    with client.start_run(experiment="churn", name="nightly", tags={"team": "risk"}) as run:
        assert run.run.state == run_state_pb2.RUN_STATE_RUNNING
        run.log_params({"lr": 0.1, "depth": 6, "booster": "gbtree"})
        run.log_metrics({"auc": 0.9, "loss": 0.2}, step=1)
        run.log_metric("confusion", [[5, 1], [2, 7]])
    assert run.run.state == run_state_pb2.RUN_STATE_SUCCEEDED
    stored = client.tracking.GetRun(tr.GetRunRequest(id=run.id)).run
    assert stored.state == run_state_pb2.RUN_STATE_SUCCEEDED
    assert stored.tags["team"] == "risk"
    params = {p.key: p.value for p in stored.params}
    assert params["lr"].double_value == 0.1 and params["depth"].int_value == 6
    assert all_points(client, run.id, "auc")[0].value.double_value == 0.9
    confusion = all_points(client, run.id, "confusion")[0].value
    assert confusion.array_value.values[1].array_value.values[1].int_value == 7


def test_start_run_records_a_failure_and_reraises(client: Client) -> None:
    with pytest.raises(ZeroDivisionError), client.start_run(experiment="churn") as run:
        run.log_metric("loss", 1.0, step=0)
        _ = 1 / 0
    stored = client.tracking.GetRun(tr.GetRunRequest(id=run.id)).run
    assert stored.state == run_state_pb2.RUN_STATE_FAILED
    assert stored.error.type == "ZeroDivisionError"
    assert "division" in stored.error.message
    assert "ZeroDivisionError" in stored.error.stack_trace
    assert len(all_points(client, run.id, "loss")) == 1  # flushed before the failure


def test_a_run_name_taken_by_an_ended_run_is_refused(client: Client) -> None:
    with client.start_run(experiment="churn", name="once"):
        pass
    from mlspec.client import AlreadyExists

    with pytest.raises(AlreadyExists):
        client.start_run(experiment="churn", name="once")


def test_many_metrics_are_stored_exactly_once(client: Client) -> None:
    with client.start_run(experiment="churn") as run:
        for step in range(12_345):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
            if step % 3 == 0:
                run.log_metric("lr", 0.01, step=step)
    assert run.sender.sent_points == 12_345 + 4115
    steps = [p.step for p in all_points(client, run.id, "loss")]
    assert sorted(steps) == list(range(12_345))
    assert len(all_points(client, run.id, "lr")) == 4115


def test_sender_errors_surface_at_flush(client: Client) -> None:
    with client.start_run(experiment="churn") as run:
        run.log_params({"lr": 0.1})
        run.flush()
        run.log_params({"lr": 0.2})  # params never change: FAILED_PRECONDITION
        with pytest.raises(FailedPrecondition):
            run.flush()
        run.log_metric("bad key!", 1.0)
        run.log_metric("good", 1.0)
        with pytest.raises(ValueError, match="not a valid key"):
            run.flush()
    assert len(all_points(client, run.id, "good")) == 1


def test_stage_success(client: Client, tmp_path: pathlib.Path) -> None:
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "model.onnx").write_bytes(b"weights")
    train = client.create_dataset_version("churn-train", tmp_path / "train.csv")
    with (
        client.start_run(experiment="churn") as run,
        run.stage(Stage.MODEL_TRAINING, inputs=[train], name="train-1") as stage,
    ):
        stage.set(model_format="onnx", hyperparameters={"lr": 0.1, "depth": 6})
        artifact = client.log_artifact(run, tmp_path / "model.onnx", type="MODEL")
        stage.output(artifact, role="model")
    report = client.lifecycle.GetStageReport(lc.GetStageReportRequest(name="train-1")).stage_report
    assert report.status == stage_report_pb2.STAGE_REPORT_STATUS_SUCCEEDED
    assert report.run_id == run.id
    assert report.start_time.ToNanoseconds() <= report.end_time.ToNanoseconds()
    assert report.model_training.hyperparameters["depth"].int_value == 6
    assert [i.resource.id for i in report.inputs] == [train.meta.id]
    assert report.inputs[0].digest.digests["sha256"] == train.content_digest.digests["sha256"]
    assert [(o.resource.id, o.role) for o in report.outputs] == [(artifact.meta.id, "model")]


def test_stage_failure_sends_a_failed_report(client: Client) -> None:
    with (
        pytest.raises(RuntimeError),
        client.start_run(experiment="churn") as run,
        run.stage(Stage.DATA_VALIDATION, name="validate") as stage,
    ):
        stage.set(schema_version="3", environment="TRAINING")
        raise RuntimeError("schema drift in column amount")
    report = client.lifecycle.GetStageReport(lc.GetStageReportRequest(name="validate")).stage_report
    assert report.status == stage_report_pb2.STAGE_REPORT_STATUS_FAILED
    assert "schema drift" in report.error_message
    assert report.HasField("data_validation")
    assert client.tracking.GetRun(tr.GetRunRequest(id=run.id)).run.state == (
        run_state_pb2.RUN_STATE_FAILED
    )


def test_stage_payload_mismatch_is_the_servers_invalid_argument(client: Client) -> None:
    with client.start_run(experiment="churn") as run:
        stage = run.stage(Stage.MODEL_TRAINING)
        bad = stage.build()
        bad.ClearField("model_training")
        bad.data_ingestion.SetInParent()
        with pytest.raises(InvalidArgument):
            client.lifecycle.ReportStage(lc.ReportStageRequest(stage_report=bad))


def test_model_version_registration(client: Client, tmp_path: pathlib.Path) -> None:
    import hashlib

    (tmp_path / "model.onnx").write_bytes(b"weights")
    mv = client.register_model_version(
        "churn-model",
        "1.4.0",
        tmp_path / "model.onnx",
        framework={"name": "onnx", "version": "1.17"},
        signature={
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [{"name": "churn", "datatype": "FP32"}],
        },
    )
    assert (mv.version.major, mv.version.minor) == (1, 4)
    assert mv.framework.name == "onnx"
    assert mv.signature.inputs[0].shape == [-1, 4]
    assert mv.artifact.digest.digests["sha256"] == hashlib.sha256(b"weights").hexdigest()


def test_registering_the_same_content_twice_returns_the_first(
    client: Client, tmp_path: pathlib.Path
) -> None:
    from mlspec.client import AlreadyExists

    data = tmp_path / "part"
    data.mkdir()
    (data / "a.csv").write_text("1\n")
    first = client.create_dataset_version("folder-set", data)
    assert client.create_dataset_version("folder-set", data).meta.id == first.meta.id
    (data / "a.csv").write_text("2\n")  # new content behind the same definition
    with pytest.raises(AlreadyExists):
        client.create_dataset_version("folder-set", data)

    (tmp_path / "m.bin").write_bytes(b"v1")
    mv = client.register_model_version("m", "2.0.0", tmp_path / "m.bin")
    assert client.register_model_version("m", "2.0.0", tmp_path / "m.bin").meta.id == mv.meta.id
    (tmp_path / "m.bin").write_bytes(b"v2")
    with pytest.raises(AlreadyExists):
        client.register_model_version("m", "2.0.0", tmp_path / "m.bin")


def test_logging_after_the_end_is_refused(client: Client) -> None:
    with client.start_run(experiment="churn") as run:
        run.log_metric("loss", 1.0)
    with pytest.raises(RuntimeError, match="has ended"):
        run.log_metric("loss", 2.0)
