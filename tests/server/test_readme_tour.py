"""The README's five-minute tour runs as written against a real server."""

from __future__ import annotations

import pathlib
import re
import runpy

import pytest

from mlspec.server.app import RunningServer

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_the_python_tour_runs(
    running: RunningServer, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    tour = next(b for b in blocks if "GetLineage" in b)
    script = tmp_path / "tour.py"
    script.write_text(
        tour.replace("127.0.0.1:50051", f"127.0.0.1:{running.port}"), encoding="utf-8"
    )
    runpy.run_path(str(script))
    printed = capsys.readouterr().out
    for kind in ("MODEL_VERSION", "STAGE_REPORT", "RUN", "DATASET_VERSION", "DATASET"):
        assert f"RESOURCE_KIND_{kind} " in printed
