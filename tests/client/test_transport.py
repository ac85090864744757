"""Client settings from the environment, TLS credentials, backoff, streams, exit drain."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import grpc
import pytest

from mlspec.client import Client, InvalidArgument, RetryPolicy
from mlspec.client.transport import call_with_retry, channel_credentials, fill_request_id
from mlspec.logging.v1 import logging_service_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as tr
from tests.client.helpers import all_points


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSPEC_TARGET", "127.0.0.1:1")
    monkeypatch.setenv("MLSPEC_WORKSPACE", "ws")
    monkeypatch.setenv("MLSPEC_TOKEN", "tok")
    with Client() as client:
        assert client.target == "127.0.0.1:1"
        assert client.call_metadata == (
            ("x-mlspec-workspace", "ws"),
            ("authorization", "Bearer tok"),
        )
    monkeypatch.delenv("MLSPEC_TARGET")
    monkeypatch.delenv("MLSPEC_WORKSPACE")
    monkeypatch.delenv("MLSPEC_TOKEN")
    with Client() as client:
        assert client.target == "127.0.0.1:50051" and client.call_metadata == ()


def test_tls_settings(tmp_path: pathlib.Path) -> None:
    assert channel_credentials(None) is None
    assert isinstance(channel_credentials(True), grpc.ChannelCredentials)
    given = grpc.ssl_channel_credentials()
    assert channel_credentials(given) is given
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    assert isinstance(channel_credentials(str(ca)), grpc.ChannelCredentials)


def test_backoff_grows_exponentially_with_jitter() -> None:
    policy = RetryPolicy(initial_backoff=0.1, multiplier=2.0, max_backoff=1.0)
    for attempt, ceiling in enumerate([0.1, 0.2, 0.4, 0.8, 1.0, 1.0]):
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2  # randomized over the whole range
        assert len(set(waits)) > 100


class _Unavailable(grpc.RpcError):  # type: ignore[misc]
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "down"

    def trailing_metadata(self) -> tuple[()]:
        return ()


def test_retry_stops_at_max_attempts_and_sleeps_between() -> None:
    from mlspec.client import Unavailable

    calls: list[float | None] = []
    sleeps: list[float] = []

    def attempt(remaining: float | None) -> object:
        calls.append(remaining)
        raise _Unavailable()

    policy = RetryPolicy(max_attempts=4, initial_backoff=0.01)
    with pytest.raises(Unavailable):
        call_with_retry(attempt, policy, timeout=None, sleep=sleeps.append)
    assert len(calls) == 4 and len(sleeps) == 3


def test_request_id_is_filled_on_a_copy() -> None:
    request = tr.LogMetricsRequest(run_id="r")
    filled = fill_request_id(request)
    assert filled.request_id and not request.request_id  # type: ignore[attr-defined]
    assert fill_request_id(filled) is filled
    no_field = tr.GetRunRequest(id="x")
    assert fill_request_id(no_field) is no_field


def test_stream_errors_are_mapped(client: Client) -> None:
    # (An unknown stream should be NOT_FOUND too, but the server ends it empty.)
    stream = client.logging.StreamNcsaLines(
        logging_service_pb2.StreamNcsaLinesRequest(log_stream_id="missing", filter="(((")
    )
    with pytest.raises(InvalidArgument):
        list(stream)


def test_the_buffer_drains_at_interpreter_exit(target: str, client: Client) -> None:
    script = (
        "from mlspec.client import Client\n"
        "c = Client()\n"
        "run = c.start_run(experiment='atexit', name='left-open')\n"
        "for i in range(5000):\n"
        "    run.log_metric('loss', i * 0.5, step=i)\n"
        "print(run.id)\n"  # no flush, no end, no close: atexit drains
    )
    env = dict(os.environ, MLSPEC_TARGET=target)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    run_id = done.stdout.strip()
    assert sorted(p.step for p in all_points(client, run_id, "loss")) == list(range(5000))
    run = client.tracking.GetRun(tr.GetRunRequest(id=run_id)).run
    assert run.state == 2  # still RUNNING: nobody ended it


class _SlowServer(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Answers every call after ``delay`` seconds (or when closed), with an empty message."""

    def __init__(self, delay: float) -> None:
        import threading
        from concurrent import futures

        self.delay = delay
        self.released = threading.Event()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((self,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def service(self, handler_call_details: object) -> object:
        def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.released.wait(self.delay)
            return b""

        return grpc.unary_unary_rpc_method_handler(answer)

    def close(self) -> None:
        self.released.set()
        self.server.stop(0)


def test_a_call_deadline_overrides_the_client_default() -> None:
    import time

    from mlspec.client import DeadlineExceeded

    slow = _SlowServer(delay=10.0)
    try:
        with Client(f"127.0.0.1:{slow.port}", timeout=30.0) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                client.tracking.ListExperiments(tr.ListExperimentsRequest(), timeout=0.3)
            # The call's own deadline ended it, not the client's 30 s, and it was not retried.
            assert time.monotonic() - started < 5.0
    finally:
        slow.close()


def test_the_client_default_deadline_applies_when_the_call_gives_none() -> None:
    from mlspec.client import DeadlineExceeded

    slow = _SlowServer(delay=10.0)
    try:
        with (
            Client(f"127.0.0.1:{slow.port}", timeout=0.3) as client,
            pytest.raises(DeadlineExceeded),
        ):
            client.tracking.ListExperiments(tr.ListExperimentsRequest())
    finally:
        slow.close()
