"""What a running tracking run records: metrics, params, tags, inputs and outputs.

A run executes once: once it has finished it takes no more metrics, params, inputs or
outputs (tags, which are labels for grouping, stay editable). A call carries at most
1,000 metrics or 100 params, tags, inputs or outputs and commits in one transaction.
Params are immutable once logged; a run's inputs and outputs become lineage (resource ->
run CONSUMED, run -> resource PRODUCED).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Sized
from typing import Any

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.tracking import metric_columns, runs
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.tracking.v1 import metric_pb2, run_pb2

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


def copy_run(loaded: Loaded) -> run_pb2.Run:
    """A changeable copy of a loaded run."""
    assert isinstance(loaded.message, run_pb2.Run)
    run = run_pb2.Run()
    run.CopyFrom(loaded.message)
    return run


def log_metrics(
    res: Resources,
    run_id: str,
    metrics: Sequence[metric_pb2.Metric],
    columns: metric_pb2.MetricColumns | None = None,
) -> int:
    """Appends metric points (scalar, array or object values); returns how many.

    The points of ``columns`` (``metric_columns``) follow those of ``metrics``. Keeps the
    run's latest value, count, min and max per key (``Run.latest_metrics``).
    """
    in_columns = metric_columns.count(columns) if columns is not None else 0
    total = len(metrics) + in_columns
    if not total:
        raise errors.invalid("metrics", "holds no items (nor does columns)")
    if total > MAX_METRICS:
        raise errors.too_many("metrics", total, MAX_METRICS)
    loaded = _open_run(res, run_id)
    violations = [
        FieldViolation(
            f"metrics[{i}].key",
            "is required" if not m.key else "must match ^[A-Za-z0-9_./ -]{1,250}$",
        )
        for i, m in enumerate(metrics)
        if not METRIC_KEY.fullmatch(m.key)
    ] + [
        FieldViolation(f"metrics[{i}].value", "is required")
        for i, m in enumerate(metrics)
        if not m.HasField("value")
    ]
    if columns is not None:
        violations += metric_columns.violations(columns, METRIC_KEY)
    if violations:
        raise errors.InvalidArgument(
            "some metrics are incomplete", reason="INVALID_METRIC", violations=violations
        )
    now = now_micros()
    rows = []
    latest: dict[str, metric_pb2.Metric] = {}
    for metric in metrics:
        point = metric
        if not point.HasField("timestamp"):
            point = metric_pb2.Metric()
            point.CopyFrom(metric)
            point.timestamp.CopyFrom(micros_to_timestamp(now))
        time_us = point.timestamp.ToMicroseconds()
        rows.append((run_id, point.key, point.step, time_us, point.SerializeToString()))
        latest[point.key] = point
    stats: dict[str, metric_columns.KeyStats] = {}
    if in_columns and columns is not None:
        column_rows, stats = metric_columns.rows(run_id, columns)
        rows += column_rows
    res.append_metrics(rows)
    run = copy_run(loaded)
    summaries = {s.key: s for s in run.latest_metrics}
    for key, point in latest.items():
        summary = summaries.get(key) or run.latest_metrics.add(key=key)
        summaries[key] = summary
        summary.latest.CopyFrom(point)
    for metric in metrics:  # count, min and max over every point logged
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
            _widen(summary, number, number)
    for key, stat in stats.items():  # the columns' points come after those of metrics
        summary = summaries.get(key) or run.latest_metrics.add(key=key)
        summaries[key] = summary
        summary.latest.CopyFrom(stat.latest)
        summary.count += stat.count
        if stat.low is not None and stat.high is not None:
            _widen(summary, stat.low, stat.high)
    res.save(loaded, run)
    return len(rows)


def _widen(summary: metric_pb2.MetricSummary, low: float, high: float) -> None:
    """Extends a summary's min and max to cover ``low`` and ``high``."""
    summary.min = min(summary.min, low) if summary.HasField("min") else low
    summary.max = max(summary.max, high) if summary.HasField("max") else high


def log_params(res: Resources, run_id: str, params: Sequence[metric_pb2.Param]) -> int:
    """Records hyperparameters; a param once logged keeps its value. Returns how many."""
    _limit(params, MAX_ITEMS, "params")
    seen: dict[str, int] = {}
    repeated = [
        FieldViolation(f"params[{i}].key", f"{p.key!r} is also params[{seen[p.key]}]")
        for i, p in enumerate(params)
        if seen.setdefault(p.key, i) != i
    ]
    if repeated:
        raise errors.InvalidArgument(
            "a key appears more than once in params", reason="DUPLICATE_KEY", violations=repeated
        )
    loaded = _open_run(res, run_id)
    run = copy_run(loaded)
    existing = {p.key: p for p in run.params}
    conflicts = [
        FieldViolation(f"params[{i}]", f"{p.key!r} was already logged with a different value")
        for i, p in enumerate(params)
        if p.key in existing and existing[p.key].value != p.value
    ]
    if conflicts:
        raise errors.FailedPrecondition(
            "params are immutable once logged", reason="PARAM_CHANGED", violations=conflicts
        )
    added = 0
    for param in params:
        if param.key not in existing:
            run.params.add().CopyFrom(param)
            existing[param.key] = param
            added += 1
    res.save(loaded, run)
    return added


def set_run_tags(
    res: Resources, run_id: str, tags: Mapping[str, str], remove_keys: Sequence[str]
) -> run_pb2.Run:
    """Sets and removes tags (allowed on finished runs too); returns the stored run."""
    if len(tags) + len(remove_keys) > MAX_ITEMS:
        raise errors.too_many("tags", len(tags) + len(remove_keys), MAX_ITEMS)
    loaded = res.get(K.RESOURCE_KIND_RUN, run_id, path="run_id")
    run = copy_run(loaded)
    run.tags.update(tags)
    for key in remove_keys:
        run.tags.pop(key, None)
    return res.save(loaded, run)


def log_links(res: Resources, run_id: str, items: Any, field: str) -> Any:
    """Appends inputs or outputs to a run; their resources become lineage edges."""
    _limit(items, MAX_ITEMS, field)
    loaded = _open_run(res, run_id)
    run = copy_run(loaded)
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
