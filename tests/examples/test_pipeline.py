"""examples/pipeline against a real server: every stage stored, lineage, a second run, make demo.

The pipeline runs twice in one test against a server on port 0 (a real SQLite file) that
trusts the demo's signing key; the driver of ``make demo`` runs once as a subprocess with
its own ``mlspec serve``, and once failing, to show that it stops the server either way.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from mlspec.client import Client
from mlspec.common.v1.reference_pb2 import ResourceKind, ResourceRef
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.lifecycle.v1.stage_pb2 import LifecycleStage
from mlspec.lifecycle.v1.stage_report_pb2 import STAGE_REPORT_STATUS_SUCCEEDED
from mlspec.logging.v1 import logging_service_pb2 as logs
from mlspec.monitoring.v1 import monitoring_service_pb2 as mon
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore

ROOT = pathlib.Path(__file__).resolve().parents[2]
FOLDER = ROOT / "examples" / "pipeline"
REQUESTS = 40  # scored requests per run (the demo scores 300; fewer keep the test short)


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"demo_{name}", FOLDER / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pipeline() -> ModuleType:
    return _module("pipeline")


@pytest.fixture
def keys(pipeline: ModuleType, tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    private, public = pipeline.signing_key(tmp_path / "keys")
    return private, public


@pytest.fixture
def server(
    keys: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path
) -> Iterator[RunningServer]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    running = build_server(
        ServerConfig(port=0, store_url=url, trusted_keys=(str(keys[1]),)), store=store
    )
    yield running
    running.stop(0)


def test_every_stage_is_stored_with_its_lineage_and_a_second_run_works(
    pipeline: ModuleType,
    server: RunningServer,
    keys: tuple[pathlib.Path, pathlib.Path],
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "REQUESTS", REQUESTS)
    with Client(f"127.0.0.1:{server.port}", timeout=60.0) as client:
        model, first = pipeline.run_pipeline(client, tmp_path / "files", keys[0])
        model_again, second = pipeline.run_pipeline(client, tmp_path / "files", keys[0])

        # The same data and code give the same model version; each run is a new run.
        assert model_again.meta.id == model.meta.id
        assert first.meta.id != second.meta.id
        stages = {
            run.meta.id: sorted(r.stage for r in client.stage_reports(run=run))
            for run in (first, second)
        }
        assert stages[first.meta.id] == list(range(1, 12))
        # The hold-back set is used once per model version: the second run reuses the test.
        assert stages[second.meta.id] == [s for s in range(1, 12) if s != 9]
        for report in client.stage_reports():
            assert report.status == STAGE_REPORT_STATUS_SUCCEEDED, report.meta.name
        (test,) = client.stage_reports(LifecycleStage.LIFECYCLE_STAGE_MODEL_TEST)
        assert test.model_version.id == model.meta.id
        assert test.model_test.disjointness.overlap_count == 0
        assert test.model_test.use_attestation.use_count == 1

        # Stage 1's objectives, checked per slice in stage 8 and 9.
        evaluation = client.latest_stage_report(
            LifecycleStage.LIFECYCLE_STAGE_MODEL_EVALUATION, run=first
        )
        assert evaluation is not None
        checked = {r.objective_id for r in evaluation.model_evaluation.threshold_results}
        assert checked == {"auc", "recall", "recall-small-tumours", "precision"}
        slices = {
            dict(r.slice_key.feature_values).get("size_group", "")
            for r in evaluation.model_evaluation.metric_results
        }
        assert slices == {"", "small", "large"}
        assert evaluation.model_evaluation.datasets[0].split == "validation"
        assert test.model_test.holdback_dataset.split == "holdback"
        assert (
            test.model_test.holdback_dataset.digest
            != evaluation.model_evaluation.datasets[0].digest
        )

        # The model version's lineage reaches the ingested data, the code and the run.
        graph = client.lineage(model, depth=12)
        kinds = {(n.kind, n.name) for n in graph.nodes}
        raw = next(
            r.data_ingestion.output_dataset.id
            for r in client.stage_reports(LifecycleStage.LIFECYCLE_STAGE_DATA_INGESTION)
        )
        assert raw in graph.by_id
        assert ("ARTIFACT", "pipeline-py") in kinds
        assert {first.meta.id, second.meta.id} <= set(graph.by_id)
        assert "DATASET_VERSION" in graph.tree() and "DATA_INGESTION" in graph.tree()

        # Stages 12 and 13: signals from the scored requests, and their log records.
        signals = client.monitoring.ListSignals(
            mon.ListSignalsRequest(model_version=_ref(model.meta.id), page_size=1000)
        ).signals
        kinds_of_signals = {s.WhichOneof("kind") for s in signals}
        assert kinds_of_signals == {"drift", "performance", "liveness"}
        drifted = {s.drift.feature for s in signals if s.drift.outcome == 2}  # FAILED
        assert "mean_texture" in drifted  # the demo's scanner drift is seen
        records = client.logging.ListInferenceLogs(
            logs.ListInferenceLogsRequest(log_stream_id=pipeline.SCORER, page_size=1000)
        ).records
        assert len(records) == 2 * REQUESTS
        assert all(r.provenance.model_digest == model.artifact.digest for r in records)
        verified = client.logging.VerifyLogChain(
            logs.VerifyLogChainRequest(log_stream_id=pipeline.SCORER)
        )
        assert verified.ok, verified
        reports = client.lifecycle.ListStageReports(lc.ListStageReportsRequest(page_size=100))
        assert len(reports.stage_reports) == 21


def _ref(model_version_id: str) -> ResourceRef:
    return ResourceRef(kind=ResourceKind.RESOURCE_KIND_MODEL_VERSION, id=model_version_id)


def _port_of(log: pathlib.Path) -> int:
    found = re.search(r"listening on \S+:(\d+)", log.read_text())
    assert found, log.read_text()
    return int(found.group(1))


def _closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_make_demo_serves_its_own_store_prints_the_lineage_and_stops(
    tmp_path: pathlib.Path,
) -> None:
    done = subprocess.run(
        [
            *(sys.executable, str(FOLDER / "demo.py"), "--work", str(tmp_path)),
            *("--requests", "20", "--runs", "2"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MODEL_TEST             SUCCEEDED" in done.stdout
    # The second run reuses the first run's hold-back test (used once per model version).
    second = done.stdout.split("(2 of 2,", 1)[1].split("lineage of model version", 1)[0]
    assert re.search(r"MODEL_TEST +SUCCEEDED +\S+  \(reused, run ", second), second
    assert re.search(r"^MODEL_VERSION breast-cancer-classifier-1-0-0 1\.0\.0 \(", done.stdout, re.M)
    assert "<- PRODUCED[raw_data] STAGE_REPORT data-ingestion" in done.stdout
    # The deliberately worse version is refused by the deployment gate, objective by objective.
    refusal = done.stdout.split("the gate refuses breast-cancer-classifier 1.0.1", 1)[1]
    assert re.search(r"objective auc failed \(auc = 0\.\d+\)", refusal)
    assert re.search(r"objective recall failed \(recall = 0\.\d+\)", refusal)
    assert "has no stage 9 report" in refusal
    assert (tmp_path / "mlspec.db").is_file()
    assert _closed(_port_of(tmp_path / "server.log"))


def test_the_demo_stops_its_server_when_the_pipeline_fails(tmp_path: pathlib.Path) -> None:
    (tmp_path / "files").write_text("a file where the pipeline wants its folder")
    done = subprocess.run(
        [sys.executable, str(FOLDER / "demo.py"), "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode != 0
    assert "FileExistsError" in done.stderr or "NotADirectoryError" in done.stderr
    assert _closed(_port_of(tmp_path / "server.log"))
