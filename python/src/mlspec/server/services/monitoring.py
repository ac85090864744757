"""mlspec.monitoring.v1.MonitoringService: predictions, feedback, signals, rollback (stage 12).

Inference requests, predictions, feedback and signals are append-only records kept by
time; Alert and RollbackPolicy are resources (generic standard methods). Reporting a
signal computes its outcome and, when it fails, raises an alert for every trigger of an
active rollback policy of the same model version that the signal matches.
EvaluateRollback weighs a policy's triggers against the signals of their windows and
decides: keep, roll back (automatic mode) or ask for approval (manual mode).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sized
from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2, threshold_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common import field_behavior, message_filter
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.monitoring.v1 import alert_pb2, signals_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb
from mlspec.query import Comparison, parse_filter
from mlspec.server import paging
from mlspec.server.paging import encode_token
from mlspec.server.routes import CREATE, GET, LIST, UPDATE, read, write
from mlspec.store.api import EventRow, FieldSpec, ListQuery

SERVICE = "mlspec.monitoring.v1.MonitoringService"
K = reference_pb2.ResourceKind
T = threshold_pb2.ThresholdOutcome
MAX_ITEMS = 1000
REQUEST, PREDICTION, FEEDBACK = 1, 2, 3
DRIFT, PERFORMANCE, LIVENESS = 11, 12, 13
SIGNAL_KIND: dict[int, int] = {
    signals_pb2.SIGNAL_TYPE_DRIFT: DRIFT,
    signals_pb2.SIGNAL_TYPE_PERFORMANCE: PERFORMANCE,
    signals_pb2.SIGNAL_TYPE_LIVENESS: LIVENESS,
}
DEFAULT_WINDOW_MICROS = 3600 * 1_000_000


def _micros(stamp: Any) -> int:
    return int(stamp.ToMicroseconds())


def _limit(items: Sized, path: str) -> None:
    if len(items) > MAX_ITEMS:
        raise errors.too_many(path, len(items), MAX_ITEMS)


def _require(message: Message, path: str) -> None:
    field_behavior.clear_output_only(message)
    violations = field_behavior.missing_required(message, path)
    if violations:
        raise errors.InvalidArgument(
            f"{path} is incomplete", reason="INVALID_RECORD", violations=violations
        )


def _model_id(res: Resources, ref: reference_pb2.ResourceRef, path: str) -> str:
    return res.resolve(ref, path, for_use=False).record.id if ref.WhichOneof("target") else ""


def record_predictions(request: pb.RecordPredictionsRequest, res: Resources) -> Message:
    """Stores requests and their predictions (at most one final prediction per request)."""
    if not request.requests and not request.predictions:
        raise errors.invalid("requests", "send requests, predictions or both")
    _limit(request.requests, "requests")
    _limit(request.predictions, "predictions")
    rows = []
    in_call = set()
    for i, inference in enumerate(request.requests):
        _require(inference, f"requests[{i}]")
        in_call.add(inference.request_id)
        rows.append(
            EventRow(
                REQUEST,
                inference.request_id,
                _micros(inference.request_time),
                inference.SerializeToString(),
                deployment=inference.deployment_endpoint,
            )
        )
    finals: dict[str, int] = {}
    for i, prediction in enumerate(request.predictions):
        path = f"predictions[{i}]"
        item = prediction
        _require(item, path)
        if item.request_id not in in_call and not res.event_exists(REQUEST, item.request_id):
            raise errors.invalid(
                f"{path}.request_id", "names a request that is neither in this call nor recorded"
            )
        if item.final:
            finals[item.request_id] = finals.get(item.request_id, 0) + 1
            if finals[item.request_id] > 1:
                raise errors.invalid(f"{path}.final", "a request has at most one final prediction")
        key = f"{item.request_id}/{item.prediction_id or item.ensemble_member_id or i}"
        rows.append(
            EventRow(
                PREDICTION,
                key,
                _micros(item.request_time),
                item.SerializeToString(),
                model_version_id=_model_id(res, item.model, f"{path}.model"),
                deployment=item.deployment_endpoint,
                failing=False,
            )
        )
    res.append_events(rows)
    return pb.RecordPredictionsResponse(
        accepted_request_count=len(request.requests),
        accepted_prediction_count=len(request.predictions),
    )


def record_feedback(request: pb.RecordFeedbackRequest, res: Resources) -> Message:
    """Stores feedback on recorded predictions (or requests)."""
    if not request.feedback:
        raise errors.invalid("feedback", "holds no feedback")
    _limit(request.feedback, "feedback")
    rows = []
    for i, item in enumerate(request.feedback):
        path = f"feedback[{i}]"
        _require(item, path)
        if item.HasField("usefulness") and not 0.0 <= item.usefulness <= 1.0:
            raise errors.invalid(f"{path}.usefulness", "must be between 0 and 1")
        kind, key = (
            (PREDICTION, f"{item.request_id}/{item.prediction_id}")
            if item.prediction_id
            else (REQUEST, item.request_id)
        )
        if not res.event_exists(kind, key):
            raise errors.NotFound(
                f"{path}: no recorded prediction or request {key!r}", reason="RECORD_NOT_FOUND"
            )
        rows.append(
            EventRow(
                FEEDBACK,
                f"{key}#{uuid.uuid4().hex}",
                _micros(item.feedback_time),
                item.SerializeToString(),
            )
        )
    res.append_events(rows)
    return pb.RecordFeedbackResponse(accepted_count=len(rows))


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
        and _micros(window.end_time) < _micros(window.start_time)
    ):
        raise errors.invalid(f"{path}.window", "ends before it starts")


def _report(
    res: Resources, items: Any, signal_type: int, path: str
) -> tuple[list[Any], list[alert_pb2.Alert]]:
    if not items:
        raise errors.invalid(path, "holds no signals")
    _limit(items, path)
    stored: list[Any] = []
    rows = []
    failing_by_model: dict[str, list[Any]] = {}
    for i, incoming in enumerate(items):
        signal = type(incoming)()
        signal.CopyFrom(incoming)
        item_path = f"{path}[{i}]"
        _require(signal, item_path)
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
            _model_id(res, signal.model, f"{item_path}.model") if signal.HasField("model") else ""
        )
        deployment = getattr(signal, "deployment_endpoint", "") or getattr(signal, "endpoint", "")
        rows.append(
            EventRow(
                SIGNAL_KIND[signal_type],
                signal.signal_id,
                _micros(time),
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
    res.append_events(rows)
    alerts = []
    for model_id, failures in failing_by_model.items():
        for policy in _policies(res, model_id):
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


def _policies(res: Resources, model_id: str) -> list[Loaded]:
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=K.RESOURCE_KIND_ROLLBACK_POLICY,
        statuses=(1, 2),
        filter=Comparison(("model_version", "id"), "=", model_id),
        page_size=100,
        members={"model_version.id": FieldSpec("text")},
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

    def derive(message: alert_pb2.Alert) -> None:
        message.state = alert_pb2.ALERT_STATE_FIRING
        message.first_fire_time.CopyFrom(message.meta.create_time)
        message.last_fire_time.CopyFrom(message.meta.create_time)
        message.fire_count = 1
        message.observed_value = float(getattr(matched[-1][0], "value", 0.0))
        message.signal_ids.extend(s.signal_id for s, _, _ in matched)

    return res.create(alert, "alert", derive=derive)


def report_drift(request: pb.ReportDriftSignalsRequest, res: Resources) -> Message:
    """Stores drift signals with their outcomes; raises alerts for failing ones."""
    signals, alerts = _report(res, request.signals, signals_pb2.SIGNAL_TYPE_DRIFT, "signals")
    return pb.ReportDriftSignalsResponse(signals=signals, alerts=alerts)


def report_performance(request: pb.ReportPerformanceSignalsRequest, res: Resources) -> Message:
    """Stores performance signals with their outcomes; raises alerts for failing ones."""
    signals, alerts = _report(res, request.signals, signals_pb2.SIGNAL_TYPE_PERFORMANCE, "signals")
    return pb.ReportPerformanceSignalsResponse(signals=signals, alerts=alerts)


def report_liveness(request: pb.ReportLivenessSignalsRequest, res: Resources) -> Message:
    """Stores liveness observations; raises alerts for components that are not serving."""
    signals, alerts = _report(res, request.signals, signals_pb2.SIGNAL_TYPE_LIVENESS, "signals")
    return pb.ReportLivenessSignalsResponse(signals=signals, alerts=alerts)


_SIGNAL_FIELD = {DRIFT: "drift", PERFORMANCE: "performance", LIVENESS: "liveness"}
_SIGNAL_CLASS: dict[int, Any] = {
    DRIFT: signals_pb2.DriftSignal,
    PERFORMANCE: signals_pb2.PerformanceSignal,
    LIVENESS: signals_pb2.LivenessSignal,
}


def list_signals(request: pb.ListSignalsRequest, res: Resources) -> Message:
    """Lists stored signals by compute time, filtered by the typed fields and `filter`."""
    oldest_first = not paging.sort_descending(request.order_by, "compute_time", default=True)
    keep = message_filter.compile_filter(
        parse_filter(request.filter), signals_pb2.Signal.DESCRIPTOR
    )
    size = paging.page_size(request.page_size, 100)
    kinds = (
        [SIGNAL_KIND[request.signal_type]]
        if request.signal_type
        else [DRIFT, PERFORMANCE, LIVENESS]
    )
    fingerprint = paging.query_fingerprint(request)
    after = None
    if request.page_token:
        token = paging.token_fields(request.page_token, q=fingerprint)
        after = (paging.token_int(token, "t"), paging.token_int(token, "s"))
    model_id = (
        _model_id(res, request.model_version, "model_version")
        if request.HasField("model_version")
        else ""
    )

    def fetch(position: tuple[int, int] | None, limit: int) -> list[tuple[tuple[int, int], Any]]:
        rows = res.events_page(
            kinds,
            model_version_id=model_id,
            deployment=request.deployment_endpoint,
            start_time=_micros(request.start_time) if request.HasField("start_time") else None,
            end_time=_micros(request.end_time) if request.HasField("end_time") else None,
            only_failing=request.only_failing,
            after=position,
            oldest_first=oldest_first,
            limit=limit,
        )
        found = []
        for seq, kind, time, data in rows:
            signal = signals_pb2.Signal()
            getattr(signal, _SIGNAL_FIELD[kind]).CopyFrom(_SIGNAL_CLASS[kind].FromString(data))
            found.append(((time, seq), signal))
        return found

    signals, position = paging.scan_page(fetch, after, size, keep)
    response = pb.ListSignalsResponse(signals=signals)
    if position is not None:
        response.next_page_token = encode_token(
            {"q": fingerprint, "t": position[0], "s": position[1]}
        )
    return response


def evaluate_rollback(request: pb.EvaluateRollbackRequest, res: Resources) -> Message:
    """Weighs the triggers of the model version's policies against their signal windows."""
    model_id = _model_id(res, request.model_version, "model_version")
    if not model_id:
        raise errors.invalid("model_version", "is required")
    at = _micros(request.evaluate_time) if request.HasField("evaluate_time") else now_micros()
    response = pb.EvaluateRollbackResponse(
        decision=pb.ROLLBACK_DECISION_KEEP, reason="no policy trigger failed"
    )
    policies = [
        p
        for p in _policies(res, model_id)
        if not request.deployment_endpoint
        or getattr(p.message, "deployment_endpoint", "") in ("", request.deployment_endpoint)
    ]
    if not policies:
        response.reason = "no active rollback policy protects this model version"
        return response
    for policy in policies:
        message = policy.message
        assert isinstance(message, alert_pb2.RollbackPolicy)
        failed = []
        for trigger in message.triggers:
            condition = trigger.condition
            window = (
                condition.duration.ToMicroseconds()
                if condition.HasField("duration")
                else DEFAULT_WINDOW_MICROS
            )
            kinds = (
                [SIGNAL_KIND[condition.signal_type]]
                if condition.signal_type
                else [DRIFT, PERFORMANCE, LIVENESS]
            )
            window_of = (res, kinds, model_id, at - window, at + 1, condition.signal_name)
            failing = list(itertools.islice(_window_signals(*window_of, only_failing=True), 20))
            matching = list(itertools.islice(_window_signals(*window_of), 20))
            evaluation = response.trigger_evaluations.add(
                policy_id=policy.record.id, trigger=trigger
            )
            evaluation.outcome = (
                T.THRESHOLD_OUTCOME_FAILED
                if failing
                else (T.THRESHOLD_OUTCOME_PASSED if matching else T.THRESHOLD_OUTCOME_MISSING)
            )
            evaluation.signal_ids.extend(
                _SIGNAL_CLASS[k].FromString(d).signal_id for _, k, d in (failing or matching)[:20]
            )
            if matching:
                value = getattr(
                    _SIGNAL_CLASS[matching[0][1]].FromString(matching[0][2]), "value", None
                )
                if value is not None:
                    evaluation.observed_value = value
            if failing:
                failed.append(trigger.name or condition.signal_name or "trigger")
        if not failed:
            continue
        response.policy.CopyFrom(message)
        response.target.CopyFrom(message.target)
        cooling = (
            message.HasField("last_rollback_time")
            and message.HasField("cooldown")
            and at - _micros(message.last_rollback_time) < message.cooldown.ToMicroseconds()
        )
        if cooling:
            response.decision = pb.ROLLBACK_DECISION_KEEP
            response.reason = f"triggers {', '.join(failed)} failed, but policy {policy.record.name} is cooling down after its last rollback"
        elif message.mode == alert_pb2.ROLLBACK_MODE_MANUAL:
            response.decision = pb.ROLLBACK_DECISION_APPROVAL_REQUIRED
            response.reason = f"triggers {', '.join(failed)} of policy {policy.record.name} failed; the policy asks for approval"
        else:
            response.decision = pb.ROLLBACK_DECISION_ROLLBACK
            response.reason = f"triggers {', '.join(failed)} of policy {policy.record.name} failed"
        if not request.dry_run:
            updated = alert_pb2.RollbackPolicy()
            updated.CopyFrom(message)
            updated.last_evaluate_time.CopyFrom(micros_to_timestamp(at))
            if response.decision == pb.ROLLBACK_DECISION_ROLLBACK:
                updated.last_rollback_time.CopyFrom(micros_to_timestamp(at))
                updated.rollback_count += 1
            response.policy.CopyFrom(res.save(policy, updated))
        break
    return response


