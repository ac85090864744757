"""The SDK client that commands talking to a server use, built from the global options.

``open_client`` connects to ``--server`` (``MLSPEC_TARGET``) in ``--workspace``
(``MLSPEC_WORKSPACE``); the token and TLS settings come from the environment as in the
SDK (``MLSPEC_TOKEN``, ``MLSPEC_TLS_CA``, ``MLSPEC_TLS_CERT``, ``MLSPEC_TLS_KEY``). A
command gives up on an unreachable server after a few quick retries, not the SDK's
patient ones.
"""

from __future__ import annotations

from mlspec.cli.settings import Settings
from mlspec.client import Client, RetryPolicy

__all__ = ["CLI_RETRY", "open_client"]

CLI_RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.1, max_backoff=1.0)
"""Retries of a command's calls: UNAVAILABLE and ABORTED, three attempts in about a second."""


def open_client(settings: Settings, *, timeout: float = 60.0) -> Client:
    """A client of the server the global options name (close it, or use it in ``with``)."""
    return Client(settings.target, workspace=settings.workspace, timeout=timeout, retry=CLI_RETRY)
