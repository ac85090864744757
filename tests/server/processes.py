"""``mlspec serve`` as real processes: started, SIGKILLed and started again on one store."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys

from tests.cli.serving import wait_until_serving

MLSPEC = str(pathlib.Path(sys.executable).with_name("mlspec"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def upgrade(store_url: str) -> None:
    """Creates or migrates the store, as an operator does before the first start."""
    subprocess.run([MLSPEC, "db", "upgrade", "--store-url", store_url], check=True)


class ServerProcess:
    """One ``mlspec serve`` process on a fixed port, which can be killed and restarted."""

    def __init__(self, store_url: str, log: pathlib.Path, *extra: str) -> None:
        """Prepares (but does not start) a server on a free port."""
        self.port = free_port()
        self.store_url = store_url
        self.log = log
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        """The server's address for clients."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        """Starts the process and waits until it accepts calls."""
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    MLSPEC,
                    "serve",
                    "--port",
                    str(self.port),
                    "--http-port",
                    "0",
                    "--store-url",
                    self.store_url,
                    *self.extra,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until_serving(self.process, self.target, self.log)
        return self

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no flush, nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then wait (for fixtures' teardown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
