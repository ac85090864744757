"""GetLineage and a filtered List beside ML Metadata, on stores grown as users grow them.

Both stores are grown through their APIs, never analysed (the live server never runs
ANALYZE, so no figure may depend on planner statistics):

- MLSpec: ``mlspec serve`` on a fresh SQLite file; ``--chains`` lineage chains of
  ``--length`` nodes (artifacts and stage reports alternating: BatchCreateArtifacts,
  then BatchReportStages whose reports consume artifact i and produce artifact i+1),
  then ``--runs`` runs created one CreateRun at a time, labelled ``team = team-<i % 100>``
  and ``env = prod|dev``.
- ML Metadata 1.17 (``bench/mlmd_driver.py`` in its own venv, in process on its
  embedded SQLite file): the same chains (artifacts and executions joined by INPUT and
  OUTPUT events) and the same labelled runs (executions with custom properties).

Then, in ``--rounds`` interleaved rounds so that machine noise hits both sides:
GetLineage 100 hops upstream from the end of the last chain, against ML Metadata's
``get_lineage_subgraph`` with ``max_num_hops=100``; and the runs labelled ``team-7``
(1% of them: one page of 100), ListRuns with ``labels.team = "team-7"`` against
``get_executions`` with the same filter on the custom property. MLSpec is timed at its
gRPC client, ML Metadata in process. The server's CPU time per lineage node returned is
read from /proc around the timed calls.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import tempfile
import threading
from typing import Any

import grpc
from google.protobuf import json_format, timestamp_pb2

from bench import mlmd_env
from bench.common import (
    ROOT,
    cpu_seconds,
    free_port,
    median,
    mlspec_server,
    now,
    percentile,
)
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import artifact_pb2, data_service_pb2, data_service_pb2_grpc
from mlspec.lifecycle.v1 import (
    lifecycle_service_pb2,
    lifecycle_service_pb2_grpc,
    lineage_pb2,
    stage_report_pb2,
    transformation_pb2,
)
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import tracking_service_pb2, tracking_service_pb2_grpc

TEAMS = 100
STARTED = timestamp_pb2.Timestamp(seconds=1_795_000_000)
# The payload of every chain report: what a scaling step would say about itself.
TRANSFORMATION = json_format.ParseDict(
    {
        "feature_mappings": [
            {
                "input_fields": [{"field": "amount"}],
                "output_field": "amount_z",
                "kind": "TRANSFORM_KIND_SCALE",
            }
        ],
        "code": {"repository_uri": "https://git.example.com/etl.git", "commit": "4f1c2e9"},
        "output_digest": {"digests": {"sha256": "ab" * 32}},
    },
    transformation_pb2.DataTransformation(),
)
HOPS = 100
K = reference_pb2.ResourceKind


class Mlmd:
    """The ML Metadata driver subprocess."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [mlmd_env.ensure(), str(ROOT / "bench" / "mlmd_driver.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **command: Any) -> dict[str, Any]:
        """Sends one command and returns its answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the ML Metadata driver stopped; see its error above")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        """Ends the driver."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def grow_chains(channel: grpc.Channel, chains: int, length: int) -> str:
    """Grows the lineage chains through the API; returns the id of the last chain's end."""
    data = data_service_pb2_grpc.DataServiceStub(channel)
    lifecycle = lifecycle_service_pb2_grpc.LifecycleServiceStub(channel)
    tracking = tracking_service_pb2_grpc.TrackingServiceStub(channel)
    experiment = tracking.CreateExperiment(
        json_format.ParseDict(
            {"experiment": {"meta": {"name": "lineage-chains"}}},
            tracking_service_pb2.CreateExperimentRequest(),
        )
    ).experiment
    end = ""
    for chain in range(chains):
        run = tracking.CreateRun(
            tracking_service_pb2.CreateRunRequest(
                run={"experiment_id": experiment.meta.id, "meta": {"name": f"chain-{chain}"}}
            )
        ).run
        artifacts = data.BatchCreateArtifacts(
            data_service_pb2.BatchCreateArtifactsRequest(
                artifacts=[
                    artifact_pb2.Artifact(
                        meta={"name": f"data-{i}"},
                        run_id=run.meta.id,
                        uri=f"s3://bench/{chain}/{i}",
                        type="ARTIFACT_TYPE_DATASET",
                    )
                    for i in range(0, length, 2)
                ]
            )
        ).artifacts
        ids = [a.meta.id for a in artifacts]
        reports = [transformation(run.meta.id, ids[i], ids[i + 1]) for i in range(len(ids) - 1)]
        for start in range(0, len(reports), 500):
            lifecycle.BatchReportStages(
                lifecycle_service_pb2.BatchReportStagesRequest(
                    stage_reports=reports[start : start + 500]
                )
            )
        end = ids[-1]
    return end


def transformation(run_id: str, source: str, target: str) -> stage_report_pb2.StageReport:
    """One link of a chain: a transformation report from one artifact to the next."""
    read = {"kind": K.RESOURCE_KIND_ARTIFACT, "id": source}
    written = {"kind": K.RESOURCE_KIND_ARTIFACT, "id": target}
    report = stage_report_pb2.StageReport(
        stage="LIFECYCLE_STAGE_DATA_TRANSFORMATION",
        run_id=run_id,
        status="STAGE_REPORT_STATUS_SUCCEEDED",
        start_time=STARTED,
        inputs=[{"resource": read}],
        outputs=[{"resource": written}],
        data_transformation=TRANSFORMATION,
    )
    report.data_transformation.input_datasets.add(**read)
    report.data_transformation.output_dataset.CopyFrom(reference_pb2.ResourceRef(**written))
    return report


