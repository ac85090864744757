"""CLI test helpers: click's runner, the real ``mlspec`` entry point, a server on port 0."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from click.testing import CliRunner, Result

from mlspec.cli.root import cli
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore

# The console script installed beside this Python (what a user runs), not `python -m`.
MLSPEC = str(pathlib.Path(sys.executable).parent / "mlspec")


def invoke(*args: str) -> Result:
    """Runs ``mlspec ARGS`` in this process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, list(args), prog_name="mlspec")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the installed ``mlspec`` entry point as a process."""
    return subprocess.run(
        [MLSPEC, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def one_error_line(done: subprocess.CompletedProcess[str] | Result) -> str:
    """The single stderr line of a failed run (fails unless there is exactly one)."""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mlspec: "), lines[0]
    code = done.returncode if isinstance(done, subprocess.CompletedProcess) else done.exit_code
    assert code != 0
    return lines[0]


@pytest.fixture
def store_url(tmp_path: pathlib.Path) -> str:
    """An upgraded SQLite store."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    store.dispose()
    return url


@pytest.fixture
def running(store_url: str) -> Iterator[RunningServer]:
    server = build_server(ServerConfig(port=0, store_url=store_url))
    yield server
    server.stop(0)


@pytest.fixture
def target(running: RunningServer) -> str:
    return f"127.0.0.1:{running.port}"


@pytest.fixture
def channel(target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(target) as ch:
        yield ch


def start_server(folder: pathlib.Path) -> RunningServer:
    """A server on port 0 over a fresh SQLite store in ``folder``."""
    url = f"sqlite:///{folder / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    store.dispose()
    return build_server(ServerConfig(port=0, store_url=url))


@pytest.fixture(scope="module")
def module_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server shared by the tests of one module (each test uses its own names)."""
    server = start_server(tmp_path_factory.mktemp("store"))
    yield f"127.0.0.1:{server.port}"
    server.stop(0)


ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LIFECYCLE = sorted((EXAMPLES / "lifecycle").glob("stage-*.yaml"))


@pytest.fixture(scope="module")
def seeded(module_target: str) -> str:
    """The module's server with examples/seed.yaml imported and every stage reported."""
    imported = invoke("--server", module_target, "import", str(EXAMPLES / "seed.yaml"))
    assert imported.exit_code == 0, imported.stderr
    reported = invoke("--server", module_target, "report", *map(str, LIFECYCLE))
    assert reported.exit_code == 0, reported.stderr
    return module_target
