"""GetLineage (100 hops, both directions) and a label-filtered List over 1,000,000 resources.

The store comes from bench/big_store.py. Latencies are measured at the client; the
median round trip of a bare echo call in the same run is reported beside them, so the
server time is at most the client figure and about the client figure minus the echo.
"""

from __future__ import annotations

import argparse
import subprocess

import grpc

from bench.big_store import build, chain_node_id
from bench.common import (
    PYTHON,
    ROOT,
    free_port,
    median,
    mlspec_server,
    now,
    peak_rss_mb,
    percentile,
    wait_ready,
)
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import data_service_pb2, data_service_pb2_grpc
from mlspec.lifecycle.v1 import lifecycle_service_pb2, lifecycle_service_pb2_grpc, lineage_pb2


def timed(call, request, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds of ``count`` calls (after two warm-up calls)."""
    call(request)
    call(request)
    samples = []
    for _ in range(count):
        start = now()
        call(request)
        samples.append((now() - start) * 1000)
    return samples


def main() -> None:
    """Runs both measurements and prints the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    url = build(args.total)
    port, echo_port = free_port(), free_port()
    echo = subprocess.Popen([PYTHON, "-m", "bench.echo_server", str(echo_port)], cwd=ROOT)
    try:
        wait_ready(echo_port)
        with grpc.insecure_channel(f"127.0.0.1:{echo_port}") as channel:
            echo_call = channel.unary_unary(
                "/bench.Echo/Echo",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            echo_ms = median(timed(echo_call, b"x" * 200, args.count))
        with (
            mlspec_server(url, port) as server,
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
        ):
            lifecycle = lifecycle_service_pb2_grpc.LifecycleServiceStub(channel)
            data = data_service_pb2_grpc.DataServiceStub(channel)
            middle = chain_node_id(0, 500)
            request = lifecycle_service_pb2.GetLineageRequest(
                start=reference_pb2.ResourceRef(
                    kind=reference_pb2.RESOURCE_KIND_ARTIFACT, id=middle
                ),
                direction=lineage_pb2.LINEAGE_DIRECTION_BOTH,
                max_depth=100,
            )
            graph = lifecycle.GetLineage(request).graph
            lineage_ms = timed(lifecycle.GetLineage, request, args.count)
            rare = data_service_pb2.ListArtifactsRequest(
                filter='labels.team = "team-7"', page_size=100
            )
            common = data_service_pb2.ListArtifactsRequest(
                filter='labels.env = "prod"', page_size=100
            )
            rare_page = data.ListArtifacts(rare)
            rare_ms = timed(data.ListArtifacts, rare, args.count)
            common_ms = timed(data.ListArtifacts, common, args.count)
            rss = peak_rss_mb(server.pid)
    finally:
        echo.terminate()
        echo.wait()
    print(
        f"store: {args.total:,} artifacts and stage reports; {args.count} calls each; echo round trip p50 {echo_ms:.2f} ms"
    )
    print(
        f"GetLineage 100 hops both ways ({len(graph.nodes)} nodes, {len(graph.edges)} edges): "
        f"p50 {median(lineage_ms):.1f} ms, p95 {percentile(lineage_ms, 0.95):.1f} ms at the client (target p50 <= 10 ms server time)"
    )
    print(
        f"ListArtifacts labels.team = team-7 (1% match), first page of {len(rare_page.artifacts)}: "
        f"p50 {median(rare_ms):.1f} ms, p95 {percentile(rare_ms, 0.95):.1f} ms (target p50 <= 20 ms)"
    )
    print(
        f"ListArtifacts labels.env = prod (50% match), first page: p50 {median(common_ms):.1f} ms, p95 {percentile(common_ms, 0.95):.1f} ms"
    )
    print(f"MLSpec server peak RSS: {rss:.0f} MiB (target <= 200)")


if __name__ == "__main__":
    main()
