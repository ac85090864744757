"""Monitoring signals: their outcomes against thresholds, and the alerts they raise.

Reporting a signal computes its outcome (drift above its threshold; a performance value
outside its objective threshold or worse than the previous model's by more than the
change threshold; a component that is not serving) and, when it fails, raises an alert
for every trigger of an active rollback policy of the same model version that the
signal matches.
"""

from __future__ import annotations

import uuid
from typing import Any

from mlspec import errors
from mlspec.common.v1 import reference_pb2, threshold_pb2
from mlspec.domain.common.resources import ACTIVE, DEPRECATED, Loaded, Resources
from mlspec.domain.monitoring.alerts import fire
from mlspec.domain.monitoring.event_kinds import SIGNAL_KIND
from mlspec.domain.monitoring.records import limit, micros, model_id_of, require
from mlspec.monitoring.v1 import alert_pb2, signals_pb2
from mlspec.query import Comparison
from mlspec.store.api import EventRow, FieldSpec

K = reference_pb2.ResourceKind
T = threshold_pb2.ThresholdOutcome


def _threshold_outcome(
    value: float, threshold: threshold_pb2.MetricThreshold, previous: float | None
) -> int:
    vt, ct = threshold.value_threshold, threshold.change_threshold
    if not threshold.HasField("value_threshold") and not threshold.HasField("change_threshold"):
        return T.THRESHOLD_OUTCOME_UNSPECIFIED
    ok = True
    if vt.HasField("lower_bound") and value < vt.lower_bound:
        ok = False
    if vt.HasField("upper_bound") and value > vt.upper_bound:
        ok = False
    if (
        threshold.HasField("change_threshold")
        and previous is not None
        and not _change_ok(value, previous, ct)
    ):
        ok = False
    return T.THRESHOLD_OUTCOME_PASSED if ok else T.THRESHOLD_OUTCOME_FAILED


def _change_ok(value: float, previous: float, ct: threshold_pb2.ChangeThreshold) -> bool:
    worse = (
        previous - value
        if ct.direction == threshold_pb2.DIRECTION_HIGHER_IS_BETTER
        else value - previous
    )
    if ct.HasField("absolute") and worse > ct.absolute:
        return False
    return not (ct.HasField("relative") and previous and worse / abs(previous) > ct.relative)


def _check_window(window: signals_pb2.TimeWindow, path: str) -> None:
    if (
        window.HasField("start_time")
        and window.HasField("end_time")
        and micros(window.end_time) < micros(window.start_time)
    ):
        raise errors.invalid(f"{path}.window", "ends before it starts")


