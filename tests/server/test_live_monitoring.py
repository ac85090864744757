"""Monitoring the service computes: drift, live performance, alerts, rollback and serving.

A model version trained on a dataset version whose data-analysis report holds its
statistics serves predictions through RecordPredictions; the service measures them.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import data_service_pb2 as data
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.models.v1 import models_service_pb2 as models
from mlspec.monitoring.v1 import alert_pb2, monitoring_service_pb2_grpc, signals_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import tracking_service_pb2 as tr

from .conftest import Stubs
from .messages import make

AGE_EDGES = [0.0, 20.0, 40.0, 60.0, 80.0]
AGE_COUNTS = [250.0, 250.0, 250.0, 250.0]
PLANS = {"gold": 500.0, "silver": 300.0, "bronze": 150.0}  # and 50 others


@pytest.fixture
def monitored(tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    """A server whose schedule never fires by itself (tests run its rounds)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    server = build_server(ServerConfig(port=0, store_url=url, monitor_interval=3600), store=store)
    yield server
    server.stop(0)


@pytest.fixture
def stubs(monitored: RunningServer) -> Iterator[Stubs]:
    with grpc.insecure_channel(f"127.0.0.1:{monitored.port}") as channel:
        yield Stubs(channel)


@pytest.fixture
def monitoring(monitored: RunningServer) -> Iterator[Any]:
    with grpc.insecure_channel(f"127.0.0.1:{monitored.port}") as channel:
        yield monitoring_service_pb2_grpc.MonitoringServiceStub(channel)


def trained_models(stubs: Stubs) -> tuple[str, str]:
    """Versions 1 and 2 of a model trained on data whose analysis report has statistics."""
    stubs.data.CreateDatastore(
        make(
            data.CreateDatastoreRequest,
            {"datastore": {"meta": {"name": "lake"}, "type": "DATASTORE_TYPE_S3"}},
        )
    )
    dataset = stubs.data.CreateDataset(
        make(data.CreateDatasetRequest, {"dataset": {"meta": {"name": "customers"}}})
    ).dataset
    rows = stubs.data.CreateDatasetVersion(
        make(
            data.CreateDatasetVersionRequest,
            {
                "dataset_version": {
                    "dataset_id": dataset.meta.id,
                    "definition": {
                        "data_path": {
                            "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                            "path": {"relative_path": "customers/"},
                        }
                    },
                }
            },
        )
    ).dataset_version
    experiment = stubs.tracking.CreateExperiment(
        make(tr.CreateExperimentRequest, {"experiment": {"meta": {"name": "churn"}}})
    ).experiment
    run = stubs.tracking.CreateRun(
        make(tr.CreateRunRequest, {"run": {"experiment_id": experiment.meta.id}})
    ).run
    data_input = {"resource": {"kind": "RESOURCE_KIND_DATASET_VERSION", "id": rows.meta.id}}
    statistics = {
        "num_examples": 1000,
        "features": [
            {
                "path": {"steps": ["age"]},
                "type": "FEATURE_TYPE_FLOAT",
                "num_stats": {
                    "histograms": [
                        {
                            "type": "HISTOGRAM_TYPE_STANDARD",
                            "buckets": [
                                {"low_value": lo, "high_value": hi, "sample_count": n}
                                for lo, hi, n in zip(
                                    AGE_EDGES, AGE_EDGES[1:], AGE_COUNTS, strict=False
                                )
                            ],
                        }
                    ]
                },
            },
            {
                "path": {"steps": ["plan"]},
                "type": "FEATURE_TYPE_STRING",
                "common_stats": {"num_non_missing": 1000},
                "string_stats": {
                    "top_values": [{"value": v, "frequency": f} for v, f in PLANS.items()]
                },
            },
        ],
    }
    stubs.lifecycle.ReportStage(
        make(
            lc.ReportStageRequest,
            {
                "stage_report": {
                    "stage": "LIFECYCLE_STAGE_DATA_ANALYSIS",
                    "run_id": run.meta.id,
                    "start_time": "2026-11-01T00:00:00Z",
                    "status": "STAGE_REPORT_STATUS_SUCCEEDED",
                    "inputs": [data_input],
                    "data_analysis": {
                        "dataset": data_input["resource"],
                        "statistics": [statistics],
                    },
                }
            },
        )
    )
    model = stubs.models.CreateModel(
        make(models.CreateModelRequest, {"model": {"meta": {"name": "churn"}}})
    ).model
    ids = []
    for major in (1, 2):
        version = stubs.models.CreateModelVersion(
            make(
                models.CreateModelVersionRequest,
                {
                    "model_version": {
                        "model_id": model.meta.id,
                        "version": {"major": major},
                        "artifact": {
                            "uri": f"s3://models/churn/{major}",
                            "digest": {"digests": {"sha256": f"{major}" * 64}},
                        },
                    }
                },
            )
        ).model_version
        stubs.lifecycle.ReportStage(
            make(
                lc.ReportStageRequest,
                {
                    "stage_report": {
                        "stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
                        "run_id": run.meta.id,
                        "start_time": "2026-11-02T00:00:00Z",
                        "status": "STAGE_REPORT_STATUS_SUCCEEDED",
                        "inputs": [{**data_input, "role": "train"}],
                        "outputs": [
                            {
                                "resource": {
                                    "kind": "RESOURCE_KIND_MODEL_VERSION",
                                    "id": version.meta.id,
                                }
                            }
                        ],
                        "model_training": {
                            "model_format": "onnx",
                            "output_model": {
                                "kind": "RESOURCE_KIND_MODEL_VERSION",
                                "id": version.meta.id,
                            },
                        },
                    }
                },
            )
        )
        ids.append(version.meta.id)
    return ids[0], ids[1]


