"""What a component reports about itself: health, identity and variables, metrics.

A ``Component`` is built once per process with the component's name and version, a
Prometheus registry, a health check and a function returning its current variables. The
HTTP endpoints (``endpoints.http``) and the gRPC ComponentService both read it, so the
two always tell the same story.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from mlspec.common.v1 import value_pb2
from mlspec.monitoring.v1 import component_service_pb2 as pb
from mlspec.monitoring.v1 import signals_pb2

__all__ = ["Check", "Component", "Health", "flatten"]

# A health check returns None or True when healthy, False or a reason when not; an
# exception it raises means "not healthy" too, with the exception as the reason.
Check = Callable[[], "bool | str | None"]
Scalar = bool | int | float | str


@dataclass(frozen=True)
class Health:
    """The outcome of a health check."""

    ok: bool
    message: str


class Component:
    """A running component's identity, health check, variables and metric registry."""

    def __init__(
        self,
        name: str,
        version: str,
        *,
        build: str = "",
        registry: CollectorRegistry | None = None,
        check: Check | None = None,
        variables: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """Describes a component.

        Args:
            name: what the component is, for example ``churn-scorer``.
            version: the build's version, for example ``2.3.1``.
            build: an optional build identifier (a git commit or an image digest).
            registry: where its Prometheus metrics live (the process-wide default
                registry when None).
            check: the health check (always healthy when None).
            variables: returns the current variables (configuration without secrets,
                counters); nested mappings become dotted names, see ``flatten``.
        """
        self.name = name
        self.version = version
        self.build = build
        self.registry = registry if registry is not None else REGISTRY
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.start_time = time.time()
        self._check = check
        self._variables = variables

    def uptime(self) -> float:
        """Seconds since the component was described (its start)."""
        return time.time() - self.start_time

    def health(self) -> Health:
        """Runs the health check; an exception it raises is reported, not propagated."""
        if self._check is None:
            return Health(True, "ok")
        try:
            outcome = self._check()
        except Exception as exc:  # the check's failure is the answer, not an error
            text = " ".join(str(exc).split()) or type(exc).__name__
            return Health(False, f"{type(exc).__name__}: {text}"[:300])
        if outcome is None or outcome is True:
            return Health(True, "ok")
        if outcome is False:
            return Health(False, "not ready")
        return Health(False, str(outcome))

    def variables(self) -> dict[str, Scalar]:
        """The current variables as dotted names to scalars."""
        return flatten(self._variables() if self._variables is not None else {})

    def varz(self) -> dict[str, Any]:
        """The ``/varz`` document: identity, uptime and the variables (JSON-ready)."""
        started = datetime.fromtimestamp(self.start_time, tz=timezone.utc)
        return {
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "host": self.host,
            "pid": self.pid,
            "start_time": started.isoformat().replace("+00:00", "Z"),
            "uptime_seconds": round(self.uptime(), 3),
            "variables": self.variables(),
        }

    def info(self) -> pb.ComponentInfo:
        """The component's identity as the contract's ComponentInfo."""
        info = pb.ComponentInfo(
            name=self.name, version=self.version, build=self.build, host=self.host
        )
        info.start_time.FromMicroseconds(int(self.start_time * 1_000_000))
        info.uptime.FromMicroseconds(int(self.uptime() * 1_000_000))
        return info

    def varz_response(self, names: Iterable[str] = ()) -> pb.VarzResponse:
        """ComponentService.Varz: the identity and the variables (only ``names`` if given)."""
        wanted = set(names)
        response = pb.VarzResponse(info=self.info())
        for key, value in self.variables().items():
            if not wanted or key in wanted:
                response.variables[key].CopyFrom(scalar_value(value))
        return response

    def prometheus_text(self, prefixes: Iterable[str] = ()) -> str:
        """The metrics in Prometheus text exposition format 0.0.4."""
        wanted = tuple(prefixes)
        text = generate_latest(self.registry).decode()
        if not wanted:
            return text
        kept = [line for line in text.splitlines() if _metric_name(line).startswith(wanted)]
        return "\n".join(kept) + "\n" if kept else ""

    def metrics_response(self, prefixes: Iterable[str] = ()) -> pb.MetricsResponse:
        """ComponentService.Metrics: Prometheus text and the same data as series."""
        wanted = tuple(prefixes)
        response = pb.MetricsResponse(prometheus_text=self.prometheus_text(wanted))
        response.collect_time.GetCurrentTime()
        for family in self.registry.collect():
            if wanted and not family.name.startswith(wanted):
                continue
            series = response.series.add(name=family.name, description=family.documentation)
            _fill_series(series, family, response.collect_time)
        return response


def flatten(variables: Mapping[str, Any], prefix: str = "") -> dict[str, Scalar]:
    """Nested mappings as dotted names: ``{"config": {"port": 1}}`` -> ``{"config.port": 1}``.

    Values that are not scalars (lists, None, objects) become their ``str``.
    """
    flat: dict[str, Scalar] = {}
    for key, value in variables.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def scalar_value(value: Scalar) -> value_pb2.Value:
    """A scalar as the contract's typed Value."""
    if isinstance(value, bool):
        return value_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return value_pb2.Value(int_value=value)
    if isinstance(value, float):
        return value_pb2.Value(double_value=value)
    return value_pb2.Value(string_value=value)


def _metric_name(line: str) -> str:
    if line.startswith("# "):
        parts = line.split()
        return parts[2] if len(parts) > 2 else ""
    return line.split("{", 1)[0].split(" ", 1)[0]


def _fill_series(series: signals_pb2.MetricSeries, family: Any, now: Any) -> None:
    """One Prometheus metric family as a series (counters, gauges and histograms)."""
    cumulative = signals_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    if family.type == "counter":
        series.sum.is_monotonic = True
        series.sum.aggregation_temporality = cumulative
        for sample in family.samples:
            if sample.name.endswith("_total"):
                series.sum.data_points.add(
                    attributes=sample.labels, as_double=sample.value, time=now
                )
    elif family.type == "gauge":
        for sample in family.samples:
            series.gauge.data_points.add(attributes=sample.labels, as_double=sample.value, time=now)
    elif family.type == "histogram":
        series.histogram.aggregation_temporality = cumulative
        points: dict[str, signals_pb2.HistogramDataPoint] = {}
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            key = repr(sorted(labels.items()))
            point = points.get(key)
            if point is None:
                point = points[key] = series.histogram.data_points.add(attributes=labels, time=now)
            if sample.name.endswith("_bucket") and sample.labels["le"] != "+Inf":
                point.explicit_bounds.append(float(sample.labels["le"]))
                point.bucket_counts.append(int(sample.value))
            elif sample.name.endswith("_count"):
                point.count = int(sample.value)
            elif sample.name.endswith("_sum"):
                point.sum = sample.value
        for point in points.values():
            # Prometheus buckets are cumulative; the contract's (OpenTelemetry's) are not.
            running = list(point.bucket_counts)
            del point.bucket_counts[:]
            previous = 0
            for value in running:
                point.bucket_counts.append(value - previous)
                previous = value
            point.bucket_counts.append(point.count - previous)
