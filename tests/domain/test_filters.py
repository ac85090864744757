"""The AIP-160 filter parser: precedence, negation, and bad input (hypothesis)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec import errors
from mlspec.query import And, Comparison, Not, Or, parse_filter, parse_order_by


def test_or_binds_tighter_than_and() -> None:
    assert parse_filter("a = 1 AND b = 2 OR c = 3") == And(
        (
            Comparison(("a",), "=", "1"),
            Or((Comparison(("b",), "=", "2"), Comparison(("c",), "=", "3"))),
        )
    )


def test_juxtaposition_is_and_and_minus_is_not() -> None:
    assert parse_filter('labels:env -labels.team = "x"') == And(
        (
            Comparison(("labels",), ":", "env"),
            Not(Comparison(("labels", "team"), "=", "x", quoted=True)),
        )
    )


def test_presence_and_quoted_values() -> None:
    assert parse_filter("labels.env:*") == Comparison(("labels", "env"), ":", None)
    assert parse_filter('name = "a \\"b\\""') == Comparison(("name",), "=", 'a "b"', quoted=True)
    assert parse_filter("score >= 0.5") == Comparison(("score",), ">=", "0.5")
    assert parse_filter("   ") is None


@pytest.mark.parametrize(
    "text", ["name =", "(name = a", "= a", "name = *", "a = b)", "NOT", "x < > y"]
)
def test_malformed_filters_are_invalid_argument(text: str) -> None:
    with pytest.raises(errors.InvalidArgument) as err:
        parse_filter(text)
    assert err.value.violations[0].field == "filter"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_is_invalid_argument(text: str) -> None:
    with contextlib.suppress(errors.InvalidArgument):
        parse_filter(text)


member = st.from_regex(r"[a-z][a-z_]{0,6}", fullmatch=True).filter(
    lambda m: m not in ("and", "or", "not")
)
value = st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True).filter(
    lambda v: v not in ("AND", "OR", "NOT")
)
comparison = st.builds(
    lambda m, op, v: Comparison((m,), op, v),
    member,
    st.sampled_from(["=", "!=", "<", ">", "<=", ">="]),
    value,
)
trees = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.builds(lambda xs: And(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda xs: Or(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(Not, inner),
    ),
    max_leaves=8,
)


def render(node: object) -> str:
    if isinstance(node, Comparison):
        return f"{'.'.join(node.member)} {node.op} {node.value}"
    if isinstance(node, And):
        return " AND ".join(f"({render(n)})" for n in node.operands)
    if isinstance(node, Or):
        return " OR ".join(f"({render(n)})" for n in node.operands)
    assert isinstance(node, Not)
    return f"NOT ({render(node.operand)})"


@settings(max_examples=200, deadline=None)
@given(trees)
def test_rendered_trees_parse_back(tree: object) -> None:
    assert parse_filter(render(tree)) == tree


def test_order_by() -> None:
    keys = parse_order_by("create_time desc, name")
    assert [(k.member, k.descending) for k in keys] == [("create_time", True), ("name", False)]
    with pytest.raises(errors.InvalidArgument):
        parse_order_by("name sideways")
