"""The composition root: one process hosting every area service, health and reflection."""

from __future__ import annotations

import logging
import pathlib
import platform
import signal
import threading
from concurrent import futures
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from google.protobuf import __version__ as protobuf_version
from google.protobuf import descriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mlspec.common.v1 import resource_service_pb2
from mlspec.data.v1 import data_service_pb2
from mlspec.domain.common.policy import Policy
from mlspec.endpoints import Component, EndpointServer, serve_http
from mlspec.lifecycle.v1 import lifecycle_service_pb2
from mlspec.logging.v1 import logging_service_pb2
from mlspec.metadata.v1 import metadata_service_pb2
from mlspec.models.v1 import models_service_pb2
from mlspec.monitoring.v1 import component_service_pb2, monitoring_service_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2
from mlspec.server.auth import DEFAULT_WORKSPACE, Access, check_access_settings
from mlspec.server.config import ConfigError, ServerConfig, mask_url
from mlspec.server.dispatch import Dispatcher, generic_handlers
from mlspec.server.errors import map_errors
from mlspec.server.interception import WrappingInterceptor
from mlspec.server.monitor import Monitor
from mlspec.server.openlineage import LineageEmitter, emitting
from mlspec.server.routes import Route, check_complete, qualify
from mlspec.server.services import area_routes, component
from mlspec.server.telemetry import Telemetry, timed
from mlspec.server.tls import server_credentials, transport_summary
from mlspec.signing import SignatureProblem, key_id, load_public_key
from mlspec.store.api import Store
from mlspec.store.sql import open_store
from mlspec.tracking.v1 import tracking_service_pb2

log = logging.getLogger("mlspec.server")
COMPONENT_NAME = "mlspec-metadata-service"

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
    component: Component
    http: EndpointServer | None = None
    monitor: Monitor | None = None
    lineage: LineageEmitter | None = None

    def stop(self, grace: float = 5.0) -> None:
        """Stops accepting calls, lets running ones finish, sends what lineage is queued."""
        self.health.enter_graceful_shutdown()
        if self.monitor is not None:
            self.monitor.stop()
        if self.http is not None:
            self.http.close()
        self.server.stop(grace).wait()
        if self.lineage is not None:
            self.lineage.close()
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


def package_version() -> str:
    """The installed distribution's version ("unknown" when running from a source tree)."""
    try:
        return metadata.version("mlspec-contract")
    except metadata.PackageNotFoundError:
        return "unknown"


LIFECYCLE = "mlspec.lifecycle.v1.LifecycleService"


def lineage_emitter(config: ServerConfig) -> LineageEmitter | None:
    """The OpenLineage emitter the configuration asks for (an HTTP endpoint or a file)."""
    if config.openlineage_url and config.openlineage_file:
        raise ConfigError("set --openlineage-url or --openlineage-file, not both")
    if not (config.openlineage_url or config.openlineage_file):
        return None
    if config.openlineage_url and not config.openlineage_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"--openlineage-url must be an http(s) URL, not {mask_url(config.openlineage_url)!r}"
        )
    try:
        return LineageEmitter(
            url=config.openlineage_url,
            file=config.openlineage_file,
            namespace=config.openlineage_namespace,
            version=package_version(),
        )
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "OpenLineage events need openlineage-python: pip install 'mlspec-contract[openlineage]'"
        ) from exc


