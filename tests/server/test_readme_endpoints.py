"""The README's component-endpoints section runs as written (curl, and the SDK snippet)."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import DEFAULT_HTTP_PORT, ServerConfig
from mlspec.store.sql import SqlStore

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    return text.split("## Component endpoints", 1)[1].split("\n## ", 1)[0]


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, http_port=0, store_url=url), store=store)
    yield running
    running.stop(0)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_lines_answer(served: RunningServer) -> None:
    assert served.http is not None
    (block,) = re.findall(r"```sh\n(.*?)```", _section(), re.S)
    answers = []
    for line in block.strip().splitlines():
        command = line.split("#", 1)[0].replace(str(DEFAULT_HTTP_PORT), str(served.http.port))
        done = subprocess.run(command.split(), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        answers.append(done.stdout)
    ok, varz, metrics = answers
    assert json.loads(ok)["status"] == "SERVING"
    assert json.loads(varz)["variables"]["config.http_port"] == served.http.port
    names = {family.name for family in text_string_to_metric_families(metrics)}
    assert {"mlspec_rpc_calls", "mlspec_store_size_bytes"} <= names


def test_the_sdk_snippet_runs() -> None:
    (snippet,) = re.findall(r"```python\n(.*?)```", _section(), re.S)
    on_any_port, replaced = re.subn(r"serve\(\s*8080,", "serve(0,", snippet)
    assert replaced == 1  # port 8080 may be taken where the tests run
    done = subprocess.run(
        [sys.executable, "-c", on_any_port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+\n", done.stdout)
