"""examples/seed.yaml makes every lifecycle example reportable on a fresh server.

The seed is imported (twice: the second time adds nothing), then every stage report of
examples/lifecycle/ is sent with one ``mlspec report`` against a real server on port 0,
and the lineage of the model they describe reaches back to the ingested data.
"""

from __future__ import annotations

import yaml

from mlspec.client import Client
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc

from .conftest import EXAMPLES, LIFECYCLE, invoke


def test_seed_then_every_lifecycle_example_reports(module_target: str) -> None:
    seed = str(EXAMPLES / "seed.yaml")
    first = invoke("--server", module_target, "-o", "yaml", "import", seed)
    assert first.exit_code == 0, first.stderr
    assert first.stderr == ""
    results = yaml.safe_load(first.stdout)
    assert {r["result"] for r in results} == {"created"}
    again = invoke("--server", module_target, "-o", "yaml", "import", seed)
    assert again.exit_code == 0, again.stderr
    assert {r["result"] for r in yaml.safe_load(again.stdout)} == {"exists"}
    assert [r["id"] for r in yaml.safe_load(again.stdout)] == [r["id"] for r in results]

    reported = invoke("--server", module_target, "report", *map(str, LIFECYCLE))
    assert reported.exit_code == 0, reported.stderr
    rows = reported.stdout.splitlines()
    assert rows[0].split() == ["STAGE", "NAME", "STATUS", "ID"]
    assert len(rows) == 1 + len(LIFECYCLE) == 12
    with Client(module_target) as client:
        stored = client.lifecycle.ListStageReports(lc.ListStageReportsRequest(page_size=50))
        assert len(stored.stage_reports) == len(LIFECYCLE)
        for report in stored.stage_reports:  # every reference was resolved to an id
            for endpoint in [*report.inputs, *report.outputs]:
                assert endpoint.resource.id and not endpoint.resource.name

    tree = invoke(
        "--server", module_target, "lineage", "model-version", "churn-xgb@7.0.0", "--depth", "6"
    )
    assert tree.exit_code == 0, tree.stderr
    assert "churn-train-2026-03-02" in tree.stdout
    assert "customer-features-train" in tree.stdout

    workflow = invoke("--server", module_target, "import", str(EXAMPLES / "metadata/workflow.yaml"))
    assert workflow.exit_code == 0, workflow.stderr
    assert workflow.stderr == ""  # its model and dataset references are in the seed
