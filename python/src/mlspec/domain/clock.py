"""The service's clock and the conversions between its microseconds and Timestamps."""

from __future__ import annotations

import time

from google.protobuf import timestamp_pb2


def now_micros() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def micros_to_timestamp(micros: int) -> timestamp_pb2.Timestamp:
    """A Timestamp for microseconds since the epoch."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMicroseconds(micros)
    return stamp


def now_timestamp() -> timestamp_pb2.Timestamp:
    """The current time as a Timestamp (microsecond precision, like everything stored)."""
    return micros_to_timestamp(now_micros())
