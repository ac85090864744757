"""mlspec.tracking.v1.TrackingService: run states, metrics, params, tags, inputs, outputs.

Experiments and runs use the generic standard methods. A run executes once: its state
follows the run state machine, and once it has finished it takes no more metrics,
params, inputs or outputs (tags, which are labels for grouping, stay editable). Bulk
writes accept at most 1,000 metrics or 100 params, tags, inputs or outputs per call and
commit in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sized
from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros, now_timestamp
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.tracking import runs
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.server import paging
from mlspec.server.paging import encode_token
from mlspec.server.routes import CREATE, GET, LIST, UPDATE, read, write
from mlspec.tracking.v1 import metric_pb2, run_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as pb

SERVICE = "mlspec.tracking.v1.TrackingService"
K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind
METRIC_KEY = re.compile(r"[A-Za-z0-9_./ -]{1,250}")
MAX_METRICS = 1000
MAX_ITEMS = 100


def _limit(items: Sized, limit: int, path: str) -> None:
    if not len(items):
        raise errors.invalid(path, "holds no items")
    if len(items) > limit:
        raise errors.too_many(path, len(items), limit)


def _open_run(res: Resources, run_id: str) -> Loaded:
    loaded = res.get(K.RESOURCE_KIND_RUN, run_id, path="run_id")
    assert isinstance(loaded.message, run_pb2.Run)
    res.check_usable(loaded, "run_id")
    if runs.is_terminal(loaded.message.state):
        raise errors.FailedPrecondition(
            f"run {run_id} has finished ({run_state_pb2.RunState.Name(loaded.message.state)}); "
            "a run executes once and takes no more records",
            reason="RUN_TERMINAL",
        )
    return loaded


def _copy(loaded: Loaded) -> run_pb2.Run:
    assert isinstance(loaded.message, run_pb2.Run)
    run = run_pb2.Run()
    run.CopyFrom(loaded.message)
    return run


def update_run_state(request: pb.UpdateRunStateRequest, res: Resources) -> Message:
    """Moves a run through the state machine."""
    loaded = res.get(K.RESOURCE_KIND_RUN, request.run_id, path="run_id")
    run = _copy(loaded)
    runs.check_transition(run.state, request.state)
    if (
        request.state == run_state_pb2.RUN_STATE_FAILED
        and not request.HasField("error")
        and not run.HasField("error")
    ):
        raise errors.invalid("error", "a FAILED run needs an error saying why")
    when = request.time if request.HasField("time") else now_timestamp()
    error = request.error if request.HasField("error") else None
    runs.transition(run, request.state, when, reason=request.reason, error=error)
    stored = res.save(loaded, run, request.etag)
    return pb.UpdateRunStateResponse(run=stored)


def log_metrics(request: pb.LogMetricsRequest, res: Resources) -> Message:
    """Appends metric points (scalar, array or object values) in one transaction."""
    _limit(request.metrics, MAX_METRICS, "metrics")
    loaded = _open_run(res, request.run_id)
    violations = [
        FieldViolation(
            f"metrics[{i}].key",
            "is required" if not m.key else "must match ^[A-Za-z0-9_./ -]{1,250}$",
        )
        for i, m in enumerate(request.metrics)
        if not METRIC_KEY.fullmatch(m.key)
    ] + [
        FieldViolation(f"metrics[{i}].value", "is required")
        for i, m in enumerate(request.metrics)
        if not m.HasField("value")
    ]
    if violations:
        raise errors.InvalidArgument(
            "some metrics are incomplete", reason="INVALID_METRIC", violations=violations
        )
    now = now_micros()
    rows = []
    latest: dict[str, metric_pb2.Metric] = {}
    for metric in request.metrics:
        point = metric_pb2.Metric()
        point.CopyFrom(metric)
        if not point.HasField("timestamp"):
            point.timestamp.CopyFrom(micros_to_timestamp(now))
        time_us = point.timestamp.ToMicroseconds()
        rows.append((request.run_id, point.key, point.step, time_us, point.SerializeToString()))
        latest[point.key] = point
    res.append_metrics(rows)
    run = _copy(loaded)
    summaries = {s.key: s for s in run.latest_metrics}
    for key, point in latest.items():
        summary = summaries.get(key) or run.latest_metrics.add(key=key)
        summaries[key] = summary
        summary.latest.CopyFrom(point)
    for metric in request.metrics:  # count, min and max over every point logged
        summary = summaries[metric.key]
        summary.count += 1
        kind = metric.value.WhichOneof("kind")
        if kind in ("double_value", "int_value"):
            number = (
                metric.value.double_value
                if kind == "double_value"
                else float(metric.value.int_value)
            )
            if number != number:  # NaN is stored as logged but has no place in min/max
                continue
            summary.min = min(summary.min, number) if summary.HasField("min") else number
            summary.max = max(summary.max, number) if summary.HasField("max") else number
    res.save(loaded, run)
    return pb.LogMetricsResponse(recorded_count=len(rows))


def log_params(request: pb.LogParamsRequest, res: Resources) -> Message:
    """Records hyperparameters; a param once logged keeps its value."""
    _limit(request.params, MAX_ITEMS, "params")
    seen: dict[str, int] = {}
    repeated = [
        FieldViolation(f"params[{i}].key", f"{p.key!r} is also params[{seen[p.key]}]")
        for i, p in enumerate(request.params)
        if seen.setdefault(p.key, i) != i
    ]
    if repeated:
        raise errors.InvalidArgument(
            "a key appears more than once in params", reason="DUPLICATE_KEY", violations=repeated
        )
    loaded = _open_run(res, request.run_id)
    run = _copy(loaded)
    existing = {p.key: p for p in run.params}
    conflicts = [
        FieldViolation(f"params[{i}]", f"{p.key!r} was already logged with a different value")
        for i, p in enumerate(request.params)
        if p.key in existing and existing[p.key].value != p.value
    ]
    if conflicts:
        raise errors.FailedPrecondition(
            "params are immutable once logged", reason="PARAM_CHANGED", violations=conflicts
        )
    added = 0
    for param in request.params:
        if param.key not in existing:
            run.params.add().CopyFrom(param)
            existing[param.key] = param
            added += 1
    res.save(loaded, run)
    return pb.LogParamsResponse(recorded_count=added)


def set_run_tags(request: pb.SetRunTagsRequest, res: Resources) -> Message:
    """Sets and removes tags (allowed on finished runs too)."""
    if len(request.tags) + len(request.remove_keys) > MAX_ITEMS:
        raise errors.too_many("tags", len(request.tags) + len(request.remove_keys), MAX_ITEMS)
    loaded = res.get(K.RESOURCE_KIND_RUN, request.run_id, path="run_id")
    run = _copy(loaded)
    run.tags.update(request.tags)
    for key in request.remove_keys:
        run.tags.pop(key, None)
    stored = res.save(loaded, run)
    return pb.SetRunTagsResponse(tags=stored.tags)


def _log_links(res: Resources, run_id: str, items: Any, field: str) -> Any:
    """Appends inputs or outputs to a run; their resources become lineage edges."""
    _limit(items, MAX_ITEMS, field)
    loaded = _open_run(res, run_id)
    run = _copy(loaded)
    consumed = field == "inputs"
    edges = []
    for i, item in enumerate(items):
        copy = getattr(run, field).add()
        copy.CopyFrom(item)
        if copy.HasField("resource"):
            # What a run consumes must be usable; what it produced is recorded as it is.
            target = res.resolve(copy.resource, f"{field}[{i}].resource", for_use=consumed)
            copy.resource.id = target.record.id
            if consumed:
                edges.append((target.record.id, loaded.record.id, E.LINEAGE_EDGE_KIND_CONSUMED))
            else:
                edges.append((loaded.record.id, target.record.id, E.LINEAGE_EDGE_KIND_PRODUCED))
    res.save(loaded, run)
    res.link(edges)
    return getattr(run, field)


def log_run_inputs(request: pb.LogRunInputsRequest, res: Resources) -> Message:
    """Records the datasets (or other resources) a run consumed, as lineage too."""
    return pb.LogRunInputsResponse(inputs=_log_links(res, request.run_id, request.inputs, "inputs"))


def log_run_outputs(request: pb.LogRunOutputsRequest, res: Resources) -> Message:
    """Records what a run produced, as lineage too."""
    return pb.LogRunOutputsResponse(
        outputs=_log_links(res, request.run_id, request.outputs, "outputs")
    )


def get_metric_history(request: pb.GetMetricHistoryRequest, res: Resources) -> Message:
    """Pages through one metric's points in the order they were logged."""
    res.get(K.RESOURCE_KIND_RUN, request.run_id, path="run_id")
    if not request.key:
        raise errors.invalid("key", "is required")
    page_size = paging.page_size(request.page_size, 100)
    after = 0
    if request.page_token:
        after = paging.token_int(paging.token_fields(request.page_token, k=request.key), "s")
    history = metric_pb2.MetricHistory(run_id=request.run_id, key=request.key, slice=request.slice)
    last = after
    more = False
    while len(history.points) < page_size:
        rows = res.metric_history(request.run_id, request.key, last, page_size + 1)
        if not rows:
            break
        for seq, data in rows:
            point = metric_pb2.Metric.FromString(data)
            if len(history.points) == page_size:
                more = True
                break
            last = seq
            if request.HasField("start_step") and point.step < request.start_step:
                continue
            if request.HasField("end_step") and point.step > request.end_step:
                continue
            if request.HasField("slice") and point.slice != request.slice:
                continue
            history.points.append(point)
        if more or len(rows) <= page_size:
            break
    response = pb.GetMetricHistoryResponse(history=history)
    if more:
        response.next_page_token = encode_token({"k": request.key, "s": last})
    return response


# Every RPC of TrackingService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "CreateExperiment": CREATE,
    "GetExperiment": GET,
    "ListExperiments": LIST,
    "UpdateExperiment": UPDATE,
    "CreateRun": CREATE,
    "GetRun": GET,
    "ListRuns": LIST,
    "UpdateRun": UPDATE,
    "UpdateRunState": write(update_run_state),
    "LogMetrics": write(log_metrics),
    "LogParams": write(log_params),
    "SetRunTags": write(set_run_tags),
    "LogRunInputs": write(log_run_inputs),
    "LogRunOutputs": write(log_run_outputs),
    "GetMetricHistory": read(get_metric_history),
}