def record(
    monitoring: Any,
    model_id: str,
    rows: list[tuple[str, float, str, Any]],
    when: str,
) -> None:
    """Records one final prediction per (request id, age, plan, predicted label)."""
    monitoring.RecordPredictions(
        make(
            pb.RecordPredictionsRequest,
            {
                "requests": [
                    {"application_id": "crm", "request_id": rid, "request_time": when}
                    for rid, _, _, _ in rows
                ],
                "predictions": [
                    {
                        "application_id": "crm",
                        "request_id": rid,
                        "model": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": model_id},
                        "request_time": when,
                        "input_features": {
                            "age": {"double_value": age},
                            "plan": {"string_value": plan},
                        },
                        "prediction": label,
                        "final": True,
                    }
                    for rid, age, plan, label in rows
                ],
            },
        )
    )


def expected_psi(p_counts: list[float], q_counts: list[float]) -> float:
    p = [c / sum(p_counts) for c in p_counts]
    q = [c / sum(q_counts) for c in q_counts]
    return sum(
        (max(a, 1e-6) - max(b, 1e-6)) * math.log(max(a, 1e-6) / max(b, 1e-6))
        for a, b in zip(p, q, strict=True)
    )


def expected_js(p_counts: list[float], q_counts: list[float]) -> float:
    p = [c / sum(p_counts) for c in p_counts]
    q = [c / sum(q_counts) for c in q_counts]
    total = 0.0
    for a, b in zip(p, q, strict=True):
        m = (a + b) / 2
        total += 0.5 * (a * math.log2(a / m) if a else 0) + 0.5 * (b * math.log2(b / m) if b else 0)
    return math.sqrt(total)


WINDOW = {"start_time": "2026-11-27T10:00:00Z", "end_time": "2026-11-27T11:00:00Z"}
# At most 0.1 worse than the previous model version (accuracy: higher is better).
AT_MOST_01_WORSE = {"absolute": 0.1, "direction": "DIRECTION_HIGHER_IS_BETTER"}
DRIFTED = {"start_time": "2026-11-27T11:00:00Z", "end_time": "2026-11-27T12:00:00Z"}
LABEL = {"string_value": "stay"}


