"""The server's own metrics (Prometheus) and the interceptor that records them.

Every call is counted by method and status code and timed; ComponentService.Metrics
exposes them as Prometheus text and as structured series, ComponentService.Varz reports
the process' identity and uptime.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

# Latency buckets in seconds, from 0.5 ms to 5 s.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Telemetry:
    """Process-wide counters and histograms of the metadata service."""

    def __init__(self) -> None:
        """Creates a fresh registry (one per server)."""
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` series add nothing here
        self.registry = CollectorRegistry()
        self.start_time = time.time()
        self.host = socket.gethostname()
        self.calls = Counter(
            "mlspec_rpc_calls",
            "RPCs handled, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlspec_rpc_duration_seconds",
            "Time to handle an RPC, by method.",
            ["method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def uptime(self) -> float:
        """Seconds since the server started."""
        return time.time() - self.start_time


class TelemetryInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Counts and times every unary call (the outermost interceptor)."""

    def __init__(self, telemetry: Telemetry) -> None:
        """Records into ``telemetry``."""
        self.telemetry = telemetry

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        """Wraps unary handlers with counting and timing."""
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        behavior = handler.unary_unary
        calls, latency = self.telemetry.calls, self.telemetry.latency.labels(method)

        def timed(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            try:
                return behavior(request, context)
            finally:
                latency.observe(time.perf_counter() - start)
                code = context.code()
                calls.labels(method, code.name if code is not None else "OK").inc()

        return handler._replace(unary_unary=timed)
