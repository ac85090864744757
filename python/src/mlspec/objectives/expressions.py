"""One expression of either dialect: compiled once, evaluated on a report's values.

``compile_expression`` checks the text in its dialect and returns the CEL program that
means it (``mlspec-objective/v1`` is translated; CEL is taken as written) with the
values it reads. ``evaluate`` runs it on ``Values``: a value it needs that is missing
makes the result MISSING without running it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from mlspec.objectives import cel, dialect
from mlspec.objectives.cel import Reference
from mlspec.objectives.dialect import Declarations
from mlspec.objectives.syntax import ExpressionError, Position

__all__ = [
    "CEL",
    "DIALECTS",
    "Compiled",
    "Observation",
    "Result",
    "UnknownDialect",
    "Values",
    "compile_expression",
    "evaluate",
]

CEL = "cel"
DIALECTS = (dialect.DIALECT, CEL)
# Names CEL expressions use for the tables; no metric becomes a variable of these names.
_TABLES = frozenset({"metrics", "slices", "baseline", "baseline_slices", "objectives"})


class UnknownDialect(ValueError):
    """An expression in a dialect this implementation does not know."""


@dataclass(frozen=True)
class Compiled:
    """A checked expression and the CEL text that is evaluated for it."""

    dialect: str
    text: str
    cel: str
    references: tuple[Reference, ...]
    # A CEL expression that tests presence with has() is run even when values are missing.
    guarded: bool = False


@dataclass
class Values:
    """What an expression may read: metric values by slice, of the candidate and baseline.

    ``slices`` and ``baseline_slices`` map a slice name (``mlspec.objectives.slice_name``)
    to metric values; the overall values are ``metrics`` and ``baseline``. ``objectives``
    says which objectives passed (for the launch criteria).
    """

    metrics: dict[str, float] = field(default_factory=dict)
    slices: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    baseline_slices: dict[str, dict[str, float]] = field(default_factory=dict)
    objectives: dict[str, bool] = field(default_factory=dict)

    def get(self, reference: Reference) -> float | None:
        """The value a reference reads, or None when it is missing."""
        if reference.slice:
            table = self.baseline_slices if reference.baseline else self.slices
            return table.get(reference.slice, {}).get(reference.metric)
        return (self.baseline if reference.baseline else self.metrics).get(reference.metric)


@dataclass(frozen=True)
class Observation:
    """A value read: the candidate's and, when compared, the baseline's (None: missing)."""

    variable: str
    value: float | None
    baseline_value: float | None
    baseline_read: bool


@dataclass(frozen=True)
class Result:
    """An evaluation: True or False, or None when a value was missing (``missing`` names it)."""

    value: bool | None
    observations: tuple[Observation, ...]
    missing: tuple[str, ...] = ()


def compile_expression(text: str, dialect_name: str, declared: Declarations) -> Compiled:
    """Checks ``text`` in its dialect; ExpressionError (or UnknownDialect) when it is invalid."""
    if dialect_name == dialect.DIALECT:
        node = dialect.parse(text)
        dialect.check(node, declared)
        translated = dialect.to_cel(node)
        references = []
        for metric, with_baseline in dialect.metrics_of(node):
            references.append(Reference(metric.name, metric.slice))
            if with_baseline:
                references.append(Reference(metric.name, metric.slice, baseline=True))
        cel.program(translated)
        return Compiled(dialect_name, text, translated, tuple(dict.fromkeys(references)))
    if dialect_name == CEL:
        references_read, guarded = cel.check(text, declared)
        try:
            cel.program(text)
        except CELParseError as exc:  # pragma: no cover - check parsed it already
            raise ExpressionError(Position(1, 1), str(exc)) from None
        return Compiled(dialect_name, text, text, references_read, guarded)
    raise UnknownDialect(f"unknown dialect {dialect_name!r}; use {dialect.DIALECT!r} or {CEL!r}")


def _double_map(values: Mapping[str, float]) -> celtypes.MapType:
    return celtypes.MapType(
        {celtypes.StringType(k): celtypes.DoubleType(v) for k, v in values.items()}
    )


def _activation(values: Values) -> dict[str, celtypes.Value]:
    found: dict[str, celtypes.Value] = {
        "metrics": _double_map(values.metrics),
        "baseline": _double_map(values.baseline),
        "slices": celtypes.MapType(
            {celtypes.StringType(k): _double_map(v) for k, v in values.slices.items()}
        ),
        "baseline_slices": celtypes.MapType(
            {celtypes.StringType(k): _double_map(v) for k, v in values.baseline_slices.items()}
        ),
        "objectives": celtypes.MapType(
            {celtypes.StringType(k): celtypes.BoolType(v) for k, v in values.objectives.items()}
        ),
    }
    for name, value in values.metrics.items():
        if name not in _TABLES and name.isidentifier():
            found[name] = celtypes.DoubleType(value)
    return found


def _observations(compiled: Compiled, values: Values) -> tuple[Observation, ...]:
    found: dict[tuple[str, str], Observation] = {}
    for reference in compiled.references:
        key = (reference.metric, reference.slice)
        previous = found.get(key)
        value = values.get(Reference(reference.metric, reference.slice))
        baseline_read = reference.baseline or (previous is not None and previous.baseline_read)
        baseline_value = (
            values.get(Reference(reference.metric, reference.slice, baseline=True))
            if baseline_read
            else None
        )
        found[key] = Observation(reference.variable, value, baseline_value, baseline_read)
    return tuple(found.values())


def evaluate(compiled: Compiled, values: Values) -> Result:
    """Runs a compiled expression on ``values``."""
    observations = _observations(compiled, values)
    missing = tuple(
        dict.fromkeys(
            ("baseline " if r.baseline else "") + r.variable
            for r in compiled.references
            if r.required and values.get(r) is None
        )
    )
    if missing and not compiled.guarded:
        return Result(None, observations, missing)
    try:
        outcome = cel.program(compiled.cel).evaluate(_activation(values))
    except CELEvalError as exc:
        return Result(
            None, observations, missing or (f"error: {exc.args[0] if exc.args else exc}",)
        )
    if not isinstance(outcome, celtypes.BoolType):
        return Result(None, observations, (f"error: the expression gave {outcome!r}",))
    return Result(bool(outcome), observations)