def test_drift_is_computed_on_the_training_buckets_and_a_drifted_feature_alerts(
    stubs: Stubs, monitoring: Any
) -> None:
    _, current = trained_models(stubs)
    plans = ["gold"] * 20 + ["silver"] * 12 + ["bronze"] * 6 + ["tin"] * 2
    steady = [(f"s{i}", 10.0 + 20.0 * (i % 4), plans[i], LABEL) for i in range(40)]
    record(monitoring, current, steady, "2026-11-27T10:30:00Z")
    drifted = [(f"d{i}", 70.0 + i % 5, "gold", LABEL) for i in range(40)]
    record(monitoring, current, drifted, "2026-11-27T11:30:00Z")
    ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current}
    quiet = {"start_time": "2026-11-26T10:00:00Z", "end_time": "2026-11-26T11:00:00Z"}
    empty = monitoring.ComputeDrift(
        make(pb.ComputeDriftRequest, {"model_version": ref, "window": quiet})
    )
    assert empty.sample_count == 0 and not empty.signals
    assert list(empty.missing_features) == ["age", "plan"]
    calm = monitoring.ComputeDrift(
        make(pb.ComputeDriftRequest, {"model_version": ref, "window": WINDOW, "dry_run": True})
    )
    assert calm.sample_count == 40 and not calm.alerts
    by = {(s.feature, s.comparator): s for s in calm.signals}
    psi = signals_pb2.DRIFT_COMPARATOR_POPULATION_STABILITY_INDEX
    age_psi = by[("age", psi)]
    assert age_psi.value == pytest.approx(expected_psi([10, 10, 10, 10], AGE_COUNTS))
    plan_js = by[("plan", 6)]
    assert plan_js.value == pytest.approx(expected_js([20, 12, 6, 2], [500.0, 300.0, 150.0, 50.0]))
    assert all(s.outcome == 1 for s in calm.signals)  # THRESHOLD_OUTCOME_PASSED
    assert calm.statistics_report.id and not calm.signals[0].signal_id  # a dry run stores nothing

    hot = monitoring.ComputeDrift(
        make(pb.ComputeDriftRequest, {"model_version": ref, "window": DRIFTED})
    )
    failing = {(s.feature, s.comparator): s for s in hot.signals if s.outcome == 2}
    assert ("age", psi) in failing and ("age", 6) in failing
    age = failing[("age", psi)]
    assert age.value == pytest.approx(expected_psi([0, 0, 0, 40], AGE_COUNTS))
    assert age.top_contributor == "[60, 80)" and age.threshold == 0.2 and age.signal_id
    assert {a.condition.signal_name for a in hot.alerts} >= {"age"}
    # Raised by the service, they follow the kind's rules: named `alert-<id>`, FIRING.
    assert all(a.meta.name == f"alert-{a.meta.id}" and a.state == 2 for a in hot.alerts)
    # The alert is listable, and fires again (not anew) when the drift is measured again.
    again = monitoring.ComputeDrift(
        make(pb.ComputeDriftRequest, {"model_version": ref, "window": DRIFTED})
    )
    first = {a.meta.id for a in hot.alerts}
    assert {a.meta.id for a in again.alerts} == first
    assert all(a.fire_count == 2 for a in again.alerts)
    listed = monitoring.ListAlerts(make(pb.ListAlertsRequest, {"model_version": ref}))
    assert {a.meta.id for a in listed.alerts} == first
    signals = monitoring.ListSignals(
        make(pb.ListSignalsRequest, {"model_version": ref, "only_failing": True})
    )
    assert len(signals.signals) == 2 * len(failing)


def test_watching_alerts_sees_them_raised_and_resolved(stubs: Stubs, monitoring: Any) -> None:
    _, current = trained_models(stubs)
    ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current}
    record(
        monitoring,
        current,
        [(f"d{i}", 75.0, "gold", LABEL) for i in range(20)],
        "2026-11-27T11:30:00Z",
    )
    stream = monitoring.WatchAlerts(make(pb.WatchAlertsRequest, {"model_version": ref}), timeout=30)
    raised = monitoring.ComputeDrift(
        make(pb.ComputeDriftRequest, {"model_version": ref, "window": DRIFTED, "features": ["age"]})
    ).alerts
    assert len(raised) == 2  # PSI and Jensen-Shannon distance of `age`
    seen = [next(stream).alert for _ in range(2)]
    assert {a.meta.id for a in seen} == {a.meta.id for a in raised}
    alert = raised[0]
    alert.state = alert_pb2.ALERT_STATE_RESOLVED
    monitoring.UpdateAlert(pb.UpdateAlertRequest(alert=alert, update_mask={"paths": ["state"]}))
    resolved = next(stream).alert
    assert (resolved.meta.id, resolved.state) == (alert.meta.id, alert_pb2.ALERT_STATE_RESOLVED)
    stream.cancel()


