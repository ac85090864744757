"""mlspec.tracking.v1.TrackingService: run states, metrics, params, tags, inputs, outputs.

Experiments and runs use the standard methods. What a run records is
``domain.tracking.records``; its state moves through ``domain.tracking.runs``.
"""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.domain.clock import now_timestamp
from mlspec.domain.common.resources import Resources
from mlspec.domain.tracking import records, runs
from mlspec.server import paging
from mlspec.server.paging import encode_token
from mlspec.server.routes import CREATE, GET, LIST, UPDATE, read, write
from mlspec.tracking.v1 import metric_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as pb

SERVICE = "mlspec.tracking.v1.TrackingService"
K = reference_pb2.ResourceKind


def update_run_state(request: pb.UpdateRunStateRequest, res: Resources) -> Message:
    """Moves a run through the state machine."""
    loaded = res.get(K.RESOURCE_KIND_RUN, request.run_id, path="run_id")
    run = records.copy_run(loaded)
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
    columns = request.columns if request.HasField("columns") else None
    count = records.log_metrics(res, request.run_id, request.metrics, columns)
    return pb.LogMetricsResponse(recorded_count=count)


def log_params(request: pb.LogParamsRequest, res: Resources) -> Message:
    """Records hyperparameters; a param once logged keeps its value."""
    return pb.LogParamsResponse(
        recorded_count=records.log_params(res, request.run_id, request.params)
    )


def set_run_tags(request: pb.SetRunTagsRequest, res: Resources) -> Message:
    """Sets and removes tags (allowed on finished runs too)."""
    run = records.set_run_tags(res, request.run_id, request.tags, request.remove_keys)
    return pb.SetRunTagsResponse(tags=run.tags)


def log_run_inputs(request: pb.LogRunInputsRequest, res: Resources) -> Message:
    """Records the datasets (or other resources) a run consumed, as lineage too."""
    inputs = records.log_links(res, request.run_id, request.inputs, "inputs")
    return pb.LogRunInputsResponse(inputs=inputs)


def log_run_outputs(request: pb.LogRunOutputsRequest, res: Resources) -> Message:
    """Records what a run produced, as lineage too."""
    outputs = records.log_links(res, request.run_id, request.outputs, "outputs")
    return pb.LogRunOutputsResponse(outputs=outputs)


def get_metric_history(request: pb.GetMetricHistoryRequest, res: Resources) -> Message:
    """Pages through one metric's points by step, then timestamp (then recording order).

    Pages hold 1,000 points by default and at most 25,000. Steps are bounded in SQL; a
    slice is matched on the decoded points, reading at most ``MAX_SCANNED`` (or the page
    size) points per call (a short page then carries a token).
    """
    res.get(K.RESOURCE_KIND_RUN, request.run_id, path="run_id")
    start = request.start_step if request.HasField("start_step") else None
    end = request.end_step if request.HasField("end_step") else None
    if start is not None and end is not None and end < start:
        raise errors.invalid("end_step", "is before start_step; the step range is empty")
    if request.page_size < 0:
        raise errors.invalid("page_size", "must not be negative")
    page_size = min(request.page_size or HISTORY_PAGE, MAX_HISTORY_PAGE)
    budget = max(paging.MAX_SCANNED_PER_PAGE, page_size)
    after: tuple[int, int, int] | None = None
    if request.page_token:
        token = paging.token_fields(request.page_token, k=request.key)
        after = (
            paging.token_int(token, "st"),
            paging.token_int(token, "t"),
            paging.token_int(token, "s"),
        )
    history = metric_pb2.MetricHistory(run_id=request.run_id, key=request.key, slice=request.slice)
    wanted_slice = request.slice if request.HasField("slice") else None
    last, scanned, more = after, 0, False
    while not more and scanned < budget:
        batch = min(page_size + 1, budget - scanned + 1)
        rows = res.metric_history(
            request.run_id, request.key, last, batch, min_step=start, max_step=end
        )
        for position, data in rows:
            if len(history.points) == page_size or scanned == budget:
                more = True
                break
            scanned += 1
            last = position
            point = metric_pb2.Metric.FromString(data)
            if wanted_slice is None or point.slice == wanted_slice:
                history.points.append(point)
        if len(rows) < batch:
            break
    response = pb.GetMetricHistoryResponse(history=history)
    if more and last is not None:
        response.next_page_token = encode_token(
            {"k": request.key, "st": last[0], "t": last[1], "s": last[2]}
        )
    return response


HISTORY_PAGE = 1_000  # GetMetricHistoryRequest.page_size: default 1,000, at most 25,000
MAX_HISTORY_PAGE = 25_000


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
