"""Requests the protobuf runtime cannot decode are INVALID_ARGUMENT, never INTERNAL."""

from __future__ import annotations

import grpc
import pytest

from mlspec.client import InvalidArgument
from mlspec.client.errors import from_rpc_error


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field on the wire."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deep_value(depth: int) -> bytes:
    """A mlspec.common.v1.Value that is an array in an array ... ``depth`` times."""
    value = b"\x10\x01"  # int_value = 1
    for _ in range(depth):
        value = _field(6, _field(1, value))  # array_value { values: value }
    return value


@pytest.mark.parametrize("depth", [150, 2_000])
def test_a_value_nested_past_the_decode_limit_is_invalid_argument(
    channel: grpc.Channel, depth: int
) -> None:
    param = _field(1, b"lr") + _field(2, deep_value(depth))
    request = _field(1, b"some-run") + _field(2, param)
    call = channel.unary_unary("/mlspec.tracking.v1.TrackingService/LogParams")
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = from_rpc_error(raised.value)
    assert isinstance(error, InvalidArgument)
    assert error.reason == "UNDECODABLE_REQUEST"
    # The field is named although the runtime gave up: the 21st array level of the param.
    assert error.field_violations == [
        (
            "params[0].value" + ".array_value.values[0]" * 20,
            "nests Value more than 20 levels deep within itself",
        )
    ]
    assert "params[0].value.array_value" in error.message


def test_text_that_is_not_utf8_is_named(channel: grpc.Channel) -> None:
    label = _field(1, b"team") + _field(2, b"r\xc3\x28sk")  # labels { "team": <not UTF-8> }
    request = _field(1, _field(1, _field(7, label)))  # dataset.meta.labels
    call = channel.unary_unary("/mlspec.data.v1.DataService/CreateDataset")
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=10)
    error = from_rpc_error(raised.value)
    assert isinstance(error, InvalidArgument)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.field_violations == [("dataset.meta.labels['team']", "is not valid UTF-8 text")]


def test_garbage_bytes_are_invalid_argument(channel: grpc.Channel) -> None:
    call = channel.unary_unary("/mlspec.data.v1.DataService/CreateDataset")
    with pytest.raises(grpc.RpcError) as raised:
        call(b"\xff\xff\xff\xff", timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stream = channel.unary_stream("/mlspec.logging.v1.LoggingService/StreamNcsaLines")
    with pytest.raises(grpc.RpcError) as raised:
        list(stream(b"\xff\xff\xff\xff", timeout=10))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
