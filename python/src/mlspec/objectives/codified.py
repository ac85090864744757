"""A set of codified objectives (``CodifiedObjectives``), checked and compiled as a whole.

``check_objectives`` finds every problem of a set at once, each as a field violation
whose description names the position in the expression: a syntax or type error, an
unknown metric or objective id, an unknown dialect, duplicate or missing ids, and an
objective without an expression whose metric, scope and threshold say no condition.
The metric names an expression may use are those the set declares (its objectives' and
error classes' ``metric_name``) and ``model_size_bytes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlspec.common.v1 import threshold_pb2
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import objectives_pb2, stage_pb2
from mlspec.objectives.dialect import DIALECT, KEYWORDS, Declarations
from mlspec.objectives.expressions import Compiled, UnknownDialect, compile_expression
from mlspec.objectives.syntax import ExpressionError

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_CHECK_STAGES",
    "CompiledObjective",
    "ObjectiveSet",
    "check_objectives",
    "derived_expression",
]

BUILTIN_METRICS = frozenset({"model_size_bytes"})
# Where an objective is checked when its check_stages are empty.
DEFAULT_CHECK_STAGES = frozenset(
    {stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION, stage_pb2.LIFECYCLE_STAGE_MODEL_TEST}
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*\Z")
_PLAIN_VALUE = re.compile(r'[^,\]=\s"]+\Z')
HIGHER = threshold_pb2.DIRECTION_HIGHER_IS_BETTER
LOWER = threshold_pb2.DIRECTION_LOWER_IS_BETTER


@dataclass(frozen=True)
class CompiledObjective:
    """One objective with its compiled expression (its own, or derived from its fields)."""

    objective: objectives_pb2.Objective
    compiled: Compiled
    blocking: bool
    check_stages: frozenset[int]


@dataclass(frozen=True)
class ObjectiveSet:
    """A checked objective set, ready to evaluate."""

    message: objectives_pb2.CodifiedObjectives
    objectives: tuple[CompiledObjective, ...]
    launch_expression: Compiled | None
    # The objectives the launch criteria require: those listed, else every blocking one.
    required_ids: tuple[str, ...]

    @property
    def max_leakage_fraction(self) -> float:
        """The largest split overlap the launch criteria tolerate (0 when unset)."""
        criteria = self.message.launch_criteria
        return criteria.max_leakage_fraction if criteria.HasField("max_leakage_fraction") else 0.0


def _number(value: float) -> str:
    return repr(float(value))


def _metric_text(name: str, feature_values: dict[str, str]) -> str | None:
    """``name[k=v,...]`` in ``mlspec-objective/v1``, or None when it cannot be written."""
    if not _NAME.match(name) or name in KEYWORDS:
        return None
    parts = []
    for key, value in sorted(feature_values.items()):
        if not _NAME.match(key) or not value or '"' in value:
            return None
        parts.append(f"{key}={value}" if _PLAIN_VALUE.match(value) else f'{key}="{value}"')
    return f"{name}[{','.join(parts)}]" if parts else name


def derived_expression(objective: objectives_pb2.Objective) -> tuple[str | None, str]:
    """The ``mlspec-objective/v1`` text that an objective's fields mean, or (None, why not)."""
    scope = objective.scope
    if scope.feature_keys or (scope.expression and not scope.feature_values):
        return None, "names its scope by feature_keys or an expression; write an expression"
    metric = _metric_text(objective.metric_name, dict(scope.feature_values))
    if metric is None:
        return None, (
            f"metric {objective.metric_name!r} or its slice cannot be written in "
            f"{DIALECT}; write an expression"
        )
    value = metric
    if objective.HasField("comparison_scope"):
        other = objective.comparison_scope
        if other.feature_keys or not other.feature_values:
            return None, "names its comparison scope without feature_values; write an expression"
        second = _metric_text(objective.metric_name, dict(other.feature_values))
        if second is None:
            return None, "its comparison slice cannot be written; write an expression"
        value = f"({metric} - {second})"
    threshold = objective.threshold
    parts = []
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound"):
        parts.append(f"{value} >= {_number(bounds.lower_bound)}")
    if bounds.HasField("upper_bound"):
        parts.append(f"{value} <= {_number(bounds.upper_bound)}")
    change = threshold.change_threshold
    if change.HasField("absolute") or change.HasField("relative"):
        if objective.HasField("comparison_scope"):
            return None, "has a change threshold on a slice gap; write an expression"
        if change.direction not in (HIGHER, LOWER):
            return None, "has a change threshold without a direction"
        for present, function, limit in (
            (change.HasField("absolute"), "delta", change.absolute),
            (change.HasField("relative"), "rel_delta", change.relative),
        ):
            if present:
                if change.direction == HIGHER:
                    parts.append(f"{function}({metric}) >= {_number(-abs(limit))}")
                else:
                    parts.append(f"{function}({metric}) <= {_number(abs(limit))}")
    if not parts:
        return None, "has neither an expression nor a threshold to check"
    return " and ".join(parts), ""


