"""Drift of 50 features over 1,000,000 recorded predictions, computed by the service.

The store is built once under build/bench/ through the service's own rules, in process:
a dataset version whose data-analysis report holds statistics of 50 numeric features
(10 histogram buckets each), a model version trained on it, then 1,000,000 final
predictions recorded with ``records.record_predictions`` in calls of 1,000 (1,000 a
minute of request time), which also keeps their serving statistics. The build reports
its rate and what the serving statistics add to it. Then `mlspec serve` runs on the
store and ComputeDrift measures every feature over the whole window (a dry run, so each
round does the same work); a second figure measures a one-minute window that starts
mid-minute, which reads its 1,000 predictions back, to show what the statistics save.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time
from typing import Any

import grpc
from google.protobuf import json_format

from bench.common import ROOT, free_port, median, mlspec_server, now
from mlspec.common.v1 import reference_pb2
from mlspec.domain import kind_rules
from mlspec.domain.clock import micros_to_timestamp
from mlspec.domain.common.resources import RequestScope, Resources
from mlspec.domain.monitoring import records, serving_stats
from mlspec.monitoring.v1 import inference_pb2, monitoring_service_pb2
from mlspec.store.sql import SqlStore

FEATURES = 50
BUCKETS = 10
BATCH = 1000
T0 = 1_795_000_020 * 1_000_000  # a minute boundary, in microseconds


def store_path(total: int) -> pathlib.Path:
    """Where the store of ``total`` predictions lives."""
    return ROOT / "build" / "bench" / f"drift-{total}.db"


def _create(res: Resources, message: Any, fields: dict[str, Any], path: str) -> Any:
    return kind_rules.create(res, json_format.ParseDict(fields, message), path)


def _resources(res: Resources) -> str:
    """The model version, its training data and the data's statistics; its id."""
    from mlspec.data.v1 import dataset_pb2, datastore_pb2
    from mlspec.lifecycle.v1 import stage_report_pb2
    from mlspec.models.v1 import model_pb2, model_version_pb2
    from mlspec.tracking.v1 import experiment_pb2, run_pb2

    _create(
        res,
        datastore_pb2.Datastore(),
        {"meta": {"name": "lake"}, "type": "DATASTORE_TYPE_S3"},
        "datastore",
    )
    dataset = _create(res, dataset_pb2.Dataset(), {"meta": {"name": "customers"}}, "dataset")
    rows = _create(
        res,
        dataset_pb2.DatasetVersion(),
        {
            "dataset_id": dataset.meta.id,
            "definition": {
                "data_path": {
                    "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                    "path": {"relative_path": "customers/"},
                }
            },
        },
        "dataset_version",
    )
    experiment = _create(
        res, experiment_pb2.Experiment(), {"meta": {"name": "churn"}}, "experiment"
    )
    run = _create(res, run_pb2.Run(), {"experiment_id": experiment.meta.id}, "run")
    data_input = {"resource": {"kind": "RESOURCE_KIND_DATASET_VERSION", "id": rows.meta.id}}
    features = [
        {
            "path": {"steps": [f"f{k:02d}"]},
            "type": "FEATURE_TYPE_FLOAT",
            "num_stats": {
                "histograms": [
                    {
                        "type": "HISTOGRAM_TYPE_STANDARD",
                        "buckets": [
                            {"low_value": b, "high_value": b + 1, "sample_count": 100}
                            for b in range(BUCKETS)
                        ],
                    }
                ]
            },
        }
        for k in range(FEATURES)
    ]
    _create(
        res,
        stage_report_pb2.StageReport(),
        {
            "stage": "LIFECYCLE_STAGE_DATA_ANALYSIS",
            "run_id": run.meta.id,
            "start_time": "2026-11-01T00:00:00Z",
            "status": "STAGE_REPORT_STATUS_SUCCEEDED",
            "inputs": [data_input],
            "data_analysis": {
                "dataset": data_input["resource"],
                "statistics": [{"num_examples": 1000, "features": features}],
            },
        },
        "stage_report",
    )
    model = _create(res, model_pb2.Model(), {"meta": {"name": "churn"}}, "model")
    version = _create(
        res,
        model_version_pb2.ModelVersion(),
        {
            "model_id": model.meta.id,
            "version": {"major": 1},
            "artifact": {"uri": "s3://m/1", "digest": {"digests": {"sha256": "a" * 64}}},
        },
        "model_version",
    )
    _create(
        res,
        stage_report_pb2.StageReport(),
        {
            "stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
            "run_id": run.meta.id,
            "start_time": "2026-11-02T00:00:00Z",
            "status": "STAGE_REPORT_STATUS_SUCCEEDED",
            "inputs": [data_input],
            "outputs": [
                {"resource": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": version.meta.id}}
            ],
            "model_training": {
                "model_format": "onnx",
                "output_model": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": version.meta.id},
            },
        },
        "stage_report",
    )
    return str(version.meta.id)


def _templates(model_id: str) -> list[inference_pb2.InferencePrediction]:
    """Ten final predictions with 50 features each, values spread over the buckets."""
    found = []
    for t in range(10):
        prediction = inference_pb2.InferencePrediction(application_id="crm", final=True)
        prediction.model.kind = reference_pb2.RESOURCE_KIND_MODEL_VERSION
        prediction.model.id = model_id
        prediction.prediction.double_value = 0.5
        for k in range(FEATURES):
            prediction.input_features[f"f{k:02d}"].double_value = (t + k) % BUCKETS + 0.5
        found.append(prediction)
    return found


def build(total: int) -> tuple[str, str, float, float]:
    """The store's URL and model version id; recording's rate and its statistics' share.

    The rate (predictions a second) and the share of it spent counting serving
    statistics are measured on the first calls of the build, and kept with the store.
    """
    path = store_path(total)
    url = f"sqlite:///{path}"
    marker = path.with_suffix(".done")
    if path.exists() and marker.exists():
        model_id, kept_rate, kept_share = marker.read_text().split()
        store = SqlStore(url)
        store.upgrade()
        store.dispose()
        return url, model_id, float(kept_rate), float(kept_share)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    store = SqlStore(url)
    store.upgrade()
    scope = RequestScope()
    with store.transaction() as tx:
        model_id = _resources(Resources(tx, scope))
    templates = _templates(model_id)
    totals: list[float] = []
    stats_share: list[float] = []
    started = time.perf_counter()
    for call in range(total // BATCH):
        predictions, requests = [], []
        when = micros_to_timestamp(T0 + call * 60_000_000)
        for i in range(BATCH):
            prediction = inference_pb2.InferencePrediction()
            prediction.CopyFrom(templates[i % len(templates)])
            prediction.request_id = f"r{call}-{i}"
            prediction.request_time.CopyFrom(when)
            predictions.append(prediction)
            requests.append(
                inference_pb2.InferenceRequest(
                    application_id="crm", request_id=prediction.request_id, request_time=when
                )
            )
        start = time.perf_counter()
        with store.transaction() as tx:
            records.record_predictions(Resources(tx, scope), requests, predictions)
        if call < 5:  # what recording costs, and the share of the serving statistics
            totals.append(time.perf_counter() - start)
            with store.transaction(write=False) as tx:
                start = time.perf_counter()
                serving_stats.rows(Resources(tx, scope), [(p, model_id) for p in predictions])
                stats_share.append((time.perf_counter() - start) / totals[-1])
        if call % 100 == 99:
            print(
                f"  built {(call + 1) * BATCH:,} predictions in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
    store.dispose()
    rate, share = BATCH / median(totals), median(stats_share)
    marker.write_text(f"{model_id} {rate} {share}")
    return url, model_id, rate, share


def main() -> None:
    """Builds the store if needed, then times ComputeDrift over every prediction."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url, model_id, rate, share = build(args.predictions)
    print(
        f"recording predictions with {FEATURES} features (in process, while building): "
        f"{rate:,.0f}/s, {share:.0%} of it counting them in the training buckets"
    )
    minutes = args.predictions // BATCH
    ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": model_id}

    def request(start: int, end: int) -> monitoring_service_pb2.ComputeDriftRequest:
        window = {
            "start_time": micros_to_timestamp(start).ToJsonString(),
            "end_time": micros_to_timestamp(end).ToJsonString(),
        }
        return json_format.ParseDict(
            {"model_version": ref, "window": window, "dry_run": True},
            monitoring_service_pb2.ComputeDriftRequest(),
        )

    whole = request(T0, T0 + minutes * 60_000_000)
    partial = request(T0 + 30_000_000, T0 + 90_000_000)
    port = free_port()
    os.environ["MLSPEC_HTTP_PORT"] = "0"  # no HTTP side port: 50052 may be another's
    with mlspec_server(url, port), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        drift = channel.unary_unary(
            "/mlspec.monitoring.v1.MonitoringService/ComputeDrift",
            request_serializer=monitoring_service_pb2.ComputeDriftRequest.SerializeToString,
            response_deserializer=monitoring_service_pb2.ComputeDriftResponse.FromString,
        )
        times, scans = [], []
        for _ in range(args.rounds):
            start = now()
            response = drift(whole, timeout=600)
            times.append(now() - start)
            assert response.sample_count == args.predictions, response.sample_count
            assert len(response.signals) == 2 * FEATURES
            start = now()
            scanned = drift(partial, timeout=600)
            scans.append(now() - start)
            assert scanned.sample_count == BATCH
    print(
        f"ComputeDrift of {FEATURES} features over {args.predictions:,} predictions: median "
        f"{median(times):.3f} s (target <= 5 s)"
    )
    print(
        f"ComputeDrift of a window read back prediction by prediction ({BATCH:,} predictions): "
        f"median {median(scans):.3f} s, {median(scans) / BATCH * 1e6:.0f} us a prediction "
        f"(~{median(scans) / BATCH * args.predictions:.0f} s for {args.predictions:,})"
    )


if __name__ == "__main__":
    main()
