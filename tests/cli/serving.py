"""``mlspec serve`` run as a user runs it, its stderr read as it comes.

A thread reads the server's stderr from the start, so the server never blocks writing
to a full pipe; tests wait for the lines they need, and a server that does not stop
reports what it printed.
"""

from __future__ import annotations

import pathlib
import queue
import re
import signal
import subprocess
import threading
import time
from typing import Any

import grpc


class ServeProcess:
    """An ``mlspec serve`` process whose stderr is collected line by line."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        """Starts ``command`` (``mlspec serve ...``)."""
        self.process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            self._new.put(line)

    def find(self, patterns: dict[str, str], timeout: float = 60) -> dict[str, str]:
        """The first group of each pattern, from the lines printed within ``timeout``."""
        found: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(patterns) and time.monotonic() < deadline:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            for name, pattern in patterns.items():
                match = re.search(pattern, line)
                if match and name not in found:
                    found[name] = match.group(1)
        return found

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code; AssertionError with the stderr if it does not stop."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            tail = "".join(self.lines[-30:])
            raise AssertionError(f"mlspec serve did not stop within {timeout} s:\n{tail}") from None

    def close(self) -> None:
        """Kills the process if it still runs, and waits for it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def wait_until_serving(
    process: subprocess.Popen[Any], target: str, log: Any = None, timeout: float = 180
) -> None:
    """Waits until ``process`` (an ``mlspec serve``) accepts calls on ``target``.

    A loaded CI machine starts a server slowly, so the wait is long; but a server that
    exits (its port taken, a bad option) fails the wait at once, with the tail of its
    ``log`` file when it has one, instead of after the whole timeout.
    """
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        ready = grpc.channel_ready_future(channel)
        while True:
            try:
                ready.result(timeout=1)
                return
            except grpc.FutureTimeoutError:
                said = ""
                if log is not None and pathlib.Path(log).is_file():
                    said = ":\n" + pathlib.Path(log).read_text(errors="replace")[-3000:]
                if process.poll() is not None:
                    raise AssertionError(
                        f"mlspec serve exited ({process.returncode}) before serving {target}{said}"
                    ) from None
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"mlspec serve did not serve {target} within {timeout} s{said}"
                    ) from None