def load_policy(config: ServerConfig) -> Policy:
    """The rules' policy: the trusted package-signing keys, the service's own signing key."""
    keys: dict[str, Any] = {}
    for path in config.trusted_keys:
        try:
            key = load_public_key(pathlib.Path(path).read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read --trusted-key {path}: {exc.strerror or exc}") from exc
        except SignatureProblem as exc:
            raise ConfigError(f"--trusted-key {path}: {exc}") from exc
        keys[key_id(key)] = key
    return Policy(
        trusted_keys=keys,
        require_signed_packages=config.require_signed_packages,
        service_key=load_private_key(
            config.signing_key,
            "--signing-key",
            ec.EllipticCurvePrivateKey,
            "an elliptic-curve (ECDSA)",
        ),
        log_signing_key=load_private_key(
            config.log_signing_key,
            "--log-signing-key",
            ed25519.Ed25519PrivateKey,
            "an Ed25519 (make one with 'openssl genpkey -algorithm ed25519')",
        ),
        log_checkpoint_interval=config.log_checkpoint_interval,
    )


def load_private_key(path: str, flag: str, kind: type, what: str) -> Any:
    """The unencrypted PEM private key of a flag, an instance of ``kind`` (None: unset).

    ``kind`` is the abstract key class its use needs (mypy cannot type that as a bound).
    """
    if not path:
        return None
    try:
        pem = pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {flag} {path}: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{flag} {path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, kind):
        raise ConfigError(f"{flag} {path}: not {what} key")
    return key


class StoreCheck:
    """The health check of /ok: one read of the store (set once the store is open)."""

    def __init__(self) -> None:
        self.store: Store | None = None

    def __call__(self) -> str | None:
        """None when the store answers; raises (or names why) when it does not."""
        if self.store is None:
            return "the store is not open yet"
        with self.store.transaction(write=False) as tx:
            tx.get(DEFAULT_WORKSPACE, "")
        return None


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
    url = config.store_url if store is None else store.url
    ports: dict[str, int] = {}
    check = StoreCheck()

    def variables() -> dict[str, Any]:
        settings = {**config.public(), **ports, "store_url": mask_url(url)}
        return {
            "config": {**settings, "store_backend": store_backend(url)},
            "versions": {
                "python": platform.python_version(),
                "grpc": grpc.__version__,
                "protobuf": protobuf_version,
            },
            "counters": telemetry.totals(),
        }

    me = Component(
        COMPONENT_NAME,
        package_version(),
        registry=telemetry.registry,
        check=check,
        variables=variables,
    )
    routes = area_routes()
    routes.update(qualify(component.SERVICE, component.routes(me, names)))
    lineage = lineage_emitter(config)
    if lineage is not None:
        for method in ("ReportStage", "BatchReportStages"):
            key = f"{LIFECYCLE}/{method}"
            method_descriptor = lifecycle_service_pb2.DESCRIPTOR.services_by_name[
                "LifecycleService"
            ].methods_by_name[method]
            routes[key] = emitting(routes[key], lineage, routes[key].bind(method_descriptor))
    routes.update(overrides or {})
    check_complete(SERVICES, routes)
    credentials = server_credentials(config)
    check_access_settings(config)
    policy = load_policy(config)
    if store is None:
        ensure_sqlite_folder(config.store_url)
        store = open_store(config.store_url)
    check.store = store
    telemetry.watch_store(store.size_bytes)
    options = server_options(config)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="mlspec"),
        interceptors=[WrappingInterceptor([timed(telemetry), map_errors])],
        options=options,
    )
    dispatcher = Dispatcher(store, routes, Access(store, config.auth), policy)
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
    address = f"{config.host}:{config.port}"
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {config.host}:{config.port}")
    ports["port"] = port
    http = None
    if config.http_port is not None:
        try:
            http = serve_http(me, config.http_port, config.host)
        except OSError as exc:
            server.stop(None)
            store.dispose()
            raise OSError(
                f"cannot serve HTTP on {config.host}:{config.http_port} ({exc.strerror}); "
                "choose another --http-port, or 0 for none"
            ) from exc
        ports["http_port"] = http.port
    monitor = None
    if config.monitor_interval > 0:
        monitor = Monitor(store, policy, config.monitor_interval)
        monitor.start()
    server.start()
    return RunningServer(server, port, store, health_servicer, me, http, monitor, lineage)


def serve(config: ServerConfig) -> None:
    """Runs the server until SIGINT or SIGTERM, then shuts down gracefully."""
    running = build_server(config)
    log.info(
        "MLSpec metadata service listening on %s:%d (store %s)",
        config.host,
        running.port,
        mask_url(config.store_url),
    )
    log.info("transport: %s", transport_summary(config))
    log.info(
        "authentication: %s",
        "bearer tokens (mlspec token create)"
        if config.auth == "token"
        else "none: loopback development mode, the x-mlspec-workspace header picks the workspace",
    )
    if running.http is not None:
        log.info("HTTP endpoints /ok /varz /metrics on %s", running.http.url)
    stopped = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received signal %d; shutting down", signum)
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stopped.wait()
    running.stop(config.grace_seconds)
    log.info("stopped")
