"""A real Luigi pipeline, run by Luigi's local scheduler, reports to a real server.

The pipeline (``luigi_pipeline.py``) knows nothing of MLSpec; ``report_to`` is the only
call added around ``luigi.build``.
"""

from __future__ import annotations

import hashlib
import itertools
import pathlib
import warnings
from collections.abc import Iterator

import pytest

from mlspec.client import Client
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.data.v1 import artifact_pb2, data_service_pb2
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import run_pb2, tracking_service_pb2

with warnings.catch_warnings():
    # luigi warns on import unless a luigi.cfg says whether range tasks autoload.
    warnings.filterwarnings("ignore", r"\s*Autoloading range tasks", DeprecationWarning)
    import luigi

    from mlspec.interop.external import external_id
    from mlspec.interop.luigi import LuigiReporter, report_to
    from tests.interop import luigi_pipeline as pipeline

K = reference_pb2.ResourceKind

ORDERS = (
    "day,customer,amount\n"
    "2026-11-01,ann,12.50\n"
    "2026-11-01,bob,80.00\n"
    "2026-11-02,,5.00\n"
    "2026-11-02,ann,-1.00\n"
    "2026-11-02,cid,33.25\n"
)


@pytest.fixture
def client(tmp_path: pathlib.Path) -> Iterator[Client]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    server: RunningServer = build_server(ServerConfig(port=0, store_url=url), store=store)
    try:
        with Client(f"127.0.0.1:{server.port}", timeout=30) as made:
            yield made
    finally:
        server.stop(0)


@pytest.fixture
def data_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "orders.csv").write_text(ORDERS)
    return folder


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(
    client: Client,
    data_dir: pathlib.Path | str,
    *,
    task: type[luigi.Task] = pipeline.Report,
    name: str = "",
    **kwargs: str,
) -> tuple[bool, LuigiReporter]:
    with report_to(client, experiment="orders-etl", name=name) as reporter:
        ok = luigi.build(
            [task(data_dir=str(data_dir), **kwargs)],
            local_scheduler=True,
            workers=1,
            log_level="WARNING",
        )
    return ok, reporter


def artifacts_of(client: Client, run_id: str) -> dict[str, artifact_pb2.Artifact]:
    listed = client.data.ListArtifacts(data_service_pb2.ListArtifactsRequest(run_id=run_id))
    return {a.meta.name: a for a in listed.artifacts}


