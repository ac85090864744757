"""The server's own metrics (Prometheus) and the handler wrapper that records them.

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


def timed(telemetry: Telemetry) -> Callable[[str, Any], Any]:
    """A handler wrapper (see ``interception``) that counts and times unary calls."""

    def wrap(method: str, handler: Any) -> Any:
        if handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        calls, latency = telemetry.calls, telemetry.latency.labels(method)
        counters: dict[Any, Any] = {}

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            try:
                return behavior(request, context)
            finally:
                latency.observe(time.perf_counter() - start)
                code = context.code()
                counter = counters.get(code)
                if counter is None:
                    counter = counters.setdefault(
                        code, calls.labels(method, code.name if code is not None else "OK")
                    )
                counter.inc()

        return handler._replace(unary_unary=call)

    return wrap
