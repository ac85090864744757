"""What every group of SQL statements shares: the connection and the driver fast path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_
from sqlalchemy.exc import IntegrityError

from mlspec import errors


class SqlBase:
    """One open connection with a begun transaction, and how to run statements on it."""

    def __init__(self, conn: Connection, is_sqlite: bool) -> None:
        """Wraps an open connection with a begun transaction."""
        self.conn = conn
        self.is_sqlite = is_sqlite

    def _sql(self, statement: str) -> str:
        """Adapts a hot-path statement written with ``?`` to the driver's paramstyle."""
        return statement if self.is_sqlite else statement.replace("?", "%s")

    def _rows(self, statement: str, params: tuple[Any, ...] | list[tuple[Any, ...]]) -> list[Any]:
        """Runs a fixed statement on the driver's own cursor (executemany for a list).

        The hot paths use fixed statements straight on the driver: they run on every
        report, and SQLAlchemy's statement compilation would cost more than the database
        work. Integrity errors surface as SQLAlchemy's ``IntegrityError``.
        """
        raw = self.conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            if isinstance(params, list):
                cursor.executemany(self._sql(statement), params)
                return []
            cursor.execute(self._sql(statement), params)
            return list(cursor.fetchall()) if cursor.description else []
        except _integrity_errors(raw) as exc:
            raise IntegrityError(statement, None, exc) from exc
        except _data_errors(raw) as exc:
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


def keyset_after(
    first: ColumnElement[Any], second: ColumnElement[Any], after: tuple[Any, Any], ascending: bool
) -> ColumnElement[bool]:
    """Rows past ``after`` in (first, second) order, ascending or descending."""
    if ascending:
        return or_(first > after[0], and_(first == after[0], second > after[1]))
    return or_(first < after[0], and_(first == after[0], second < after[1]))


def _data_errors(raw: Any) -> tuple[type[BaseException], ...]:
    """The driver's errors for values it cannot hold (PostgreSQL text with NUL, ...)."""
    if type(raw).__module__.split(".")[0] == "sqlite3":
        return ()
    import psycopg

    return (psycopg.DataError,)


def _integrity_errors(raw: Any) -> tuple[type[BaseException], ...]:
    """The driver's integrity error classes for a raw DB-API connection."""
    module = type(raw).__module__.split(".")[0]
    if module == "sqlite3":
        import sqlite3

        return (sqlite3.IntegrityError,)
    import psycopg

    return (psycopg.IntegrityError,)
