"""Custom (non-standard) methods of the area services, by full method name."""

from __future__ import annotations

from mlspec.server.dispatch import Handler
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


def all_handlers() -> dict[str, Handler]:
    """Every custom handler of the server."""
    handlers: dict[str, Handler] = {}
    for module in (
        resources,
        data,
        lifecycle,
        pipelines,
        tracking,
        logging,
        models,
        metadata,
        monitoring,
    ):
        handlers.update(module.HANDLERS)
    return handlers
