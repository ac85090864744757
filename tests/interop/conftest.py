"""Fixtures of the interoperability tests: a real server, and inputs made by the real tools."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

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


@pytest.fixture(scope="session")
def mlflow_store() -> tuple[str, dict[str, Any]]:
    """A real MLflow store (sqlite) built by tool_scripts/mlflow_store.py, and what it holds.

    Built once per script and pins, under build/mlflow-store/; MLflow shares .venv.
    """
    script = SCRIPTS / "mlflow_store.py"
    out = BUILD / "mlflow-store" / pins_digest("dev", script)
    expected = out / "expected.json"
    if not expected.exists():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        subprocess.run(
            [
                sys.executable,
                str(script),
                f"sqlite:///{out / 'mlflow.db'}",
                str(out / "artifacts"),
                str(expected) + ".tmp",
            ],
            cwd=out,  # MLflow's Default experiment keeps its artifacts under the cwd
            check=True,
            capture_output=True,
        )
        (out / "expected.json.tmp").rename(expected)
    return f"sqlite:///{out / 'mlflow.db'}", json.loads(expected.read_text())
