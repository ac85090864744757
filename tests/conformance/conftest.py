"""The server the conformance suite talks to: started here, or given by ``--server``.

Without ``--server`` each test module gets a real server on port 0 over a fresh SQLite
file. With ``--server HOST:PORT`` every test talks to that server instead. Either way each
test works in a workspace of its own (the ``x-mlspec-workspace`` header on every call),
so runs against a shared server do not collide.
"""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator

import grpc
import pytest

from mlspec.store.sql import SqlStore
from tests.pg_server import PgServer

from .engine import Client


@pytest.fixture(scope="session")
def pg_conformance_url(pg_server: PgServer) -> str:
    """One migrated PostgreSQL database for the suite (tests work in their own workspaces)."""
    url = pg_server.create_database("mlspec_conformance")
    store = SqlStore(url)
    try:
        store.upgrade()
    finally:
        store.dispose()
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server_address(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server to test: the one given by --server, or a local one on each backend."""
    given = request.config.getoption("--server", default=None)
    if given:
        if request.param != "sqlite":  # a given server is tested once
            pytest.skip("--server is tested once, not once per local backend")
        yield str(given)
        return
    from mlspec.server.app import build_server
    from mlspec.server.config import ServerConfig

    if request.param == "sqlite":
        folder: pathlib.Path = tmp_path_factory.mktemp("conformance")
        url = f"sqlite:///{folder / 'store.db'}"
    else:
        url = request.getfixturevalue("pg_conformance_url")
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url), store=store)
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(0)


@pytest.fixture(scope="module")
def channel(server_address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server_address) as ch:
        grpc.channel_ready_future(ch).result(timeout=15)
        yield ch


@pytest.fixture
def workspace() -> str:
    return f"conformance-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def client(channel: grpc.Channel, workspace: str) -> Client:
    return Client(channel, workspace)
