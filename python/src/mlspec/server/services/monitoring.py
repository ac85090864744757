"""mlspec.monitoring.v1.MonitoringService: predictions, feedback, signals, rollback (stage 12).

Parses each request, calls the monitoring rules of ``mlspec.domain.monitoring`` (records,
signals and alerts, rollback decisions) and builds the response. Alert and
RollbackPolicy are resources served by the standard methods.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.domain.clock import now_micros
from mlspec.domain.common import message_filter
from mlspec.domain.common.resources import Resources
from mlspec.domain.monitoring import records, rollback
from mlspec.domain.monitoring import signals as signal_rules
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb
from mlspec.monitoring.v1 import signals_pb2
from mlspec.query import parse_filter
from mlspec.server import paging
from mlspec.server.paging import encode_token
from mlspec.server.routes import CREATE, GET, LIST, UPDATE, read, write

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
    records.DRIFT: "drift",
    records.PERFORMANCE: "performance",
    records.LIVENESS: "liveness",
}


def list_signals(request: pb.ListSignalsRequest, res: Resources) -> Message:
    """Lists stored signals by compute time, filtered by the typed fields and `filter`."""
    oldest_first = not paging.sort_descending(request.order_by, "compute_time", default=True)
    keep = message_filter.compile_filter(
        parse_filter(request.filter), signals_pb2.Signal.DESCRIPTOR
    )
    size = paging.page_size(request.page_size, 100)
    kinds = (
        [records.SIGNAL_KIND[request.signal_type]]
        if request.signal_type
        else [records.DRIFT, records.PERFORMANCE, records.LIVENESS]
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
