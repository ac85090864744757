"""The SQL store: SQLAlchemy 2 Core over SQLite (embedded default) or PostgreSQL.

Every method runs inside a ``Transaction`` from ``SqlStore.transaction()``: all writes of
one request commit together or not at all. Filters, pagination and lineage walks run in
SQL; nothing here loads a whole table into Python.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from importlib import resources as package_files
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    create_engine,
    event,
    exists,
    func,
    insert,
    not_,
    or_,
    select,
)
from sqlalchemy.exc import DataError, IntegrityError

from mlspec.domain import errors
from mlspec.domain.filters import And, Comparison, Node, Not, Or
from mlspec.store.records import EventRow, FieldSpec, ListQuery, ListResult, ResourceRecord
from mlspec.store.schema import (
    events,
    idempotency,
    inference_logs,
    metrics,
    resource_fields,
    resources,
)

ARCHIVED = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
UPGRADE_COMMAND = "mlspec db upgrade --store-url {url}"


class SchemaOutOfDate(RuntimeError):
    """The database schema is not at the revision this code needs."""


def now_micros() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(package_files.files("mlspec.store") / "migrations")
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def open_store(url: str, *, check_schema: bool = True) -> SqlStore:
    """Opens the store at ``url``; with ``check_schema`` refuses an out-of-date schema."""
    store = SqlStore(url)
    if check_schema:
        store.check_schema()
    return store


class SqlStore:
    """The metadata store over one SQLAlchemy engine."""

    def __init__(self, url: str) -> None:
        """Creates the engine; SQLite gets WAL, NORMAL sync and a busy timeout."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_size"] = 8
            kwargs["max_overflow"] = 8
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        # SQLite allows one writer: serialize this process's writers up front so that
        # transactions never fail with "database is locked" upgrades.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._local = threading.local()
        self._writer: Connection | None = None
        self._held: list[Connection] = []
        self._held_lock = threading.Lock()
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)

    # -- schema ---------------------------------------------------------------------

    def schema_revisions(self) -> tuple[str | None, str | None]:
        """Returns (current revision in the database, newest revision of this code)."""
        head = ScriptDirectory.from_config(_alembic_config(self.url)).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return current, head

    def check_schema(self) -> None:
        """Raises ``SchemaOutOfDate`` (with the command that fixes it) when not at head."""
        current, head = self.schema_revisions()
        if current != head:
            raise SchemaOutOfDate(
                f"the store schema is at revision {current or 'none'}, this server needs "
                f"{head}; run: {UPGRADE_COMMAND.format(url=self.url)}"
            )

    def upgrade(self) -> None:
        """Migrates the schema to the newest revision (idempotent)."""
        config = _alembic_config(self.url)
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        """Closes every connection (the per-thread SQLite ones too)."""
        with self._held_lock:
            held, self._held = self._held, []
        for conn in held:
            conn.close()
        self.engine.dispose()

    def _writer_connection(self) -> Connection:
        """The one SQLite connection that writes, used under the write lock.

        Writes are serialized anyway; one writer keeps its page cache warm, where a
        connection per thread must re-read every page another connection changed.
        """
        conn = self._writer
        if conn is None or conn.closed or conn.invalidated:
            conn = self._writer = self.engine.connect()
            with self._held_lock:
                self._held.append(conn)
        return conn

    def _thread_connection(self) -> Connection:
        """The calling thread's own SQLite connection, opened on first use and kept.

        Checking a connection out of the pool and resetting it on return costs more than
        a small report's writes; a server thread keeps one open instead.
        """
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect()
            self._local.conn = conn
            with self._held_lock:
                self._held.append(conn)
        return conn

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Transaction]:
        """Yields a transaction that commits when the block ends without an exception."""
        lock = self._write_lock if write else None
        if lock is not None:
            lock.acquire()
        try:
            if self.is_sqlite:
                conn = self._writer_connection() if write else self._thread_connection()
                conn.info["mlspec_begin"] = "BEGIN IMMEDIATE" if write else "BEGIN"
                with conn.begin():
                    yield Transaction(conn, self.is_sqlite)
            else:
                with self.engine.connect() as conn, conn.begin():
                    yield Transaction(conn, self.is_sqlite)
        except DataError as exc:  # a value the database cannot hold (text with NUL, ...)
            raise errors.InvalidArgument(
                f"a value cannot be stored or compared: {exc.orig}", reason="UNSTORABLE_VALUE"
            ) from exc
        finally:
            if lock is not None:
                lock.release()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Checkpoint the WAL every ~40 MB instead of every 4 MB: fewer fsyncs of the main
    # file under a steady stream of small reports, same durability (synchronous=NORMAL).
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Straight on the driver: SQLAlchemy's statement execution would cost more than the
    # BEGIN itself, on every call.
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute(conn.info.pop("mlspec_begin", "BEGIN"))


