"""Metric results checked against codified objectives: the stage 8 and stage 9 payloads.

``metric_results`` turns a dict of metric values on one slice into
``EvaluationMetricResult`` messages (``sliced_metric_results`` does it for every slice of
the rows); ``check_objectives`` checks them against the
structured thresholds of a ``CodifiedObjectives`` (stage 1): for each objective, the
value of its metric on its slice (``scope``; the gap to ``comparison_scope`` for a
fairness objective) against ``threshold.value_threshold``, and against
``threshold.change_threshold`` when the results hold the baseline model's value
(``metric_key.model_role == "baseline"``). A value that is absent is MISSING. A failure
of a BLOCKING objective (or of one the launch criteria require) fails the check; a
failure of a WARNING objective warns. The objectives' DSL expressions are not evaluated
here: they are equivalent to the structured thresholds by the contract, and an evaluator
of the objective DSL checks them.

``model_evaluation`` and ``model_test`` build the two payloads from the results, so that
evaluation (stage 8, on validation data) and the hold-back test (stage 9, once, on the
hold-back split) stay separate reports that carry the same kind of evidence.

Example:
    >>> from mlspec.lifecycle.v1.objectives_pb2 import CodifiedObjectives
    >>> goals = CodifiedObjectives(objectives=[{"id": "auc", "name": "AUC", "metric_name": "auc",
    ...     "threshold": {"value_threshold": {"lower_bound": 0.9}}}])
    >>> check = check_objectives(goals, metric_results({"auc": 0.93}))
    >>> ThresholdOutcome.Name(check.outcome), check.threshold_results[0].message
    ('THRESHOLD_OUTCOME_PASSED', 'auc 0.93 >= 0.9')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlspec.client.refs import digest_of, to_ref
from mlspec.client.statistics import Columns, slice_name, slices
from mlspec.client.values import to_value
from mlspec.common.v1 import digest_pb2, slice_pb2, threshold_pb2
from mlspec.common.v1.threshold_pb2 import ThresholdOutcome
from mlspec.lifecycle.v1 import (
    evaluation_pb2,
    holdback_test_pb2,
    objectives_pb2,
    splitting_pb2,
    stage_pb2,
    stage_report_pb2,
)

__all__ = [
    "ObjectivesCheck",
    "check_objectives",
    "evaluation_dataset",
    "metric_results",
    "model_evaluation",
    "model_test",
    "sliced_metric_results",
]

TOOL = "mlspec.client.evaluation"
_O = ThresholdOutcome
_D = evaluation_pb2.ModelGateDecision
Result = evaluation_pb2.EvaluationMetricResult


def metric_results(
    metrics: Mapping[str, Any],
    *,
    slice: Mapping[str, str] | None = None,
    sample_count: int = 0,
    model_role: str = "",
) -> list[evaluation_pb2.EvaluationMetricResult]:
    """One ``EvaluationMetricResult`` per metric, on ``slice`` (empty: all examples).

    Values are plain numbers, numpy scalars or any plain value (a confusion matrix as a
    nested list, ...); ``model_role`` is ``""`` (the candidate) or ``"baseline"``.

    Example:
        >>> [r.metric_key.name for r in metric_results({"auc": 0.9, "recall": 0.8})]
        ['auc', 'recall']
    """
    out = []
    for name, value in metrics.items():
        result = Result(value=to_value(value), sample_count=int(sample_count))
        result.metric_key.name = name
        result.metric_key.model_role = model_role
        result.slice_key.SetInParent()  # Required: an empty key is the overall slice
        if slice:
            result.slice_key.feature_values.update({k: str(v) for k, v in slice.items()})
            result.slice_key.display_name = slice_name(slice)
        out.append(result)
    return out


def sliced_metric_results(
    columns: Columns,
    slice_by: Iterable[str],
    metrics: Callable[[Any], Mapping[str, Any]],
    *,
    model_role: str = "",
) -> list[evaluation_pb2.EvaluationMetricResult]:
    """Metric results overall and on each slice of ``columns`` by the ``slice_by`` columns.

    ``metrics`` computes the metrics of a set of rows, given as a boolean mask over the
    rows (see ``mlspec.client.statistics.slices``: all rows first, then one slice per
    value of each ``slice_by`` column); each result carries its slice and row count.

    Example:
        >>> import numpy as np
        >>> rows = {"group": np.array(["a", "b", "b"]), "hit": np.array([1, 0, 1])}
        >>> results = sliced_metric_results(rows, ["group"], lambda m: {"rate": rows["hit"][m].mean()})
        >>> [(r.slice_key.display_name, r.value.double_value) for r in results]
        [('', 0.6666666666666666), ('group=a', 1.0), ('group=b', 0.5)]
    """
    out = []
    for key, mask in slices(columns, slice_by):
        out += metric_results(
            metrics(mask), slice=key, sample_count=int(mask.sum()), model_role=model_role
        )
    return out


@dataclass(frozen=True)
class ObjectivesCheck:
    """The result of :func:`check_objectives`.

    Attributes:
        threshold_results: one per objective checked, in the objectives' order.
        outcome: PASSED, WARNED or FAILED (a ``ThresholdOutcome`` number).
        decision: APPROVED, APPROVED_WITH_WARNINGS or REJECTED (``ModelGateDecision``).
        reason: one line saying why.
    """

    threshold_results: list[evaluation_pb2.EvaluationThresholdResult]
    outcome: int
    decision: int
    reason: str
    fairness_gaps: list[evaluation_pb2.EvaluationFairnessGap] = field(default_factory=list)

    @property
    def failures(self) -> list[evaluation_pb2.EvaluationThresholdResult]:
        """The checks that failed (blocking or not) or had no value."""
        return [r for r in self.threshold_results if r.outcome != _O.THRESHOLD_OUTCOME_PASSED]

    @property
    def passed(self) -> bool:
        """Whether no blocking objective failed."""
        return self.outcome != _O.THRESHOLD_OUTCOME_FAILED


def _number(result: Result) -> float | None:
    kind = result.value.WhichOneof("kind")
    if kind == "double_value":
        return result.value.double_value
    if kind == "int_value":
        return float(result.value.int_value)
    if kind == "bool_value":
        return float(result.value.bool_value)
    return None


def _slice_matches(key: slice_pb2.SliceKey, spec: slice_pb2.SliceSpec) -> bool:
    if spec.expression or spec.feature_keys:
        return bool(spec.display_name) and key.display_name == spec.display_name
    return dict(key.feature_values) == dict(spec.feature_values)


def _find(
    results: list[Result], metric: str, spec: slice_pb2.SliceSpec, role: str
) -> Result | None:
    for result in results:
        key = result.metric_key
        if (
            key.name == metric
            and key.model_role == role
            and not key.is_diff
            and _slice_matches(result.slice_key, spec)
        ):
            return result
    return None


def _spec_key(spec: slice_pb2.SliceSpec) -> slice_pb2.SliceKey:
    key = slice_pb2.SliceKey(display_name=spec.display_name)
    key.feature_values.update(spec.feature_values)
    if not key.display_name and spec.feature_values:
        key.display_name = slice_name(spec.feature_values)
    return key


def _within(value: float, bounds: threshold_pb2.ValueThreshold) -> bool:
    if bounds.HasField("lower_bound") and not value >= bounds.lower_bound:
        return False
    return not (bounds.HasField("upper_bound") and not value <= bounds.upper_bound)


def _bounds_text(value: float, bounds: threshold_pb2.ValueThreshold) -> str:
    parts = []
    if bounds.HasField("lower_bound"):
        parts.append(f"{'>=' if value >= bounds.lower_bound else '<'} {bounds.lower_bound:g}")
    if bounds.HasField("upper_bound"):
        parts.append(f"{'<=' if value <= bounds.upper_bound else '>'} {bounds.upper_bound:g}")
    return " and ".join(parts)


def _change_ok(value: float, baseline: float, change: threshold_pb2.ChangeThreshold) -> bool:
    worse = (
        baseline - value
        if change.direction == threshold_pb2.DIRECTION_HIGHER_IS_BETTER
        else value - baseline
    )
    if change.HasField("absolute") and worse > change.absolute:
        return False
    return not (
        change.HasField("relative") and baseline != 0 and worse / abs(baseline) > change.relative
    )


def _objectives_of(source: Any) -> tuple[objectives_pb2.CodifiedObjectives | None, Any]:
    """(the objectives, the stage 1 report they came from) of a message or a report."""
    if source is None:
        return None, None
    if isinstance(source, stage_report_pb2.StageReport):
        if source.WhichOneof("payload") != "codified_objectives":
            raise ValueError("expected a stage 1 report (codified objectives)")
        return source.codified_objectives, source
    if isinstance(source, objectives_pb2.CodifiedObjectives):
        return source, None
    raise TypeError(f"expected CodifiedObjectives or its StageReport, got {type(source)!r}")


def check_objectives(
    objectives: Any, results: Iterable[Result], *, stage: int | None = None
) -> ObjectivesCheck:
    """Checks metric results against codified objectives (see the module documentation).

    ``objectives`` is a ``CodifiedObjectives`` or the stage 1 ``StageReport`` holding
    it; ``stage`` (a ``LifecycleStage`` number) skips objectives whose ``check_stages``
    leave it out (empty ``check_stages`` means evaluation and test).
    """
    codified, _ = _objectives_of(objectives)
    if codified is None:
        raise ValueError("no objectives to check")
    found = list(results)
    required = set(codified.launch_criteria.required_objective_ids)
    checked: list[evaluation_pb2.EvaluationThresholdResult] = []
    gaps: list[evaluation_pb2.EvaluationFairnessGap] = []
    default_stages = {
        stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION,
        stage_pb2.LIFECYCLE_STAGE_MODEL_TEST,
    }
    for objective in codified.objectives:
        stages = set(objective.check_stages) or default_stages
        if stage is not None and stage not in stages:
            continue
        blocking = objective.severity != objectives_pb2.OBJECTIVE_SEVERITY_WARNING or (
            objective.id in required
        )
        item = evaluation_pb2.EvaluationThresholdResult(
            objective_id=objective.id, blocking=blocking
        )
        item.metric_key.name = objective.metric_name
        item.slice_key.CopyFrom(_spec_key(objective.scope))
        item.threshold.CopyFrom(objective.threshold)
        value, baseline, text = _observe(objective, found, gaps)
        ok = value is not None
        if value is not None:
            item.value = value
            ok = _within(value, objective.threshold.value_threshold)
            if objective.threshold.HasField("change_threshold"):
                if baseline is None:
                    ok = False
                    value = None
                    text += " (no baseline value for the change threshold)"
                else:
                    item.baseline_value = baseline
                    ok = ok and _change_ok(
                        item.value, baseline, objective.threshold.change_threshold
                    )
        item.message = text
        if value is None:
            item.outcome = _O.THRESHOLD_OUTCOME_MISSING
        elif ok:
            item.outcome = _O.THRESHOLD_OUTCOME_PASSED
        else:
            item.outcome = _O.THRESHOLD_OUTCOME_FAILED if blocking else _O.THRESHOLD_OUTCOME_WARNED
        checked.append(item)
    return _summarize(checked, gaps)


def _observe(
    objective: objectives_pb2.Objective,
    results: list[Result],
    gaps: list[evaluation_pb2.EvaluationFairnessGap],
) -> tuple[float | None, float | None, str]:
    """(value, baseline value, message) of an objective's metric on its slice."""
    metric = objective.metric_name
    where = _spec_key(objective.scope).display_name
    found = _find(results, metric, objective.scope, "")
    value = _number(found) if found is not None else None
    baseline_result = _find(results, metric, objective.scope, "baseline")
    baseline = _number(baseline_result) if baseline_result is not None else None
    bounds = objective.threshold.value_threshold
    if objective.HasField("comparison_scope"):
        other = _find(results, metric, objective.comparison_scope, "")
        other_value = _number(other) if other is not None else None
        against = _spec_key(objective.comparison_scope).display_name or "all"
        if value is None or other_value is None:
            return None, None, f"{metric} gap {where or 'all'} vs {against}: no value"
        gap = other_value - value
        entry = evaluation_pb2.EvaluationFairnessGap(
            metric=metric, value_a=value, value_b=other_value, difference=gap
        )
        entry.group_a.CopyFrom(_spec_key(objective.scope))
        entry.group_b.CopyFrom(_spec_key(objective.comparison_scope))
        if value != 0:
            entry.ratio = other_value / value
        entry.threshold.CopyFrom(bounds)
        entry.outcome = (
            _O.THRESHOLD_OUTCOME_PASSED if _within(gap, bounds) else _O.THRESHOLD_OUTCOME_FAILED
        )
        gaps.append(entry)
        return (
            gap,
            None,
            f"{metric} gap {against} - {where or 'all'} {gap:.4g} " + (_bounds_text(gap, bounds)),
        )
    if value is None or math.isnan(value):
        return None, baseline, f"{metric}{f' on {where}' if where else ''}: no value"
    text = f"{metric} {value:.4g} {_bounds_text(value, bounds)}".rstrip()
    return value, baseline, text + (f" on {where}" if where else "")


