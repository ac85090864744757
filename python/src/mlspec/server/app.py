"""The composition root: one process hosting every area service, health and reflection."""

from __future__ import annotations

import logging
import pathlib
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mlspec.common.v1 import resource_service_pb2
from mlspec.data.v1 import data_service_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2
from mlspec.logging.v1 import logging_service_pb2
from mlspec.metadata.v1 import metadata_service_pb2
from mlspec.models.v1 import models_service_pb2
from mlspec.monitoring.v1 import component_service_pb2, monitoring_service_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2
from mlspec.server.config import ServerConfig
from mlspec.server.dispatch import Dispatcher, generic_handlers
from mlspec.server.errors import map_errors
from mlspec.server.interception import WrappingInterceptor
from mlspec.server.routes import Route, check_complete, qualify
from mlspec.server.services import area_routes, component
from mlspec.server.telemetry import Telemetry, timed
from mlspec.store.api import Store
from mlspec.store.sql import open_store
from mlspec.tracking.v1 import tracking_service_pb2

log = logging.getLogger("mlspec.server")

SERVICES: list[descriptor.ServiceDescriptor] = [
    resource_service_pb2.DESCRIPTOR.services_by_name["ResourceService"],
    data_service_pb2.DESCRIPTOR.services_by_name["DataService"],
    pipelines_service_pb2.DESCRIPTOR.services_by_name["PipelinesService"],
    tracking_service_pb2.DESCRIPTOR.services_by_name["TrackingService"],
    models_service_pb2.DESCRIPTOR.services_by_name["ModelsService"],
    lifecycle_service_pb2.DESCRIPTOR.services_by_name["LifecycleService"],
    logging_service_pb2.DESCRIPTOR.services_by_name["LoggingService"],
    monitoring_service_pb2.DESCRIPTOR.services_by_name["MonitoringService"],
    component_service_pb2.DESCRIPTOR.services_by_name["ComponentService"],
    metadata_service_pb2.DESCRIPTOR.services_by_name["MetadataService"],
]


@dataclass
class RunningServer:
    """A started server, the port it listens on, and what to stop."""

    server: grpc.Server
    port: int
    store: Store
    health: health.HealthServicer

    def stop(self, grace: float = 5.0) -> None:
        """Stops accepting calls, lets running ones finish, closes the store."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.store.dispose()


def ensure_sqlite_folder(url: str) -> None:
    """Creates the folder of an embedded SQLite file if it does not exist."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        pathlib.Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def store_backend(url: str) -> str:
    """The database behind a store URL: ``sqlite`` or ``postgresql``."""
    return url.split(":", 1)[0].split("+", 1)[0]


def server_options(config: ServerConfig) -> list[tuple[str, int]]:
    """The gRPC channel options of the server: message size limits, an exclusive port."""
    return [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]


def build_server(
    config: ServerConfig,
    store: Store | None = None,
    overrides: dict[str, Route] | None = None,
) -> RunningServer:
    """Builds and starts a server for ``config`` (port 0 picks a free port).

    Refuses to start (``IncompleteRoutes``) when an RPC of ``SERVICES`` has no route.
    ``overrides`` replaces the routes of some methods (by "package.Service/Method"); the
    benchmarks use it to measure the server's own stack around a trivial handler.
    """
    telemetry = Telemetry()
    names = [s.full_name for s in SERVICES]
    backend = store_backend(config.store_url if store is None else store.url)
    routes = area_routes()
    routes.update(qualify(component.SERVICE, component.routes(telemetry, names, backend)))
    routes.update(overrides or {})
    check_complete(SERVICES, routes)
    if store is None:
        ensure_sqlite_folder(config.store_url)
        store = open_store(config.store_url)
    options = server_options(config)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="mlspec"),
        interceptors=[WrappingInterceptor([timed(telemetry), map_errors])],
        options=options,
    )
    dispatcher = Dispatcher(store, routes)
    server.add_generic_rpc_handlers(tuple(generic_handlers(dispatcher, SERVICES)))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    port = server.add_insecure_port(f"{config.host}:{config.port}")
    if port == 0:
        raise OSError(f"cannot listen on {config.host}:{config.port}")
    server.start()
    return RunningServer(server, port, store, health_servicer)


def serve(config: ServerConfig) -> None:
    """Runs the server until SIGINT or SIGTERM, then shuts down gracefully."""
    running = build_server(config)
    log.info(
        "MLSpec metadata service listening on %s:%d (store %s)",
        config.host,
        running.port,
        config.store_url,
    )
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received signal %d; shutting down", signum)
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stopped.wait()
    running.stop(config.grace_seconds)
    log.info("stopped")
