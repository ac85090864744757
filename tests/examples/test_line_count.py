"""tools/count_mlspec_lines.py: the rules it counts by, and the demo's nine stages within 60."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "count_mlspec_lines.py"
sys.path.insert(0, str(ROOT / "tools"))

import count_mlspec_lines as counter  # noqa: E402

SOURCE = textwrap.dedent(
    '''
    """A docstring never counts."""
    import numpy as np
    from mlspec.client import Client, Stage


    def helper(values):
        return np.mean(values)  # plain ML: no MLSpec name


    # --- setup
    def run(client: Client, data) -> None:
        total = helper(data)
        with client.start_run(experiment="e") as run:
            # --- stage 2: data ingestion
            with run.stage(Stage.DATA_INGESTION) as stage:
                rows = [x * 2 for x in data]

                stage.set(
                    rows_ingested=len(rows),  # a comment inside counts with its line
                )
                for name in ["a"]:
                    print(name)
            copy = run
            print(copy.id, total)
    # --- end
    '''
)


def test_counts_only_the_lines_that_use_mlspec(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "example.py"
    path.write_text(SOURCE)
    regions = counter.count(path)
    assert regions["imports"] == 1
    assert regions["imports of the nine stages"] == 1
    # def run(...) and `with client.start_run` (the body lines that only compute do not).
    assert regions["setup"] == 2
    # `with run.stage`, the three lines of stage.set (blank line skipped), `copy = run`
    # and the print of copy: a name bound from an MLSpec value is MLSpec too.
    assert regions["stage 2: data ingestion"] == 6
    assert regions["outside"] == 0
    totals = counter.summary(regions)
    assert totals["nine_stages"] == 1 + 2 + 6


def test_the_demo_nine_stages_fit_in_60_lines() -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--json"], capture_output=True, text=True, check=True
    )
    counted = json.loads(done.stdout)
    regions = counted["regions"]
    for stage in counter.NINE_STAGES:
        assert regions[stage] > 0, stage  # every stage is there and reported
    assert counted["nine_stages"] <= 60, counted
    print(f"nine-stage pipeline: {counted['nine_stages']} MLSpec lines; all 13: {counted['all']}")


def test_the_readme_states_the_counts() -> None:
    counted = counter.summary(counter.count(counter.DEFAULT))
    readme = (ROOT / "README.md").read_text()
    stated = re.search(
        r"takes \*\*(\d+) lines of MLSpec code\*\*.*?stages take (\d+)\.", readme, re.S
    )
    assert stated, "the Demo section of README.md states the line counts"
    assert (int(stated.group(1)), int(stated.group(2))) == (counted["nine_stages"], counted["all"])
