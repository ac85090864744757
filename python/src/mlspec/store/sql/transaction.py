"""One database transaction: every group of statements, composed (``store.api.UnitOfWork``)."""

from __future__ import annotations

from mlspec.store.sql.access import AccessStatements
from mlspec.store.sql.events import EventStatements
from mlspec.store.sql.idempotency import IdempotencyStatements
from mlspec.store.sql.lineage import LineageStatements
from mlspec.store.sql.logs import LogStatements
from mlspec.store.sql.metrics import MetricStatements
from mlspec.store.sql.resources import ResourceStatements
from mlspec.store.sql.workspaces import WorkspaceStatements


class Transaction(
    ResourceStatements,
    LineageStatements,
    IdempotencyStatements,
    MetricStatements,
    EventStatements,
    LogStatements,
    AccessStatements,
    WorkspaceStatements,
):
    """The operations of the store inside one database transaction."""
