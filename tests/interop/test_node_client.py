"""Another language speaks MLSpec: a Node.js client on @grpc/grpc-js against the Python server.

The TypeScript is generated from ``proto/`` by ``clients/node/scripts/generate.js`` (buf
and ts-proto from npm, the google.api protos from the google-proto-files package) in a
folder laid out like a fresh clone without ``build/`` or ``.venv``, so the test proves a
consumer needs no Python. ``npm ci``, the generation and the TypeScript compilation are
cached in the clone (``clients/node/node_modules``, ``gen``, ``dist``) and redone only when
the lock file, ``proto/`` or the sources change.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterable, Iterator

import pytest

from mlspec.client import Client
from mlspec.common.v1 import reference_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2, stage_pb2
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore

ROOT = pathlib.Path(__file__).resolve().parents[2]
NODE = ROOT / "clients" / "node"
K = reference_pb2.ResourceKind


def digest_of(paths: Iterable[pathlib.Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:  # fail, never skip: the Node client is part of the gate
        pytest.fail(f"{name} is not installed; the Node.js client test needs Node 20 and npm")
    return found


def run(args: list[str], cwd: pathlib.Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


def fresh_clone_generate(gen: pathlib.Path) -> None:
    """Runs the consumer's `npm run generate` in a copy of the clone with no build/ or .venv."""
    consumer = ROOT / "build" / "node-consumer"
    shutil.rmtree(consumer, ignore_errors=True)
    (consumer / "clients" / "node").mkdir(parents=True)
    shutil.copytree(ROOT / "proto", consumer / "proto")
    for name in ("buf.yaml", "buf.gen.ts.yaml"):
        shutil.copy(ROOT / name, consumer / name)
    for name in ("package.json", "package-lock.json", "scripts"):
        source = NODE / name
        target = consumer / "clients" / "node" / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    (consumer / "clients" / "node" / "node_modules").symlink_to(NODE / "node_modules")
    run([tool("npm"), "run", "--silent", "generate"], consumer / "clients" / "node")
    assert (consumer / "build" / "third_party" / "google" / "api" / "resource.proto").exists()
    shutil.rmtree(gen, ignore_errors=True)
    shutil.copytree(consumer / "clients" / "node" / "gen", gen)
    shutil.rmtree(consumer)


@pytest.fixture(scope="session")
def node_client() -> pathlib.Path:
    """The compiled client script, after npm ci, generation and tsc (each cached)."""
    (ROOT / "build").mkdir(exist_ok=True)
    with open(ROOT / "build" / "node-client.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder when test sessions run side by side
        modules = NODE / "node_modules"
        want = digest_of([NODE / "package-lock.json"])
        stamp = modules / ".mlspec-installed"
        if not stamp.exists() or stamp.read_text() != want:
            run([tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"], NODE)
            stamp.write_text(want)

        gen = NODE / "gen"
        want = digest_of(
            [
                *(ROOT / "proto").rglob("*.proto"),
                ROOT / "buf.gen.ts.yaml",
                NODE / "package-lock.json",
                NODE / "scripts" / "generate.js",
            ]
        )
        stamp = gen / ".mlspec-generated"
        if not stamp.exists() or stamp.read_text() != want:
            fresh_clone_generate(gen)
            stamp.write_text(want)

        dist = NODE / "dist"
        want = digest_of([*(NODE / "src").rglob("*.ts"), NODE / "tsconfig.json", stamp])
        built = dist / ".mlspec-built"
        if not built.exists() or built.read_text() != want:
            shutil.rmtree(dist, ignore_errors=True)
            run([str(modules / ".bin" / "tsc"), "-p", "tsconfig.json"], NODE)
            built.write_text(want)
    return dist / "src" / "report_stage.js"


@pytest.fixture
def server(tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url), store=store)
    yield running
    running.stop(0)


def test_node_client_reports_a_stage_and_reads_the_lineage_back(
    node_client: pathlib.Path, server: RunningServer
) -> None:
    target = f"127.0.0.1:{server.port}"
    result = subprocess.run(
        [tool("node"), str(node_client), target, "ts"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NODE_OPTIONS": ""},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    ids = summary["ids"]

    # What the Node client read back: the stored report and the lineage of the model.
    assert summary["report"] == {
        "stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
        "name": f"model-training-{ids['stageReport']}",
        "startTime": "2026-11-27T10:00:00.000Z",
        "inputs": [ids["datasetVersion"]],
        "outputs": [ids["modelVersion"]],
    }
    nodes = {(n["kind"], n["id"]): n["depth"] for n in summary["lineage"]["nodes"]}
    assert nodes[("RESOURCE_KIND_MODEL_VERSION", ids["modelVersion"])] == 0
    assert nodes[("RESOURCE_KIND_STAGE_REPORT", ids["stageReport"])] == 1
    assert nodes[("RESOURCE_KIND_DATASET_VERSION", ids["datasetVersion"])] == 2
    assert nodes[("RESOURCE_KIND_RUN", ids["run"])] == 2
    edges = {(e["source"], e["target"], e["kind"]) for e in summary["lineage"]["edges"]}
    assert (ids["datasetVersion"], ids["stageReport"], "LINEAGE_EDGE_KIND_CONSUMED") in edges
    assert (ids["stageReport"], ids["modelVersion"], "LINEAGE_EDGE_KIND_PRODUCED") in edges

    # The same report, read by the Python SDK: both languages agree on the wire format.
    with Client(target) as client:
        stored = client.lifecycle.GetStageReport(
            lifecycle_service_pb2.GetStageReportRequest(id=ids["stageReport"])
        ).stage_report
    assert stored.stage == stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING
    assert stored.run_id == ids["run"]
    assert stored.start_time.ToJsonString() == "2026-11-27T10:00:00Z"
    assert stored.end_time.ToJsonString() == "2026-11-27T10:01:30Z"
    assert stored.model_training.model_format == "onnx"
    assert stored.producer.name == "mlspec-node-client"
    assert [(i.resource.kind, i.resource.id, i.role) for i in stored.inputs] == [
        (K.RESOURCE_KIND_DATASET_VERSION, ids["datasetVersion"], "training-data")
    ]