def test_each_task_is_a_step_run_with_digested_inputs_and_outputs(
    client: Client, data_dir: pathlib.Path
) -> None:
    ok, reporter = build(client, data_dir)
    assert ok
    runs = {
        family: reporter.step_runs[task.task_id].refresh()
        for family, task in {
            "CleanOrders": pipeline.CleanOrders(data_dir=str(data_dir)),
            "DailyTotals": pipeline.DailyTotals(data_dir=str(data_dir)),
            "CustomerCounts": pipeline.CustomerCounts(data_dir=str(data_dir)),
            "Report": pipeline.Report(data_dir=str(data_dir)),
        }.items()
    }
    assert reporter.pipeline_run is not None
    parent = reporter.pipeline_run.refresh()
    assert parent.kind == run_pb2.RUN_KIND_PIPELINE_RUN
    assert parent.state == run_state_pb2.RUN_STATE_SUCCEEDED
    children = client.tracking.ListRuns(
        tracking_service_pb2.ListRunsRequest(
            experiment_ids=[parent.experiment_id], filter=f'parent_run_id = "{parent.meta.id}"'
        )
    ).runs
    assert {child.meta.id for child in children} == {run.meta.id for run in runs.values()}
    for family, run in runs.items():
        assert run.kind == run_pb2.RUN_KIND_STEP_RUN
        assert run.state == run_state_pb2.RUN_STATE_SUCCEEDED
        assert run.tags["luigi.task_family"] == family
        assert run.parent_run_id == parent.meta.id
    assert {p.key: p.value.string_value for p in runs["Report"].params} == {
        "data_dir": str(data_dir),
        "title": "Orders",
    }

    # Luigi's identity on every run: the invocation, and the task in it; Get finds each.
    assert parent.meta.external_id == external_id("luigi", reporter.invocation)
    assert parent.tags["luigi.invocation"] == reporter.invocation
    for run in runs.values():
        assert run.meta.external_id.id == f"{reporter.invocation}/{run.tags['luigi.task_id']}"
        assert run.meta.display_name == ""  # these task ids are valid names
        found = client.tracking.GetRun(
            tracking_service_pb2.GetRunRequest(external_id=run.meta.external_id)
        ).run
        assert found.meta.id == run.meta.id

    # Outputs: one artifact per target, with the sha256 of the file written.
    outputs = {
        "CleanOrders": data_dir / "clean" / "orders.csv",
        "DailyTotals": data_dir / "totals.csv",
        "CustomerCounts": data_dir / "customers.json",
        "Report": data_dir / "report.md",
    }
    produced = {}
    for family, path in outputs.items():
        (artifact,) = artifacts_of(client, runs[family].meta.id).values()
        assert artifact.meta.name == "output"
        assert artifact.uri == path.resolve().as_uri()
        assert artifact.digest.digests["sha256"] == sha256(path)
        assert artifact.size_bytes == path.stat().st_size
        task_id = runs[family].tags["luigi.task_id"]
        assert artifact.meta.external_id == external_id(
            "luigi", f"{task_id}/output@sha256:{sha256(path)}"
        )
        produced[family] = artifact.meta.id
    found = client.data.GetArtifact(
        data_service_pb2.GetArtifactRequest(
            external_id=external_id(
                "luigi",
                f"{runs['Report'].tags['luigi.task_id']}/output@sha256:{sha256(outputs['Report'])}",
            )
        )
    ).artifact
    assert found.meta.id == produced["Report"]

    # Inputs: named as in task.input(), pointing at the upstream artifact, with the digest read.
    report_inputs = {i.context: i for i in runs["Report"].inputs}
    assert set(report_inputs) == {"totals", "customers"}
    assert report_inputs["totals"].resource.id == produced["DailyTotals"]
    assert report_inputs["customers"].resource.id == produced["CustomerCounts"]
    assert report_inputs["totals"].digest.digests["sha256"] == sha256(outputs["DailyTotals"])
    (clean_input,) = runs["CleanOrders"].inputs
    assert clean_input.resource.kind == K.RESOURCE_KIND_DATASET_VERSION
    assert clean_input.digest.digests["sha256"] == sha256(data_dir / "orders.csv")

    # Lineage from the report back to the first input, through every task.
    graph = client.lineage(
        reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_ARTIFACT, id=produced["Report"]),
        direction="upstream",
    )
    reached = {(node.kind, node.id) for node in graph.nodes}
    for run in runs.values():
        assert ("RUN", run.meta.id) in reached
    for artifact_id in produced.values():
        assert ("ARTIFACT", artifact_id) in reached
    assert ("DATASET_VERSION", clean_input.resource.id) in reached
    edges = {(e.source, e.target) for e in graph.edges}
    chain = [
        clean_input.resource.id,
        runs["CleanOrders"].meta.id,
        produced["CleanOrders"],
        runs["DailyTotals"].meta.id,
        produced["DailyTotals"],
        runs["Report"].meta.id,
        produced["Report"],
    ]
    for upstream, downstream in itertools.pairwise(chain):  # data-flow direction
        assert (upstream, downstream) in edges


