"""``mlspec-objective/v1``: parsed with lark, checked, and translated one to one into CEL.

The grammar is the one documented on ``ObjectiveExpression`` (objectives.proto). A
parse builds a ``mlspec.objectives.syntax`` tree; ``check`` gives every node a type
(number or condition) and refuses unknown metrics and objective ids; ``to_cel`` writes
the equivalent CEL text, which is what is evaluated, so both dialects agree by
construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import lark
from lark import exceptions as lark_errors

from mlspec.objectives.syntax import (
    Binary,
    Change,
    Compare,
    ExpressionError,
    Function,
    Literal,
    Logic,
    Metric,
    Negate,
    Node,
    Not,
    Passed,
    Position,
    Truth,
)

__all__ = ["DIALECT", "KEYWORDS", "Declarations", "check", "metrics_of", "parse", "to_cel"]

DIALECT = "mlspec-objective/v1"

_GRAMMAR = r"""
?start: condition
?condition: disjunct
    | condition "or" disjunct -> or_
?disjunct: negation
    | disjunct "and" negation -> and_
?negation: comparison
    | "not" negation -> not_
?comparison: sum
    | sum COMPARE sum -> compare
?sum: product
    | sum "+" product -> add
    | sum "-" product -> subtract
?product: unary
    | product "*" unary -> multiply
    | product "/" unary -> divide
?unary: atom
    | "-" unary -> negate
?atom: NUMBER -> number
    | "true" -> true
    | "false" -> false
    | metric
    | "delta" "(" metric ")" -> delta
    | "rel_delta" "(" metric ")" -> rel_delta
    | "abs" "(" sum ")" -> abs
    | "min" "(" sum "," sum ")" -> min
    | "max" "(" sum "," sum ")" -> max
    | "passed" "(" STRING ")" -> passed
    | "(" condition ")"
