"""The background sender behind ``run.log_metric``: a buffer, batches, retries, drain.

``log_metric`` only appends a tuple to a ``collections.deque`` (a few hundred
nanoseconds); a daemon thread takes up to ``batch_size`` points at a time (the server's
limit for LogMetrics is 1,000 a call), encodes them (as ``MetricColumns`` when every
value is a float) and sends them. While one batch is with the server the thread takes
and encodes the next, which goes out once the first is acknowledged, so points are
stored in the order they were logged and neither side waits for the other. A batch that fails
with UNAVAILABLE, ABORTED or DEADLINE_EXCEEDED (for example while the server restarts) is
sent again with the same bytes, and so the same ``request_id``, until it succeeds or
``give_up_after`` seconds pass, so no point is lost and none is stored twice. Params go
the same way through LogParams (at most 100 a call). ``flush`` and ``close`` wait for the
buffer to drain; an ``atexit`` hook drains every open sender at interpreter exit.
"""

from __future__ import annotations

import atexit
import collections
import logging
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from mlspec.client.errors import MLSpecError
from mlspec.client.transport import RetryPolicy, call_with_retry
from mlspec.client.values import to_value
from mlspec.client.wire import MetricEncoder
from mlspec.tracking.v1 import metric_pb2, tracking_service_pb2

log = logging.getLogger("mlspec.client")

METRICS_PER_CALL = 1000
"""LogMetrics records at most 1,000 metric values per call (tracking_service.proto)."""
PARAMS_PER_CALL = 100
"""LogParams records at most 100 params per call (tracking_service.proto)."""

_KEY = re.compile(r"^[A-Za-z0-9_./ -]{1,250}$")

SENDER_RETRY = RetryPolicy(
    max_attempts=1_000_000,
    initial_backoff=0.05,
    max_backoff=1.0,
    give_up_after=600.0,
    codes=frozenset(
        {
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.ABORTED,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        }
    ),
)
"""The default retry policy of the sender: retry for up to ten minutes."""

_OPEN: weakref.WeakSet[MetricSender] = weakref.WeakSet()


@atexit.register
def _drain_at_exit() -> None:
    for sender in list(_OPEN):
        try:
            sender.close()
        except Exception as exc:  # never fail interpreter exit
            log.warning("mlspec: metrics of run %s not all sent: %s", sender.run_id, exc)