def _summarize(
    checked: list[evaluation_pb2.EvaluationThresholdResult],
    gaps: list[evaluation_pb2.EvaluationFairnessGap],
) -> ObjectivesCheck:
    blocking = [
        r
        for r in checked
        if r.blocking and r.outcome in (_O.THRESHOLD_OUTCOME_FAILED, _O.THRESHOLD_OUTCOME_MISSING)
    ]
    warned = [r for r in checked if r.outcome == _O.THRESHOLD_OUTCOME_WARNED]
    if blocking:
        listed = "; ".join(f"{r.objective_id}: {r.message}" for r in blocking)
        return ObjectivesCheck(
            checked, _O.THRESHOLD_OUTCOME_FAILED, _D.MODEL_GATE_DECISION_REJECTED, listed, gaps
        )
    if warned:
        listed = "; ".join(f"{r.objective_id}: {r.message}" for r in warned)
        return ObjectivesCheck(
            checked,
            _O.THRESHOLD_OUTCOME_WARNED,
            _D.MODEL_GATE_DECISION_APPROVED_WITH_WARNINGS,
            listed,
            gaps,
        )
    return ObjectivesCheck(
        checked,
        _O.THRESHOLD_OUTCOME_PASSED,
        _D.MODEL_GATE_DECISION_APPROVED,
        f"all {len(checked)} objectives met",
        gaps,
    )