def _row_to_record(row: Any) -> ResourceRecord:
    """A record from a SQLAlchemy row of the resources table."""
    return _tuple_to_record(tuple(getattr(row, c) for c in _COLUMNS.split(", ")))


def _tuple_to_record(row: tuple[Any, ...]) -> ResourceRecord:
    """A record from a driver row in _COLUMNS order."""
    seq, id_, workspace, kind, scope, name, status, create_time, update_time, etag, data = row
    return ResourceRecord(
        id=id_,
        workspace=workspace,
        kind=kind,
        scope=scope,
        name=name or "",
        status=status,
        create_time=create_time,
        update_time=update_time,
        etag=etag,
        data=bytes(data),
        seq=seq,
    )


def raw_data_errors(raw: Any) -> tuple[type[BaseException], ...]:
    """The driver's errors for values it cannot hold (PostgreSQL text with NUL, ...)."""
    if type(raw).__module__.split(".")[0] == "sqlite3":
        return ()
    import psycopg

    return (psycopg.DataError,)


def raw_integrity_errors(raw: Any) -> tuple[type[BaseException], ...]:
    """The driver's integrity error classes for a raw DB-API connection."""
    module = type(raw).__module__.split(".")[0]
    if module == "sqlite3":
        import sqlite3

        return (sqlite3.IntegrityError,)
    import psycopg

    return (psycopg.IntegrityError,)


