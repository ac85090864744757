"""The two objective dialects: random valid expressions agree with a Python oracle in
`mlspec-objective/v1`, in its CEL translation run as the `cel` dialect, and through the
service; malformed ones never reach evaluation; each comparison at its boundary.

The oracle computes what an expression means directly from the generated tree, with
cel-python's arithmetic (a division by zero is +infinity), so the parser, the
translation and the evaluation are each checked against something they do not share.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlspec import yaml_format
from mlspec.lifecycle.v1 import objectives_pb2, stage_report_pb2
from mlspec.objectives import (
    CEL,
    DIALECT,
    Declarations,
    ExpressionError,
    Values,
    check_objectives,
    compile_expression,
    evaluate,
)
from mlspec.objectives.dialect import to_cel

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
METRICS = ("auc", "recall", "latency_ms")
SLICES = ("segment=new", "age=65+,segment=old")
DECLARED = Declarations(frozenset(METRICS), frozenset({"auc-overall", "p99"}))
VALUES = Values(
    metrics={"auc": 0.85, "recall": 0.6, "latency_ms": 42.0},
    slices={
        "segment=new": {"auc": 0.8, "recall": 0.55, "latency_ms": 40.0},
        "age=65+,segment=old": {"auc": 0.7, "recall": 0.0, "latency_ms": 50.0},
    },
    baseline={"auc": 0.8, "recall": 0.62, "latency_ms": 45.0},
    baseline_slices={
        "segment=new": {"auc": 0.78, "recall": 0.5, "latency_ms": 41.0},
        "age=65+,segment=old": {"auc": 0.72, "recall": 0.1, "latency_ms": 0.0},
    },
    objectives={"auc-overall": True, "p99": False},
)


@dataclass(frozen=True)
class Expr:
    """A generated expression: its text in the small dialect and what it means."""

    text: str
    value: Callable[[], float | bool]


def _metric_text(name: str, slice_: str) -> str:
    return f"{name}[{slice_}]" if slice_ else name


def _lookup(name: str, slice_: str, baseline: bool) -> float:
    if slice_:
        table = VALUES.baseline_slices if baseline else VALUES.slices
        return table[slice_][name]
    return (VALUES.baseline if baseline else VALUES.metrics)[name]


def _divide(a: float, b: float) -> float:
    return a / b if b != 0 else math.inf


def _compare(operator: str, a: float, b: float) -> bool:
    return {
        ">=": a >= b,
        ">": a > b,
        "<=": a <= b,
        "<": a < b,
        "==": a == b,
        "!=": a != b,
    }[operator]


_metrics = st.builds(
    lambda name, slice_: Expr(_metric_text(name, slice_), lambda: _lookup(name, slice_, False)),
    st.sampled_from(METRICS),
    st.sampled_from(("", *SLICES)),
)
_changes = st.builds(
    lambda name, slice_, relative: Expr(
        f"{'rel_delta' if relative else 'delta'}({_metric_text(name, slice_)})",
        (
            lambda: _divide(
                _lookup(name, slice_, False) - _lookup(name, slice_, True),
                abs(_lookup(name, slice_, True)),
            )
        )
        if relative
        else (lambda: _lookup(name, slice_, False) - _lookup(name, slice_, True)),
    ),
    st.sampled_from(METRICS),
    st.sampled_from(("", *SLICES)),
    st.booleans(),
)
_literals = st.floats(min_value=0, max_value=1000, allow_nan=False).map(
    lambda x: Expr(repr(x), lambda: x)
)


def _numbers(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    binary = st.tuples(children, st.sampled_from("+-*/"), children).map(
        lambda t: Expr(
            f"({t[0].text} {t[1]} {t[2].text})",
            lambda: {
                "+": lambda a, b: a + b,
                "-": lambda a, b: a - b,
                "*": lambda a, b: a * b,
                "/": _divide,
            }[t[1]](t[0].value(), t[2].value()),
        )
    )
    negated = children.map(lambda e: Expr(f"-{e.text}", lambda: -e.value()))
    absolute = children.map(lambda e: Expr(f"abs({e.text})", lambda: abs(e.value())))
    extreme = st.tuples(st.sampled_from(("min", "max")), children, children).map(
        lambda t: Expr(
            f"{t[0]}({t[1].text}, {t[2].text})",
            lambda: (
                (t[1].value() if t[1].value() <= t[2].value() else t[2].value())
                if t[0] == "min"
                else (t[1].value() if t[1].value() >= t[2].value() else t[2].value())
            ),
        )
    )
    return binary | negated | absolute | extreme


NUMBERS = st.recursive(_literals | _metrics | _changes, _numbers, max_leaves=6)
_comparisons = st.tuples(NUMBERS, st.sampled_from((">=", ">", "<=", "<", "==", "!=")), NUMBERS).map(
    lambda t: Expr(
        f"{t[0].text} {t[1]} {t[2].text}", lambda: _compare(t[1], t[0].value(), t[2].value())
    )
)
_passed = st.sampled_from(("auc-overall", "p99")).map(
    lambda i: Expr(f'passed("{i}")', lambda: VALUES.objectives[i])
)


def _conditions(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    logic = st.tuples(children, st.sampled_from(("and", "or")), children).map(
        lambda t: Expr(
            f"({t[0].text} {t[1]} {t[2].text})",
            lambda: (
                (t[0].value() and t[2].value()) if t[1] == "and" else (t[0].value() or t[2].value())
            ),
        )
    )
    negated = children.map(lambda e: Expr(f"not ({e.text})", lambda: not e.value()))
    return logic | negated


CONDITIONS = st.recursive(
    _comparisons
    | _passed
    | st.sampled_from((True, False)).map(lambda b: Expr("true" if b else "false", lambda: b)),
    _conditions,
    max_leaves=5,
)


@settings(max_examples=150, deadline=None)
@given(CONDITIONS)
def test_the_small_dialect_and_its_cel_translation_agree_with_the_oracle(expr: Expr) -> None:
    expected = expr.value()
    small = compile_expression(expr.text, DIALECT, DECLARED)
    translated = compile_expression(to_cel_text(expr.text), CEL, DECLARED)
    assert evaluate(small, VALUES).value is expected
    assert evaluate(translated, VALUES).value is expected


def to_cel_text(text: str) -> str:
    from mlspec.objectives.dialect import parse

    return to_cel(parse(text))


OPERATORS = (">=", ">", "<=", "<", "==", "!=")


@pytest.mark.parametrize("operator", OPERATORS)
@pytest.mark.parametrize("dialect", [DIALECT, CEL])
def test_each_comparison_at_its_boundary(operator: str, dialect: str) -> None:
    bound = 0.85
    text = f"auc {operator} {bound}"
    compiled = compile_expression(text, dialect, DECLARED)
    for value in (math.nextafter(bound, 0), bound, math.nextafter(bound, 1)):
        got = evaluate(compiled, Values(metrics={"auc": value})).value
        assert got is _compare(operator, value, bound), (text, value)


def test_a_missing_value_is_missing_never_passed() -> None:
    compiled = compile_expression("auc >= 0.8 or recall[segment=new] >= 0", DIALECT, DECLARED)
    result = evaluate(compiled, Values(metrics={"auc": 0.9}))
    assert result.value is None and result.missing == ("recall[segment=new]",)
    guarded = compile_expression(
        'has(slices["segment=new"].recall) ? slices["segment=new"].recall > 0.5 : auc > 0.5',
        CEL,
        DECLARED,
    )
    assert evaluate(guarded, Values(metrics={"auc": 0.9})).value is True


_TOKENS = st.sampled_from(
    [
        "auc",
        "recall",
        "[",
        "]",
        "segment",
        "=",
        "new",
        ",",
        "(",
        ")",
        "and",
        "or",
        "not",
        ">=",
        "<",
        "==",
        "+",
        "-",
        "*",
        "/",
        "0.5",
        "12",
        "delta",
        "abs",
        "min",
        "passed",
        '"p99"',
        "true",
        "&&",
        "!",
        "@",
        ".",
        "metrics",
        "'x'",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, max_size=12).map(" ".join), st.sampled_from([DIALECT, CEL]))
def test_malformed_expressions_never_reach_evaluation(text: str, dialect: str) -> None:
    try:
        compiled = compile_expression(text, dialect, DECLARED)
    except ExpressionError as error:
        assert error.position.line >= 1 and error.position.column >= 1
        return
    # What compiles is a well-typed condition: evaluating it gives a bool.
    assert evaluate(compiled, VALUES).value in (True, False)


@settings(max_examples=100, deadline=None)
@given(
    CONDITIONS,
    st.integers(min_value=0, max_value=200),
    st.sampled_from([")", "(", "and", ">=", "]", "=="]),
)
def test_a_broken_valid_expression_is_refused_with_a_position(
    expr: Expr, at: int, junk: str
) -> None:
    cut = at % (len(expr.text) + 1)
    broken = f"{expr.text[:cut]} {junk} {expr.text[cut:]}"
    try:
        compile_expression(broken, DIALECT, DECLARED)
    except ExpressionError as error:
        assert 1 <= error.position.column <= len(broken) + 1
    else:  # a few insertions stay valid, for example "(" before a "(...)" group
        assume(False)


def test_every_example_expression_parses() -> None:
    found = 0
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        text = path.read_text()
        name = text.split("\n", 1)[0].split(":", 1)[1].strip()
        if name == "mlspec.lifecycle.v1.CodifiedObjectives":
            message = yaml_format.load(text, objectives_pb2.CodifiedObjectives())
        elif name == "mlspec.lifecycle.v1.StageReport" and "codified_objectives:" in text:
            message = yaml_format.load(text, stage_report_pb2.StageReport()).codified_objectives
        else:
            continue
        checked, problems = check_objectives(message, path.name)
        assert problems == [], path
        assert checked is not None
        found += len(checked.objectives) + (checked.launch_expression is not None)
    assert found >= 10  # the lifecycle examples' ten, and the demo's


@pytest.mark.parametrize(
    ("text", "dialect", "words"),
    [
        ("auc >= ", DIALECT, "column 7: unexpected the end"),
        ("auc >= 0.8 )", DIALECT, "column 12: unexpected ')'"),
        ("auc > 1 > 2", DIALECT, "column 9: unexpected '>'"),
        ("auc + (recall > 1)", DIALECT, "column 8: '+' needs a number, not a condition"),
        ("not auc", DIALECT, "column 5: 'not' needs a condition"),
        ("delta(auc)", DIALECT, "the expression is a number"),
        ("recall[segment=new,segment=old] > 1", DIALECT, "names feature 'segment' twice"),
        ('passed("p99")', DIALECT, "only for the launch criteria"),
        ("auc $ 1", DIALECT, "column 5: unexpected '$'"),
        ("auc >=", CEL, "column 5: CEL syntax error"),
        ('slices["x"].auc > 0.5', CEL, "not a slice name"),
        ("metrics.auc > 1", CEL, ""),
        ("auc * 2 > 1.0", CEL, "does not mix double and int"),
        ("auc.x > 1.0", CEL, "a double has no fields"),
        ("[auc][0] > 1.0", CEL, "a list is not supported"),
        ("auc.startsWith('a')", CEL, "a method call is not supported"),
    ],
)
def test_errors_name_their_position(text: str, dialect: str, words: str) -> None:
    declared = Declarations(DECLARED.metrics)
    if not words:
        compile_expression(text, dialect, declared)
        return
    with pytest.raises(ExpressionError) as raised:
        compile_expression(text, dialect, declared)
    assert words in raised.value.describe(text)


def test_an_objective_without_expression_means_its_threshold() -> None:
    objective = json_format.ParseDict(
        {
            "id": "x",
            "metric_name": "recall",
            "scope": {"feature_values": {"segment": "new", "age": "65+"}},
            "comparison_scope": {"feature_values": {"segment": "old"}},
            "threshold": {"value_threshold": {"lower_bound": -0.05, "upper_bound": 0.05}},
        },
        objectives_pb2.Objective(),
    )
    message = objectives_pb2.CodifiedObjectives(objectives=[objective])
    checked, problems = check_objectives(message, "o")
    assert problems == [] and checked is not None
    assert checked.objectives[0].compiled.text == (
        "(recall[age=65+,segment=new] - recall[segment=old]) >= -0.05 and "
        "(recall[age=65+,segment=new] - recall[segment=old]) <= 0.05"
    )
    unexpressible = json_format.ParseDict(
        {
            "objectives": [
                {
                    "id": "y",
                    "metric_name": "auc",
                    "scope": {"expression": "age > 3"},
                    "threshold": {"value_threshold": {"lower_bound": 1}},
                }
            ]
        },
        objectives_pb2.CodifiedObjectives(),
    )
    _, problems = check_objectives(unexpressible, "o")
    assert [p.field for p in problems] == ["o.objectives[0]"]