def test_a_later_invocation_links_to_outputs_made_before(
    client: Client, data_dir: pathlib.Path
) -> None:
    ok, first = build(client, data_dir)
    assert ok
    totals_task = pipeline.DailyTotals(data_dir=str(data_dir))
    (totals,) = artifacts_of(client, first.step_runs[totals_task.task_id].id).values()

    # Only the report is missing: Luigi runs that task alone.
    (data_dir / "report.md").unlink()
    ok, second = build(client, data_dir, title="Weekly")
    assert ok
    weekly = pipeline.Report(data_dir=str(data_dir), title="Weekly")
    assert list(second.step_runs) == [weekly.task_id]
    (report_run,) = second.step_runs.values()
    inputs = {i.context: i.resource.id for i in report_run.refresh().inputs}
    assert inputs["totals"] == totals.meta.id
    (weekly_report,) = artifacts_of(client, report_run.id).values()

    # The same folder spelled differently is another task for Luigi: DailyTotals runs
    # again and records the same bytes at the same place as another task's artifact.
    (data_dir / "totals.csv").unlink()
    (data_dir / "report.md").unlink()
    ok, third = build(client, f"{data_dir}/", title="Weekly")
    assert ok
    other_totals = pipeline.DailyTotals(data_dir=f"{data_dir}/")
    (newer,) = artifacts_of(client, third.step_runs[other_totals.task_id].id).values()
    assert (newer.uri, newer.digest) == (totals.uri, totals.digest)

    # Run again, the weekly report reads the totals of its own DailyTotals (by external
    # id), not the newest artifact at that place; it writes the bytes it wrote before,
    # which is the artifact recorded then, now also an output of this run.
    (data_dir / "report.md").unlink()
    ok, fourth = build(client, data_dir, title="Weekly")
    assert ok
    rerun = fourth.step_runs[weekly.task_id].refresh()
    assert {i.context: i.resource.id for i in rerun.inputs}["totals"] == totals.meta.id
    assert artifacts_of(client, rerun.meta.id) == {}
    assert [(o.resource.id, o.role) for o in rerun.outputs] == [(weekly_report.meta.id, "output")]
    upstream = client.lineage(
        reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_ARTIFACT, id=weekly_report.meta.id),
        direction="upstream",
    )
    assert ("RUN", rerun.meta.id) in {(node.kind, node.id) for node in upstream.nodes}

    # A changed file is not the artifact recorded before: it enters as new data.
    (data_dir / "totals.csv").write_text("day,total\n2026-11-01,1.00\n")
    (data_dir / "report.md").unlink()
    ok, fifth = build(client, data_dir, title="Changed")
    assert ok
    (report_run,) = fifth.step_runs.values()
    changed = {i.context: i for i in report_run.refresh().inputs}["totals"]
    assert changed.resource.kind == K.RESOURCE_KIND_DATASET_VERSION
    assert changed.digest.digests["sha256"] == sha256(data_dir / "totals.csv")


def test_names_luigi_spells_otherwise_and_outputs_written_under_other_parameters(
    client: Client, data_dir: pathlib.Path
) -> None:
    ok, first = build(client, data_dir)
    assert ok
    orders = pipeline.Report(data_dir=str(data_dir))
    (report,) = artifacts_of(client, first.step_runs[orders.task_id].id).values()

    # report.md exists, so Luigi counts Report(title=Weekly) complete and runs Publish only.
    ok, second = build(client, data_dir, task=pipeline.Publish, name="site.weekly", title="Weekly")
    assert ok
    assert second.pipeline_run is not None
    invocation = second.pipeline_run.refresh().meta
    assert (invocation.name, invocation.display_name) == ("site-weekly", "site.weekly")
    publish = pipeline.Publish(data_dir=str(data_dir), title="Weekly")
    assert list(second.step_runs) == [publish.task_id]
    run = second.step_runs[publish.task_id].refresh()
    assert publish.task_id.startswith("orders.site.Publish_")
    assert run.meta.display_name == publish.task_id  # the dots break the name pattern
    assert run.meta.name.startswith("orders-site-Publish_")
    # What it read was written by Report(title=Orders): found by location and digest.
    (read,) = run.inputs
    assert read.resource.id == report.meta.id

    outputs = artifacts_of(client, run.meta.id)
    assert {(a.meta.name, a.meta.display_name) for a in outputs.values()} == {
        ("report-md", "report.md"),
        ("index-json", "index.json"),
    }
    copied = data_dir / "public" / "report.md"
    assert outputs["report-md"].meta.external_id.id == (
        f"{publish.task_id}/report.md@sha256:{sha256(copied)}"
    )


def test_a_failing_task_fails_its_step_run_and_the_invocation(
    client: Client, data_dir: pathlib.Path
) -> None:
    (data_dir / "orders.csv").write_text("day,customer\n2026-11-01,ann\n")  # no amount
    ok, reporter = build(client, data_dir)
    assert not ok
    (clean,) = reporter.step_runs.values()
    failed = clean.refresh()
    assert failed.tags["luigi.task_family"] == "CleanOrders"
    assert failed.state == run_state_pb2.RUN_STATE_FAILED
    assert failed.error.type == "KeyError"
    assert "amount" in failed.error.message
    assert artifacts_of(client, failed.meta.id) == {}
    assert reporter.pipeline_run is not None
    parent = reporter.pipeline_run.refresh()
    assert parent.state == run_state_pb2.RUN_STATE_FAILED
    assert failed.tags["luigi.task_id"] in parent.error.message