class Transaction:
    """The operations of the store, inside one database transaction."""

    def __init__(self, conn: Connection, is_sqlite: bool) -> None:
        """Wraps an open connection with a begun transaction."""
        self.conn = conn
        self.is_sqlite = is_sqlite

    # -- resources ------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        """Adapts a hot-path statement written with ``?`` to the driver's paramstyle."""
        return statement if self.is_sqlite else statement.replace("?", "%s")

    def _rows(self, statement: str, params: tuple[Any, ...] | list[tuple[Any, ...]]) -> list[Any]:
        """Runs a fixed statement on the driver's own cursor (executemany for a list)."""
        raw = self.conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            if isinstance(params, list):
                cursor.executemany(self._sql(statement), params)
                return []
            cursor.execute(self._sql(statement), params)
            return list(cursor.fetchall()) if cursor.description else []
        except raw_integrity_errors(raw) as exc:
            raise IntegrityError(statement, None, exc) from exc
        except raw_data_errors(raw) as exc:
            raise errors.InvalidArgument(
                f"a value cannot be stored: {exc}", reason="UNSTORABLE_VALUE"
            ) from exc
        finally:
            cursor.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Keeps the transaction usable after a failed statement.

        PostgreSQL aborts the whole transaction on an error, so the statement runs in a
        savepoint there; SQLite only undoes the failed statement and needs none.
        """
        if self.is_sqlite:
            yield
        else:
            with self.conn.begin_nested():
                yield

    def insert(self, record: ResourceRecord) -> ResourceRecord:
        """Inserts a new resource; raises AlreadyExists when its name is taken.

        The hot paths (insert, replace, get) use fixed statements straight on the driver:
        they run on every report, and SQLAlchemy's statement compilation would cost more
        than the database work. Any error aborts the whole request's transaction.
        """
        with self._guard():
            try:
                rows = self._rows(_INSERT_RESOURCE, _values(record))
            except IntegrityError as exc:
                raise _name_taken(record) from exc
        record.seq = int(rows[0][0])
        self._write_fields(record)
        return record

    def replace(self, record: ResourceRecord, expected_etag: str) -> ResourceRecord:
        """Overwrites a resource if its stored etag is ``expected_etag`` (else ABORTED)."""
        values = _values(record)
        try:
            rows = self._rows(
                _UPDATE_RESOURCE, (*values[3:7], *values[8:], record.id, expected_etag)
            )
        except IntegrityError as exc:
            raise _name_taken(record) from exc
        if not rows:
            raise errors.Aborted(
                f"resource {record.id} was changed by someone else (etag mismatch); read it "
                "again and retry",
                reason="ETAG_MISMATCH",
                resource_name=record.id,
            )
        record.seq = int(rows[0][0])
        self._rows("DELETE FROM resource_fields WHERE resource_seq = ?", (record.seq,))
        self._write_fields(record)
        return record

    def _write_fields(self, record: ResourceRecord) -> None:
        if record.fields:
            self._rows(
                _INSERT_FIELD,
                [(record.seq, record.kind, f.key, f.text, f.num) for f in record.fields],
            )

    def get(self, workspace: str, resource_id: str) -> ResourceRecord | None:
        """Returns a resource of the workspace by id (archived ones included)."""
        rows = self._rows(
            _SELECT_RESOURCE + " WHERE id = ? AND workspace = ?", (resource_id, workspace)
        )
        return _tuple_to_record(rows[0]) if rows else None

    def get_many(self, workspace: str, ids: Sequence[str]) -> dict[str, ResourceRecord]:
        """Returns the resources of the workspace with the given ids, by id."""
        found: dict[str, ResourceRecord] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._rows(
                _SELECT_RESOURCE + f" WHERE workspace = ? AND id IN ({marks})", (workspace, *chunk)
            )
            for row in rows:
                record = _tuple_to_record(row)
                found[record.id] = record
        return found

    def find_by_name(
        self, workspace: str, kind: int, scope: str, name: str
    ) -> ResourceRecord | None:
        """Returns the non-archived resource with this name (case-insensitive), if any."""
        row = self.conn.execute(
            select(resources).where(
                resources.c.workspace == workspace,
                resources.c.kind == kind,
                resources.c.scope == scope,
                resources.c.name_lower == name.lower(),
                resources.c.status != ARCHIVED,
            )
        ).first()
        return None if row is None else _row_to_record(row)

    def lock_resource(self, workspace: str, resource_id: str) -> None:
        """Holds a resource's row until the transaction ends (PostgreSQL).

        Checks made under the lock (unique versions and aliases of a model) and the writes
        after them take turns. SQLite needs nothing: its writes are serialized already.
        """
        if self.is_sqlite:
            return
        self.conn.execute(
            select(resources.c.seq)
            .where(resources.c.id == resource_id, resources.c.workspace == workspace)
            .with_for_update()
        )

    def ids_by_name_in_any_scope(
        self, workspace: str, kind: int, name: str, limit: int = 2
    ) -> list[str]:
        """Ids of non-archived resources with this name (case-insensitive) in any scope."""
        rows = self.conn.execute(
            select(resources.c.id)
            .where(
                resources.c.workspace == workspace,
                resources.c.kind == kind,
                resources.c.name_lower == name.lower(),
                resources.c.status != ARCHIVED,
            )
            .limit(limit)
        )
        return [str(r.id) for r in rows]

    def latest_in_scope(
        self, workspace: str, kind: int, scope: str, statuses: Sequence[int]
    ) -> ResourceRecord | None:
        """Returns the newest resource of a kind within a scope with one of ``statuses``."""
        row = self.conn.execute(
            select(resources)
            .where(
                resources.c.workspace == workspace,
                resources.c.kind == kind,
                resources.c.scope == scope,
                resources.c.status.in_(list(statuses)),
            )
            .order_by(resources.c.seq.desc())
            .limit(1)
        ).first()
        return None if row is None else _row_to_record(row)

    def count_in_scope(self, workspace: str, kind: int, scope: str) -> int:
        """Counts the resources of a kind within a scope (every status)."""
        return int(
            self.conn.execute(
                select(func.count()).where(
                    resources.c.workspace == workspace,
                    resources.c.kind == kind,
                    resources.c.scope == scope,
                )
            ).scalar_one()
        )

    def list_page(self, query: ListQuery) -> ListResult:
        """Returns one page of resources matching ``query``, in a stable keyset order."""
        conditions: list[ColumnElement[bool]] = [
            resources.c.workspace == query.workspace,
            resources.c.kind == query.kind,
        ]
        if query.scope is not None:
            conditions.append(resources.c.scope == query.scope)
        if query.statuses:
            conditions.append(resources.c.status.in_(list(query.statuses)))
        compiler = _FilterCompiler(query.kind, query.members)
        if query.filter is not None:
            conditions.append(compiler.compile(query.filter))
        sort_col, descending = _sort_column(query)
        # With the default order and an equality on an indexed field in the filter, read
        # the matches from the field index in seq order: a page costs O(page size) for
        # rare and common values alike (an EXISTS probe per row would scan past every
        # non-matching row first).
        driver = (
            compiler.driver(query.filter) if query.filter is not None and sort_col is None else None
        )
        if query.after is not None:
            value, seq = query.after
            if sort_col is None:
                conditions.append(resources.c.seq < seq if descending else resources.c.seq > seq)
            elif descending:
                conditions.append(
                    or_(sort_col < value, and_(sort_col == value, resources.c.seq < seq))
                )
            else:
                conditions.append(
                    or_(sort_col > value, and_(sort_col == value, resources.c.seq > seq))
                )
        order = []
        if sort_col is not None:
            order.append(sort_col.desc() if descending else sort_col.asc())
        order.append(resources.c.seq.desc() if descending else resources.c.seq.asc())
        stmt = select(resources).where(*conditions).order_by(*order).limit(query.page_size + 1)
        if driver is not None and not descending:
            joined = _DRIVER.join(resources, resources.c.seq == _DRIVER.c.resource_seq)
            stmt = (
                select(resources)
                .select_from(joined)
                .where(*driver, *conditions)
                .order_by(_DRIVER.c.resource_seq)
                .limit(query.page_size + 1)
            )
        rows = list(self.conn.execute(stmt))
        more = len(rows) > query.page_size
        rows = rows[: query.page_size]
        records = [_row_to_record(r) for r in rows]
        last = None
        if rows:
            tail = rows[-1]
            last = (None if sort_col is None else _sort_value(tail, sort_col), tail.seq)
        return ListResult(records, last, more)

    # -- lineage --------------------------------------------------------------------

    def add_edges(self, workspace: str, edges: Sequence[tuple[str, str, int]]) -> None:
        """Adds lineage edges (source id, target id, relation); existing ones are kept."""
        unique = list(dict.fromkeys(edges))
        if unique:
            self._rows(_INSERT_EDGE, [(workspace, s, d, r) for s, d, r in unique])

    def walk_edges(
        self, workspace: str, start: str, *, upstream: bool, max_depth: int
    ) -> tuple[dict[str, int], set[tuple[str, str, int]]]:
        """Walks lineage edges from ``start`` in SQL (a recursive query).

        Returns the nodes reached with their smallest depth, and the edges traversed.
        """
        near, far = ("dst_id", "src_id") if upstream else ("src_id", "dst_id")
        sql = f"""
            WITH RECURSIVE walk(node, depth, src, dst, relation) AS (
                SELECT CAST(? AS VARCHAR(40)), 0, CAST(NULL AS VARCHAR(40)),
                       CAST(NULL AS VARCHAR(40)), CAST(NULL AS SMALLINT)
                UNION
                SELECT e.{far}, w.depth + 1, e.src_id, e.dst_id, e.relation
                FROM lineage_edges e JOIN walk w ON e.{near} = w.node
                WHERE w.depth < ? AND e.workspace = ?
            )
            SELECT node, depth, src, dst, relation FROM walk
            """  # noqa: S608 - the interpolated names are fixed column names, not input
        nodes: dict[str, int] = {}
        edges: set[tuple[str, str, int]] = set()
        for node, depth, src, dst, relation in self._rows(sql, (start, max_depth, workspace)):
            if node not in nodes or depth < nodes[node]:
                nodes[node] = int(depth)
            if src is not None:
                edges.add((src, dst, int(relation)))
        return nodes, edges

    def summaries(self, workspace: str, ids: Sequence[str]) -> dict[str, tuple[int, str, int, int]]:
        """Id -> (kind, name, status, stage) without loading the stored messages."""
        found: dict[str, tuple[int, str, int, int]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            sql = _SUMMARIES + f" AND r.id IN ({marks})"  # only '?' placeholders are added
            for id_, kind, name, status, stage in self._rows(sql, (workspace, *chunk)):
                found[id_] = (int(kind), name or "", int(status), int(stage or 0))
        return found

    # -- idempotency ----------------------------------------------------------------

    def recall(self, workspace: str, method: str, request_id: str) -> tuple[str, bytes] | None:
        """Returns (request hash, response) stored for a request id, if any."""
        row = self.conn.execute(
            select(idempotency.c.request_hash, idempotency.c.response).where(
                idempotency.c.workspace == workspace,
                idempotency.c.method == method,
                idempotency.c.request_id == request_id,
            )
        ).first()
        return None if row is None else (row.request_hash, bytes(row.response))

    def remember(
        self, workspace: str, method: str, request_id: str, request_hash: str, response: bytes
    ) -> None:
        """Stores the response of a request id, in the same transaction as its effects."""
        self.conn.execute(
            insert(idempotency).values(
                workspace=workspace,
                method=method,
                request_id=request_id,
                request_hash=request_hash,
                response=response,
                create_time=now_micros(),
            )
        )

    # -- metrics --------------------------------------------------------------------

    def append_metrics(self, rows: Sequence[tuple[str, str, int, int, bytes]]) -> None:
        """Appends metric points (run id, key, step, time in µs, serialized Metric)."""
        if rows:
            self.conn.execute(
                insert(metrics),
                [
                    {"run_id": r, "key": k, "step": s, "time": t, "data": d}
                    for r, k, s, t, d in rows
                ],
            )

    def metric_history(
        self, run_id: str, key: str, after_seq: int, limit: int
    ) -> list[tuple[int, bytes]]:
        """Returns (seq, serialized Metric) points of one run's metric, in step order."""
        rows = self.conn.execute(
            select(metrics.c.seq, metrics.c.data)
            .where(metrics.c.run_id == run_id, metrics.c.key == key, metrics.c.seq > after_seq)
            .order_by(metrics.c.seq)
            .limit(limit)
        )
        return [(int(r.seq), bytes(r.data)) for r in rows]

    # -- monitoring events --------------------------------------------------------------

    def append_events(self, workspace: str, rows: Sequence[EventRow]) -> None:
        """Appends monitoring records; AlreadyExists when a (kind, key) is taken."""
        if not rows:
            return
        try:
            with self._guard():
                self._rows(
                    _INSERT_EVENT,
                    [
                        (
                            workspace,
                            r.kind,
                            r.key,
                            r.model_version_id,
                            r.deployment,
                            r.name,
                            int(r.failing),
                            r.time,
                            r.data,
                        )
                        for r in rows
                    ],
                )
        except IntegrityError as exc:
            raise errors.AlreadyExists(
                "a record with the same id was already recorded", reason="ALREADY_RECORDED"
            ) from exc

    def event_exists(self, workspace: str, kind: int, key: str) -> bool:
        """Whether a monitoring record of ``kind`` with ``key`` exists."""
        return bool(
            self._rows(
                "SELECT 1 FROM events WHERE workspace = ? AND kind = ? AND key = ?",
                (workspace, kind, key),
            )
        )

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
        """Monitoring records, newest first (or oldest first): (seq, kind, time µs, data).

        ``after`` is the (time, seq) of the last record of the previous page.
        """
        conditions: list[ColumnElement[bool]] = [
            events.c.workspace == workspace,
            events.c.kind.in_(list(kinds)),
        ]
        if model_version_id:
            conditions.append(events.c.model_version_id == model_version_id)
        if deployment:
            conditions.append(events.c.deployment == deployment)
        if start_time is not None:
            conditions.append(events.c.time >= start_time)
        if end_time is not None:
            conditions.append(events.c.time < end_time)
        if only_failing:
            conditions.append(events.c.failing == 1)
        if after is not None:
            conditions.append(_keyset_after(events.c.time, events.c.seq, after, oldest_first))
        order = (events.c.time, events.c.seq)
        stmt = (
            select(events.c.seq, events.c.kind, events.c.time, events.c.data)
            .where(*conditions)
            .order_by(*(order if oldest_first else (c.desc() for c in order)))
            .limit(limit)
        )
        return [
            (int(r.seq), int(r.kind), int(r.time), bytes(r.data)) for r in self.conn.execute(stmt)
        ]

    # -- inference logs ---------------------------------------------------------------

    def last_log(self, workspace: str, stream_id: str) -> tuple[int, str] | None:
        """Returns (sequence, record hash) of the newest record of a log stream."""
        row = self.conn.execute(
            select(inference_logs.c.sequence, inference_logs.c.record_hash)
            .where(inference_logs.c.workspace == workspace, inference_logs.c.stream_id == stream_id)
            .order_by(inference_logs.c.sequence.desc())
            .limit(1)
        ).first()
        return None if row is None else (int(row.sequence), row.record_hash)

    def append_logs(
        self, workspace: str, rows: Sequence[tuple[str, int, int, str, str, bytes]]
    ) -> None:
        """Appends log records (stream, sequence, time µs, model version id, hash, data)."""
        if rows:
            self.conn.execute(
                insert(inference_logs),
                [
                    {
                        "workspace": workspace,
                        "stream_id": s,
                        "sequence": q,
                        "time": t,
                        "model_version_id": m,
                        "record_hash": h,
                        "data": d,
                    }
                    for s, q, t, m, h, d in rows
                ],
            )

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
        """Log records of one stream (or of every stream) in (stream, sequence) order.

        Returns ((stream id, sequence), serialized record); ``after`` is the position of
        the last record of the previous page.
        """
        t = inference_logs.c
        conditions: list[ColumnElement[bool]] = [t.workspace == workspace]
        if stream_id:
            conditions.append(t.stream_id == stream_id)
        if after is not None:
            conditions.append(_keyset_after(t.stream_id, t.sequence, after, not descending))
        if start_time is not None:
            conditions.append(t.time >= start_time)
        if end_time is not None:
            conditions.append(t.time < end_time)
        if model_version_id:
            conditions.append(t.model_version_id == model_version_id)
        order = (t.stream_id, t.sequence)
        rows = self.conn.execute(
            select(t.stream_id, t.sequence, t.data)
            .where(*conditions)
            .order_by(*((c.desc() for c in order) if descending else order))
            .limit(limit)
        )
        return [((str(r.stream_id), int(r.sequence)), bytes(r.data)) for r in rows]

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
        """Returns (sequence, serialized record) of a stream in sequence order."""
        conditions: list[ColumnElement[bool]] = [
            inference_logs.c.workspace == workspace,
            inference_logs.c.sequence > after_sequence,
        ]
        if stream_id:
            conditions.append(inference_logs.c.stream_id == stream_id)
        if until_sequence is not None:
            conditions.append(inference_logs.c.sequence <= until_sequence)
        if start_time is not None:
            conditions.append(inference_logs.c.time >= start_time)
        if end_time is not None:
            conditions.append(inference_logs.c.time < end_time)
        if model_version_id:
            conditions.append(inference_logs.c.model_version_id == model_version_id)
        rows = self.conn.execute(
            select(inference_logs.c.sequence, inference_logs.c.data)
            .where(*conditions)
            .order_by(inference_logs.c.stream_id, inference_logs.c.sequence)
            .limit(limit)
        )
        return [(int(r.sequence), bytes(r.data)) for r in rows]


