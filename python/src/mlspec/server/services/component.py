"""mlspec.monitoring.v1.ComponentService: the /ok, /varz and /metrics of this service."""

from __future__ import annotations

import platform
from collections.abc import Iterator

import grpc
from google.protobuf import __version__ as protobuf_version
from google.protobuf.message import Message
from prometheus_client import generate_latest

from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.resources import Resources
from mlspec.monitoring.v1 import component_service_pb2 as pb
from mlspec.monitoring.v1 import signals_pb2
from mlspec.server.routes import Route, read
from mlspec.server.telemetry import Telemetry

SERVICE = "mlspec.monitoring.v1.ComponentService"
SERVING = signals_pb2.SERVING_STATUS_SERVING


def routes(telemetry: Telemetry, service_names: list[str], backend: str) -> dict[str, Route]:
    """The ComponentService routing table of one server (``backend``: the store's database)."""

    def ok(request: pb.OkRequest, res: Resources) -> Message:
        """Liveness and readiness: the store answers a query."""
        res.ping()
        response = pb.OkResponse(
            status=SERVING, message="ok", check_time=micros_to_timestamp(now_micros())
        )
        for name in service_names:
            if not request.service or request.service == name:
                response.services[name] = SERVING
        if request.service and request.service not in service_names:
            response.status = signals_pb2.SERVING_STATUS_UNKNOWN
            response.message = f"no service named {request.service!r} here"
        return response

    def watch_ok(request: pb.WatchOkRequest, res: Resources) -> Iterator[Message]:
        """The current status once (a server that stops answering ends the stream)."""
        current = ok(pb.OkRequest(service=request.service, probe=request.probe), res)
        assert isinstance(current, pb.OkResponse)
        yield pb.WatchOkResponse(
            status=current.status, message=current.message, check_time=current.check_time
        )

    def varz(request: pb.VarzRequest, res: Resources) -> Message:
        """The process' identity, uptime and versions."""
        from importlib.metadata import version

        info = pb.ComponentInfo(
            name="mlspec-metadata-service", version=version("mlspec-contract"), host=telemetry.host
        )
        info.start_time.FromMicroseconds(int(telemetry.start_time * 1_000_000))
        info.uptime.FromMicroseconds(int(telemetry.uptime() * 1_000_000))
        values = {
            "python_version": platform.python_version(),
            "grpc_version": grpc.__version__,
            "protobuf_version": protobuf_version,
            "store_backend": backend,
        }
        response = pb.VarzResponse(info=info)
        for key, value in values.items():
            if not request.names or key in request.names:
                response.variables[key].string_value = value
        return response

    def metrics(request: pb.MetricsRequest, res: Resources) -> Message:
        """Prometheus text and structured series of the call counters and latencies."""
        prefixes = tuple(request.name_prefixes)
        response = pb.MetricsResponse(collect_time=micros_to_timestamp(now_micros()))
        text_lines = generate_latest(telemetry.registry).decode().splitlines()
        response.prometheus_text = (
            "\n".join(
                line
                for line in text_lines
                if not prefixes or _metric_name(line).startswith(prefixes)
            )
            + "\n"
        )
        for family in telemetry.registry.collect():
            if prefixes and not family.name.startswith(prefixes):
                continue
            series = response.series.add(name=family.name, description=family.documentation)
            if family.type == "counter":
                series.sum.is_monotonic = True
                series.sum.aggregation_temporality = signals_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        series.sum.data_points.add(attributes=sample.labels, as_double=sample.value)
            elif family.type == "histogram":
                series.histogram.aggregation_temporality = (
                    signals_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                )
                points: dict[str, signals_pb2.HistogramDataPoint] = {}
                for sample in family.samples:
                    labels = {k: v for k, v in sample.labels.items() if k != "le"}
                    key = repr(sorted(labels.items()))
                    point = points.get(key)
                    if point is None:
                        point = points[key] = series.histogram.data_points.add(attributes=labels)
                    if sample.name.endswith("_bucket") and sample.labels["le"] != "+Inf":
                        point.explicit_bounds.append(float(sample.labels["le"]))
                        point.bucket_counts.append(int(sample.value))
                    elif sample.name.endswith("_count"):
                        point.count = int(sample.value)
                    elif sample.name.endswith("_sum"):
                        point.sum = sample.value
                for point in points.values():
                    cumulative = list(point.bucket_counts)
                    del point.bucket_counts[:]
                    previous = 0
                    for value in cumulative:  # Prometheus buckets are cumulative; OTel's are not
                        point.bucket_counts.append(value - previous)
                        previous = value
                    point.bucket_counts.append(point.count - previous)
        return response

    # Every RPC of ComponentService and what serves it (server/routes.py).
    return {
        "Ok": read(ok),
        "WatchOk": read(watch_ok),
        "Varz": read(varz),
        "Metrics": read(metrics),
    }


def _metric_name(line: str) -> str:
    if line.startswith("# "):
        parts = line.split()
        return parts[2] if len(parts) > 2 else ""
    return line.split("{", 1)[0].split(" ", 1)[0]
