"""The sender's hand-written LogMetricsRequest bytes parse as the messages they stand for."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mlspec.client.values import to_value
from mlspec.client.wire import MetricEncoder, varint
from mlspec.tracking.v1 import metric_pb2, tracking_service_pb2

KEYS = st.from_regex(r"[A-Za-z0-9_./ -]{1,40}", fullmatch=True)
VALUES = (
    st.floats(allow_nan=False)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.lists(st.integers(min_value=0, max_value=9), max_size=3)
    | st.booleans()
)
POINT = st.tuples(
    KEYS,
    VALUES,
    st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=0, max_value=2**62),
)


@given(st.lists(POINT, max_size=30))
def test_encoded_request_equals_the_protobuf_message(points: list[Any]) -> None:
    data = MetricEncoder().request("run-1", "req-1", points)
    parsed = tracking_service_pb2.LogMetricsRequest.FromString(data)
    expected = tracking_service_pb2.LogMetricsRequest(run_id="run-1", request_id="req-1")
    for key, value, step, time_ns in points:
        metric = metric_pb2.Metric(key=key, value=to_value(value), step=step or 0)
        metric.timestamp.seconds, metric.timestamp.nanos = divmod(time_ns, 1_000_000_000)
        expected.metrics.append(metric)
    assert parsed == expected


@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_varint(number: int) -> None:
    from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[attr-defined]

    assert varint(number) == _VarintBytes(number if number >= 0 else number + (1 << 64))


FLOAT_POINT = st.tuples(
    st.sampled_from(["loss", "acc", "val/auc", "lr"]),
    st.floats(allow_nan=False),
    st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(2**62), max_value=2**62),
)


@given(st.lists(FLOAT_POINT, min_size=1, max_size=30))
def test_float_batches_go_as_columns_that_mean_the_same_points(points: list[Any]) -> None:
    data = MetricEncoder().columns_request("run-1", "req-1", points)
    assert data is not None
    parsed = tracking_service_pb2.LogMetricsRequest.FromString(data)
    assert (parsed.run_id, parsed.request_id, list(parsed.metrics)) == ("run-1", "req-1", [])
    columns = parsed.columns
    assert len(columns.keys) == len(set(columns.keys))
    decoded = [
        (columns.keys[i], value, step, micros)
        for i, value, step, micros in zip(
            columns.key_indexes,
            columns.double_values,
            columns.steps,
            columns.time_micros,
            strict=True,
        )
    ]
    assert decoded == [(k, v, s or 0, t // 1000) for k, v, s, t in points]


def test_batches_with_other_values_are_not_columns() -> None:
    encoder = MetricEncoder()
    assert encoder.columns_request("r", "q", []) is None
    assert encoder.columns_request("r", "q", [("a", 1.0, 0, 1), ("a", 2, 1, 2)]) is None
    assert encoder.columns_request("r", "q", [("a", 1.0, 2**63, 1)]) is None
