"""The syntax tree of ``mlspec-objective/v1`` expressions and the error both dialects raise.

Every node carries the position (line and column, from 1) of its first character, so
that a type error or an unknown name can be reported where it is. Types are ``number``
and ``condition``; the checker in ``mlspec.objectives.dialect`` assigns them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "Binary",
    "Change",
    "Compare",
    "ExpressionError",
    "Function",
    "Literal",
    "Logic",
    "Metric",
    "Negate",
    "Node",
    "Not",
    "Passed",
    "Position",
    "Truth",
    "slice_name",
]


@dataclass(frozen=True)
class Position:
    """Where a node starts in the expression text (line and column count from 1)."""

    line: int
    column: int

    def describe(self, text: str) -> str:
        """``column 7`` for one-line text, ``line 2, column 7`` otherwise."""
        if "\n" not in text.strip("\n"):
            return f"column {self.column}"
        return f"line {self.line}, column {self.column}"


class ExpressionError(ValueError):
    """An expression that cannot be evaluated: a syntax or type error, an unknown name."""

    def __init__(self, position: Position, problem: str) -> None:
        super().__init__(problem)
        self.position = position
        self.problem = problem

    def describe(self, text: str) -> str:
        """The problem with its position, for example ``column 5: unknown metric 'aucc'``."""
        return f"{self.position.describe(text)}: {self.problem}"


def slice_name(feature_values: dict[str, str] | tuple[tuple[str, str], ...]) -> str:
    """The name of a slice: ``key=value`` pairs sorted by key, joined by commas.

    Example:
        >>> slice_name({"segment": "new", "country": "DE"})
        'country=DE,segment=new'
    """
    pairs = feature_values.items() if isinstance(feature_values, dict) else feature_values
    return ",".join(f"{key}={value}" for key, value in sorted(pairs))


@dataclass(frozen=True)
class Literal:
    """A number."""

    value: float
    position: Position


@dataclass(frozen=True)
class Truth:
    """``true`` or ``false``."""

    value: bool
    position: Position


@dataclass(frozen=True)
class Metric:
    """A metric on a slice (the overall slice when ``selectors`` is empty)."""

    name: str
    selectors: tuple[tuple[str, str], ...]
    position: Position

    @property
    def slice(self) -> str:
        """The slice's name (empty for the overall slice)."""
        return slice_name(self.selectors)

    @property
    def variable(self) -> str:
        """The metric as written in ``mlspec-objective/v1``: ``auc``, ``recall[segment=new]``."""
        return f"{self.name}[{self.slice}]" if self.selectors else self.name


@dataclass(frozen=True)
class Change:
    """``delta(metric)`` or ``rel_delta(metric)``: the change against the baseline."""

    relative: bool
    metric: Metric
    position: Position


@dataclass(frozen=True)
class Function:
    """``abs(x)``, ``min(x, y)`` or ``max(x, y)``."""

    name: str
    arguments: tuple[Node, ...]
    position: Position


@dataclass(frozen=True)
class Passed:
    """``passed("objective-id")``: whether that objective passed (launch criteria only)."""

    objective_id: str
    position: Position


@dataclass(frozen=True)
class Negate:
    """``-x``."""

    operand: Node
    position: Position


@dataclass(frozen=True)
class Binary:
    """Arithmetic: ``+``, ``-``, ``*`` or ``/``."""

    operator: str
    left: Node
    right: Node
    position: Position


@dataclass(frozen=True)
class Compare:
    """A comparison: ``>=``, ``>``, ``<=``, ``<``, ``==`` or ``!=``."""

    operator: str
    left: Node
    right: Node
    position: Position


@dataclass(frozen=True)
class Logic:
    """``and`` or ``or``."""

    operator: str
    left: Node
    right: Node
    position: Position


@dataclass(frozen=True)
class Not:
    """``not x``."""

    operand: Node
    position: Position


Node: TypeAlias = (
    Literal | Truth | Metric | Change | Function | Passed | Negate | Binary | Compare | Logic | Not
)