def grow_runs(port: int, count: int, threads: int = 4) -> None:
    """Creates ``count`` labelled runs, one CreateRun call each, from a few threads."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        tracking = tracking_service_pb2_grpc.TrackingServiceStub(channel)
        experiment = tracking.CreateExperiment(
            tracking_service_pb2.CreateExperimentRequest(experiment={"meta": {"name": "runs"}})
        ).experiment

    def create(first: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = tracking_service_pb2_grpc.TrackingServiceStub(channel)
            for i in range(first, count, threads):
                stub.CreateRun(
                    tracking_service_pb2.CreateRunRequest(
                        run={
                            "experiment_id": experiment.meta.id,
                            "meta": {
                                "name": f"run-{i}",
                                "labels": {
                                    "team": f"team-{i % TEAMS}",
                                    "env": "prod" if i % 2 else "dev",
                                },
                            },
                        }
                    )
                )

    pool = [threading.Thread(target=create, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def timed(call: Any, request: Any, count: int) -> list[float]:
    """Milliseconds of ``count`` calls (after one warm-up call)."""
    call(request)
    samples = []
    for _ in range(count):
        start = now()
        call(request)
        samples.append((now() - start) * 1000)
    return samples


def main() -> None:
    """Grows both stores, runs the interleaved rounds and prints the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", type=int, default=20)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=40, help="timed calls per round")
    args = parser.parse_args()
    mlmd = Mlmd()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{pathlib.Path(tmp) / 'grown.db'}"
            SqlStore(url).upgrade()
            port = free_port()
            with (
                mlspec_server(url, port) as server,
                grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
            ):
                started = now()
                end = grow_chains(channel, args.chains, args.length)
                grow_runs(port, args.runs)
                grown = now() - started
                started = now()
                mlmd.ask(op="chains", chains=args.chains, length=args.length)
                mlmd.ask(op="runs", count=args.runs, teams=TEAMS)
                mlmd_grown = now() - started
                lifecycle = lifecycle_service_pb2_grpc.LifecycleServiceStub(channel)
                tracking = tracking_service_pb2_grpc.TrackingServiceStub(channel)
                lineage_request = lifecycle_service_pb2.GetLineageRequest(
                    start=reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_ARTIFACT, id=end),
                    direction=lineage_pb2.LINEAGE_DIRECTION_UPSTREAM,
                    max_depth=HOPS,
                )
                list_request = tracking_service_pb2.ListRunsRequest(
                    filter='labels.team = "team-7"', page_size=100
                )
                graph = lifecycle.GetLineage(lineage_request).graph
                page = tracking.ListRuns(list_request)
                ours_lineage: list[float] = []
                ours_list: list[float] = []
                theirs_lineage: list[float] = []
                theirs_list: list[float] = []
                cpu_per_call: list[float] = []
                theirs: dict[str, Any] = {}
                for _ in range(args.rounds):
                    before = cpu_seconds(server.pid)
                    samples = timed(lifecycle.GetLineage, lineage_request, args.count)
                    cpu_per_call.append((cpu_seconds(server.pid) - before) / (args.count + 1))
                    ours_lineage += samples
                    theirs = mlmd.ask(
                        op="lineage", chain=args.chains - 1, hops=HOPS, count=args.count
                    )
                    theirs_lineage += theirs["ms"]
                    ours_list += timed(tracking.ListRuns, list_request, args.count)
                    listed = mlmd.ask(op="list", team="team-7", limit=100, count=args.count)
                    theirs_list += listed["ms"]
    finally:
        mlmd.close()
    resources = args.chains * (args.length - 1) + args.chains + args.runs
    nodes = len(graph.nodes)
    ours_p50, theirs_p50 = median(ours_lineage), median(theirs_lineage)
    list_p50, mlmd_list_p50 = median(ours_list), median(theirs_list)
    cpu_ms = median(cpu_per_call) * 1000
    print(
        f"stores grown through their APIs, never analysed: MLSpec {resources:,} resources in one "
        f"workspace in {grown:.0f} s, ML Metadata the same graph and runs in {mlmd_grown:.0f} s; "
        f"{args.rounds} interleaved rounds of {args.count} calls"
    )
    print(
        f"GetLineage {HOPS} hops upstream ({nodes} nodes, {len(graph.edges)} edges): p50 "
        f"{ours_p50:.2f} ms, p95 {percentile(ours_lineage, 0.95):.2f} ms at the client; "
        f"server CPU {cpu_ms:.2f} ms/call = {cpu_ms / max(nodes, 1) * 1000:.1f} µs per node returned"
    )
    print(
        f"  ML Metadata get_lineage_subgraph ({theirs['nodes']} nodes, {theirs['edges']} events): "
        f"p50 {theirs_p50:.2f} ms in process; ratio MLSpec/MLMD {ours_p50 / theirs_p50:.2f} "
        f"(target: MLSpec p50 <= 5 ms)"
    )
    print(
        f"ListRuns labels.team = team-7 over {args.runs:,} runs ({len(page.runs)} returned): p50 "
        f"{list_p50:.2f} ms at the client; ML Metadata get_executions ({listed['returned']}): "
        f"p50 {mlmd_list_p50:.2f} ms; ratio {list_p50 / mlmd_list_p50:.2f} (target <= 1.00)"
    )


if __name__ == "__main__":
    main()
