"""Signals the service computes itself: feature drift and live performance (stage 12).

``compute_drift`` and ``compute_performance`` measure a model version over a window
(``drift``, ``performance``), judge the values against the thresholds (the request's,
else the model version's rollback-policy triggers', else defaults) and against the
previous model version, and store them through ``signals.report`` like reported signals,
so that rollback triggers see them. A failing signal no rollback policy watches raises
an alert of its own (``alerts.fire_unwatched``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mlspec import errors
from mlspec.common.v1 import reference_pb2, threshold_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.resources import ACTIVE, DEPRECATED, Loaded, Resources
from mlspec.domain.monitoring import alerts, drift, performance, serving_stats
from mlspec.domain.monitoring.records import micros
from mlspec.domain.monitoring.signals import policies, report
from mlspec.monitoring.v1 import alert_pb2, signals_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb

K = reference_pb2.ResourceKind
C = signals_pb2.DriftComparator
HOUR = 3600 * 1_000_000
DAY = 24 * HOUR
DEFAULT_PSI = 0.2
DEFAULT_JS_DISTANCE = 0.1
MAX_WINDOWS = 1000


def _window(window: signals_pb2.TimeWindow, default_length: int, path: str) -> tuple[int, int]:
    end = micros(window.end_time) if window.HasField("end_time") else now_micros()
    start = micros(window.start_time) if window.HasField("start_time") else end - default_length
    if end < start:
        raise errors.invalid(f"{path}.end_time", "is before start_time")
    return start, end


def _time_window(start: int, end: int) -> signals_pb2.TimeWindow:
    window = signals_pb2.TimeWindow()
    window.start_time.CopyFrom(micros_to_timestamp(start))
    window.end_time.CopyFrom(micros_to_timestamp(end))
    return window


def _model_ref(model_id: str) -> reference_pb2.ResourceRef:
    return reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_MODEL_VERSION, id=model_id)


def _drift_triggers(res: Resources, model_id: str) -> list[alert_pb2.RollbackTrigger]:
    """The drift triggers of the model version's active rollback policies."""
    return [
        t
        for p in policies(res, model_id)
        if isinstance(p.message, alert_pb2.RollbackPolicy)
        for t in p.message.triggers
        if t.condition.signal_type == signals_pb2.SIGNAL_TYPE_DRIFT
    ]


def _policy_bound(
    triggers: list[alert_pb2.RollbackTrigger], comparator: int, feature: str
) -> float | None:
    """The smallest upper bound of the drift triggers that match a feature and comparator."""
    bounds = [
        t.condition.threshold.value_threshold.upper_bound
        for t in triggers
        if t.condition.signal_type == signals_pb2.SIGNAL_TYPE_DRIFT
        and t.condition.signal_name in ("", feature)
        and t.condition.comparator in (C.DRIFT_COMPARATOR_UNSPECIFIED, comparator)
        and t.condition.threshold.value_threshold.HasField("upper_bound")
    ]
    return min(bounds) if bounds else None


