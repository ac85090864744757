"""Partial field indexes: each resource_fields row goes into one value index, not both.

A row of ``resource_fields`` holds either ``value_text`` or ``value_num``, never both, yet
it was entered into both value indexes, half of them under a NULL value that no filter can
look up. Every ReportStage paid for those dead entries in written pages. The two indexes
now hold only the rows whose value they index (``... IS NOT NULL``); filters that compare
a value imply that condition, so they keep using the indexes. Same names and columns.

SQLite forgets the planner statistics (sqlite_stat1) of a dropped index; a database that
had been analyzed would then plan its value-range filters differently (a range scan of a
value index per row instead of the owner index), so those two indexes are analyzed again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 06:12:04.318207
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Index name -> (columns, the condition a row must meet to be indexed).
_INDEXES = {
    "ix_resource_fields_text": (
        ["kind", "key", "value_text", "resource_seq"],
        "value_text IS NOT NULL",
    ),
    "ix_resource_fields_num": (
        ["kind", "key", "value_num", "resource_seq"],
        "value_num IS NOT NULL",
    ),
}


def _rebuild(*, partial: bool) -> None:
    """Drops both value indexes and creates them again, partial or over every row."""
    for name, (columns, condition) in _INDEXES.items():
        op.drop_index(name, table_name="resource_fields")
        if partial:
            op.create_index(
                name,
                "resource_fields",
                columns,
                unique=False,
                sqlite_where=sa.text(condition),
                postgresql_where=sa.text(condition),
            )
        else:
            op.create_index(name, "resource_fields", columns, unique=False)
    _restore_sqlite_statistics()


def _restore_sqlite_statistics() -> None:
    """Analyzes the rebuilt indexes on SQLite if the database holds statistics at all."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    analyzed = bind.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if analyzed is not None:
        for name in _INDEXES:
            op.execute(f"ANALYZE {name}")


def upgrade() -> None:
    """Applies this revision."""
    _rebuild(partial=True)


def downgrade() -> None:
    """Reverts this revision."""
    _rebuild(partial=False)
