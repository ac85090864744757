"""AIP-160 filters evaluated on messages (domain/message_filter.py) and filtered paging."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.domain.common.message_filter import compile_filter
from mlspec.errors import InvalidArgument
from mlspec.logging.v1 import inference_log_pb2
from mlspec.query import parse_filter
from mlspec.server.paging import scan_page
from tests.contract.message_strategies import messages

Record = inference_log_pb2.InferenceLogRecord

RECORD = json_format.ParseDict(
    {
        "log_stream_id": "s",
        "sequence_number": 7,
        "request_id": "r-7",
        "severity": "SEVERITY_WARN",
        "access": {
            "time": "2026-11-27T10:00:00Z",
            "status": 503,
            "request_line": {"method": "POST", "path": "/predict"},
        },
        "inference": {
            "application_id": "crm",
            "request_latency": "0.250s",
            "explanation": {"age": 0.7, "income": -0.1},
            "feedback_actions": [{"action": "click"}, {"action": "buy"}],
        },
        "attributes": {"region": {"string_value": "eu"}},
    },
    Record(),
)


def holds(text: str, message: Any = RECORD) -> bool:
    predicate = compile_filter(parse_filter(text), Record.DESCRIPTOR)
    assert predicate is not None
    return predicate(message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('request_id = "r-7"', True),
        ("request_id != r-7", False),
        ("sequence_number >= 7 AND sequence_number < 8", True),
        ("access.status > 500", True),
        ("access.status <= 500", False),
        ('access.request_line.method = "POST"', True),
        ("severity = SEVERITY_WARN", True),
        ("severity > SEVERITY_INFO", True),
        (f"severity = {inference_log_pb2.SEVERITY_WARN}", True),
        ('access.time < "2026-11-27T10:00:01Z"', True),
        ('access.time = "2026-11-27T11:00:00+01:00"', True),
        ('inference.request_latency > "0.1s"', True),
        ("inference.explanation.age > 0.5", True),
        ("inference.explanation.income > 0", False),
        ("inference.explanation:income", True),
        ("inference.explanation:weight", False),
        ("inference.explanation.weight:*", False),
        ("inference.feedback_actions.action = buy", True),
        ("inference.feedback_actions.action = sell", False),
        ("inference.feedback_actions:*", True),
        ("inference.feedback:*", False),
        ("inference.feedback = 0", False),
        ("access:*", True),
        ("provenance:*", False),
        ("provenance.model_digest.digests:sha256", False),
        ("NOT provenance.model_digest.digests:sha256", True),
        ("body:*", False),
        ('attributes.region.string_value = "eu"', True),
        ("access.status = 200 OR access.status = 503 severity = SEVERITY_WARN", True),
        ("-access.status = 503", False),
    ],
)
def test_semantics(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "nope = 1",
        "access.nope = 1",
        "access.status.deeper = 1",
        "access.status = many",
        "sequence_number = 1.5",
        "inference.explanation.age = high",
        "severity = SEVERITY_LOUD",
        'access.time = "noon"',
        'inference.request_latency = "fast"',
        "access = 1",
        "previous_record_hash = abc",
        "access.time.seconds = 1",
    ],
)
def test_bad_members_and_values_are_rejected_before_any_record_is_read(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        compile_filter(parse_filter(text), Record.DESCRIPTOR)
    assert caught.value.violations[0].field == "filter"


def test_an_empty_filter_keeps_everything() -> None:
    assert compile_filter(parse_filter(""), Record.DESCRIPTOR) is None


# -- properties ------------------------------------------------------------------------

# Top-level scalars always hold exactly one value, so their comparisons are complementary.
SCALARS = {
    "request_id": st.text(alphabet="abr-7", max_size=4).map(lambda s: f'"{s}"'),
    "sequence_number": st.integers(-3, 10).map(str),
    "severity": st.sampled_from(["SEVERITY_WARN", "SEVERITY_INFO", "0", "17"]),
}
MEMBERS = {
    **SCALARS,
    "access.status": st.integers(0, 600).map(str),
    "access.time": st.sampled_from(['"2026-11-27T10:00:00Z"', '"1970-01-01T00:00:00Z"']),
    "inference.explanation.age": st.floats(-1, 1).map(repr),
    "inference.feedback_actions.action": st.sampled_from(["click", '"buy"', "x"]),
    "attributes.region.string_value": st.sampled_from(["eu", '"us"']),
}
OPS = ["=", "!=", "<", ">", "<=", ">="]


@st.composite
def comparisons(draw: st.DrawFn, members: dict[str, Any] = MEMBERS) -> str:
    member = draw(st.sampled_from(sorted(members)))
    if draw(st.integers(0, 5)) == 0:
        return f"{member}:*"
    return f"{member} {draw(st.sampled_from(OPS))} {draw(members[member])}"


def filters(depth: int = 2) -> st.SearchStrategy[str]:
    leaf = comparisons()
    if depth == 0:
        return leaf
    inner = filters(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) AND ({ab[1]})"),
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]}) OR ({ab[1]})"),
        inner.map(lambda a: f"NOT ({a})"),
    )


records = st.one_of(st.just(RECORD), messages(Record.DESCRIPTOR))


@settings(max_examples=150, deadline=None)
@given(a=filters(), b=filters(), record=records)
def test_connectives_agree_with_boolean_logic(a: str, b: str, record: Any) -> None:
    x, y = holds(a, record), holds(b, record)
    assert holds(f"NOT ({a})", record) is (not x)
    assert holds(f"({a}) AND ({b})", record) is (x and y)
    assert holds(f"({a}) OR ({b})", record) is (x or y)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), record=records)
def test_comparisons_of_a_scalar_are_complementary(data: st.DataObject, record: Any) -> None:
    member = data.draw(st.sampled_from(sorted(SCALARS)))
    value = data.draw(SCALARS[member])
    for op, opposite in (("=", "!="), ("<", ">="), (">", "<=")):
        assert holds(f"{member} {op} {value}", record) is not holds(
            f"{member} {opposite} {value}", record
        )


@given(text=st.text(max_size=60))
def test_any_text_compiles_or_is_invalid_argument(text: str) -> None:
    try:
        predicate = compile_filter(parse_filter(text), Record.DESCRIPTOR)
    except InvalidArgument:
        return
    if predicate is not None:
        predicate(RECORD)


# -- filtered paging --------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(st.integers(0, 9), max_size=60),
    size=st.integers(1, 7),
    budget=st.integers(1, 20),
    keep_below=st.one_of(st.none(), st.integers(0, 10)),
)
def test_scan_page_returns_every_kept_item_once_in_order(
    items: list[int], size: int, budget: int, keep_below: int | None
) -> None:
    rows = list(enumerate(items))

    def fetch(after: int | None, limit: int) -> list[tuple[int, int]]:
        assert limit >= 1
        start = 0 if after is None else after + 1
        return rows[start : start + limit]

    keep = None if keep_below is None else (lambda v: v < keep_below)
    expected = [v for v in items if keep is None or keep(v)]
    seen: list[int] = []
    position: int | None = None
    for _ in range(len(items) + 2):
        page, position = scan_page(fetch, position, size, keep, max_scanned=budget)
        assert len(page) <= size
        seen += page
        if position is None:
            break
    else:
        pytest.fail("paging never ended")
    assert seen == expected
