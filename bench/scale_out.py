"""Scale-out: ReportStage calls/s with one and with two `mlspec serve` processes.

A throwaway PostgreSQL server (``tests/pg_server.py``) holds one store; two stateless
server processes serve it. Each round measures the same client load (``--threads``
threads calling ReportStage with the same request) first against one process, then
spread over both (half of the threads on each), and the ratio of the two rates. Medians
of ``--rounds`` rounds. Client, both servers and PostgreSQL share the machine's cores,
which bounds what a second process can add here; on separate machines each process
brings its own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading

import grpc

from bench.common import cpu_seconds, free_port, median, mlspec_server, now
from bench.report_stage_throughput import REPORT_METHOD, _identity, prepare
from mlspec.store.sql import SqlStore
from tests.pg_server import PgServer


def spread_throughput(ports: list[int], payload: bytes, threads: int, seconds: float) -> float:
    """Calls/s of ``threads`` clients, thread i calling the server on ports[i % n]."""
    counts = [0] * threads
    start_gate = threading.Barrier(threads + 1)
    stop_at = [float("inf")]

    def worker(i: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{ports[i % len(ports)]}") as channel:
            call = channel.unary_unary(
                REPORT_METHOD, request_serializer=_identity, response_deserializer=_identity
            )
            call(payload)  # connect and warm up
            start_gate.wait()
            n = 0
            while now() < stop_at[0]:
                call(payload)
                n += 1
            counts[i] = n

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    start_gate.wait()
    began = now()
    stop_at[0] = began + seconds
    for thread in pool:
        thread.join()
    return sum(counts) / (now() - began)


def main() -> None:
    """Runs the comparison and prints the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    os.environ["MLSPEC_HTTP_PORT"] = "0"  # two servers cannot share the HTTP side port
    with PgServer() as pg, contextlib.ExitStack() as stack:
        url = pg.create_database("scale_out")
        SqlStore(url).upgrade()
        ports = [free_port(), free_port()]
        servers = [stack.enter_context(mlspec_server(url, port)) for port in ports]
        payload = prepare(ports[0])
        one: list[float] = []
        two: list[float] = []
        ratios: list[float] = []
        cpu_one: list[float] = []
        cpu_two: list[float] = []
        for _ in range(args.rounds):
            before = cpu_seconds(servers[0].pid)
            rate_one = spread_throughput(ports[:1], payload, args.threads, args.seconds)
            cpu_one.append((cpu_seconds(servers[0].pid) - before) / args.seconds)
            before = sum(cpu_seconds(s.pid) for s in servers)
            rate_two = spread_throughput(ports, payload, args.threads, args.seconds)
            cpu_two.append((sum(cpu_seconds(s.pid) for s in servers) - before) / args.seconds)
            one.append(rate_one)
            two.append(rate_two)
            ratios.append(rate_two / rate_one)
    print(
        f"ReportStage on one PostgreSQL store, {args.threads} client threads, {args.rounds} "
        f"rounds of {args.seconds}s (medians; both measurements in the same round)"
    )
    print(f"one process   calls/s {median(one):7.0f}  server CPU {median(cpu_one):.2f} cores")
    print(f"two processes calls/s {median(two):7.0f}  server CPU {median(cpu_two):.2f} cores")
    print(f"two over one: {median(ratios):.2f}")


if __name__ == "__main__":
    main()
