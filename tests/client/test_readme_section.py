"""The SDK tour of the README runs as written against a live server."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

from mlspec.client import Client
from mlspec.tracking.v1 import tracking_service_pb2 as tr

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def _snippets() -> list[str]:
    text = README.read_text()
    section = text.split("## The Python SDK (`mlspec.client`)", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_tour_runs(target: str, client: Client, tmp_path: pathlib.Path) -> None:
    (snippet,) = _snippets()
    env = dict(os.environ, MLSPEC_TARGET=target)
    env.pop("MLSPEC_WORKSPACE", None)
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MODEL_VERSION churn-model-1-0-0 1.0.0")
    assert "DATASET_VERSION" in done.stdout
    runs = client.tracking.ListRuns(tr.ListRunsRequest()).runs
    assert [r.state for r in runs] == [3]  # SUCCEEDED
    # The same step run again works: what exists already (same names, same content) is
    # got instead of created.
    again = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert len(client.tracking.ListRuns(tr.ListRunsRequest()).runs) == 2


@pytest.mark.parametrize("lines", [20])
def test_the_tour_is_short(lines: int) -> None:
    (snippet,) = _snippets()
    assert len(snippet.strip().splitlines()) <= lines
