"""Fixtures of the interoperability tests: a real server, and inputs made by the real tools."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from mlspec.client import Client
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore
from tests.interop.tool_venvs import BUILD, SCRIPTS, pins_digest, run_script


@pytest.fixture
def server(tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url), store=store)
    yield running
    running.stop(0)


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(f"127.0.0.1:{server.port}", timeout=30) as made:
        yield made


@pytest.fixture(scope="session")
def kfp_ir() -> dict[str, pathlib.Path]:
    """The pipelines of tool_scripts/kfp_pipelines.py compiled by the real kfp compiler.

    Compiled once per set of pins and script, under build/kfp-ir/.
    """
    script = SCRIPTS / "kfp_pipelines.py"
    out = BUILD / "kfp-ir" / pins_digest("kfp", script)
    if not (out / ".done").exists():
        run_script("kfp", script.name, str(out))
        (out / ".done").touch()
    return {path.stem: path for path in sorted(out.glob("*.yaml"))}
