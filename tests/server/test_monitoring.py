"""Stage 12: predictions, feedback, signals, alerts and rollback decisions."""

from __future__ import annotations

import grpc
import pytest

from mlspec.models.v1 import models_service_pb2 as models
from mlspec.monitoring.v1 import alert_pb2, monitoring_service_pb2_grpc
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb

from .conftest import Stubs
from .messages import make


def model_version(stubs: Stubs, major: int) -> str:
    model = stubs.models.CreateModel(
        make(models.CreateModelRequest, {"model": {"meta": {"name": f"m{major}"}}})
    ).model
    created = stubs.models.CreateModelVersion(
        make(
            models.CreateModelVersionRequest,
            {
                "model_version": {
                    "model_id": model.meta.id,
                    "version": {"major": major},
                    "artifact": {"uri": "s3://m", "digest": {"digests": {"sha256": "a" * 64}}},
                }
            },
        )
    ).model_version
    return str(created.meta.id)


def drift(model_id: str, value: float, when: str = "2026-11-27T10:00:00Z") -> dict[str, object]:
    return {
        "model": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": model_id},
        "target": "DRIFT_TARGET_FEATURE",
        "feature": "age",
        "comparator": "DRIFT_COMPARATOR_JENSEN_SHANNON_DIVERGENCE",
        "value": value,
        "threshold": 0.1,
        "baseline": {
            "previous_window": {
                "start_time": "2026-11-26T00:00:00Z",
                "end_time": "2026-11-27T00:00:00Z",
            }
        },
        "window": {"start_time": "2026-11-27T09:00:00Z", "end_time": "2026-11-27T10:00:00Z"},
        "compute_time": when,
    }


def test_failing_drift_raises_an_alert_and_triggers_a_rollback(
    channel: grpc.Channel, stubs: Stubs
) -> None:
    monitoring = monitoring_service_pb2_grpc.MonitoringServiceStub(channel)
    current, previous = model_version(stubs, 2), model_version(stubs, 1)
    policy = monitoring.CreateRollbackPolicy(
        make(
            pb.CreateRollbackPolicyRequest,
            {
                "rollback_policy": {
                    "meta": {"name": "age-drift"},
                    "model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current},
                    "triggers": [
                        {
                            "name": "age",
                            "condition": {
                                "signal_type": "SIGNAL_TYPE_DRIFT",
                                "signal_name": "age",
                                "duration": "7200s",
                                "threshold": {"value_threshold": {"upper_bound": 0.1}},
                            },
                        }
                    ],
                    "target": {
                        "model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": previous}
                    },
                    "mode": "ROLLBACK_MODE_AUTOMATIC",
                    "cooldown": "86400s",
                }
            },
        )
    ).rollback_policy
    calm = monitoring.ReportDriftSignals(
        make(
            pb.ReportDriftSignalsRequest,
            {"signals": [drift(current, 0.05, "2026-11-27T09:30:00Z")]},
        )
    )
    assert calm.signals[0].outcome == 1 and not calm.alerts  # PASSED
    evaluate = make(
        pb.EvaluateRollbackRequest,
        {
            "model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current},
            "evaluate_time": "2026-11-27T10:05:00Z",
        },
    )
    assert monitoring.EvaluateRollback(evaluate).decision == pb.ROLLBACK_DECISION_KEEP
    stormy = monitoring.ReportDriftSignals(
        make(pb.ReportDriftSignalsRequest, {"signals": [drift(current, 0.3)]})
    )
    assert stormy.signals[0].outcome == 2  # FAILED
    assert [a.state for a in stormy.alerts] == [alert_pb2.ALERT_STATE_FIRING]
    assert stormy.alerts[0].rollback_policy.id == policy.meta.id and stormy.alerts[
        0
    ].signal_ids == [stormy.signals[0].signal_id]
    failing = monitoring.ListSignals(pb.ListSignalsRequest(only_failing=True))
    assert [s.drift.signal_id for s in failing.signals] == [stormy.signals[0].signal_id]
    decided = monitoring.EvaluateRollback(evaluate)
    assert (
        decided.decision == pb.ROLLBACK_DECISION_ROLLBACK
        and decided.target.model_version.id == previous
    )
    assert decided.policy.rollback_count == 1
    again = monitoring.EvaluateRollback(evaluate)
    assert again.decision == pb.ROLLBACK_DECISION_KEEP and "cooling down" in again.reason