def test_live_accuracy_joins_feedback_and_compares_with_the_previous_version(
    stubs: Stubs, monitoring: Any
) -> None:
    previous, current = trained_models(stubs)

    def label(i: int) -> dict[str, str]:
        return {"string_value": "churn" if i % 2 else "stay"}

    # Version 1 was right 9 times out of 10; version 2 is right 6 times out of 10.
    record(
        monitoring,
        previous,
        [(f"p{i}", 30.0, "gold", label(i if i else 1)) for i in range(10)],
        "2026-11-27T10:10:00Z",
    )
    record(
        monitoring,
        current,
        [(f"c{i}", 30.0, "gold", label(i if i > 3 else i + 1)) for i in range(10)],
        "2026-11-27T10:40:00Z",
    )
    record(monitoring, current, [("late", 30.0, "gold", label(0))], "2026-11-27T10:50:00Z")
    monitoring.RecordFeedback(
        make(
            pb.RecordFeedbackRequest,
            {
                "feedback": [
                    {
                        "application_id": "crm",
                        "request_id": rid,
                        "ground_truth_label": label(i),
                        "feedback_time": "2026-11-27T12:00:00Z",
                    }
                    for prefix in ("p", "c")
                    for i in range(10)
                    for rid in [f"{prefix}{i}"]
                ]
            },
        )
    )
    ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current}
    measured = monitoring.ComputeLivePerformance(
        make(
            pb.ComputeLivePerformanceRequest,
            {
                "model_version": ref,
                "window": WINDOW,
                "step": "1800s",
                "thresholds": {"accuracy": {"value_threshold": {"lower_bound": 0.5}}},
                "previous_model_thresholds": {"accuracy": AT_MOST_01_WORSE},
            },
        )
    )
    assert (measured.prediction_count, measured.labelled_count) == (11, 10)
    (signal,) = measured.signals  # the first half hour has no prediction of version 2
    assert signal.metric == "accuracy" and signal.value == pytest.approx(0.6)
    assert signal.sample_count == 10 and signal.window.start_time.ToJsonString() == (
        "2026-11-27T10:30:00Z"
    )
    assert signal.objective_outcome == 1  # PASSED: above 0.5
    # Version 1's predictions fall in the first half hour: no comparable value there.
    assert not signal.HasField("previous_model_value")
    whole = monitoring.ComputeLivePerformance(
        make(
            pb.ComputeLivePerformanceRequest,
            {
                "model_version": ref,
                "window": WINDOW,
                "previous_model_thresholds": {"accuracy": AT_MOST_01_WORSE},
            },
        )
    )
    (signal,) = whole.signals
    assert signal.previous_model.id == previous
    assert signal.previous_model_value == pytest.approx(0.9)
    assert signal.previous_model_outcome == 2  # FAILED: 0.3 worse than version 1
    assert [a.condition.signal_name for a in whole.alerts] == ["accuracy"]