def _keyset_after(
    first: ColumnElement[Any], second: ColumnElement[Any], after: tuple[Any, Any], ascending: bool
) -> ColumnElement[bool]:
    """Rows past ``after`` in (first, second) order, ascending or descending."""
    if ascending:
        return or_(first > after[0], and_(first == after[0], second > after[1]))
    return or_(first < after[0], and_(first == after[0], second < after[1]))


_COLUMNS = "seq, id, workspace, kind, scope, name, status, create_time, update_time, etag, data"
_SELECT_RESOURCE = f"SELECT {_COLUMNS} FROM resources"  # noqa: S608 - fixed column list
_INSERT_RESOURCE = (
    "INSERT INTO resources (id, workspace, kind, scope, name, name_lower, status, create_time,"
    " update_time, etag, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq"
)
_UPDATE_RESOURCE = (
    "UPDATE resources SET scope = ?, name = ?, name_lower = ?, status = ?, update_time = ?,"
    " etag = ?, data = ? WHERE id = ? AND etag = ? RETURNING seq"
)
_INSERT_FIELD = (
    "INSERT INTO resource_fields (resource_seq, kind, key, value_text, value_num)"
    " VALUES (?, ?, ?, ?, ?)"
)
_SUMMARIES = (
    "SELECT r.id, r.kind, r.name, r.status, f.value_num FROM resources r"
    " LEFT JOIN resource_fields f ON f.resource_seq = r.seq AND f.kind = r.kind"
    " AND f.key = 'stage' WHERE r.workspace = ?"
)
_INSERT_EVENT = (
    "INSERT INTO events (workspace, kind, key, model_version_id, deployment, name, failing, time, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_EDGE = (
    "INSERT INTO lineage_edges (workspace, src_id, dst_id, relation) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)


def _values(record: ResourceRecord) -> tuple[Any, ...]:
    """The insert parameters of a record, in _INSERT_RESOURCE order."""
    return (
        record.id,
        record.workspace,
        record.kind,
        record.scope,
        record.name or None,
        record.name.lower() if record.name else None,
        record.status,
        record.create_time,
        record.update_time,
        record.etag,
        record.data,
    )


def _name_taken(record: ResourceRecord) -> errors.AlreadyExists:
    return errors.AlreadyExists(
        f"a resource of this kind named {record.name!r} already exists in this scope",
        reason="NAME_TAKEN",
        resource_name=record.name,
    )


# Sortable members. Unnamed objects sort as the empty name on every backend (SQLite and
# PostgreSQL place NULLs differently), and page positions never hold NULL.
_BUILTIN_ORDER = {
    "create_time": resources.c.create_time,
    "update_time": resources.c.update_time,
    "name": func.coalesce(resources.c.name_lower, ""),
}


def _sort_value(row: Any, sort_col: Any) -> Any:
    if sort_col is _BUILTIN_ORDER["name"]:
        return row.name_lower or ""
    return getattr(row, sort_col.name)


def _sort_column(query: ListQuery) -> tuple[Any, bool]:
    if not query.order_by:
        return None, False
    if len(query.order_by) > 1:
        raise errors.invalid("order_by", "only one sort key is supported")
    key = query.order_by[0]
    member = key.member.removeprefix("meta.")
    if member not in _BUILTIN_ORDER:
        raise errors.invalid(
            "order_by", f"cannot sort by {key.member!r}; use one of {sorted(_BUILTIN_ORDER)}"
        )
    return _BUILTIN_ORDER[member], key.descending


def parse_time_micros(value: str, path: str) -> int:
    """Parses an RFC 3339 timestamp into microseconds since the epoch."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise errors.invalid(path, f"{value!r} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        raise errors.invalid(path, f"{value!r} needs a time zone (for example 'Z')")
    return (parsed - _EPOCH) // timedelta(microseconds=1)  # exact: no float on the way


# The filter-index rows a page is read through (see Transaction.list_page).
_DRIVER = resource_fields.alias("driver")


# Presence tests name the value column the row must have: the field indexes are partial
# (a row holds a text or a number), and only a condition implying one of them lets the
# database use them for a bare (kind, key) look-up.
_HAS_TEXT = resource_fields.c.value_text.is_not(None)
_HAS_NUMBER = resource_fields.c.value_num.is_not(None)


class _FilterCompiler:
    """Translates a filter tree into a SQL condition with bound parameters."""

    BUILTIN_TEXT: ClassVar[dict[str, Any]] = {"name": resources.c.name_lower}
    BUILTIN_TIME: ClassVar[dict[str, Any]] = {
        "create_time": resources.c.create_time,
        "update_time": resources.c.update_time,
    }

    def __init__(self, kind: int, members: dict[str, FieldSpec]) -> None:
        self.kind = kind
        self.members = members

    def compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self.compile(n) for n in node.operands))
        if isinstance(node, Or):
            return or_(*(self.compile(n) for n in node.operands))
        if isinstance(node, Not):
            return not_(self.compile(node.operand))
        return self.comparison(node)

    def comparison(self, node: Comparison) -> ColumnElement[bool]:
        of_meta = node.member[0] == "meta" and len(node.member) > 1
        if of_meta:
            # `meta.name`, `meta.labels.x`, ... address the common object fields.
            node = Comparison(node.member[1:], node.op, node.value, node.quoted)
        member = ".".join(node.member)
        if member == "status" and not of_meta and "status" in self.members:
            # A kind with a status of its own (a stage report's outcome): bare `status` is
            # that one; the object's ACTIVE/DEPRECATED/ARCHIVED is `meta.status`.
            return self.field(member, self.members[member], node)
        if node.member[0] == "labels":
            return self.label(node)
        if member in self.BUILTIN_TEXT:
            return _compare(self.BUILTIN_TEXT[member], node.op, (node.value or "").lower(), member)
        if member in self.BUILTIN_TIME:
            return _compare(
                self.BUILTIN_TIME[member],
                node.op,
                parse_time_micros(node.value or "", "filter"),
                member,
            )
        if member == "status":
            return _compare(resources.c.status, node.op, _status_number(node.value or ""), member)
        spec = self.members.get(member)
        if spec is None:
            known = sorted(
                ["name", "status", "create_time", "update_time", "labels.<key>", *self.members]
            )
            raise errors.invalid("filter", f"unknown field {member!r}; filterable fields: {known}")
        return self.field(member, spec, node)

    def label(self, node: Comparison) -> ColumnElement[bool]:
        if len(node.member) == 1:
            if node.op != ":" or node.value is None:
                raise errors.invalid("filter", "use labels:<key> or labels.<key> = <value>")
            return self._exists(f"labels.{node.value}", _HAS_TEXT)
        key = "labels." + ".".join(node.member[1:])
        if node.value is None:
            return self._exists(key, _HAS_TEXT)
        if node.op in (":", "="):
            return self._exists(key, resource_fields.c.value_text == node.value)
        if node.op == "!=":
            return not_(self._exists(key, resource_fields.c.value_text == node.value))
        return self._exists(key, _compare(resource_fields.c.value_text, node.op, node.value, key))

    def field(self, member: str, spec: FieldSpec, node: Comparison) -> ColumnElement[bool]:
        if node.value is None:
            return self._exists(member, _HAS_TEXT if spec.kind == "text" else _HAS_NUMBER)
        column: Any
        value: Any
        if spec.kind == "text":
            column, value = resource_fields.c.value_text, node.value
        elif spec.kind == "enum":
            names = dict(spec.enum_values)
            match = (
                names[node.value]
                if node.value in names
                else next((v for n, v in spec.enum_values if n.endswith("_" + node.value)), None)
            )
            if match is None:
                raise errors.invalid("filter", f"{node.value!r} is not a value of {member}")
            column, value = resource_fields.c.value_num, float(match)
        elif spec.kind == "time":
            column, value = (
                resource_fields.c.value_num,
                float(parse_time_micros(node.value, "filter")),
            )
        else:
            try:
                column, value = resource_fields.c.value_num, float(node.value)
            except ValueError as exc:
                raise errors.invalid(
                    "filter", f"{member} compares with numbers, not {node.value!r}"
                ) from exc
        op = "=" if node.op == ":" else node.op
        if op == "!=":
            return not_(self._exists(member, column == value))
        return self._exists(member, _compare(column, op, value, member))

    def driver(self, node: Node) -> list[ColumnElement[bool]] | None:
        """Conditions on resource_fields for one equality the whole filter requires.

        Returns None unless the filter is such an equality, or an AND holding one.
        """
        candidates = node.operands if isinstance(node, And) else (node,)
        for candidate in candidates:
            if (
                not isinstance(candidate, Comparison)
                or candidate.op not in ("=", ":")
                or candidate.value is None
            ):
                continue
            member = (
                candidate.member[1:]
                if candidate.member[0] == "meta" and len(candidate.member) > 1
                else candidate.member
            )
            base = [_DRIVER.c.kind == self.kind]
            if member[0] == "labels" and len(member) > 1:
                key = "labels." + ".".join(member[1:])
                return [*base, _DRIVER.c.key == key, _DRIVER.c.value_text == candidate.value]
            spec = self.members.get(".".join(member))
            if spec is not None and spec.kind == "text":
                return [
                    *base,
                    _DRIVER.c.key == ".".join(member),
                    _DRIVER.c.value_text == candidate.value,
                ]
        return None

    def _exists(self, key: str, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        conditions = [
            resource_fields.c.resource_seq == resources.c.seq,
            resource_fields.c.kind == self.kind,
            resource_fields.c.key == key,
        ]
        if condition is not None:
            conditions.append(condition)
        return exists().where(*conditions)


def _compare(column: Any, op: str, value: Any, member: str) -> ColumnElement[bool]:
    if op in ("=", ":"):
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    raise errors.invalid("filter", f"operator {op!r} does not apply to {member}")


_STATUS_NAMES = {"ACTIVE": 1, "DEPRECATED": 2, "ARCHIVED": 3}


def _status_number(value: str) -> int:
    name = value.upper().removeprefix("OBJECT_STATUS_")
    if name not in _STATUS_NAMES:
        raise errors.invalid(
            "filter", f"status is one of ACTIVE, DEPRECATED, ARCHIVED, not {value!r}"
        )
    return _STATUS_NAMES[name]


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


__all__ = [
    "SchemaOutOfDate",
    "SqlStore",
    "Transaction",
    "decode_token",
    "encode_token",
    "now_micros",
    "open_store",
    "parse_time_micros",
]
