"""Stage blocks against a real server: verdicts, the model version, finding earlier reports."""

from __future__ import annotations

import pathlib

import pytest

from mlspec.client import Client, Stage, StageFailed, build, payloads
from mlspec.client.stages import verdict
from mlspec.data.v1.schema_pb2 import DataSchema
from mlspec.lifecycle.v1 import stage_report_pb2 as sr
from mlspec.logging.v1 import logging_service_pb2 as logs


def _schema_and_data() -> tuple[DataSchema, dict[str, list[float]]]:
    schema = payloads.infer_schema({"x": [1.0, 2.0]})
    schema.features[0].float_domain.max = 5.0
    return schema, {"x": [1.0, 9.0]}


def test_a_blocking_verdict_fails_the_stage_and_stops_the_block(
    client: Client, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "d.csv").write_text("x\n1\n9\n")
    schema, data = _schema_and_data()
    with client.start_run(experiment="verdicts") as run:
        version = client.create_dataset_version("d", tmp_path / "d.csv")
        failing = pytest.raises(StageFailed, match="DATA_VALIDATION failed: 1 ERROR anomaly")
        with failing, run.stage(Stage.DATA_VALIDATION, inputs=[version]) as stage:
            stage.set(payloads.data_validation(data, schema, dataset=version))
        assert stage.recorded.status == sr.STAGE_REPORT_STATUS_FAILED
        assert "x out-of-range values" in stage.recorded.error_message
        # An explicit status wins over the verdict.
        with run.stage(Stage.DATA_VALIDATION, inputs=[version]) as stage:
            stage.set(payloads.data_validation(data, schema, dataset=version))
            stage.status = "WARNED"
        assert stage.recorded.status == sr.STAGE_REPORT_STATUS_WARNED


def test_verdicts_of_each_payload() -> None:
    assert verdict(build(sr.StageReport, data_validation={"decision": "WARN"}))[0] == (
        sr.STAGE_REPORT_STATUS_WARNED
    )
    assert verdict(build(sr.StageReport, model_test={"decision": "APPROVED"})) == (
        None,
        "",
    )
    assert verdict(build(sr.StageReport, model_training={})) == (None, "")


def test_model_stages_are_about_their_one_model_version(
    client: Client, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights")
    (tmp_path / "part-0.csv").write_text("x\n1\n")
    with client.start_run(experiment="verdicts") as run:
        with run.stage(Stage.DATA_INGESTION) as stage:
            raw = client.create_dataset_version("raw", tmp_path / "part-0.csv")
            stage.set(
                payloads.data_ingestion(
                    raw, [tmp_path / "part-0.csv"], sources=["s3://lake/raw/"], connector="CSV"
                )
            )
            stage.output(raw)
        ingestion = stage.recorded.data_ingestion
        assert ingestion.shards[0].digest == raw.content_digest  # one file: the same digest
        assert ingestion.bytes_ingested == 4
        with run.stage(Stage.MODEL_TRAINING, inputs=[raw]) as stage:
            model = client.register_model_version("m", "1.0.0", tmp_path / "model.bin")
            stage.set(payloads.model_training(model, training_data=[raw]))
            stage.output(model, role="model")
        assert stage.recorded.model_version.id == model.meta.id
        with run.stage(Stage.MODEL_PACKAGING, inputs=[model]) as stage:
            stage.set(payloads.model_packaging(model, package_format="bin"))
            stage.approve("Release manager", "no evaluation in this test", override=True)
        assert stage.recorded.model_version.id == model.meta.id
        with run.stage(Stage.DATA_ANALYSIS, inputs=[raw]) as stage:
            stage.set(payloads.data_analysis({"x": [1.0]}, raw))
        assert not stage.recorded.HasField("model_version")  # not a model stage

    found = client.latest_stage_report(Stage.MODEL_TRAINING, model_version=model)
    assert found is not None and found.meta.id
    assert client.latest_stage_report(Stage.MODEL_TEST, model_version=model) is None
    every = list(client.stage_reports(run=run, page_size=1))  # one page per report
    assert sorted(r.stage for r in every) == [2, 3, 7, 10]
    assert list(client.stage_reports(run=run, status="FAILED")) == []


def test_inference_logs_are_listed_through_the_client(
    client: Client, tmp_path: pathlib.Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights")
    model = client.register_model_version("m", "1.0.0", tmp_path / "model.bin")
    record = {
        "log_stream_id": "s",
        "request_id": "r-1",
        "access": {
            "time": 1_800_000_000,
            "request_line": {"method": "POST", "path": "/", "protocol": "HTTP/1.1"},
        },
        "inference": {
            "application_id": "a",
            "model": model,
        },
        "provenance": {
            "pipeline_version_digest": {"digests": {"sha256": "aa" * 32}},
            "feature_set_digest": {"digests": {"sha256": "bb" * 32}},
            "training_data": [{"digest": {"digests": {"sha256": "cc" * 32}}}],
            "model_digest": {"digests": {"sha256": "dd" * 32}},
        },
    }
    from mlspec.logging.v1.inference_log_pb2 import InferenceLogRecord

    client.logging.WriteInferenceLogs(
        logs.WriteInferenceLogsRequest(
            log_stream_id="s", records=[build(InferenceLogRecord, record)]
        )
    )
    listed = client.logging.ListInferenceLogs(logs.ListInferenceLogsRequest(log_stream_id="s"))
    assert [r.request_id for r in listed.records] == ["r-1"]
