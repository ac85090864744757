"""A real server on port 0 over a real SQLite file, and a Client connected to it."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from mlspec.client import Client
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore


@pytest.fixture
def store_url(tmp_path: pathlib.Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def running(store_url: str) -> Iterator[RunningServer]:
    store = SqlStore(store_url)
    store.upgrade()
    server = build_server(ServerConfig(port=0, store_url=store_url), store=store)
    yield server
    server.stop(0)


@pytest.fixture
def target(running: RunningServer) -> str:
    return f"127.0.0.1:{running.port}"


@pytest.fixture
def client(target: str) -> Iterator[Client]:
    with Client(target, timeout=20.0) as c:
        yield c
