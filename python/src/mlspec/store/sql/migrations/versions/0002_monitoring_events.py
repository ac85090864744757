"""Monitoring events: inference requests, predictions, feedback and signals (stage 12).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 05:06:41.935017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Applies this revision."""
    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("model_version_id", sa.String(length=40), server_default="", nullable=False),
        sa.Column("deployment", sa.String(length=255), server_default="", nullable=False),
        sa.Column("name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("failing", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_model_time", ["workspace", "kind", "model_version_id", "time"], unique=False
        )
        batch_op.create_index("ix_events_time", ["workspace", "kind", "time"], unique=False)
        batch_op.create_index("uq_events_key", ["workspace", "kind", "key"], unique=True)


def downgrade() -> None:
    """Reverts this revision."""
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("uq_events_key")
        batch_op.drop_index("ix_events_time")
        batch_op.drop_index("ix_events_model_time")

    op.drop_table("events")