class MetricSender:
    """Buffers metric points and params of one run and sends them from a thread.

    Args:
        channel: the plain channel to the server.
        run_id: the run the points belong to.
        metadata: the call headers (workspace, authorization).
        retry: how long failed batches are retried (``give_up_after`` bounds it).
        call_timeout: deadline of each LogMetrics attempt, in seconds.
        batch_size: points per LogMetrics call (at most 1,000).
        idle_wait: how long the thread sleeps when the buffer is empty, in seconds.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        run_id: str,
        metadata: tuple[tuple[str, str], ...],
        *,
        retry: RetryPolicy = SENDER_RETRY,
        call_timeout: float = 30.0,
        batch_size: int = METRICS_PER_CALL,
        idle_wait: float = 0.05,
    ) -> None:
        if not 1 <= batch_size <= METRICS_PER_CALL:
            raise ValueError(f"batch_size must be 1 to {METRICS_PER_CALL}")
        self.run_id = run_id
        self.metadata = metadata
        self.retry = retry
        self.call_timeout = call_timeout
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.points: collections.deque[tuple[str, Any, int | None, int]] = collections.deque()
        self.append = self.points.append
        self.params: collections.deque[tuple[str, Any]] = collections.deque()
        self.sent_points = 0
        self.sent_params = 0
        self.errors: list[BaseException] = []
        self._log_metrics = channel.unary_unary(
            "/mlspec.tracking.v1.TrackingService/LogMetrics",
            request_serializer=None,
            response_deserializer=tracking_service_pb2.LogMetricsResponse.FromString,
        )
        self._log_params = channel.unary_unary(
            "/mlspec.tracking.v1.TrackingService/LogParams",
            request_serializer=tracking_service_pb2.LogParamsRequest.SerializeToString,
            response_deserializer=tracking_service_pb2.LogParamsResponse.FromString,
        )
        self._encoder = MetricEncoder()
        self._valid_keys: set[str] = set()
        self._wake = threading.Event()
        self._busy = False
        self._in_flight: tuple[Any, bytes, int] | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="mlspec-metrics", daemon=True)
        self._thread.start()
        _OPEN.add(self)

    # -- producer side --------------------------------------------------------------

    def add_params(self, params: Mapping[str, Any]) -> None:
        """Queues params (converted to Values in the sender thread)."""
        self.params.extend(params.items())
        self._wake.set()

    @property
    def pending(self) -> int:
        """Points and params not yet acknowledged by the server."""
        busy = self._busy or self._in_flight is not None
        return len(self.points) + len(self.params) + (1 if busy else 0)

    def flush(self, timeout: float | None = None) -> None:
        """Waits until every queued point and param is sent (or given up on).

        Raises the first error the sender met (for example a FAILED_PRECONDITION for a
        param logged twice with different values), once; ``TimeoutError`` when the buffer
        did not drain in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        while self.pending and self._thread.is_alive():
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{self.pending} metric points or params still unsent")
            time.sleep(0.002)
        if self.errors:
            first = self.errors[0]
            self.errors.clear()
            raise first

    def close(self, timeout: float | None = None) -> None:
        """Drains the buffer, then stops the thread (see ``flush`` for errors)."""
        try:
            self.flush(timeout)
        finally:
            self._closing = True
            self._wake.set()
            self._thread.join(timeout=5.0)
            _OPEN.discard(self)

    # -- sender thread ----------------------------------------------------------------

    def _loop(self) -> None:
        points = self.points
        params = self.params
        while True:
            if params:
                self._settle()
                self._send_params()
                continue
            if points:
                self._send_points()
                continue
            if self._in_flight is not None:
                self._settle()
                continue
            if self._closing:
                return
            self._wake.wait(self.idle_wait)
            self._wake.clear()

    def _take_points(self) -> list[tuple[str, Any, int | None, int]]:
        popleft = self.points.popleft
        batch = [popleft() for _ in range(min(self.batch_size, len(self.points)))]
        valid = self._valid_keys
        fresh = {point[0] for point in batch} - valid if batch else set()
        for key in fresh:
            if isinstance(key, str) and _KEY.match(key):
                valid.add(key)
            else:
                self._fail(ValueError(f"metric key {key!r} is not a valid key; dropped"))
        if fresh - valid:
            batch = [point for point in batch if point[0] in valid]
        return batch

    def _encode(self, batch: list[tuple[str, Any, int | None, int]]) -> tuple[bytes, int] | None:
        """The request bytes of a batch and how many points they hold (bad values dropped)."""
        request_id = str(uuid.uuid4())
        columns = self._encoder.columns_request(self.run_id, request_id, batch)
        if columns is not None:
            return columns, len(batch)
        try:
            return self._encoder.request(self.run_id, request_id, batch), len(batch)
        except (TypeError, OverflowError, ValueError):
            # One bad value must not lose the batch: send the good points alone.
            good = []
            for point in batch:
                try:
                    self._encoder.metric(*point)
                    good.append(point)
                except (TypeError, OverflowError, ValueError) as bad:
                    self._fail(ValueError(f"metric {point[0]!r}: {bad}; dropped"))
            if not good:
                return None
            return self._encoder.request(self.run_id, request_id, good), len(good)

    def _send_points(self) -> None:
        self._busy = True
        try:
            batch = self._take_points()
            encoded = self._encode(batch) if batch else None
            self._settle()  # the previous batch is stored before this one goes out
            if encoded is not None:
                data, count = encoded
                future = self._log_metrics.future(
                    data, timeout=self.call_timeout, metadata=self.metadata
                )
                self._in_flight = (future, data, count)
        finally:
            self._busy = False

    def _settle(self) -> None:
        """Waits for the batch with the server; retries it (same bytes) if it failed."""
        if self._in_flight is None:
            return
        future, data, count = self._in_flight
        first = [future]

        def attempt(_remaining: float | None) -> Any:
            if first:
                return first.pop()
            return self._log_metrics.future(data, timeout=self.call_timeout, metadata=self.metadata)

        try:
            call_with_retry(attempt, self.retry, None)
            self.sent_points += count
        except MLSpecError as exc:
            self._fail(exc)
        finally:
            self._in_flight = None

    def _send_params(self) -> None:
        self._busy = True
        try:
            batch: dict[str, Any] = {}
            while self.params and len(batch) < PARAMS_PER_CALL:
                key, value = self.params[0]
                if key in batch:
                    break  # the same key twice goes in the next call
                self.params.popleft()
                batch[key] = value
            try:
                request = tracking_service_pb2.LogParamsRequest(
                    run_id=self.run_id,
                    params=[metric_pb2.Param(key=k, value=to_value(v)) for k, v in batch.items()],
                    request_id=str(uuid.uuid4()),
                )
            except (TypeError, OverflowError, ValueError) as exc:
                self._fail(exc)
                return
            if self._send(self._log_params, request):
                self.sent_params += len(batch)
        finally:
            self._busy = False

    def _send(self, method: Callable[..., Any], request: Any) -> bool:
        def attempt(_remaining: float | None) -> Any:
            _, call = method.with_call(  # type: ignore[attr-defined]
                request, timeout=self.call_timeout, metadata=self.metadata
            )
            return call

        try:
            call_with_retry(attempt, self.retry, None)
            return True
        except MLSpecError as exc:
            self._fail(exc)
            return False

    def _fail(self, exc: BaseException) -> None:
        log.warning("mlspec: run %s: %s", self.run_id, exc)
        with self._lock:
            self.errors.append(exc)
