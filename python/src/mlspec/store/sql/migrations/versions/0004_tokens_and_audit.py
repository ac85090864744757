"""Bearer tokens (hashed) and the append-only audit trail of mutations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 23:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Applies this revision."""
    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("workspace", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("revoke_time", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("token_id"),
    )
    op.create_index("ix_tokens_workspace", "tokens", ["workspace", "create_time"])
    op.create_table(
        "audit_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workspace", sa.String(length=63), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.String(length=300), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("resource_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("request_id", sa.String(length=200), server_default="", nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=512), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_time", "audit_events", ["workspace", "time"])


def downgrade() -> None:
    """Reverts this revision."""
    op.drop_index("ix_audit_time", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_tokens_workspace", table_name="tokens")
    op.drop_table("tokens")
