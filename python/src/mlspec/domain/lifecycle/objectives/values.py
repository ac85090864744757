"""The values an objective reads, gathered from a report, its model version and a baseline.

As objectives.proto says: the candidate's metric results of the report (an empty sub
key preferred, else the first listed), then the model version's own ``metrics`` and
``model_size_bytes`` for what the report lacks; the baseline's from the report's
``baseline`` (or ``is_diff``) results, else from the latest report of the same stage
about the baseline model version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from mlspec import errors
from mlspec.common.v1 import reference_pb2, value_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle.objectives import reports
from mlspec.lifecycle.v1 import evaluation_pb2, objectives_evaluation_pb2, stage_report_pb2
from mlspec.models.v1 import model_version_pb2
from mlspec.objectives import Values, slice_name

K = reference_pb2.ResourceKind
Report = stage_report_pb2.StageReport
Baseline = objectives_evaluation_pb2.ObjectivesBaseline
_Table = dict[str, dict[str, float]]  # slice name -> metric -> value


def _number(value: value_pb2.Value) -> float | None:
    kind = value.WhichOneof("kind")
    if kind == "double_value" and math.isfinite(value.double_value):
        return value.double_value
    if kind == "int_value":
        return float(value.int_value)
    return None


def _put(
    table: _Table,
    chosen: dict[tuple[str, str], bool],
    slice_: str,
    name: str,
    sub_key: str,
    value: float,
) -> None:
    """Keeps the first value of a (slice, metric), replaced once by one with no sub key."""
    key = (slice_, name)
    if key in chosen and (chosen[key] or sub_key):
        return
    table.setdefault(slice_, {})[name] = value
    chosen[key] = not sub_key


def _results(report: Report) -> Iterable[evaluation_pb2.EvaluationMetricResult]:
    if report.HasField("model_evaluation"):
        return report.model_evaluation.metric_results
    if report.HasField("model_test"):
        return report.model_test.metric_results
    return ()


def _tables(report: Report) -> tuple[_Table, _Table, _Table]:
    """Candidate, baseline and diff values of a report's metric results."""
    candidate: _Table = {}
    baseline: _Table = {}
    diff: _Table = {}
    chosen: dict[int, dict[tuple[str, str], bool]] = {0: {}, 1: {}, 2: {}}
    for result in _results(report):
        value = _number(result.value)
        key = result.metric_key
        if value is None or not key.name:
            continue
        role = key.model_role or "candidate"
        where = slice_name(dict(result.slice_key.feature_values))
        if key.is_diff:
            _put(diff, chosen[2], where, key.name, key.sub_key, value)
        elif role == "candidate":
            _put(candidate, chosen[0], where, key.name, key.sub_key, value)
        elif role == "baseline":
            _put(baseline, chosen[1], where, key.name, key.sub_key, value)
    return candidate, baseline, diff


def model_version_figures(model_version: model_version_pb2.ModelVersion) -> _Table:
    """The model version's own numeric metrics by slice, and ``model_size_bytes``."""
    table: _Table = {}
    chosen: dict[tuple[str, str], bool] = {}
    for metric in model_version.metrics:
        value = _number(metric.value)
        if value is not None and metric.key:
            _put(
                table, chosen, slice_name(dict(metric.slice.feature_values)), metric.key, "", value
            )
    if model_version.artifact.size_bytes > 0:
        table.setdefault("", {}).setdefault(
            "model_size_bytes", float(model_version.artifact.size_bytes)
        )
    return table


def _merge_missing(into: _Table, extra: _Table) -> None:
    for slice_, metrics in extra.items():
        target = into.setdefault(slice_, {})
        for name, value in metrics.items():
            target.setdefault(name, value)


def _values(candidate: _Table, baseline: _Table) -> Values:
    return Values(
        metrics=dict(candidate.get("", {})),
        slices={k: dict(v) for k, v in candidate.items() if k},
        baseline=dict(baseline.get("", {})),
        baseline_slices={k: dict(v) for k, v in baseline.items() if k},
    )


def load_model_version(
    res: Resources, model_version_id: str
) -> model_version_pb2.ModelVersion | None:
    """The model version of that id, or None."""
    try:
        loaded = res.get(K.RESOURCE_KIND_MODEL_VERSION, model_version_id)
    except errors.NotFound:
        return None
    assert isinstance(loaded.message, model_version_pb2.ModelVersion)
    return loaded.message


def baseline_ref(res: Resources, report: Report | None, objectives: Report | None) -> str:
    """Id of the baseline model version: the evaluation's, else the objective set's."""
    refs = []
    if report is not None and report.HasField("model_evaluation"):
        refs.append(report.model_evaluation.baseline_model)
    if objectives is not None:
        refs.append(objectives.codified_objectives.baseline_model)
    for ref in refs:
        if ref.WhichOneof("target") is None:
            continue
        try:
            loaded = res.resolve(ref, "baseline_model", for_use=False)
        except errors.DomainError:
            continue
        if loaded.spec.kind == K.RESOURCE_KIND_MODEL_VERSION:
            return loaded.record.id
    return ""


def gather(
    res: Resources,
    report: Report | None,
    model_version_id: str,
    objectives: Report | None,
    stage: int,
) -> tuple[Values, Baseline]:
    """The values of a report (None: the model version's figures only) and the baseline used."""
    candidate, baseline, diff = _tables(report) if report is not None else ({}, {}, {})
    model_version = load_model_version(res, model_version_id) if model_version_id else None
    if model_version is not None:
        _merge_missing(candidate, model_version_figures(model_version))
    used = Baseline()
    if baseline or diff:
        for slice_, metrics in diff.items():
            for name, change in metrics.items():
                now = candidate.get(slice_, {}).get(name)
                if now is not None:
                    baseline.setdefault(slice_, {}).setdefault(name, now - change)
        used.source = objectives_evaluation_pb2.BASELINE_SOURCE_SAME_REPORT
        if report is not None:
            used.report_id = report.meta.id
    baseline_id = baseline_ref(res, report, objectives)
    if baseline_id:
        used.model_version.kind = K.RESOURCE_KIND_MODEL_VERSION
        used.model_version.id = baseline_id
        if not (baseline or diff):
            earlier = reports.about_model_version(res, baseline_id, stage)
            if earlier:
                baseline, _, _ = _tables(earlier[0])
                used.source = objectives_evaluation_pb2.BASELINE_SOURCE_BASELINE_REPORT
                used.report_id = earlier[0].meta.id
            elif report is None:
                figures = load_model_version(res, baseline_id)
                if figures is not None:
                    baseline = model_version_figures(figures)
    return _values(candidate, baseline), used
