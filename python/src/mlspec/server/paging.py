"""Page sizes, page tokens and filtered scans, done the same way by every list method."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from google.protobuf.message import Message

from mlspec import errors
from mlspec.query import parse_order_by
from mlspec.store.api import ListQuery, ListResult

MAX_PAGE_SIZE = 1000
# A filtered scan reads at most this many records per call; when the budget runs out
# first, the page comes back short (possibly empty) with a token to go on from there.
MAX_SCANNED_PER_PAGE = 10_000
_BATCH = 256
_MAX_INT = 2**63

K = TypeVar("K")
T = TypeVar("T")


def page_size(requested: int, default: int) -> int:
    """The page size to use: ``default`` for 0, at most 1,000; negative is INVALID_ARGUMENT."""
    if requested < 0:
        raise errors.invalid("page_size", "must not be negative")
    return min(requested or default, MAX_PAGE_SIZE)


def encode_token(payload: dict[str, Any]) -> str:
    """Encodes a page position as an opaque URL-safe token."""
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    """Decodes a page token; raises InvalidArgument for anything this server did not make."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeError) as exc:
        raise errors.invalid("page_token", "is not a page token this server issued") from exc
    if not isinstance(payload, dict):
        raise errors.invalid("page_token", "is not a page token this server issued")
    return payload


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


def token_str(payload: dict[str, Any], key: str) -> str:
    """A text position from a decoded token; INVALID_ARGUMENT when tampered with."""
    value = payload.get(key)
    if not isinstance(value, str):
        raise errors.invalid("page_token", "is not a page token this server issued")
    return value


def sort_descending(order_by: str, member: str, *, default: bool) -> bool:
    """For lists sorted on one member only: whether `order_by` asks for descending order.

    An empty `order_by` gives ``default``; anything but ``member`` [asc|desc] is
    INVALID_ARGUMENT naming what is supported.
    """
    keys = parse_order_by(order_by)
    if not keys:
        return default
    if len(keys) > 1 or keys[0].member != member:
        raise errors.invalid("order_by", f"only `{member}` or `{member} desc` is supported")
    return keys[0].descending


def query_fingerprint(request: Message) -> str:
    """A digest of a list request (its type included) without its paging fields.

    Page tokens carry it, so that a token is only accepted by the query that issued it.
    """
    query = type(request)()
    query.CopyFrom(request)
    for name in ("page_token", "page_size"):
        query.ClearField(name)
    digest = hashlib.sha256(query.DESCRIPTOR.full_name.encode())
    digest.update(query.SerializeToString(deterministic=True))
    return digest.hexdigest()[:16]


def scan_page(
    fetch: Callable[[K | None, int], Sequence[tuple[K, T]]],
    after: K | None,
    size: int,
    keep: Callable[[T], bool] | None = None,
    max_scanned: int = MAX_SCANNED_PER_PAGE,
) -> tuple[list[T], K | None]:
    """One page of the items that ``keep`` accepts, read in order after ``after``.

    ``fetch(after, limit)`` returns up to ``limit`` (position, item) pairs past a
    position. Returns the page and the position to continue from, or None at the end.
    Without ``keep`` this is one query of ``size + 1`` rows.
    """
    kept: list[T] = []
    scanned = 0
    while True:
        if keep is None:
            limit = size - len(kept) + 1
        else:
            limit = min(max(size + 1, _BATCH), max_scanned - scanned + 1)
        rows = fetch(after, limit)
        for position, item in rows:
            if len(kept) == size or scanned == max_scanned:
                return kept, after  # a row remains past this page
            scanned += 1
            after = position
            if keep is None or keep(item):
                kept.append(item)
        if len(rows) < limit:
            return kept, None


# A List page stays within the receive limit of gRPC clients with default settings.
MAX_PAGE_BYTES = 4 * 1024 * 1024


def within_bytes(
    list_page: Callable[[ListQuery], ListResult], query: ListQuery, page: ListResult
) -> ListResult:
    """``page``, or its first records that fit in ``MAX_PAGE_BYTES`` (at least one).

    A page of large resources would pass what clients accept; it is cut short, with a
    token after its last record (AIP-158: a page may hold fewer than page_size items).
    The shorter page is read again so that the store says where it ends.
    """
    total, fit = 0, 0
    for record in page.records:
        total += len(record.data)
        if total > MAX_PAGE_BYTES and fit:
            break
        fit += 1
    if fit == len(page.records):
        return page
    shorter = list_page(replace(query, page_size=fit))
    return ListResult(shorter.records, shorter.last, more=True)
