"""Signed checkpoints of inference-log streams.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Applies this revision."""
    op.create_table(
        "log_checkpoints",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("stream_id", sa.String(length=200), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "stream_id", "sequence", name="pk_log_checkpoints"),
    )


def downgrade() -> None:
    """Reverts this revision."""
    op.drop_table("log_checkpoints")