def evaluation_dataset(
    resource: Any,
    *,
    split: str = "",
    example_count: int = 0,
    digest: digest_pb2.DigestSet | None = None,
) -> evaluation_pb2.EvaluationDataset:
    """An ``EvaluationDataset`` for a dataset version (its reference and content digest).

    ``digest`` is needed when ``resource`` is a reference, which records none.
    """
    out = evaluation_pb2.EvaluationDataset(split=split, example_count=example_count)
    out.dataset.CopyFrom(to_ref(resource))
    recorded = digest if digest is not None else digest_of(resource)
    if recorded is not None:
        out.digest.CopyFrom(recorded)
    return out


def _overall_count(results: list[Result]) -> int:
    return max((r.sample_count for r in results if not r.slice_key.feature_values), default=0)


def _slicing_specs(results: list[Result]) -> list[slice_pb2.SliceSpec]:
    seen: list[tuple[str, ...]] = []
    for result in results:
        keys = tuple(sorted(result.slice_key.feature_values))
        if keys not in seen:
            seen.append(keys)
    return [
        slice_pb2.SliceSpec(feature_keys=list(keys), display_name="" if keys else "overall")
        for keys in seen
    ]


def model_evaluation(
    candidate: Any,
    results: Iterable[Result],
    objectives: Any = None,
    *,
    datasets: Mapping[str, Any] | None = None,
    splitting: Any = None,
    baseline: Any = None,
    tool: str = TOOL,
) -> evaluation_pb2.ModelEvaluation:
    """The stage 8 payload: ``results`` of ``candidate`` checked against ``objectives``.

    ``datasets`` maps a split name (``validation``) to the dataset version evaluated on;
    or ``splitting`` (the stage 6 ``DataSplitting`` or its report) names them: its
    VALIDATION splits, with their registered dataset versions and digests.
    ``objectives`` is the stage 1 report (recorded as ``objectives_report``) or its
    ``CodifiedObjectives``. Without objectives nothing is checked: the outcome is PASSED
    (no objective failed) and the decision NEEDS_REVIEW, since no objective decided.
    """
    found = list(results)
    codified, report = _objectives_of(objectives)
    out = evaluation_pb2.ModelEvaluation(tool=tool)
    out.candidate_model.CopyFrom(to_ref(candidate))
    if baseline is not None:
        out.baseline_model.CopyFrom(to_ref(baseline))
    if report is not None:
        out.objectives_report.CopyFrom(to_ref(report))
    count = _overall_count(found)
    for split, resource in (datasets or {}).items():
        out.datasets.append(evaluation_dataset(resource, split=split, example_count=count))
    if splitting is not None:
        for part in _splits_of(splitting).splits:
            if part.role == splitting_pb2.SPLIT_ROLE_VALIDATION:
                out.datasets.append(
                    evaluation_dataset(
                        part.output_dataset,
                        split=part.name,
                        example_count=count or part.row_count,
                        digest=part.digest,
                    )
                )
    out.slicing_specs.extend(_slicing_specs(found))
    for name in dict.fromkeys(r.metric_key.name for r in found):
        out.metric_specs.add(name=name)
    out.metric_results.extend(found)
    if codified is not None:
        check = check_objectives(codified, found, stage=stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION)
        _apply(out, check)
        # The payload's failures are the FAILED checks only (its comment says so).
        out.failures.extend(r for r in check.failures if r.outcome == _O.THRESHOLD_OUTCOME_FAILED)
    else:
        _unchecked(out)
    return out