def _declared(message: objectives_pb2.CodifiedObjectives) -> frozenset[str]:
    names = {o.metric_name for o in message.objectives} | {
        e.metric_name for e in message.error_classes
    }
    return frozenset((names | BUILTIN_METRICS) - {""})


def _compile(
    expression: objectives_pb2.ObjectiveExpression,
    declared: Declarations,
    field: str,
    found: list[FieldViolation],
) -> Compiled | None:
    try:
        return compile_expression(expression.text, expression.dialect or DIALECT, declared)
    except UnknownDialect as exc:
        found.append(FieldViolation(f"{field}.dialect", str(exc)))
    except ExpressionError as exc:
        found.append(FieldViolation(f"{field}.text", exc.describe(expression.text)))
    return None


def check_objectives(
    message: objectives_pb2.CodifiedObjectives, path: str
) -> tuple[ObjectiveSet | None, list[FieldViolation]]:
    """The compiled set, or None and every problem (field paths start with ``path``)."""
    found: list[FieldViolation] = []
    metrics = _declared(message)
    ids = [o.id for o in message.objectives]
    for i, objective_id in enumerate(ids):
        if not objective_id:
            found.append(FieldViolation(f"{path}.objectives[{i}].id", "is required"))
        elif ids.index(objective_id) != i:
            found.append(
                FieldViolation(f"{path}.objectives[{i}].id", f"repeats id {objective_id!r}")
            )
    own = Declarations(metrics)
    compiled: list[CompiledObjective] = []
    for i, objective in enumerate(message.objectives):
        field = f"{path}.objectives[{i}]"
        if objective.HasField("expression"):
            result = _compile(objective.expression, own, f"{field}.expression", found)
        else:
            text, why = derived_expression(objective)
            if text is None:
                found.append(FieldViolation(field, why))
                continue
            derived = objectives_pb2.ObjectiveExpression(text=text, dialect=DIALECT)
            result = _compile(derived, own, f"{field}.threshold", found)
        if result is not None:
            severity = objective.severity
            compiled.append(
                CompiledObjective(
                    objective,
                    result,
                    severity != objectives_pb2.OBJECTIVE_SEVERITY_WARNING,
                    frozenset(objective.check_stages) or DEFAULT_CHECK_STAGES,
                )
            )
    criteria = message.launch_criteria
    known_ids = frozenset(ids) - {""}
    for i, listed in enumerate(criteria.required_objective_ids):
        if listed not in known_ids:
            found.append(
                FieldViolation(
                    f"{path}.launch_criteria.required_objective_ids[{i}]",
                    f"unknown objective id {listed!r}",
                )
            )
    launch = None
    if criteria.HasField("expression"):
        launch = _compile(
            criteria.expression,
            Declarations(metrics, known_ids),
            f"{path}.launch_criteria.expression",
            found,
        )
    if criteria.HasField("max_leakage_fraction") and not 0 <= criteria.max_leakage_fraction <= 1:
        found.append(
            FieldViolation(f"{path}.launch_criteria.max_leakage_fraction", "must be in [0, 1]")
        )
    if found:
        return None, found
    required = tuple(criteria.required_objective_ids) or tuple(
        c.objective.id for c in compiled if c.blocking
    )
    return ObjectiveSet(message, tuple(compiled), launch, required), []