def _name_of(kind: int, data: bytes) -> str:
    signal = _SIGNAL_CLASS[kind].FromString(data)
    return str(
        getattr(signal, {DRIFT: "feature", PERFORMANCE: "metric", LIVENESS: "component"}[kind])
    )


def _window_signals(
    res: Resources,
    kinds: list[int],
    model_id: str,
    start: int,
    end: int,
    name: str,
    *,
    only_failing: bool = False,
) -> Iterator[tuple[int, int, bytes]]:
    """(seq, kind, data) of a model's signals in [start, end), newest first, all of them."""
    after = None
    while True:
        rows = res.events_page(
            kinds,
            model_version_id=model_id,
            start_time=start,
            end_time=end,
            only_failing=only_failing,
            after=after,
            limit=500,
        )
        for seq, kind, _, data in rows:
            if name in ("", _name_of(kind, data)):
                yield seq, kind, data
        if len(rows) < 500:
            return
        after = (rows[-1][2], rows[-1][0])


# Every RPC of MonitoringService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "RecordPredictions": write(record_predictions),
    "RecordFeedback": write(record_feedback),
    "ReportDriftSignals": write(report_drift),
    "ReportPerformanceSignals": write(report_performance),
    "ReportLivenessSignals": write(report_liveness),
    "ListSignals": read(list_signals),
    "CreateAlert": CREATE,
    "GetAlert": GET,
    "ListAlerts": LIST,
    "UpdateAlert": UPDATE,
    "CreateRollbackPolicy": CREATE,
    "GetRollbackPolicy": GET,
    "ListRollbackPolicies": LIST,
    "UpdateRollbackPolicy": UPDATE,
    "EvaluateRollback": write(evaluate_rollback),
}
