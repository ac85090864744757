"""Every benchmark of ``make bench`` still runs against the server as it is now.

The benchmarks are not timed here (performance figures come from ``make bench`` alone);
each runs once at a tiny size, so that a change of the contract or the server that
breaks a benchmark's requests fails ``make test`` instead of the next ``make bench``.
The ML Metadata comparison needs its own virtual environment and the scale-out one a
PostgreSQL server: their requests are the ReportStage, lineage and list requests of
the others, and they are run by ``make bench``.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

SMALL = {
    "report_stage_throughput": ["--rounds", "1", "--seconds", "0.5", "--batch", "5"],
    "lineage_and_list": ["--total", "2000", "--count", "3"],
    "sdk_metrics": ["--rounds", "1", "--calls", "1000", "--points", "2000"],
    "log_ingestion": ["--records", "1000", "--rounds", "1"],
    "drift": ["--predictions", "2000", "--rounds", "1"],
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_benchmark_runs_at_a_tiny_size(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *SMALL[name]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "target" in done.stdout, done.stdout[-2000:]
    assert "INTERNAL" not in done.stdout + done.stderr
