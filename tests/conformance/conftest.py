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

from .engine import Client


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--server",
        action="store",
        default=None,
        metavar="HOST:PORT",
        help="run tests/conformance against this running MLSpec server instead of a local one",
    )


@pytest.fixture(scope="module")
def server_address(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    given = request.config.getoption("--server", default=None)
    if given:
        yield str(given)
        return
    from mlspec.server.app import build_server
    from mlspec.server.config import ServerConfig
    from mlspec.store.sql import SqlStore

    folder: pathlib.Path = tmp_path_factory.mktemp("conformance")
    url = f"sqlite:///{folder / 'store.db'}"
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
