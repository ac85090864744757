"""The SQL store's engine: connections, transactions and the schema revision check.

SQLite (the embedded default) gets WAL, NORMAL sync and one serialized writer
connection; PostgreSQL gets a connection pool. The schema is managed by Alembic
(``mlspec db upgrade``); ``open_store`` refuses a database that is not at the newest
revision.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources as package_files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DataError

from mlspec import errors
from mlspec.store.sql.transaction import Transaction

UPGRADE_COMMAND = "mlspec db upgrade --store-url {url}"


class SchemaOutOfDate(RuntimeError):
    """The database schema is not at the revision this code needs."""


def alembic_config(url: str) -> Config:
    """The Alembic configuration of the store's migrations for a database URL."""
    config = Config()
    config.set_main_option(
        "script_location", str(package_files.files("mlspec.store.sql") / "migrations")
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
    """The metadata store over one SQLAlchemy engine (implements ``store.api.Store``)."""

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
        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
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
        config = alembic_config(self.url)
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def size_bytes(self) -> int:
        """The database's size on disk: SQLite's pages, or PostgreSQL's pg_database_size."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
                page_size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
                return int(pages) * int(page_size)
            size = conn.exec_driver_sql("SELECT pg_database_size(current_database())")
            return int(size.scalar_one())

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