def compute_drift(
    res: Resources, model: Loaded, request: pb.ComputeDriftRequest
) -> pb.ComputeDriftResponse:
    """Each feature's PSI and Jensen-Shannon distance over the window, as drift signals."""
    for name in ("psi_threshold", "js_distance_threshold"):
        if request.HasField(name) and getattr(request, name) < 0:
            raise errors.invalid(name, "must not be negative")
    start, end = _window(request.window, HOUR, "window")
    baseline = drift.baseline_of(res, model)
    unknown = [f for f in request.features if f not in baseline.features]
    if unknown:
        raise errors.invalid(
            "features", f"the training statistics have no buckets for {', '.join(unknown)}"
        )
    model_id = model.record.id
    counts, seen = serving_stats.counts(
        res, baseline, model_id, start, end, request.deployment_endpoint, request.features
    )
    response = pb.ComputeDriftResponse(sample_count=seen)
    response.statistics_report.kind = K.RESOURCE_KIND_STAGE_REPORT
    response.statistics_report.id = baseline.report_id
    for name in baseline.skipped:
        res.scope.warn(
            "FEATURE_WITHOUT_BUCKETS", f"feature {name!r} has no histogram or top values"
        )
    now = micros_to_timestamp(now_micros())
    triggers = _drift_triggers(res, model_id)
    computed = []
    for name in sorted(counts):
        served = counts[name]
        if not sum(served):
            response.missing_features.append(name)
            continue
        buckets = baseline.features[name]
        for comparator, value, field, default in (
            (
                C.DRIFT_COMPARATOR_POPULATION_STABILITY_INDEX,
                drift.psi,
                "psi_threshold",
                DEFAULT_PSI,
            ),
            (
                C.DRIFT_COMPARATOR_JENSEN_SHANNON_DISTANCE,
                drift.js_distance,
                "js_distance_threshold",
                DEFAULT_JS_DISTANCE,
            ),
        ):
            threshold = (
                getattr(request, field)
                if request.HasField(field)  # type: ignore[arg-type]
                else _policy_bound(triggers, comparator, name)
            )
            signal = signals_pb2.DriftSignal(
                model=_model_ref(model_id),
                deployment_endpoint=request.deployment_endpoint,
                target=signals_pb2.DRIFT_TARGET_FEATURE,
                feature=name,
                comparator=comparator,
                value=value(served, buckets.baseline),
                threshold=default if threshold is None else threshold,
                window=_time_window(start, end),
                sample_count=int(sum(served)),
                top_contributor=drift.top_contributor(buckets, served),
                compute_time=now,
            )
            signal.baseline.training_data.kind = K.RESOURCE_KIND_DATASET_VERSION
            signal.baseline.training_data.id = baseline.dataset_version_id
            computed.append(signal)
    if computed:  # else no prediction of the window carried a feature
        _store(
            res,
            model_id,
            computed,
            signals_pb2.SIGNAL_TYPE_DRIFT,
            request,
            response,
            _drift_condition,
        )
    return response


def _store(
    res: Resources,
    model_id: str,
    computed: Sequence[Any],
    signal_type: int,
    request: pb.ComputeDriftRequest | pb.ComputeLivePerformanceRequest,
    response: pb.ComputeDriftResponse | pb.ComputeLivePerformanceResponse,
    condition_of: Callable[[Any], alert_pb2.SignalCondition],
) -> None:
    """Stores the computed signals like reported ones (not on a dry run) into ``response``.

    The response gets the stored signals, the alerts of the rollback policies they
    trip and, unless a dry run, an alert for each failing signal no policy watches.
    """
    stored, raised = report(
        res, computed, signal_type, "signals", dry_run=request.dry_run, computed=True
    )
    response.signals.extend(stored)
    response.alerts.extend(raised)
    if not request.dry_run:
        response.alerts.extend(
            _unwatched(res, model_id, stored, raised, request.deployment_endpoint, condition_of)
        )


def _drift_condition(signal: Any) -> alert_pb2.SignalCondition:
    condition = alert_pb2.SignalCondition(
        signal_type=signals_pb2.SIGNAL_TYPE_DRIFT,
        signal_name=signal.feature,
        comparator=signal.comparator,
    )
    condition.threshold.value_threshold.upper_bound = signal.threshold
    return condition


def _performance_condition(signal: Any) -> alert_pb2.SignalCondition:
    condition = alert_pb2.SignalCondition(
        signal_type=signals_pb2.SIGNAL_TYPE_PERFORMANCE, signal_name=signal.metric
    )
    condition.threshold.CopyFrom(signal.objective_threshold)
    if signal.HasField("previous_model_threshold"):
        condition.threshold.change_threshold.CopyFrom(signal.previous_model_threshold)
    return condition


