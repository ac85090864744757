"""mlspec.monitoring.v1.MonitoringService: predictions, feedback, signals, rollback (stage 12).

Parses each request, calls the monitoring rules of ``mlspec.domain.monitoring`` (records,
signals and alerts, rollback decisions) and builds the response. Alert and
RollbackPolicy are resources served by the standard methods.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common import message_filter
from mlspec.domain.common.resources import ACTIVE, ARCHIVED, DEPRECATED, Resources
from mlspec.domain.monitoring import alerts, computed, event_kinds, records, rollback, serving
from mlspec.domain.monitoring import signals as signal_rules
from mlspec.monitoring.v1 import alert_pb2, signals_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb
from mlspec.query import And, Comparison, Node, parse_filter
from mlspec.server import paging
from mlspec.server.paging import encode_token
from mlspec.server.routes import CREATE, GET, LIST, UPDATE, Pause, read, write

SERVICE = "mlspec.monitoring.v1.MonitoringService"


def record_predictions(request: pb.RecordPredictionsRequest, res: Resources) -> Message:
    """Stores requests and their predictions."""
    records.record_predictions(res, request.requests, request.predictions)
    return pb.RecordPredictionsResponse(
        accepted_request_count=len(request.requests),
        accepted_prediction_count=len(request.predictions),
    )


def record_feedback(request: pb.RecordFeedbackRequest, res: Resources) -> Message:
    """Stores feedback on recorded predictions (or requests)."""
    return pb.RecordFeedbackResponse(accepted_count=records.record_feedback(res, request.feedback))


def report_drift(request: pb.ReportDriftSignalsRequest, res: Resources) -> Message:
    """Stores drift signals with their outcomes; raises alerts for failing ones."""
    signals, alerts = signal_rules.report(
        res, request.signals, signals_pb2.SIGNAL_TYPE_DRIFT, "signals"
    )
    return pb.ReportDriftSignalsResponse(signals=signals, alerts=alerts)


def report_performance(request: pb.ReportPerformanceSignalsRequest, res: Resources) -> Message:
    """Stores performance signals with their outcomes; raises alerts for failing ones."""
    signals, alerts = signal_rules.report(
        res, request.signals, signals_pb2.SIGNAL_TYPE_PERFORMANCE, "signals"
    )
    return pb.ReportPerformanceSignalsResponse(signals=signals, alerts=alerts)


def report_liveness(request: pb.ReportLivenessSignalsRequest, res: Resources) -> Message:
    """Stores liveness observations; raises alerts for components that are not serving."""
    signals, alerts = signal_rules.report(
        res, request.signals, signals_pb2.SIGNAL_TYPE_LIVENESS, "signals"
    )
    return pb.ReportLivenessSignalsResponse(signals=signals, alerts=alerts)


_SIGNAL_FIELD = {
    event_kinds.DRIFT: "drift",
    event_kinds.PERFORMANCE: "performance",
    event_kinds.LIVENESS: "liveness",
}


def list_signals(request: pb.ListSignalsRequest, res: Resources) -> Message:
    """Lists stored signals by compute time, filtered by the typed fields and `filter`."""
    oldest_first = not paging.sort_descending(request.order_by, "compute_time", default=True)
    keep = message_filter.compile_filter(
        parse_filter(request.filter), signals_pb2.Signal.DESCRIPTOR
    )
    size = paging.page_size(request.page_size, 100)
    kinds = (
        [event_kinds.SIGNAL_KIND[request.signal_type]]
        if request.signal_type
        else [event_kinds.DRIFT, event_kinds.PERFORMANCE, event_kinds.LIVENESS]
    )
    fingerprint = paging.query_fingerprint(request)
    after = None
    if request.page_token:
        token = paging.token_fields(request.page_token, q=fingerprint)
        after = (paging.token_int(token, "t"), paging.token_int(token, "s"))
    model_id = (
        records.model_id_of(res, request.model_version, "model_version")
        if request.HasField("model_version")
        else ""
    )

    def fetch(position: tuple[int, int] | None, limit: int) -> list[tuple[tuple[int, int], Any]]:
        rows = res.events_page(
            kinds,
            model_version_id=model_id,
            deployment=request.deployment_endpoint,
            start_time=records.micros(request.start_time)
            if request.HasField("start_time")
            else None,
            end_time=records.micros(request.end_time) if request.HasField("end_time") else None,
            only_failing=request.only_failing,
            after=position,
            oldest_first=oldest_first,
            limit=limit,
        )
        found = []
        for seq, kind, time, data in rows:
            signal = signals_pb2.Signal()
            getattr(signal, _SIGNAL_FIELD[kind]).CopyFrom(
                rollback.SIGNAL_CLASS[kind].FromString(data)
            )
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
    model_id = records.model_id_of(res, request.model_version, "model_version")
    if not model_id:
        raise errors.invalid("model_version", "is required")
    at = (
        records.micros(request.evaluate_time) if request.HasField("evaluate_time") else now_micros()
    )
    return rollback.evaluate(
        res, model_id, at, request.deployment_endpoint, dry_run=request.dry_run
    )


def _model(res: Resources, ref: Any, path: str) -> Any:
    """The model version a required reference names."""
    if not ref.WhichOneof("target"):
        raise errors.invalid(path, "is required")
    loaded = res.resolve(ref, path, for_use=False)
    if loaded.spec.kind != reference_pb2.RESOURCE_KIND_MODEL_VERSION:
        raise errors.invalid(path, "must name a model version")
    return loaded


def resolve_serving_model(request: pb.ResolveServingModelRequest, res: Resources) -> Message:
    """The model to serve now: the version itself, or a rollback target in force."""
    model = _model(res, request.model_version, "model_version")
    return serving.resolve(res, model, request.deployment_endpoint)


def compute_drift(request: pb.ComputeDriftRequest, res: Resources) -> Message:
    """Each feature's drift against the training statistics, stored as drift signals."""
    model = _model(res, request.model_version, "model_version")
    return computed.compute_drift(res, model, request)


