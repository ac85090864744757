"""``mlspec health``: ask the server's gRPC health service whether it is serving.

The call goes over the channel of every other command (``connection.open_client``), so
``MLSPEC_TLS_CA``, ``MLSPEC_TLS_CERT``, ``MLSPEC_TLS_KEY`` and ``MLSPEC_TOKEN`` apply.
"""

from __future__ import annotations

import click

from mlspec.cli.connection import open_client
from mlspec.cli.errors import CliError
from mlspec.cli.output import render
from mlspec.cli.settings import Settings, pass_settings

__all__ = ["health"]

SERVING = "SERVING"


@click.command()
@click.option(
    "--service",
    default="",
    metavar="NAME",
    help="A service to ask about, e.g. mlspec.data.v1.DataService (default: the server).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the answer.",
)
@pass_settings
def health(settings: Settings, service: str, timeout: float) -> int:
    """Print the server's health status (SERVING, exit 0; anything else, exit 1)."""
    try:
        from grpc_health.v1 import health_pb2, health_pb2_grpc
    except ModuleNotFoundError as exc:
        raise CliError("health needs grpcio-health-checking: pip install mlspec") from exc
    # The channel of every command: TLS, token and workspace as the SDK reads them.
    with open_client(settings, timeout=timeout) as client:
        response = health_pb2_grpc.HealthStub(client.channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if settings.output == "table":
        click.echo(status)
    else:
        render(response, settings.output)
    return 0 if status == SERVING else 1
