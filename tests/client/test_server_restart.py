"""A server killed mid-run and restarted on the same port and store loses no point."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from mlspec.client import Client
from mlspec.client.metrics import SENDER_RETRY
from mlspec.common.v1 import run_state_pb2
from tests.cli.serving import wait_until_serving
from tests.client.helpers import all_points

MLSPEC = str(pathlib.Path(sys.executable).with_name("mlspec"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``mlspec serve`` as a subprocess that can be killed and started again."""

    def __init__(self, port: int, store_url: str, log: pathlib.Path) -> None:
        self.port = port
        self.store_url = store_url
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run([MLSPEC, "db", "upgrade", "--store-url", store_url], check=True)

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [MLSPEC, "serve", "--port", str(self.port), "--store-url", self.store_url],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until_serving(self.process, f"127.0.0.1:{self.port}", self.log)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: pathlib.Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(_free_port(), f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "log")
    proc.start()
    yield proc
    proc.stop()


def test_kill_and_restart_mid_run_loses_and_duplicates_nothing(server: ServerProcess) -> None:
    retry = replace(SENDER_RETRY, initial_backoff=0.02, max_backoff=0.2, give_up_after=120)
    total = 30_000
    with Client(f"127.0.0.1:{server.port}", metrics_retry=retry, timeout=60) as client:
        with client.start_run(experiment="restart", name="r") as run:
            for step in range(total):
                run.log_metric("loss", step * 0.5, step=step)
                if step == 10_000:
                    time.sleep(0.2)  # let batches be in flight
                    server.kill()
                if step == 20_000:
                    time.sleep(0.5)  # points pile up while the server is away
                    server.start()
                if step % 1000 == 0:
                    time.sleep(0.01)
        assert run.run.state == run_state_pb2.RUN_STATE_SUCCEEDED
        points = all_points(client, run.id, "loss")
    steps = sorted(p.step for p in points)
    assert steps == list(range(total))  # every point, each exactly once
    assert run.sender.sent_points == total
