"""Evaluating an objective set on one set of values: the ``ObjectivesEvaluation`` message.

Each objective checked at the stage is PASSED, FAILED (blocking) or WARNED
(non-blocking) by its expression, or MISSING when a value it reads is missing; an
objective not checked at the stage is left unspecified and counts as passed for the
launch criteria's ``passed()``. The launch criteria fail when a required objective
checked here did not pass, or their expression does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlspec.common.v1 import threshold_pb2
from mlspec.lifecycle.v1 import objectives_evaluation_pb2 as pb
from mlspec.lifecycle.v1 import objectives_pb2
from mlspec.objectives.codified import ObjectiveSet
from mlspec.objectives.expressions import Observation, Result, Values, evaluate

__all__ = ["evaluate_set", "observation_text"]

PASSED = threshold_pb2.THRESHOLD_OUTCOME_PASSED
FAILED = threshold_pb2.THRESHOLD_OUTCOME_FAILED
WARNED = threshold_pb2.THRESHOLD_OUTCOME_WARNED
MISSING = threshold_pb2.THRESHOLD_OUTCOME_MISSING


def _number(value: float) -> str:
    return f"{value:.6g}"


def observation_text(observation: pb.ObjectiveObservation) -> str:
    """``auc = 0.71``, ``auc = 0.71 (baseline 0.79)``, ``auc missing``."""
    if not observation.HasField("value"):
        text = f"{observation.variable} missing"
    else:
        text = f"{observation.variable} = {_number(observation.value)}"
    if observation.HasField("baseline_value"):
        text += f" (baseline {_number(observation.baseline_value)})"
    return text


def _fill(target: Iterable[Observation], into: list[pb.ObjectiveObservation]) -> None:
    for seen in target:
        observation = pb.ObjectiveObservation(variable=seen.variable)
        if seen.value is not None:
            observation.value = seen.value
        if seen.baseline_value is not None:
            observation.baseline_value = seen.baseline_value
        into.append(observation)


def _message(result: Result, observations: list[pb.ObjectiveObservation]) -> str:
    seen = "; ".join(observation_text(o) for o in observations)
    if result.value is None:
        return f"missing {', '.join(result.missing)}" + (f" ({seen})" if seen else "")
    return ("holds" if result.value else "does not hold") + (f": {seen}" if seen else "")


def evaluate_set(
    objectives: ObjectiveSet,
    values: Values,
    stage: int,
    checked_at: frozenset[int] | None = None,
    *,
    launch_expression: bool = True,
) -> pb.ObjectivesEvaluation:
    """The evaluation of every objective and the launch criteria on ``values``.

    ``checked_at`` is the stages whose objectives are evaluated (``{stage}`` by default;
    the deployment evaluation passes packaging and serving, and no
    ``launch_expression``: that is evaluated on the evaluation and test reports).
    """
    stages = checked_at if checked_at is not None else frozenset({stage})
    evaluation = pb.ObjectivesEvaluation(
        objectives_version=objectives.message.objectives_version,
        stage=stage,  # type: ignore[arg-type]
    )
    passed: dict[str, bool] = {}
    blocking_failed = warned = False
    for item in objectives.objectives:
        objective = item.objective
        result = evaluation.results.add(
            objective_id=objective.id,
            blocking=item.blocking,
            checked=bool(item.check_stages & stages),
        )
        result.expression.CopyFrom(
            objectives_pb2.ObjectiveExpression(
                text=item.compiled.text, dialect=item.compiled.dialect
            )
        )
        if not result.checked:
            passed[objective.id] = True
            result.message = "not checked at this stage"
            continue
        outcome = evaluate(item.compiled, values)
        observations: list[pb.ObjectiveObservation] = []
        _fill(outcome.observations, observations)
        result.observations.extend(observations)
        if outcome.value is True:
            result.outcome = PASSED
        elif outcome.value is False:
            result.outcome = FAILED if item.blocking else WARNED
        else:
            result.outcome = MISSING
        result.message = _message(outcome, observations)
        passed[objective.id] = outcome.value is True
        if not passed[objective.id]:
            if item.blocking:
                blocking_failed = True
            else:
                warned = True
    launch = evaluation.launch_criteria
    failed_ids = [i for i in objectives.required_ids if not passed.get(i, True)]
    launch.failed_objective_ids.extend(failed_ids)
    problems = [f"required objective {i} did not pass" for i in failed_ids]
    if objectives.launch_expression is not None and launch_expression:
        outcome = evaluate(objectives.launch_expression, _with_objectives(values, passed))
        observations = []
        _fill(outcome.observations, observations)
        launch.observations.extend(observations)
        launch.expression_outcome = (
            PASSED if outcome.value is True else FAILED if outcome.value is False else MISSING
        )
        if outcome.value is not True:
            problems.append(f"the expression {_message(outcome, observations)}")
    launch.outcome = FAILED if problems else PASSED
    launch.message = "; ".join(problems) if problems else "the launch criteria hold"
    if blocking_failed or problems:
        evaluation.outcome = FAILED
    elif warned:
        evaluation.outcome = WARNED
    else:
        evaluation.outcome = PASSED
    return evaluation


def _with_objectives(values: Values, passed: dict[str, bool]) -> Values:
    return Values(
        metrics=values.metrics,
        slices=values.slices,
        baseline=values.baseline,
        baseline_slices=values.baseline_slices,
        objectives=passed,
    )