def report(
    res: Resources,
    items: Any,
    signal_type: int,
    path: str,
    *,
    dry_run: bool = False,
    computed: bool = False,
) -> tuple[list[Any], list[alert_pb2.Alert]]:
    """Stores signals with their computed outcomes; raises alerts for failing ones.

    Returns the stored signals and the alerts raised (one per matching trigger of an
    active rollback policy of the signal's model version). A ``dry_run`` only computes
    the outcomes: it stores nothing and raises no alert. ``computed`` signals are the
    service's own: their required fields are known to be set (a value may be 0, which a
    client-sent proto3 double cannot tell from unset).
    """
    if not items:
        raise errors.invalid(path, "holds no signals")
    limit(items, path)
    stored: list[Any] = []
    rows = []
    failing_by_model: dict[str, list[Any]] = {}
    for i, incoming in enumerate(items):
        signal = type(incoming)()
        signal.CopyFrom(incoming)
        item_path = f"{path}[{i}]"
        if not computed:
            require(signal, item_path)
        if not dry_run:
            signal.signal_id = uuid.uuid4().hex
        name = ""
        if signal_type == signals_pb2.SIGNAL_TYPE_DRIFT:
            _check_window(signal.window, item_path)
            signal.outcome = (
                T.THRESHOLD_OUTCOME_FAILED
                if signal.value > signal.threshold
                else T.THRESHOLD_OUTCOME_PASSED
            )
            failing, name, time = (
                signal.outcome == T.THRESHOLD_OUTCOME_FAILED,
                signal.feature,
                signal.compute_time,
            )
        elif signal_type == signals_pb2.SIGNAL_TYPE_PERFORMANCE:
            _check_window(signal.window, item_path)
            previous = (
                signal.previous_model_value if signal.HasField("previous_model_value") else None
            )
            signal.objective_outcome = _threshold_outcome(
                signal.value, signal.objective_threshold, None
            )
            if previous is not None and signal.HasField("previous_model_threshold"):
                change_ok = _change_ok(signal.value, previous, signal.previous_model_threshold)
                signal.previous_model_outcome = (
                    T.THRESHOLD_OUTCOME_PASSED if change_ok else T.THRESHOLD_OUTCOME_FAILED
                )
            failing = T.THRESHOLD_OUTCOME_FAILED in (
                signal.objective_outcome,
                signal.previous_model_outcome,
            )
            name, time = signal.metric, signal.compute_time
        else:
            failing = signal.status != signals_pb2.SERVING_STATUS_SERVING
            name, time = signal.component, signal.check_time
        model_id = (
            model_id_of(res, signal.model, f"{item_path}.model") if signal.HasField("model") else ""
        )
        deployment = getattr(signal, "deployment_endpoint", "") or getattr(signal, "endpoint", "")
        rows.append(
            EventRow(
                SIGNAL_KIND[signal_type],
                signal.signal_id,
                micros(time),
                signal.SerializeToString(),
                model_id,
                deployment,
                name,
                failing,
            )
        )
        stored.append(signal)
        if failing and model_id:
            failing_by_model.setdefault(model_id, []).append((signal, name, deployment))
    if dry_run:
        return stored, []
    res.append_events(rows)
    alerts = []
    for model_id, failures in failing_by_model.items():
        for policy in policies(res, model_id):
            assert isinstance(policy.message, alert_pb2.RollbackPolicy)
            for trigger in policy.message.triggers:
                condition = trigger.condition
                matched = [
                    (s, n, d)
                    for s, n, d in failures
                    if condition.signal_type in (signal_type, signals_pb2.SIGNAL_TYPE_UNSPECIFIED)
                    and condition.signal_name in ("", n)
                ]
                if matched:
                    alerts.append(_raise_alert(res, policy, trigger, model_id, matched))
    return stored, alerts


def policies(res: Resources, model_id: str) -> list[Loaded]:
    """The active, not suspended rollback policies of a model version."""
    query = res.query(
        K.RESOURCE_KIND_ROLLBACK_POLICY,
        statuses=(ACTIVE, DEPRECATED),
        filter=Comparison(("model_version", "id"), "=", model_id),
        members={"model_version.id": FieldSpec("text")},
        page_size=100,
    )
    loaded = [res.get(K.RESOURCE_KIND_ROLLBACK_POLICY, r.id) for r in res.list_page(query).records]
    return [
        p
        for p in loaded
        if isinstance(p.message, alert_pb2.RollbackPolicy) and not p.message.suspended
    ]


def _raise_alert(
    res: Resources, policy: Loaded, trigger: Any, model_id: str, matched: list[Any]
) -> alert_pb2.Alert:
    alert = alert_pb2.Alert(severity=trigger.alert_severity or alert_pb2.ALERT_SEVERITY_WARNING)
    alert.condition.CopyFrom(trigger.condition)
    alert.model_version.kind = K.RESOURCE_KIND_MODEL_VERSION
    alert.model_version.id = model_id
    alert.deployment_endpoint = matched[0][2]
    alert.rollback_policy.kind = K.RESOURCE_KIND_ROLLBACK_POLICY
    alert.rollback_policy.id = policy.record.id
    alert.meta.description = f"rollback trigger {trigger.name or trigger.condition.signal_name!r} of policy {policy.record.name} failed"
    observed = float(getattr(matched[-1][0], "value", 0.0))
    return fire(res, alert, None, observed, [s.signal_id for s, _, _ in matched])