metric: NAME ("[" selector ("," selector)* "]")?
selector: NAME "=" (VALUE | STRING)
COMPARE: ">=" | "<=" | "==" | "!=" | ">" | "<"
NAME: /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*/
VALUE: /[^,\]=\s"]+/
STRING: /"[^"]*"/
NUMBER: /(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/
%ignore /[ \t\r\n]+/
"""

# Words of the grammar, which no metric may be named.
KEYWORDS = frozenset(
    {"and", "or", "not", "true", "false", "delta", "rel_delta", "abs", "min", "max", "passed"}
)

_NAMES = {
    "NAME": "a metric name",
    "VALUE": "a slice value",
    "STRING": 'a "quoted" string',
    "NUMBER": "a number",
    "COMPARE": "a comparison (>=, >, <=, <, ==, !=)",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "$END": "the end",
}


@cache
def _parser() -> lark.Lark:
    return lark.Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@dataclass(frozen=True)
class Declarations:
    """The names an expression may use.

    ``metrics``: the metric names the objective set declares. ``objective_ids``: the ids
    ``passed()`` may name; None where ``passed()`` is not allowed (an objective's own
    expression).
    """

    metrics: frozenset[str]
    objective_ids: frozenset[str] | None = None


def parse(text: str) -> Node:
    """The syntax tree of ``text``; ExpressionError with the position on a syntax error."""
    if not text.strip():
        raise ExpressionError(Position(1, 1), "the expression is empty")
    try:
        tree = _parser().parse(text)
    except lark_errors.UnexpectedCharacters as exc:
        raise ExpressionError(
            Position(exc.line, exc.column), f"unexpected character {exc.char!r}"
        ) from None
    except lark_errors.UnexpectedToken as exc:
        expected = sorted(
            {_NAMES.get(t, repr(t.lower())) for t in exc.expected},
            key=lambda name: (not name.startswith("a "), name),
        )
        token = exc.token
        found = "the end" if token.type == "$END" else repr(str(token))
        at_end = token.type == "$END" or exc.line < 1
        line = _last_line(text) if at_end else exc.line
        column = _end_column(text) if at_end else exc.column
        raise ExpressionError(
            Position(line, column),
            f"unexpected {found}; expected {', '.join(expected)}",
        ) from None
    except lark_errors.UnexpectedInput as exc:  # pragma: no cover - lark's other failures
        raise ExpressionError(Position(1, 1), str(exc).splitlines()[0]) from None
    try:
        return _Build().transform(tree)
    except lark_errors.VisitError as exc:
        if isinstance(exc.orig_exc, ExpressionError):
            raise exc.orig_exc from None
        raise


def _last_line(text: str) -> int:
    return text.rstrip().count("\n") + 1


def _end_column(text: str) -> int:
    return len(text.rstrip().rsplit("\n", 1)[-1]) + 1


def _position(meta: lark.tree.Meta) -> Position:
    return Position(getattr(meta, "line", 1), getattr(meta, "column", 1))


def _token_position(token: lark.Token) -> Position:
    return Position(token.line or 1, token.column or 1)


@lark.v_args(meta=True)
class _Build(lark.Transformer[lark.Token, Node]):
    """Turns lark's parse tree into the syntax tree."""

    def number(self, meta: lark.tree.Meta, children: list[lark.Token]) -> Node:
        value = float(children[0])
        if math.isinf(value):
            raise ExpressionError(_token_position(children[0]), "the number is too large")
        return Literal(value, _token_position(children[0]))

    def true(self, meta: lark.tree.Meta, _children: list[object]) -> Node:
        return Truth(True, _position(meta))

    def false(self, meta: lark.tree.Meta, _children: list[object]) -> Node:
        return Truth(False, _position(meta))

    def selector(self, meta: lark.tree.Meta, children: list[lark.Token]) -> tuple[str, str]:
        key, value = children
        text = str(value)
        if value.type == "STRING":
            text = text[1:-1]
            if not text:
                raise ExpressionError(_token_position(value), "a slice value cannot be empty")
        return str(key), text

    def metric(self, meta: lark.tree.Meta, children: list[object]) -> Node:
        name = children[0]
        assert isinstance(name, lark.Token)
        selectors = [c for c in children[1:] if isinstance(c, tuple)]
        keys = [key for key, _ in selectors]
        duplicate = next((k for k in keys if keys.count(k) > 1), None)
        if duplicate is not None:
            raise ExpressionError(
                _token_position(name), f"the slice names feature {duplicate!r} twice"
            )
        return Metric(str(name), tuple(sorted(selectors)), _token_position(name))

    def _change(self, meta: lark.tree.Meta, children: list[Node], relative: bool) -> Node:
        metric = children[0]
        assert isinstance(metric, Metric)
        return Change(relative, metric, _position(meta))

    def delta(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return self._change(meta, children, relative=False)

    def rel_delta(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return self._change(meta, children, relative=True)

    def abs(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return Function("abs", tuple(children), _position(meta))

    def min(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return Function("min", tuple(children), _position(meta))

    def max(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return Function("max", tuple(children), _position(meta))

    def passed(self, meta: lark.tree.Meta, children: list[lark.Token]) -> Node:
        return Passed(str(children[0])[1:-1], _token_position(children[0]))

    def negate(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return Negate(children[0], _position(meta))

    def _binary(self, operator: str, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return Binary(operator, children[0], children[1], _position(meta))

    def add(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return self._binary("+", meta, children)

    def subtract(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return self._binary("-", meta, children)

    def multiply(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return self._binary("*", meta, children)

    def divide(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return self._binary("/", meta, children)

    def compare(self, meta: lark.tree.Meta, children: list[Node | lark.Token]) -> Node:
        left, operator, right = children
        assert not isinstance(left, lark.Token) and not isinstance(right, lark.Token)
        return Compare(str(operator), left, right, _position(meta))

    def and_(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return Logic("and", children[0], children[1], _position(meta))

    def or_(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return Logic("or", children[0], children[1], _position(meta))

    def not_(self, meta: lark.tree.Meta, children: list[Node]) -> Node:
        return Not(children[0], _position(meta))


# -- types and names ------------------------------------------------------------------

NUMBER = "number"
CONDITION = "condition"


def check(node: Node, declared: Declarations) -> None:
    """ExpressionError unless ``node`` is a condition over declared names."""
    kind = _type(node, declared)
    if kind != CONDITION:
        raise ExpressionError(
            node.position, "the expression is a number; compare it, for example `auc >= 0.8`"
        )


def _expect(node: Node, declared: Declarations, wanted: str, where: str) -> None:
    kind = _type(node, declared)
    if kind != wanted:
        raise ExpressionError(node.position, f"{where} needs a {wanted}, not a {kind}")


def _type(node: Node, declared: Declarations) -> str:
    if isinstance(node, Literal):
        return NUMBER
    if isinstance(node, Truth):
        return CONDITION
    if isinstance(node, Metric):
        _check_metric(node, declared)
        return NUMBER
    if isinstance(node, Change):
        _check_metric(node.metric, declared)
        return NUMBER
    if isinstance(node, Function):
        for argument in node.arguments:
            _expect(argument, declared, NUMBER, f"{node.name}()")
        return NUMBER
    if isinstance(node, Passed):
        if declared.objective_ids is None:
            raise ExpressionError(
                node.position, "passed() is only for the launch criteria's expression"
            )
        if node.objective_id not in declared.objective_ids:
            raise ExpressionError(node.position, f"unknown objective id {node.objective_id!r}")
        return CONDITION
    if isinstance(node, Negate):
        _expect(node.operand, declared, NUMBER, "'-'")
        return NUMBER
    if isinstance(node, Binary):
        _expect(node.left, declared, NUMBER, f"'{node.operator}'")
        _expect(node.right, declared, NUMBER, f"'{node.operator}'")
        return NUMBER
    if isinstance(node, Compare):
        left, right = _type(node.left, declared), _type(node.right, declared)
        if left != right or (left == CONDITION and node.operator not in ("==", "!=")):
            raise ExpressionError(
                node.position, f"'{node.operator}' cannot compare a {left} with a {right}"
            )
        return CONDITION
    if isinstance(node, Logic):
        _expect(node.left, declared, CONDITION, f"'{node.operator}'")
        _expect(node.right, declared, CONDITION, f"'{node.operator}'")
        return CONDITION
    _expect(node.operand, declared, CONDITION, "'not'")
    return CONDITION


def _check_metric(metric: Metric, declared: Declarations) -> None:
    if metric.name in KEYWORDS:
        raise ExpressionError(metric.position, f"{metric.name!r} is a keyword, not a metric")
    if metric.name not in declared.metrics:
        known = ", ".join(sorted(declared.metrics)) or "none"
        raise ExpressionError(
            metric.position, f"unknown metric {metric.name!r} (the objective set declares {known})"
        )


def metrics_of(node: Node) -> Iterator[tuple[Metric, bool]]:
    """Every metric the expression reads, with whether it also reads its baseline value."""
    if isinstance(node, Metric):
        yield node, False
    elif isinstance(node, Change):
        yield node.metric, True
    elif isinstance(node, Function):
        for argument in node.arguments:
            yield from metrics_of(argument)
    elif isinstance(node, (Negate, Not)):
        yield from metrics_of(node.operand)
    elif isinstance(node, (Binary, Compare, Logic)):
        yield from metrics_of(node.left)
        yield from metrics_of(node.right)


# -- the translation into CEL ---------------------------------------------------------


def cel_string(text: str) -> str:
    """A CEL string literal for ``text``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _value(metric: Metric, *, baseline: bool) -> str:
    if metric.selectors:
        table = "baseline_slices" if baseline else "slices"
        return f"{table}[{cel_string(metric.slice)}][{cel_string(metric.name)}]"
    return f"{'baseline' if baseline else 'metrics'}[{cel_string(metric.name)}]"


def _double(value: float) -> str:
    text = repr(float(value))
    return text if any(c in text for c in ".e") else f"{text}.0"


def to_cel(node: Node) -> str:
    """The CEL text that means what ``node`` means."""
    if isinstance(node, Literal):
        return _double(node.value)
    if isinstance(node, Truth):
        return "true" if node.value else "false"
    if isinstance(node, Metric):
        return _value(node, baseline=False)
    if isinstance(node, Change):
        now, then = _value(node.metric, baseline=False), _value(node.metric, baseline=True)
        if not node.relative:
            return f"({now} - {then})"
        return f"(({now} - {then}) / ({then} < 0.0 ? -{then} : {then}))"
    if isinstance(node, Function):
        if node.name == "abs":
            x = to_cel(node.arguments[0])
            return f"({x} < 0.0 ? -{x} : {x})"
        a, b = (to_cel(argument) for argument in node.arguments)
        operator = "<=" if node.name == "min" else ">="
        return f"({a} {operator} {b} ? {a} : {b})"
    if isinstance(node, Passed):
        return f"objectives[{cel_string(node.objective_id)}]"
    if isinstance(node, Negate):
        return f"(-{to_cel(node.operand)})"
    if isinstance(node, (Binary, Compare)):
        return f"({to_cel(node.left)} {node.operator} {to_cel(node.right)})"
    if isinstance(node, Logic):
        operator = "&&" if node.operator == "and" else "||"
        return f"({to_cel(node.left)} {operator} {to_cel(node.right)})"
    return f"(!{to_cel(node.operand)})"