def _unchecked(out: Any) -> None:
    """The Required outcome and decision of a payload no objectives were checked for."""
    out.objectives_outcome = _O.THRESHOLD_OUTCOME_PASSED
    out.decision = _D.MODEL_GATE_DECISION_NEEDS_REVIEW
    out.decision_reason = "no codified objectives were checked; a person decides"


def _apply(out: Any, check: ObjectivesCheck) -> None:
    out.threshold_results.extend(check.threshold_results)
    out.fairness_gaps.extend(check.fairness_gaps)
    out.objectives_outcome = check.outcome
    out.decision = check.decision
    out.decision_reason = check.reason


def _splits_of(source: Any) -> splitting_pb2.DataSplitting:
    if isinstance(source, stage_report_pb2.StageReport):
        if source.WhichOneof("payload") != "data_splitting":
            raise ValueError("expected a stage 6 report (data splitting)")
        return source.data_splitting
    if isinstance(source, splitting_pb2.DataSplitting):
        return source
    raise TypeError(f"expected DataSplitting or its StageReport, got {type(source)!r}")


def model_test(
    candidate: Any,
    results: Iterable[Result],
    objectives: Any = None,
    *,
    evaluation: stage_report_pb2.StageReport | str,
    splitting: Any = None,
    holdback: str = "",
) -> holdback_test_pb2.ModelTest:
    """The stage 9 payload: the hold-back test of ``candidate``, after its evaluation.

    ``evaluation`` is the stage 8 report (or its id) the test follows;
    ``objectives`` the stage 1 report or its ``CodifiedObjectives`` (without them the
    test checks nothing: PASSED, NEEDS_REVIEW, as in ``model_evaluation``).
    ``splitting`` (the stage 6 ``DataSplitting`` or its report) says which data is held
    back: the split
    named ``holdback`` (by default the one whose role is HOLDBACK), with the dataset
    version it was registered as and its digest; the data it must be disjoint from is
    every TRAIN and VALIDATION split; the overlap comes from the splitting's leakage
    checks between the hold-back split and each of them. The disjointness passes when
    each of them was checked and none overlaps (FAILED on any overlap, MISSING when a
    pair was not checked).
    """
    found = list(results)
    codified, _ = _objectives_of(objectives)
    out = holdback_test_pb2.ModelTest(
        evaluation_report_id=evaluation if isinstance(evaluation, str) else evaluation.meta.id
    )
    out.model.CopyFrom(to_ref(candidate))
    if splitting is not None:
        _holdback_from(out, _splits_of(splitting), holdback, _overall_count(found))
    out.metric_results.extend(found)
    if codified is not None:
        check = check_objectives(codified, found, stage=stage_pb2.LIFECYCLE_STAGE_MODEL_TEST)
        _apply(out, check)
        result = out.test_result
        result.result = ThresholdOutcome.ValueType(check.outcome)
        for item in check.threshold_results:
            bucket = {
                _O.THRESHOLD_OUTCOME_PASSED: result.passed_tests,
                _O.THRESHOLD_OUTCOME_WARNED: result.warned_tests,
            }.get(item.outcome, result.failed_tests)
            bucket.append(item.objective_id)
    else:
        _unchecked(out)
        out.test_result.result = _O.THRESHOLD_OUTCOME_PASSED
    return out


