"""Page sizes and page-token positions, checked the same way by every list method."""

from __future__ import annotations

from typing import Any

from mlspec.domain import errors
from mlspec.store.sql import decode_token

MAX_PAGE_SIZE = 1000
_MAX_INT = 2**63


def page_size(requested: int, default: int) -> int:
    """The page size to use: ``default`` for 0, at most 1,000; negative is INVALID_ARGUMENT."""
    if requested < 0:
        raise errors.invalid("page_size", "must not be negative")
    return min(requested or default, MAX_PAGE_SIZE)


def token_fields(token: str, **expected: Any) -> dict[str, Any]:
    """Decodes a page token that must carry ``expected`` values (same query, same stream).

    INVALID_ARGUMENT for a token of another query or one this server did not make.
    """
    payload = decode_token(token)
    for key, value in expected.items():
        if payload.get(key) != value:
            raise errors.invalid(
                "page_token", "belongs to a different query; repeat the first request"
            )
    return payload


def token_int(payload: dict[str, Any], key: str) -> int:
    """An integer position from a decoded token; INVALID_ARGUMENT when tampered with."""
    value = payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not -_MAX_INT < value < _MAX_INT:
        raise errors.invalid("page_token", "is not a page token this server issued")
    return value
