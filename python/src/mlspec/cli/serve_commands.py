"""``mlspec serve`` and ``mlspec db upgrade|current``: run the service, manage its store.

Every flag has an environment variable: MLSPEC_HOST, MLSPEC_PORT, MLSPEC_HTTP_PORT,
MLSPEC_TLS_CERT, MLSPEC_TLS_KEY, MLSPEC_TLS_CLIENT_CA, MLSPEC_AUTH, MLSPEC_TRUSTED_KEYS,
MLSPEC_REQUIRE_SIGNED_PACKAGES, MLSPEC_SIGNING_KEY, MLSPEC_INSECURE, MLSPEC_STORE_URL, MLSPEC_LOG_LEVEL. The default store is an SQLite file at ~/.local/share/mlspec/mlspec.db.
These commands need the server's dependencies (``pip install 'mlspec-contract[server]'``); they
are imported only when one of them runs.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from mlspec.cli.errors import CliError, StoreFailure, mask_url
from mlspec.cli.tls_files import check_tls_files
from mlspec.server.config import (
    DEFAULT_HOST,
    DEFAULT_HTTP_PORT,
    DEFAULT_MONITOR_INTERVAL,
    DEFAULT_PORT,
    DEFAULT_STORE_PATH,
    ServerConfig,
)

__all__ = ["db", "serve", "store_errors", "store_tools", "store_url_option"]

F = TypeVar("F", bound=Callable[..., Any])
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_STORE_URL = f"sqlite:///{DEFAULT_STORE_PATH}"
SERVER_EXTRAS = (
    "this command needs the server's dependencies: pip install 'mlspec-contract[server]'"
)


def store_url_option(command: F) -> F:
    return click.option(
        "--store-url",
        envvar="MLSPEC_STORE_URL",
        default=DEFAULT_STORE_URL,
        show_default=True,
        metavar="URL",
        help="SQLAlchemy URL of the store: sqlite:///PATH or postgresql+psycopg://... "
        "(MLSPEC_STORE_URL).",
    )(command)


@click.command()
@click.option(
    "--host",
    envvar="MLSPEC_HOST",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on (MLSPEC_HOST).",
)
@click.option(
    "--port",
    envvar="MLSPEC_PORT",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on, 0 for any free one (MLSPEC_PORT).",
)
@click.option(
    "--http-port",
    envvar="MLSPEC_HTTP_PORT",
    type=click.IntRange(0, 65535),
    default=DEFAULT_HTTP_PORT,
    show_default=True,
    help="Port of the HTTP endpoints /ok, /varz and /metrics; 0 serves none (MLSPEC_HTTP_PORT).",
)
@click.option(
    "--tls-cert",
    envvar="MLSPEC_TLS_CERT",
    default="",
    metavar="PEM",
    help="Certificate chain of the server; with --tls-key, calls use TLS (MLSPEC_TLS_CERT).",
)
@click.option(
    "--tls-key",
    envvar="MLSPEC_TLS_KEY",
    default="",
    metavar="PEM",
    help="Private key of --tls-cert (MLSPEC_TLS_KEY).",
)
@click.option(
    "--tls-client-ca",
    envvar="MLSPEC_TLS_CLIENT_CA",
    default="",
    metavar="PEM",
    help="CA that must have signed every client's certificate: mutual TLS (MLSPEC_TLS_CLIENT_CA).",
)
@click.option(
    "--auth",
    envvar="MLSPEC_AUTH",
    type=click.Choice(("none", "token")),
    default="none",
    show_default=True,
    help="none: loopback development, the workspace header decides; token: every call "
    "needs a bearer token from 'mlspec token create' (MLSPEC_AUTH).",
)
@click.option(
    "--trusted-key",
    "trusted_keys",
    envvar="MLSPEC_TRUSTED_KEYS",
    multiple=True,
    metavar="PEM",
    help="A public key trusted to sign model packages (repeatable; MLSPEC_TRUSTED_KEYS, "
    "space-separated).",
)
@click.option(
    "--require-signed-packages",
    envvar="MLSPEC_REQUIRE_SIGNED_PACKAGES",
    is_flag=True,
    help="Serve a model only from a package signed by a trusted key.",
)
@click.option(
    "--signing-key",
    envvar="MLSPEC_SIGNING_KEY",
    default="",
    metavar="PEM",
    help="The service's EC private key: it seals every stage report and signs provenance "
    "attestations (MLSPEC_SIGNING_KEY).",
)
@click.option(
    "--log-signing-key",
    envvar="MLSPEC_LOG_SIGNING_KEY",
    default="",
    metavar="PEM",
    help="Ed25519 private key that signs inference-log checkpoints (MLSPEC_LOG_SIGNING_KEY; "
    "make one with 'openssl genpkey -algorithm ed25519').",
)
@click.option(
    "--monitor-interval",
    envvar="MLSPEC_MONITOR_INTERVAL",
    type=click.FloatRange(min=0),
    default=DEFAULT_MONITOR_INTERVAL,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between rounds of drift, live performance and rollback evaluation of "
    "every model version a rollback policy protects; 0 for none (MLSPEC_MONITOR_INTERVAL).",
)
@click.option(
    "--openlineage-url",
    envvar="MLSPEC_OPENLINEAGE_URL",
    default="",
    metavar="URL",
    help="Send an OpenLineage START and end event for every stage report to this HTTP "
    "endpoint (it receives POST <URL>/api/v1/lineage; MLSPEC_OPENLINEAGE_URL).",
)
@click.option(
    "--openlineage-file",
    envvar="MLSPEC_OPENLINEAGE_FILE",
    default="",
    metavar="PATH",
    help="Append those OpenLineage events to this file, one JSON object a line "
    "(MLSPEC_OPENLINEAGE_FILE).",
)
@click.option(
    "--openlineage-namespace",
    envvar="MLSPEC_OPENLINEAGE_NAMESPACE",
    default="mlspec",
    show_default=True,
    help="The OpenLineage job namespace of the events (MLSPEC_OPENLINEAGE_NAMESPACE).",
)
@click.option(
    "--insecure",
    envvar="MLSPEC_INSECURE",
    is_flag=True,
    help="Allow plaintext on a non-loopback --host (MLSPEC_INSECURE=1).",
)
@store_url_option
@click.option(
    "--log-level",
    envvar="MLSPEC_LOG_LEVEL",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="How much to log (MLSPEC_LOG_LEVEL).",
)
def serve(
    host: str,
    port: int,
    http_port: int,
    tls_cert: str,
    tls_key: str,
    tls_client_ca: str,
    auth: str,
    trusted_keys: tuple[str, ...],
    require_signed_packages: bool,
    signing_key: str,
    log_signing_key: str,
    monitor_interval: float,
    openlineage_url: str,
    openlineage_file: str,
    openlineage_namespace: str,
    insecure: bool,
    store_url: str,
    log_level: str,
) -> None:
    """Run the gRPC metadata service and its HTTP /ok, /varz, /metrics until SIGTERM."""
    try:
        from mlspec.server.app import serve as run_server
    except ModuleNotFoundError as exc:
        raise CliError(SERVER_EXTRAS) from exc
    check_tls_files(tls_cert, tls_key, tls_client_ca)
    _configure_logging(log_level)
    config = ServerConfig(
        host=host,
        port=port,
        http_port=http_port or None,
        store_url=store_url,
        log_level=log_level,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        auth=auth,
        trusted_keys=trusted_keys,
        require_signed_packages=require_signed_packages,
        signing_key=signing_key,
        log_signing_key=log_signing_key,
        monitor_interval=monitor_interval,
        openlineage_url=openlineage_url,
        openlineage_file=openlineage_file,
        openlineage_namespace=openlineage_namespace,
        insecure=insecure,
    )
    with store_errors(store_url):
        require_store_file(store_url)
        run_server(config)


@click.group()
def db() -> None:
    """Manage the store schema."""


@db.command()
@store_url_option
def upgrade(store_url: str) -> None:
    """Migrate the store schema to the newest revision (creating the store if needed)."""
    store_class, ensure_folder = store_tools()
    with store_errors(store_url):
        ensure_folder(store_url)
        store = store_class(store_url)
        try:
            store.upgrade()
            current, head = store.schema_revisions()
        finally:
            store.dispose()
    click.echo(_revision_line(store_url, current, head))


@db.command()
@store_url_option
def current(store_url: str) -> None:
    """Print the schema revision of the store (it is never created)."""
    store_class, _ = store_tools()
    with store_errors(store_url):
        require_store_file(store_url)
        store = store_class(store_url)
        try:
            revision, head = store.schema_revisions()
        finally:
            store.dispose()
    click.echo(_revision_line(store_url, revision, head))


def _revision_line(url: str, current: str | None, head: str | None) -> str:
    return f"store {mask_url(url)}: schema revision {current or 'none'} (newest: {head})"


def store_tools() -> tuple[Any, Callable[[str], None]]:
    try:
        from mlspec.server.app import ensure_sqlite_folder
        from mlspec.store.sql import SqlStore
    except ModuleNotFoundError as exc:
        raise CliError(SERVER_EXTRAS) from exc
    return SqlStore, ensure_sqlite_folder


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Re-raises SQLAlchemy and database-driver errors as ``StoreFailure(url)``."""
    try:
        yield
    except Exception as exc:
        if _is_store_error(exc):
            raise StoreFailure(url) from exc
        raise


def _is_store_error(exc: Exception) -> bool:
    if isinstance(exc, ModuleNotFoundError):  # a database driver that is not installed
        return True
    module = type(exc).__module__
    return module.startswith(("sqlalchemy.", "psycopg", "sqlite3"))


def require_store_file(url: str) -> None:
    """Fails (without creating anything) when ``url`` names an SQLite file that is absent."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in {"", ":memory:"}:
        return
    if database.startswith("file:") or parsed.query.get("uri"):
        return  # SQLite URI file names: left to SQLite
    path = pathlib.Path(database)
    if not path.is_file():
        fix = (
            "mlspec db upgrade"
            if url == DEFAULT_STORE_URL
            else f"mlspec db upgrade --store-url {url}"
        )
        raise CliError(f"no store at {path}; run {fix}", exit_code=2)


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":  # the schema check's "Context impl SQLiteImpl." and the like
        logging.getLogger("alembic").setLevel(logging.WARNING)
