"""Questions across workspaces, for the service's own scheduled work."""

from __future__ import annotations

from sqlalchemy import select

from mlspec.store.sql.base import SqlBase
from mlspec.store.sql.schema import ARCHIVED, resources


class WorkspaceStatements(SqlBase):
    """The cross-workspace operations of a transaction."""

    def workspaces_with(self, kind: int) -> list[str]:
        """The workspaces that hold a resource of ``kind`` that is not archived, sorted."""
        rows = self.conn.execute(
            select(resources.c.workspace)
            .where(resources.c.kind == kind, resources.c.status != ARCHIVED)
            .distinct()
            .order_by(resources.c.workspace)
        )
        return [str(r.workspace) for r in rows]