def test_a_triggered_rollback_changes_what_to_serve_until_its_alert_is_resolved(
    stubs: Stubs, monitoring: Any, monitored: RunningServer
) -> None:
    from datetime import datetime, timezone

    previous, current = trained_models(stubs)
    ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current}
    monitoring.CreateRollbackPolicy(
        make(
            pb.CreateRollbackPolicyRequest,
            {
                "rollback_policy": {
                    "meta": {"name": "churn-guard"},
                    "model_version": ref,
                    "mode": "ROLLBACK_MODE_AUTOMATIC",
                    "triggers": [
                        {
                            "name": "age_drift",
                            "condition": {
                                "signal_type": "SIGNAL_TYPE_DRIFT",
                                "signal_name": "age",
                                "comparator": "DRIFT_COMPARATOR_POPULATION_STABILITY_INDEX",
                                "threshold": {"value_threshold": {"upper_bound": 0.5}},
                            },
                        }
                    ],
                    "target": {
                        "model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": previous}
                    },
                }
            },
        )
    )
    before = monitoring.ResolveServingModel(pb.ResolveServingModelRequest(model_version=ref))
    assert not before.rolled_back and before.model_version_id == current
    assert before.serve.digest.digests["sha256"] == "2" * 64
    # Served now, drifted: the schedule measures the last hour and evaluates the policy.
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record(monitoring, current, [(f"d{i}", 77.0, "gold", LABEL) for i in range(30)], now)
    assert monitored.monitor is not None and monitored.monitor.run_once() == 1
    after = monitoring.ResolveServingModel(pb.ResolveServingModelRequest(model_version=ref))
    assert after.rolled_back and after.model_version_id == previous
    assert after.serve.model_version.id == previous and after.serve.digest.digests["sha256"] == (
        "1" * 64
    )
    assert after.alert.action_taken == alert_pb2.ALERT_ACTION_ROLLED_BACK
    assert after.policy.rollback_count == 1
    # The rollback is a serving report in lineage: rolled-back version -> report -> target.
    graph = stubs.lifecycle.GetLineage(
        make(
            lc.GetLineageRequest,
            {"start": ref, "direction": "LINEAGE_DIRECTION_DOWNSTREAM", "max_depth": 2},
        )
    ).graph
    reports = [
        n for n in graph.nodes if n.resource.kind == reference_pb2.RESOURCE_KIND_STAGE_REPORT
    ]
    serving = [
        stubs.lifecycle.GetStageReport(lc.GetStageReportRequest(id=n.resource.id)).stage_report
        for n in reports
    ]
    (rollback,) = [r for r in serving if r.HasField("model_serving")]
    assert rollback.model_serving.rollout_result == 3  # ROLLOUT_RESULT_ROLLED_BACK
    # A complete serving report: the version rolled back, where (no serving report of it
    # names an endpoint here) and under which model name.
    done = rollback.model_serving
    assert (done.model.id, done.rolled_back_to_revision) == (current, previous)
    assert (done.model_name, done.endpoint.uri) == ("churn", f"urn:mlspec:model-version:{current}")
    assert {n.resource.id for n in graph.nodes} >= {current, rollback.meta.id, previous}
    # The target has no evaluation: the gate would refuse it, so the rollback records the
    # policy's standing override, visible like any other.
    assert rollback.deployment_gate.decision == 3  # DEPLOYMENT_GATE_DECISION_OVERRIDDEN
    assert rollback.deployment_approval.approver.name.startswith("rollback policy ")
    assert rollback.deployment_approval.override
    # Another round keeps the rollback (one alert, fired again; one serving report).
    monitored.monitor.run_once()
    again = monitoring.ResolveServingModel(pb.ResolveServingModelRequest(model_version=ref))
    assert again.alert.meta.id == after.alert.meta.id and again.rolled_back
    # Resolving the alert ends the rollback: the version is served again.
    alert = again.alert
    alert.state = alert_pb2.ALERT_STATE_RESOLVED
    monitoring.UpdateAlert(pb.UpdateAlertRequest(alert=alert, update_mask={"paths": ["state"]}))
    ended = monitoring.ResolveServingModel(pb.ResolveServingModelRequest(model_version=ref))
    assert not ended.rolled_back and ended.model_version_id == current


