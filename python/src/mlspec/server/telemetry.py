"""The server's own metrics (Prometheus) and the handler wrapper that records them.

Every call is counted and timed by method and status code, server streams are counted
while open, inference-log records are counted as they are written, and the store's size
is read at each scrape. ``/metrics`` on the HTTP side port and ComponentService.Metrics
both expose this registry (through ``mlspec.endpoints.Component``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Latency buckets in seconds, from 0.5 ms to 5 s.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The calls that append inference-log records (their responses count them).
WRITE_LOGS = (
    "/mlspec.logging.v1.LoggingService/WriteInferenceLogs",
    "/mlspec.logging.v1.LoggingService/StreamInferenceLogs",
)


class Telemetry:
    """Process-wide counters, gauges and histograms of the metadata service."""

    def __init__(self) -> None:
        """Creates a fresh registry (one per server)."""
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series add nothing here
        self.registry = CollectorRegistry()
        self.start_time = time.time()
        self.calls = Counter(
            "mlspec_rpc_calls",
            "RPCs handled, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlspec_rpc_duration_seconds",
            "Time to handle an RPC, by method and status code (a stream: until it ends).",
            ["method", "code"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.open_streams = Gauge(
            "mlspec_open_streams",
            "Server-streaming calls being answered now, by method.",
            ["method"],
            registry=self.registry,
        )
        self.log_records = Counter(
            "mlspec_inference_log_records_written",
            "Inference-log records appended (rate() of it is the ingestion rate).",
            registry=self.registry,
        )

    def uptime(self) -> float:
        """Seconds since the server started."""
        return time.time() - self.start_time

    def watch_store(self, size_bytes: Callable[[], int]) -> None:
        """Reports the store's size at every scrape (nothing when the store is down)."""
        self.registry.register(_StoreSize(size_bytes))

    def totals(self) -> dict[str, int]:
        """Counter totals for ``/varz``: calls, failed calls, log records, open streams."""
        return {
            "rpc_calls": _sum(self.calls),
            "rpc_failures": _sum(self.calls, lambda labels: labels["code"] != "OK"),
            "inference_log_records_written": _sum(self.log_records),
            "open_streams": _sum(self.open_streams),
        }


def _sum(metric: Any, keep: Callable[[dict[str, str]], bool] = lambda labels: True) -> int:
    """The sum of a metric's samples (a counter's ``_total`` ones) whose labels pass."""
    return int(
        sum(
            sample.value
            for family in metric.collect()
            for sample in family.samples
            if (family.type != "counter" or sample.name.endswith("_total")) and keep(sample.labels)
        )
    )


class _StoreSize(Collector):
    def __init__(self, size_bytes: Callable[[], int]) -> None:
        self._size_bytes = size_bytes

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            size = self._size_bytes()
        except Exception:  # an unreachable store has no size; /ok reports the outage
            return []
        return [GaugeMetricFamily("mlspec_store_size_bytes", "Size of the store.", value=size)]


def timed(telemetry: Telemetry) -> Callable[[str, Any], Any]:
    """A handler wrapper (see ``interception``) that counts and times calls and streams."""

    def wrap(method: str, handler: Any) -> Any:
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_unary(telemetry, method, handler.unary_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_stream(telemetry, method, handler.unary_stream))
        if handler.stream_unary is not None:
            return handler._replace(stream_unary=_unary(telemetry, method, handler.stream_unary))
        return handler

    return wrap


def _code_name(code: grpc.StatusCode | None) -> str:
    return code.name if code is not None else "OK"


def _unary(telemetry: Telemetry, method: str, behavior: Any) -> Any:
    counted: dict[Any, tuple[Any, Any]] = {}
    logs = telemetry.log_records if method in WRITE_LOGS else None

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        start = time.perf_counter()
        code: grpc.StatusCode | None = grpc.StatusCode.UNKNOWN
        try:
            response = behavior(request, context)
            code = context.code()
            if logs is not None and code in (None, grpc.StatusCode.OK):
                logs.inc(response.accepted_count)
            return response
        except BaseException:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        finally:
            pair = counted.get(code)
            if pair is None:
                name = _code_name(code)
                pair = counted.setdefault(
                    code,
                    (telemetry.calls.labels(method, name), telemetry.latency.labels(method, name)),
                )
            pair[0].inc()
            pair[1].observe(time.perf_counter() - start)

    return call


def _stream(telemetry: Telemetry, method: str, behavior: Any) -> Any:
    open_now = telemetry.open_streams.labels(method)

    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        start = time.perf_counter()
        code: grpc.StatusCode | None = grpc.StatusCode.UNKNOWN
        open_now.inc()
        try:
            yield from behavior(request, context)
            code = context.code()
        except GeneratorExit:  # the client went away
            code = grpc.StatusCode.CANCELLED
            raise
        except BaseException:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        finally:
            open_now.dec()
            name = _code_name(code)
            telemetry.calls.labels(method, name).inc()
            telemetry.latency.labels(method, name).observe(time.perf_counter() - start)

    return call