def _holdback_from(
    out: holdback_test_pb2.ModelTest, splits: splitting_pb2.DataSplitting, name: str, count: int
) -> None:
    """Fills the hold-back data and its disjointness proof from a splitting."""
    held = next(
        (
            s
            for s in splits.splits
            if (s.name == name if name else s.role == splitting_pb2.SPLIT_ROLE_HOLDBACK)
        ),
        None,
    )
    if held is None:
        raise ValueError(f"the splitting has no {name or 'HOLDBACK'} split")
    data = evaluation_dataset(
        held.output_dataset,
        split=held.name,
        example_count=count or held.row_count,
        digest=held.digest,
    )
    out.holdback_dataset.CopyFrom(data)
    disjoint = out.disjointness
    disjoint.holdback_dataset.CopyFrom(data.dataset)
    disjoint.holdback_digest.CopyFrom(data.digest)
    roles = (splitting_pb2.SPLIT_ROLE_TRAIN, splitting_pb2.SPLIT_ROLE_VALIDATION)
    compared = [s for s in splits.splits if s.role in roles and s.name != held.name]
    covered = set()
    for other in compared:
        disjoint.compared_datasets.append(other.output_dataset)
        disjoint.compared_digests.append(other.digest)
        for check in splits.leakage_checks:
            if {check.split_a, check.split_b} == {held.name, other.name}:
                covered.add(other.name)
                disjoint.overlap_count += check.overlap_count
                disjoint.method = (
                    "entity-key"
                    if check.method == splitting_pb2.SPLIT_LEAKAGE_METHOD_EXACT_KEY
                    else "row-hash"
                )
                disjoint.key_columns[:] = list(check.key_columns)
    if disjoint.overlap_count:
        disjoint.outcome = _O.THRESHOLD_OUTCOME_FAILED
    elif compared and covered == {s.name for s in compared}:
        disjoint.outcome = _O.THRESHOLD_OUTCOME_PASSED
    else:
        disjoint.outcome = _O.THRESHOLD_OUTCOME_MISSING
