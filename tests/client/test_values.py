"""Plain values to and from mlspec.common.v1.Value: round trips and refusals."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlspec.client.values import from_value, to_value, to_value_map
from mlspec.common.v1 import value_pb2

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
scalars = st.none() | st.booleans() | INT64 | st.floats(allow_nan=False) | st.text() | st.binary()
plain = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)


@given(plain)
def test_round_trip(obj: Any) -> None:
    value = to_value(obj)
    assert from_value(value) == obj
    # The kinds survive too: an int stays an int, a bool stays a bool.
    assert _kinds(from_value(value)) == _kinds(obj)
    # And through the wire.
    assert from_value(value_pb2.Value.FromString(value.SerializeToString())) == obj


def _kinds(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_kinds(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _kinds(v) for k, v in obj.items()}
    return type(obj)


@given(st.tuples(INT64, st.text()))
def test_tuples_become_lists(obj: tuple[int, str]) -> None:
    assert from_value(to_value(obj)) == list(obj)


def test_nan_and_infinities() -> None:
    assert math.isnan(from_value(to_value(float("nan"))))  # type: ignore[arg-type]
    assert from_value(to_value(float("inf"))) == float("inf")


def test_empty_containers_keep_their_kind() -> None:
    assert to_value([]).WhichOneof("kind") == "array_value"
    assert to_value({}).WhichOneof("kind") == "object_value"
    assert from_value(to_value({"a": []})) == {"a": []}


def test_refusals() -> None:
    with pytest.raises(OverflowError):
        to_value(2**63)
    with pytest.raises(TypeError):
        to_value({1: "x"})
    with pytest.raises(TypeError):
        to_value(object())
    with pytest.raises(ValueError, match="no member"):
        from_value(value_pb2.Value())


def test_value_passes_through_as_a_copy() -> None:
    original = to_value(3)
    copy = to_value(original)
    assert copy == original and copy is not original
    assert to_value_map({"lr": 0.1})["lr"].double_value == 0.1


def test_numpy_values() -> None:
    np = pytest.importorskip("numpy")
    assert from_value(to_value(np.float32(0.5))) == 0.5
    assert from_value(to_value(np.int64(7))) == 7
    assert from_value(to_value(np.bool_(True))) is True
    assert from_value(to_value(np.arange(6).reshape(2, 3))) == [[0, 1, 2], [3, 4, 5]]