def test_predictions_and_feedback(channel: grpc.Channel, stubs: Stubs) -> None:
    monitoring = monitoring_service_pb2_grpc.MonitoringServiceStub(channel)
    current = model_version(stubs, 3)
    request = {
        "application_id": "churn-app",
        "request_id": "r1",
        "request_time": "2026-11-27T10:00:00Z",
    }

    def prediction(pid: str, final: bool) -> dict[str, object]:
        return {
            "application_id": "churn-app",
            "request_id": "r1",
            "prediction_id": pid,
            "model": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current},
            "request_time": "2026-11-27T10:00:00Z",
            "prediction": {"double_value": 0.7},
            "final": final,
        }

    with pytest.raises(grpc.RpcError) as err:
        monitoring.RecordPredictions(
            make(
                pb.RecordPredictionsRequest,
                {
                    "requests": [request],
                    "predictions": [prediction("a", True), prediction("b", True)],
                },
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    done = monitoring.RecordPredictions(
        make(
            pb.RecordPredictionsRequest,
            {
                "requests": [request],
                "predictions": [prediction("a", False), prediction("ens", True)],
            },
        )
    )
    assert (done.accepted_request_count, done.accepted_prediction_count) == (1, 2)
    with pytest.raises(grpc.RpcError) as err:
        monitoring.RecordPredictions(make(pb.RecordPredictionsRequest, {"requests": [request]}))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    feedback = {
        "application_id": "churn-app",
        "request_id": "r1",
        "prediction_id": "ens",
        "usefulness": 0.9,
        "feedback_time": "2026-11-27T11:00:00Z",
    }
    assert (
        monitoring.RecordFeedback(
            make(pb.RecordFeedbackRequest, {"feedback": [feedback]})
        ).accepted_count
        == 1
    )
    with pytest.raises(grpc.RpcError) as err:
        monitoring.RecordFeedback(
            make(pb.RecordFeedbackRequest, {"feedback": [{**feedback, "prediction_id": "nope"}]})
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_list_signals_filters_orders_and_pages(channel: grpc.Channel, stubs: Stubs) -> None:
    monitoring = monitoring_service_pb2_grpc.MonitoringServiceStub(channel)
    current = model_version(stubs, 7)
    values = [0.05, 0.3, 0.02, 0.4, 0.5]
    monitoring.ReportDriftSignals(
        make(
            pb.ReportDriftSignalsRequest,
            {
                "signals": [
                    drift(current, v, f"2026-11-27T10:0{i}:00Z") for i, v in enumerate(values)
                ]
            },
        )
    )

    def every_page(request: pb.ListSignalsRequest) -> list[float]:
        seen: list[float] = []
        while True:
            response = monitoring.ListSignals(request)
            seen += [s.drift.value for s in response.signals]
            if not response.next_page_token:
                return seen
            request.page_token = response.next_page_token

    assert every_page(pb.ListSignalsRequest(page_size=2)) == values[::-1]
    assert every_page(pb.ListSignalsRequest(page_size=2, order_by="compute_time")) == values
    failed = every_page(
        pb.ListSignalsRequest(
            page_size=1,
            order_by="compute_time asc",
            filter="drift.outcome = THRESHOLD_OUTCOME_FAILED AND drift.value < 0.45",
        )
    )
    assert failed == [0.3, 0.4]
    assert every_page(pb.ListSignalsRequest(filter="performance:*")) == []
    late = every_page(pb.ListSignalsRequest(filter='drift.compute_time >= "2026-11-27T10:03:00Z"'))
    assert late == [0.5, 0.4]
    for bad in (
        pb.ListSignalsRequest(filter="drift.colour = 1"),
        pb.ListSignalsRequest(filter="drift.outcome = NOT_AN_OUTCOME"),
        pb.ListSignalsRequest(order_by="value"),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            monitoring.ListSignals(bad)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_rollback_sees_a_failing_signal_behind_many_passing_ones(
    channel: grpc.Channel, stubs: Stubs
) -> None:
    monitoring = monitoring_service_pb2_grpc.MonitoringServiceStub(channel)
    current, previous = model_version(stubs, 8), model_version(stubs, 9)
    monitoring.CreateRollbackPolicy(
        make(
            pb.CreateRollbackPolicyRequest,
            {
                "rollback_policy": {
                    "meta": {"name": "any-drift"},
                    "model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current},
                    "triggers": [
                        {
                            "condition": {
                                "signal_type": "SIGNAL_TYPE_DRIFT",
                                "duration": "7200s",
                                "threshold": {"value_threshold": {"upper_bound": 0.1}},
                            }
                        }
                    ],
                    "target": {
                        "model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": previous}
                    },
                    "mode": "ROLLBACK_MODE_AUTOMATIC",
                }
            },
        )
    )
    signals = [drift(current, 0.9, "2026-11-27T09:00:00Z")]
    signals += [
        drift(current, 0.01, f"2026-11-27T09:{m:02d}:{s:02d}Z")
        for m in range(1, 60)
        for s in range(0, 60, 3)
    ][:1100]
    for start in range(0, len(signals), 1000):
        monitoring.ReportDriftSignals(
            make(pb.ReportDriftSignalsRequest, {"signals": signals[start : start + 1000]})
        )
    decided = monitoring.EvaluateRollback(
        make(
            pb.EvaluateRollbackRequest,
            {
                "model_version": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": current},
                "evaluate_time": "2026-11-27T10:00:00Z",
                "dry_run": True,
            },
        )
    )
    assert decided.decision == pb.ROLLBACK_DECISION_ROLLBACK
    evaluation = decided.trigger_evaluations[0]
    assert evaluation.outcome == 2  # FAILED
    assert evaluation.observed_value == pytest.approx(0.01)  # the newest signal's value
