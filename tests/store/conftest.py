"""The storage backends every store test runs against: a SQLite file and a real PostgreSQL.

The PostgreSQL server is started once per session (``pg_server`` in tests/conftest.py); every test gets
an empty database (its schema dropped and recreated, which is much faster than a new
database), so tests never see each other's rows. A machine without PostgreSQL fails these tests (it does not
skip them): CI must prove the PostgreSQL backend.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from mlspec.store.sql import SqlStore
from tests.pg_server import PgServer

BACKENDS = ("sqlite", "postgresql")
PG_DATABASE = "mlspec_store_test"


@pytest.fixture(scope="session")
def pg_database(pg_server: PgServer) -> str:
    """The name of the database that the PostgreSQL tests share, one after another."""
    pg_server.create_database(PG_DATABASE)
    return PG_DATABASE


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """The URL of an empty database (no tables) of one backend, private to this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    yield server.reset_database(request.getfixturevalue("pg_database"))


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    """An upgraded store on a fresh database of each backend."""
    store = SqlStore(database_url)
    try:
        store.upgrade()
        yield store
    finally:
        store.dispose()