def _unwatched(
    res: Resources,
    model_id: str,
    stored: Sequence[Any],
    raised: Sequence[alert_pb2.Alert],
    endpoint: str,
    condition_of: Any,
) -> list[alert_pb2.Alert]:
    """Alerts for the failing signals that no rollback policy's alert already covers."""
    covered = {s for a in raised for s in a.signal_ids}
    found = []
    for signal in stored:
        failing = T.THRESHOLD_OUTCOME_FAILED in (
            getattr(signal, "outcome", 0),
            getattr(signal, "objective_outcome", 0),
            getattr(signal, "previous_model_outcome", 0),
        )
        if failing and signal.signal_id not in covered:
            found.append(
                alerts.fire_unwatched(res, model_id, signal, condition_of(signal), endpoint)
            )
    return found


T = threshold_pb2.ThresholdOutcome


def previous_version(res: Resources, model: Loaded) -> Loaded | None:
    """The newest version of the same model created before this one."""
    scope = model.record.scope
    query = res.query(K.RESOURCE_KIND_MODEL_VERSION, scope=scope, statuses=(ACTIVE, DEPRECATED))
    earlier = [r for r in res.list_page(query).records if r.create_time < model.record.create_time]
    if not earlier:
        return None
    newest = max(earlier, key=lambda r: r.create_time)
    return res.get(K.RESOURCE_KIND_MODEL_VERSION, newest.id)


def _measure(
    res: Resources, model_id: str, start: int, end: int, endpoint: str
) -> tuple[list[performance.Pair], int]:
    predictions = list(drift.final_predictions(res, model_id, start, end, endpoint))
    truths = performance.ground_truth(res, start, {p.request_id for p in predictions})
    return list(performance.join(predictions, truths)), len(predictions)


def compute_performance(
    res: Resources,
    model: Loaded,
    request: pb.ComputeLivePerformanceRequest,
) -> pb.ComputeLivePerformanceResponse:
    """The live metrics of each sub-window, against thresholds and the previous version."""
    start, end = _window(request.window, DAY, "window")
    step = request.step.ToMicroseconds() if request.HasField("step") else end - start
    if step <= 0 or (end - start) / max(step, 1) > MAX_WINDOWS:
        raise errors.invalid("step", f"must be positive and make at most {MAX_WINDOWS} windows")
    model_id = model.record.id
    previous = (
        res.resolve(request.previous_model_version, "previous_model_version", for_use=False)
        if request.HasField("previous_model_version")
        else previous_version(res, model)
    )
    pairs, count = _measure(res, model_id, start, end, request.deployment_endpoint)
    before: list[performance.Pair] = []
    if previous is not None:
        before, _ = _measure(res, previous.record.id, start, end, request.deployment_endpoint)
    response = pb.ComputeLivePerformanceResponse(labelled_count=len(pairs), prediction_count=count)
    if count and not pairs:
        res.scope.warn(
            "NO_GROUND_TRUTH", "no prediction of the window has a ground-truth label yet"
        )
    now = micros_to_timestamp(now_micros())
    computed = []
    at = start
    while at < end:
        until = min(at + step, end)
        current = performance.metrics([p for p in pairs if at <= p.time < until])
        earlier = performance.metrics([p for p in before if at <= p.time < until])
        for metric in sorted(current):
            signal = signals_pb2.PerformanceSignal(
                model=_model_ref(model_id),
                deployment_endpoint=request.deployment_endpoint,
                metric=metric,
                value=current[metric],
                window=_time_window(at, until),
                sample_count=sum(1 for p in pairs if at <= p.time < until),
                direction=performance.DIRECTIONS[metric],
                compute_time=now,
            )
            if metric in request.thresholds:
                signal.objective_threshold.CopyFrom(request.thresholds[metric])
            if previous is not None and metric in earlier:
                signal.previous_model.CopyFrom(_model_ref(previous.record.id))
                signal.previous_model_value = earlier[metric]
                if metric in request.previous_model_thresholds:
                    change = threshold_pb2.ChangeThreshold()
                    change.CopyFrom(request.previous_model_thresholds[metric])
                    change.direction = performance.DIRECTIONS[metric]
                    signal.previous_model_threshold.CopyFrom(change)
            computed.append(signal)
        at = until
    if computed:
        _store(
            res,
            model_id,
            computed,
            signals_pb2.SIGNAL_TYPE_PERFORMANCE,
            request,
            response,
            _performance_condition,
        )
    return response