def compute_live_performance(request: pb.ComputeLivePerformanceRequest, res: Resources) -> Message:
    """Live metrics from predictions joined with their ground truth, as performance signals."""
    model = _model(res, request.model_version, "model_version")
    return computed.compute_performance(res, model, request)


# Watches hold a server thread each while they wait; at most this many at once.
MAX_WATCHES = 4
POLL_SECONDS = 1.0
_watches = threading.BoundedSemaphore(MAX_WATCHES)


def watch_alerts(request: pb.WatchAlertsRequest, res: Resources) -> Iterator[Message | Pause]:
    """Every matching alert, then each one again when it changes; polls the store each second."""
    conditions: list[Node] = []
    if request.HasField("model_version"):
        model = _model(res, request.model_version, "model_version")
        conditions.append(Comparison(("model_version", "id"), "=", model.record.id))
    states = set(request.states)
    since = request.since.ToMicroseconds() if request.HasField("since") else -1
    if not _watches.acquire(blocking=False):
        raise errors.ResourceExhausted(
            f"this server already serves {MAX_WATCHES} alert watches; try again later",
            reason="TOO_MANY_WATCHES",
        )
    try:
        while True:
            changed = []
            filters = [*conditions]
            if since >= 0:
                stamp = micros_to_timestamp(since).ToJsonString()
                filters.append(Comparison(("meta", "update_time"), ">=", stamp, True))
            query = res.query(
                reference_pb2.RESOURCE_KIND_ALERT,
                statuses=(ACTIVE, DEPRECATED, ARCHIVED),
                filter=And(tuple(filters))
                if len(filters) > 1
                else (filters[0] if filters else None),
                members=alerts.MEMBERS,
            )
            for record in res.list_page(query).records:
                if record.update_time >= since:
                    changed.append(record)
            for record in sorted(changed, key=lambda r: (r.update_time, r.seq)):
                alert = alert_pb2.Alert.FromString(record.data)
                if not states or alert.state in states:
                    yield pb.WatchAlertsResponse(alert=alert)
            if changed:
                since = max(r.update_time for r in changed) + 1
            yield Pause(POLL_SECONDS)
    finally:
        _watches.release()


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
    "ResolveServingModel": read(resolve_serving_model),
    "ComputeDrift": write(compute_drift),
    "ComputeLivePerformance": write(compute_live_performance),
    "WatchAlerts": read(watch_alerts),
}
