"""The area services: one module per service, each with its handlers and its ROUTES table.

``ROUTES`` of a module lists every RPC of its service with what serves it (a standard
method or one of the module's handlers). The ComponentService's table is built per
server (``component.routes``), since its handlers report on that server.
"""

from __future__ import annotations

from mlspec.server.routes import Route, qualify
from mlspec.server.services import (
    data,
    lifecycle,
    logging,
    metadata,
    models,
    monitoring,
    pipelines,
    resources,
    tracking,
)

AREA_SERVICES = (
    resources,
    data,
    pipelines,
    tracking,
    models,
    lifecycle,
    logging,
    monitoring,
    metadata,
)


def area_routes() -> dict[str, Route]:
    """The routes of every area service, by full method name."""
    found: dict[str, Route] = {}
    for module in AREA_SERVICES:
        found.update(qualify(module.SERVICE, module.ROUTES))
    return found
