"""The SDK's metric logging: hot-path cost, and sustained ingestion into the SQLite server.

(a) ``run.log_metric`` on the calling thread: a tight loop of 1,000,000 calls against a
    live run (the sender thread is draining to the server meanwhile, as in real use);
    the figure is the median over rounds of (loop time / calls). Target <= 10 µs.
(b) Sustained ingestion from one SDK client into ``mlspec serve`` on the embedded SQLite
    store (a subprocess): points/s from the first ``log_metric`` until ``flush`` returns
    (every point acknowledged), beside the reference of the same run: inserting the
    same rows (run id, key, step, time, serialized Metric) straight into the same
    ``metrics`` table of a fresh store with Python's sqlite3, 1,000 rows a transaction,
    with the server's pragmas (rows built before the clock starts). Targets: >= 200,000
    points/s and >= 50% of the reference.
"""

from __future__ import annotations

import argparse
import pathlib
import sqlite3
import tempfile
import time
import uuid

from bench.common import cpu_seconds, free_port, median, mlspec_server, now, peak_rss_mb
from mlspec.client import Client
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import metric_pb2


def hot_path(client: Client, calls: int) -> float:
    """Seconds per ``log_metric`` call on the calling thread, for one round."""
    with client.start_run(experiment="bench-hot-path") as run:
        log_metric = run.log_metric
        start = now()
        for step in range(calls):
            log_metric("loss", 0.5, step)
        elapsed = now() - start
    return elapsed / calls


def ingestion(client: Client, points: int) -> tuple[float, float]:
    """Points/s from the first log_metric to the drained buffer; and the producer's share."""
    with client.start_run(experiment="bench-ingestion") as run:
        log_metric = run.log_metric
        start = now()
        for step in range(points):
            log_metric("loss", step * 0.001, step)
        produced = now() - start
        run.flush()
        elapsed = now() - start
    assert run.sender.sent_points == points
    return points / elapsed, produced / elapsed


def direct_sqlite(url: str, points: int) -> float:
    """Rows/s inserting the same metric rows straight into the store's table."""
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
        "wal_autocheckpoint=10000",
    ):
        conn.execute(f"PRAGMA {pragma}")
    run_id = str(uuid.uuid4())
    batches = []  # built before the clock starts: the reference times SQLite alone
    for base in range(0, points, 1000):
        rows = []
        for step in range(base, min(base + 1000, points)):
            # What the server stores for a point sent in columns: key, step and time in
            # their columns, the Metric's value alone as data (store/sql/metrics.py).
            metric = metric_pb2.Metric()
            metric.value.double_value = step * 0.001
            rows.append((run_id, "loss", step, time.time_ns() // 1000, metric.SerializeToString()))
        batches.append(rows)
    start = now()
    for rows in batches:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO metrics (run_id, key, step, time, data) VALUES (?, ?, ?, ?, ?)", rows
        )
        conn.execute("COMMIT")
    elapsed = now() - start
    conn.close()
    return points / elapsed


def main() -> None:
    """Runs both measurements and prints the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1_000_000, help="log_metric calls, (a)")
    parser.add_argument("--points", type=int, default=300_000, help="points per round, (b)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{pathlib.Path(tmp) / 'sdk.db'}"
        reference_url = f"sqlite:///{pathlib.Path(tmp) / 'direct.db'}"
        SqlStore(url).upgrade()
        SqlStore(reference_url).upgrade()
        port = free_port()
        with mlspec_server(url, port) as server, Client(f"127.0.0.1:{port}") as client:
            per_call = [hot_path(client, args.calls) for _ in range(args.rounds)]
            rates: list[float] = []
            shares: list[float] = []
            references: list[float] = []
            ratios: list[float] = []
            cpu: list[float] = []
            for _ in range(args.rounds):
                before = cpu_seconds(server.pid)
                rate, share = ingestion(client, args.points)
                cpu.append((cpu_seconds(server.pid) - before) / args.points * 1e6)
                reference = direct_sqlite(reference_url, args.points)
                rates.append(rate)
                shares.append(share)
                references.append(reference)
                ratios.append(rate / reference)
            rss = peak_rss_mb(server.pid)
    print(
        f"(a) run.log_metric on the calling thread: median {median(per_call) * 1e6:.2f} µs/call "
        f"over {args.rounds} rounds of {args.calls:,} calls "
        f"(rounds: {', '.join(f'{x * 1e6:.2f}' for x in per_call)}); target <= 10 µs"
    )
    print(
        f"(b) SDK -> mlspec serve (SQLite) points/s: median {median(rates):,.0f} "
        f"({args.rounds} rounds of {args.points:,} points; the producing loop took "
        f"{median(shares):.0%} of that time); server CPU {median(cpu):.1f} µs/point; "
        "target >= 200,000"
    )
    print(
        f"    same rows straight into SQLite (sqlite3, 1,000 a transaction): median "
        f"{median(references):,.0f} rows/s; ratio SDK/direct median {median(ratios):.2f} "
        "(target >= 0.50)"
    )
    print(f"    MLSpec server peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
