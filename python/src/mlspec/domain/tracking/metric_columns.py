"""Metric points sent column by column (``MetricColumns``): checked and stored per column.

A client logging at a high rate sends its scalar points as columns (keys, key indexes,
values, steps, times) instead of one ``Metric`` message each. Every rule of a ``Metric``
point still holds; it is checked once per column or once per distinct key, with the
interpreter's built-in functions (``min``, ``max``, ``sum``, ``map``, ``zip``) doing
the per-point work, so that a point costs the server little more than its database row.

Stored rows hold the key, step and time in their columns and, as ``data``, the point's
``Metric`` serialization without those three fields (only the value): the store merges
them back when it reads the point (``store.api.UnitOfWork.append_metrics``).
"""

from __future__ import annotations

import re
import struct
from collections import defaultdict
from dataclasses import dataclass
from itertools import repeat

from mlspec.errors import FieldViolation
from mlspec.tracking.v1 import metric_pb2

# Timestamp's range, years 0001 to 9999, in microseconds.
MIN_MICROS = -62_135_596_800 * 1_000_000
MAX_MICROS = 253_402_300_799 * 1_000_000 + 999_999
# A Metric holding only `value { double_value: v }`: field 2, length 9, field 1 (fixed64).
_VALUE_ONLY = struct.Struct("<3sd")
_VALUE_TAGS = b"\x12\x09\x09"


@dataclass
class KeyStats:
    """What ``Run.latest_metrics`` needs of one key's points in the columns."""

    count: int
    low: float | None
    high: float | None
    latest: metric_pb2.Metric


def count(columns: metric_pb2.MetricColumns) -> int:
    """The number of points the columns hold."""
    return len(columns.key_indexes)


def violations(
    columns: metric_pb2.MetricColumns, key_pattern: re.Pattern[str]
) -> list[FieldViolation]:
    """What makes the columns invalid: lengths, keys, key indexes and times."""
    found: list[FieldViolation] = []
    points = len(columns.key_indexes)
    for name in ("double_values", "steps", "time_micros"):
        if len(getattr(columns, name)) != points:
            found.append(
                FieldViolation(
                    f"columns.{name}",
                    f"holds {len(getattr(columns, name))} entries; key_indexes holds {points}",
                )
            )
    keys = columns.keys
    found += [
        FieldViolation(f"columns.keys[{i}]", "must match ^[A-Za-z0-9_./ -]{1,250}$")
        for i, key in enumerate(keys)
        if not key_pattern.fullmatch(key)
    ]
    if points and max(columns.key_indexes) >= len(keys):
        found.append(
            FieldViolation("columns.key_indexes", f"must be below the number of keys ({len(keys)})")
        )
    times = columns.time_micros
    if times and (min(times) < MIN_MICROS or max(times) > MAX_MICROS):
        found.append(
            FieldViolation("columns.time_micros", "must be times between years 0001 and 9999")
        )
    return found


def rows(
    run_id: str, columns: metric_pb2.MetricColumns
) -> tuple[list[tuple[str, str, int, int, bytes]], dict[str, KeyStats]]:
    """The store rows of valid columns, in order, and each key's statistics."""
    keys = list(columns.keys)
    indexes = list(columns.key_indexes)
    values = list(columns.double_values)
    steps = list(columns.steps)
    times = list(columns.time_micros)
    points = len(indexes)
    point_keys = list(map(keys.__getitem__, indexes))
    data = list(map(_VALUE_ONLY.pack, repeat(_VALUE_TAGS, points), values))
    stored = list(zip(repeat(run_id, points), point_keys, steps, times, data, strict=True))
    if len(set(indexes)) <= 1:
        by_key = {indexes[0]: values} if points else {}
    else:
        grouped: defaultdict[int, list[float]] = defaultdict(list)
        for index, value in zip(indexes, values, strict=True):
            grouped[index].append(value)
        by_key = dict(grouped)
    last = dict(zip(indexes, range(points), strict=True))
    stats: dict[str, KeyStats] = {}
    for index, series in by_key.items():
        total = sum(series)
        if total != total:  # a NaN (or inf - inf): min and max leave NaN out
            series = [v for v in series if v == v]
        at = last[index]
        latest = metric_pb2.Metric(key=keys[index], step=steps[at])
        latest.value.double_value = values[at]
        latest.timestamp.FromMicroseconds(times[at])
        stats[keys[index]] = KeyStats(
            count=len(by_key[index]),
            low=min(series) if series else None,
            high=max(series) if series else None,
            latest=latest,
        )
    return stored, stats
