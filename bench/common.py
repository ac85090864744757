"""Helpers shared by the benchmarks: subprocess servers, RSS, timing statistics."""

from __future__ import annotations

import os
import pathlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, timeout: float = 30.0) -> None:
    """Waits until a gRPC server answers on 127.0.0.1:port."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    finally:
        channel.close()


@contextmanager
def mlspec_server(store_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Runs `mlspec serve` in a subprocess on ``port`` over ``store_url``."""
    env = dict(os.environ, MLSPEC_LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [
            *(PYTHON, "-m", "mlspec.cli", "serve", "--port", str(port), "--store-url", store_url),
            *("--http-port", "0"),  # no HTTP side port: several servers run side by side
        ],
        env=env,
    )
    try:
        wait_ready(port)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used so far, in seconds."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def now() -> float:
    """A monotonic clock in seconds."""
    return time.perf_counter()
