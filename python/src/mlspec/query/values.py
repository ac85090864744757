"""Values a filter compares with: RFC 3339 timestamps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from mlspec.errors import invalid

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_time_micros(value: str, path: str) -> int:
    """Parses an RFC 3339 timestamp into microseconds since the epoch."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid(path, f"{value!r} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        raise invalid(path, f"{value!r} needs a time zone (for example 'Z')")
    return (parsed - _EPOCH) // timedelta(microseconds=1)  # exact: no float on the way
