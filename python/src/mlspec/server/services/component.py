"""mlspec.monitoring.v1.ComponentService: the /ok, /varz and /metrics of this service."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message

from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.resources import Resources
from mlspec.endpoints import Component
from mlspec.monitoring.v1 import component_service_pb2 as pb
from mlspec.monitoring.v1 import signals_pb2
from mlspec.server.routes import Route, read

SERVICE = "mlspec.monitoring.v1.ComponentService"
SERVING = signals_pb2.SERVING_STATUS_SERVING


def routes(component: Component, service_names: list[str]) -> dict[str, Route]:
    """The ComponentService routing table of one server, reporting ``component``."""

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
        """The process' identity, uptime, configuration and counters (as HTTP /varz)."""
        return component.varz_response(request.names)

    def metrics(request: pb.MetricsRequest, res: Resources) -> Message:
        """The Prometheus registry as text and as series (as HTTP /metrics)."""
        return component.metrics_response(request.name_prefixes)

    # Every RPC of ComponentService and what serves it (server/routes.py).
    return {
        "Ok": read(ok),
        "WatchOk": read(watch_ok),
        "Varz": read(varz),
        "Metrics": read(metrics),
    }
