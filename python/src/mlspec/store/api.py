"""The storage interface: what the domain and the server may ask of a store.

``Store`` opens transactions; a ``UnitOfWork`` is one transaction, and every operation
of a request runs inside one, so all writes of a request commit together or not at all.
The record types below are what crosses the interface: the domain never sees SQL, and a
backend never sees a domain rule. The one implementation is ``mlspec.store.sql`` (SQLite
and PostgreSQL); it is constructed only by the composition root (``mlspec.server.app``).

Errors: operations raise the base errors of ``mlspec.errors`` (``AlreadyExists`` for a
taken name, ``Aborted`` for a stale etag, ``InvalidArgument`` for a value the backend
cannot hold), and ``ConcurrentWrite`` from ``remember`` when a concurrent transaction
stored the same request id first (a retry of the whole request then answers as it did).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from mlspec.query import Node, OrderKey


class ConcurrentWrite(Exception):
    """A concurrent transaction stored the same request id first."""


@dataclass(frozen=True)
class FieldValue:
    """A filterable value copied out of a resource: labels and per-kind fields."""

    key: str
    text: str | None = None
    num: float | None = None


@dataclass
class ResourceRecord:
    """One stored resource: its indexed columns and its serialized message."""

    id: str
    workspace: str
    kind: int
    scope: str
    name: str
    status: int
    create_time: int
    update_time: int
    etag: str
    data: bytes
    fields: list[FieldValue] = field(default_factory=list)
    seq: int = 0


@dataclass(frozen=True)
class FieldSpec:
    """How a filter member maps onto stored data for one kind."""

    kind: str  # "text" | "num" | "time" | "enum" | "value" (a number or text)
    enum_values: tuple[tuple[str, int], ...] = ()


@dataclass
class ListQuery:
    """A page request over one kind within a workspace."""

    workspace: str
    kind: int
    scope: str | None = None
    statuses: tuple[int, ...] = ()
    filter: Node | None = None
    order_by: list[OrderKey] = field(default_factory=list)
    page_size: int = 50
    # (sort values, seq) of the last row seen: the value of the one sort key on a
    # built-in column, or a list with one value per sort key otherwise.
    after: tuple[object, int] | None = None
    members: dict[str, FieldSpec] = field(default_factory=dict)


@dataclass
class ListResult:
    """One page of records and the keyset position after its last row."""

    records: list[ResourceRecord]
    last: tuple[object, int] | None
    more: bool


@dataclass(frozen=True)
class EventRow:
    """One monitoring record to append (a request, prediction, feedback or signal)."""

    kind: int
    key: str
    time: int
    data: bytes
    model_version_id: str = ""
    deployment: str = ""
    name: str = ""
    failing: bool = False


@dataclass(frozen=True)
class LogRow:
    """One inference-log record to append to its stream."""

    stream_id: str
    sequence: int
    time: int
    model_version_id: str
    record_hash: str
    data: bytes


@dataclass(frozen=True)
class TokenRow:
    """A bearer token as stored: only the hash of its secret."""

    token_id: str
    name: str
    workspace: str
    role: str
    secret_hash: str
    create_time: int
    revoke_time: int = 0  # 0 while the token is valid


@dataclass(frozen=True)
class AuditRow:
    """One entry of the audit trail: who called which mutation, on what, with what outcome."""

    workspace: str
    time: int
    principal: str
    method: str
    resource_id: str
    request_id: str
    code: str
    message: str = ""
    seq: int = 0  # set by the store


Edge = tuple[str, str, int]  # (source id, target id, LineageEdgeKind)


class UnitOfWork(Protocol):
    """The operations of the store inside one transaction."""

    # -- resources ------------------------------------------------------------------

    def insert(self, record: ResourceRecord) -> ResourceRecord:
        """Inserts a new resource (sets ``seq``); AlreadyExists when its name is taken."""
        ...

    def replace(self, record: ResourceRecord, expected_etag: str) -> ResourceRecord:
        """Overwrites a resource whose stored etag is ``expected_etag``; else Aborted."""
        ...

    def get(self, workspace: str, resource_id: str) -> ResourceRecord | None:
        """A resource of the workspace by id (archived ones included)."""
        ...

    def get_many(self, workspace: str, ids: Sequence[str]) -> dict[str, ResourceRecord]:
        """The resources of the workspace with the given ids, by id."""
        ...

    def find_by_name(
        self, workspace: str, kind: int, scope: str, name: str
    ) -> ResourceRecord | None:
        """The non-archived resource with this name (case-insensitive) in a scope."""
        ...

    def ids_by_name_in_any_scope(
        self, workspace: str, kind: int, name: str, limit: int = 2
    ) -> list[str]:
        """Ids of non-archived resources with this name (case-insensitive) in any scope."""
        ...

    def latest_in_scope(
        self, workspace: str, kind: int, scope: str, statuses: Sequence[int]
    ) -> ResourceRecord | None:
        """The newest resource of a kind within a scope with one of ``statuses``."""
        ...

    def count_in_scope(self, workspace: str, kind: int, scope: str) -> int:
        """The number of resources of a kind within a scope (every status)."""
        ...

    def list_page(self, query: ListQuery) -> ListResult:
        """One page of resources matching ``query``, in a stable keyset order."""
        ...

    def lock_resource(self, workspace: str, resource_id: str) -> None:
        """Holds a resource until the transaction ends, so checks made under it take turns."""
        ...

    def lock_key(self, workspace: str, key: str) -> None:
        """Holds an arbitrary key until the transaction ends (a unique value being claimed)."""
        ...

    # -- lineage --------------------------------------------------------------------

    def add_edges(self, workspace: str, edges: Sequence[Edge]) -> None:
        """Adds lineage edges; edges that exist already are kept as they are."""
        ...

    def walk_edges(
        self, workspace: str, start: str, *, upstream: bool, max_depth: int
    ) -> tuple[dict[str, int], set[Edge]]:
        """The nodes reached from ``start`` (with their smallest depth) and edges traversed."""
        ...

    def summaries(self, workspace: str, ids: Sequence[str]) -> dict[str, tuple[int, str, int]]:
        """Id -> (kind, name, status) without loading the stored messages."""
        ...

    # -- idempotency ----------------------------------------------------------------

    def recall(self, workspace: str, method: str, request_id: str) -> tuple[str, bytes] | None:
        """(request fingerprint, response) stored for a request id, if any."""
        ...

    def remember(
        self, workspace: str, method: str, request_id: str, fingerprint: str, response: bytes
    ) -> None:
        """Stores a request id's response with the request's effects (ConcurrentWrite if taken)."""
        ...

    # -- metrics --------------------------------------------------------------------

    def append_metrics(self, rows: Sequence[tuple[str, str, int, int, bytes]]) -> None:
        """Appends metric points (run id, key, step, time in µs, serialized Metric).

        A point's Metric may leave out its key, step and timestamp when the columns hold
        them exactly (the timestamp to the microsecond): its serialization then starts
        with the value, never with the key, and ``metric_history`` merges them back.
        """
        ...

    def metric_history(
        self,
        run_id: str,
        key: str,
        after: tuple[int, int, int] | None,
        limit: int,
        *,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> list[tuple[tuple[int, int, int], bytes]]:
        """((step, time µs, seq), serialized Metric) of one run's metric, in that order.

        ``after`` is the position of the last point read; ``min_step`` and ``max_step``
        bound the steps (both inclusive).
        """
        ...

    # -- monitoring events ----------------------------------------------------------

    def append_events(self, workspace: str, rows: Sequence[EventRow]) -> None:
        """Appends monitoring records; AlreadyExists when a (kind, key) is taken."""
        ...

    def event_exists(self, workspace: str, kind: int, key: str) -> bool:
        """Whether a monitoring record of ``kind`` with ``key`` exists."""
        ...

    def count_events(
        self,
        workspace: str,
        kind: int,
        model_version_id: str,
        start_time: int,
        end_time: int,
        deployment: str = "",
    ) -> int:
        """How many monitoring records of a kind and model version fall in [start, end)."""
        ...

    def events_page(
        self,
        workspace: str,
        kinds: Sequence[int],
        *,
        model_version_id: str = "",
        deployment: str = "",
        start_time: int | None = None,
        end_time: int | None = None,
        only_failing: bool = False,
        after: tuple[int, int] | None = None,
        oldest_first: bool = False,
        limit: int = 100,
    ) -> list[tuple[int, int, int, bytes]]:
        """Monitoring records newest (or oldest) first: (seq, kind, time µs, data).

        ``after`` is the (time, seq) of the last record of the previous page.
        """
        ...

    # -- inference logs -------------------------------------------------------------

    def last_log(self, workspace: str, stream_id: str) -> tuple[int, str] | None:
        """(sequence, record hash) of the newest record of a log stream."""
        ...

    def append_logs(self, workspace: str, rows: Sequence[LogRow]) -> None:
        """Appends inference-log records."""
        ...

    def append_checkpoint(
        self, workspace: str, stream_id: str, sequence: int, time: int, data: bytes
    ) -> None:
        """Stores a signed checkpoint of a stream's head (serialized LogCheckpoint)."""
        ...

    def last_checkpoint(self, workspace: str, stream_id: str) -> int:
        """The sequence number of a stream's newest checkpoint; 0 when it has none."""
        ...

    def checkpoints(
        self, workspace: str, stream_id: str, after_sequence: int, limit: int
    ) -> list[tuple[int, bytes]]:
        """(sequence, serialized LogCheckpoint) of a stream after a position, in order."""
        ...

    def log_page(
        self,
        workspace: str,
        stream_id: str,
        after: tuple[str, int] | None,
        limit: int,
        *,
        descending: bool = False,
        start_time: int | None = None,
        end_time: int | None = None,
        model_version_id: str = "",
    ) -> list[tuple[tuple[str, int], bytes]]:
        """Log records of one stream (or every stream) in (stream, sequence) order.

        Returns ((stream id, sequence), serialized record); ``after`` is the position of
        the last record of the previous page.
        """
        ...

    def logs(
        self,
        workspace: str,
        stream_id: str,
        after_sequence: int,
        limit: int,
        *,
        until_sequence: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        model_version_id: str = "",
    ) -> list[tuple[int, bytes]]:
        """(sequence, serialized record) of a stream in sequence order."""
        ...

    # -- across workspaces (the service's scheduled work) ---------------------------

    def workspaces_with(self, kind: int) -> list[str]:
        """The workspaces that hold a resource of ``kind`` that is not archived, sorted."""
        ...

    # -- access: tokens and the audit trail ----------------------------------------

    def add_token(self, row: TokenRow) -> None:
        """Stores a new token."""
        ...

    def find_token(self, token_id: str) -> TokenRow | None:
        """The token with this id (revoked ones too), or None."""
        ...

    def list_tokens(self, workspace: str | None = None) -> list[TokenRow]:
        """Every token (of one workspace when given), oldest first."""
        ...

    def revoke_token(self, token_id: str, time: int) -> bool:
        """Marks a valid token revoked; False when it is unknown or already revoked."""
        ...

    def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """Appends entries to the audit trail (which has no update or delete)."""
        ...

    def audit_page(
        self,
        workspace: str,
        after_seq: int,
        limit: int,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        method: str = "",
        resource_id: str = "",
    ) -> list[AuditRow]:
        """Audit entries of a workspace in the order they were written."""
        ...


class Store(Protocol):
    """A metadata store: opens transactions and manages its schema."""

    url: str

    def transaction(self, *, write: bool = True) -> AbstractContextManager[UnitOfWork]:
        """A unit of work that commits when the block ends without an exception."""
        ...

    def check_schema(self) -> None:
        """Raises ``SchemaOutOfDate`` when the schema is not the one this code needs."""
        ...

    def size_bytes(self) -> int:
        """The database's size on disk, in bytes."""
        ...

    def dispose(self) -> None:
        """Closes every connection."""
        ...