def test_bad_requests(stubs: Stubs, monitoring: Any) -> None:
    _, current = trained_models(stubs)
    ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current}
    for request, code in (
        (make(pb.ComputeDriftRequest, {}), grpc.StatusCode.INVALID_ARGUMENT),
        (
            make(pb.ComputeDriftRequest, {"model_version": ref, "psi_threshold": -1}),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            make(
                pb.ComputeDriftRequest,
                {
                    "model_version": ref,
                    "window": {
                        "start_time": "2026-11-27T12:00:00Z",
                        "end_time": "2026-11-27T11:00:00Z",
                    },
                },
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            make(pb.ComputeDriftRequest, {"model_version": ref, "features": ["nope"]}),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            make(
                pb.ComputeDriftRequest,
                {"model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": "nope"}},
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            monitoring.ComputeDrift(request)
        assert caught.value.code() == code
    with pytest.raises(grpc.RpcError) as caught:
        monitoring.EvaluateRollback(
            pb.EvaluateRollbackRequest(
                model_version=make(pb.EvaluateRollbackRequest, {"model_version": ref}).model_version
            )
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # no policy protects it
    with pytest.raises(grpc.RpcError) as caught:
        monitoring.ComputeLivePerformance(
            make(pb.ComputeLivePerformanceRequest, {"model_version": ref, "step": "0.001s"})
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_drift_reads_predictions_back_where_their_counts_do_not_fit(
    stubs: Stubs, monitoring: Any
) -> None:
    _, current = trained_models(stubs)
    ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current}
    rows = [(f"r{i}", 5.0 + 10.0 * (i % 8), "gold", LABEL) for i in range(16)]
    record(monitoring, current, rows, "2026-11-27T10:30:00Z")

    def age_psi(window: dict[str, str]) -> tuple[float, int]:
        computed = monitoring.ComputeDrift(
            make(
                pb.ComputeDriftRequest,
                {"model_version": ref, "window": window, "features": ["age"], "dry_run": True},
            )
        )
        (psi,) = [s for s in computed.signals if s.comparator == 3]
        return psi.value, computed.sample_count

    counted = age_psi(WINDOW)  # whole minutes: the counts kept as the predictions arrived
    edge = age_psi({"start_time": "2026-11-27T10:29:30Z", "end_time": "2026-11-27T10:30:30Z"})
    assert counted == edge
    assert counted[0] == pytest.approx(expected_psi([4, 4, 4, 4], AGE_COUNTS))
    assert counted[1] == 16
    # A newer analysis of the training data brings other buckets: the minute counted on
    # the old ones is read back and counted on the new ones.
    report = stubs.lifecycle.ListStageReports(
        make(lc.ListStageReportsRequest, {"filter": "stage = LIFECYCLE_STAGE_DATA_ANALYSIS"})
    ).stage_reports[0]
    newer = lc.ReportStageRequest()
    newer.stage_report.CopyFrom(report)
    newer.stage_report.ClearField("meta")
    buckets = newer.stage_report.data_analysis.statistics[0].features[0].num_stats.histograms[0]
    del buckets.buckets[:]
    buckets.buckets.add(low_value=0, high_value=50, sample_count=900)
    buckets.buckets.add(low_value=50, high_value=100, sample_count=100)
    stubs.lifecycle.ReportStage(newer)
    value, seen = age_psi(WINDOW)
    assert value == pytest.approx(expected_psi([10, 6], [900, 100])) and seen == 16


def test_promised_refusals(stubs: Stubs, monitoring: Any) -> None:
    untrained = stubs.models.CreateModelVersion(
        make(
            models.CreateModelVersionRequest,
            {
                "model_version": {
                    "model_id": stubs.models.CreateModel(
                        make(models.CreateModelRequest, {"model": {"meta": {"name": "bare"}}})
                    ).model.meta.id,
                    "version": {"major": 1},
                    "artifact": {"uri": "s3://m", "digest": {"digests": {"sha256": "b" * 64}}},
                }
            },
        )
    ).model_version
    ref = {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": untrained.meta.id}
    with pytest.raises(grpc.RpcError) as caught:
        monitoring.ComputeDrift(make(pb.ComputeDriftRequest, {"model_version": ref}))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for request in (
        pb.ResolveServingModelRequest(),
        make(
            pb.ResolveServingModelRequest,
            {"model_version": {"kind": "RESOURCE_KIND_MODEL", "id": "x"}},
        ),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            monitoring.ResolveServingModel(request)
        assert caught.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    with pytest.raises(grpc.RpcError) as caught:
        monitoring.ResolveServingModel(
            make(
                pb.ResolveServingModelRequest,
                {"model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": "nope"}},
            )
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # Each watch holds a server thread while it waits: the fifth is refused.
    monitoring.CreateAlert(
        make(
            pb.CreateAlertRequest,
            {
                "alert": {
                    "severity": "ALERT_SEVERITY_INFO",
                    "condition": {
                        "signal_type": "SIGNAL_TYPE_DRIFT",
                        "threshold": {"value_threshold": {"upper_bound": 0.2}},
                    },
                    "model_version": ref,
                }
            },
        )
    )
    watches = [monitoring.WatchAlerts(pb.WatchAlertsRequest(), timeout=30) for _ in range(4)]
    assert all(next(w).alert.model_version.id == untrained.meta.id for w in watches)
    with pytest.raises(grpc.RpcError) as caught:
        next(monitoring.WatchAlerts(pb.WatchAlertsRequest(), timeout=30))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for watch in watches:
        watch.cancel()
