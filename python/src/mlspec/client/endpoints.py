"""The standard endpoints of a pipeline step, in one call: ``/ok``, ``/varz``, ``/metrics``.

Every component of a workflow exposes the same three HTTP endpoints the same way as the
metadata service does::

    from prometheus_client import Counter
    from mlspec.client import endpoints

    scored = Counter("scorer_requests", "Requests scored.")
    with endpoints.serve(8080, name="churn-scorer", version="2.3.1",
                         variables=lambda: {"model": {"version": "1.4.0"}}):
        ...  # the step's work; scored.inc() shows up on /metrics

``/ok`` answers 200 while ``check`` passes and 503 with its reason when it does not,
``/varz`` gives the name, version, uptime and variables as JSON, and ``/metrics`` the
Prometheus registry (the process-wide default one unless ``registry`` is given).
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from mlspec.endpoints import Component, EndpointServer, serve_http
from mlspec.endpoints.component import Check

__all__ = ["Component", "EndpointServer", "serve"]


def serve(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    name: str | None = None,
    version: str = "unknown",
    build: str = "",
    check: Check | None = None,
    variables: Callable[[], Mapping[str, Any]] | None = None,
    registry: CollectorRegistry | None = None,
) -> EndpointServer:
    """Starts serving ``/ok``, ``/varz`` and ``/metrics`` on ``host:port`` and returns.

    Args:
        port: the port; 0 picks a free one (read it from the result's ``.port``).
        host: the address to bind; ``0.0.0.0`` to be scraped from other hosts.
        name: the component's name (the running script's name when None).
        version: the component's version.
        build: an optional build identifier (a git commit, an image digest).
        check: the health check: returns None or True when healthy, False or a reason
            when not; an exception it raises also means unhealthy.
        variables: returns the current variables (configuration without secrets,
            counters); nested mappings become dotted names.
        registry: the Prometheus registry to expose (the default one when None).

    Returns:
        The running server; ``.url`` is its address, ``.close()`` (or leaving a ``with``
        block) stops it. It serves from a daemon thread, so it never keeps the process
        alive.

    Raises:
        OSError: the address cannot be bound (for example, the port is taken).
    """
    component = Component(
        name or pathlib.Path(sys.argv[0] or "python").stem or "python",
        version,
        build=build,
        registry=registry,
        check=check,
        variables=variables,
    )
    return serve_http(component, port, host)
