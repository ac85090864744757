"""Initial schema: resources, filterable fields, lineage edges, idempotency, metrics, logs.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 04:10:42.106470
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Applies this revision."""
    op.create_table(
        "idempotency",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "method", "request_id", name="pk_idempotency"),
    )
    op.create_table(
        "inference_logs",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("stream_id", sa.String(length=200), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("model_version_id", sa.String(length=40), server_default="", nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "stream_id", "sequence", name="pk_inference_logs"),
    )
    with op.batch_alter_table("inference_logs", schema=None) as batch_op:
        batch_op.create_index("ix_inference_logs_time", ["workspace", "time"], unique=False)

    op.create_table(
        "lineage_edges",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("src_id", sa.String(length=40), nullable=False),
        sa.Column("dst_id", sa.String(length=40), nullable=False),
        sa.Column("relation", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("src_id", "dst_id", "relation", name="pk_lineage_edges"),
    )
    with op.batch_alter_table("lineage_edges", schema=None) as batch_op:
        batch_op.create_index("ix_lineage_edges_dst", ["dst_id", "src_id"], unique=False)

    op.create_table(
        "metrics",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index("ix_metrics_run_key", ["run_id", "key", "step", "seq"], unique=False)

    op.create_table(
        "resources",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("scope", sa.String(length=40), server_default="", nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("name_lower", sa.String(length=255), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.create_index("ix_resources_list", ["workspace", "kind", "seq"], unique=False)
        batch_op.create_index(
            "ix_resources_scope", ["workspace", "kind", "scope", "seq"], unique=False
        )
        batch_op.create_index(
            "uq_resources_live_name",
            ["workspace", "kind", "scope", "name_lower"],
            unique=True,
            sqlite_where=sa.text("status != 3 AND name_lower IS NOT NULL"),
            postgresql_where=sa.text("status != 3 AND name_lower IS NOT NULL"),
        )

    op.create_table(
        "resource_fields",
        sa.Column(
            "resource_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("value_text", sa.String(length=1024), nullable=True),
        sa.Column("value_num", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_seq"],
            ["resources.seq"],
        ),
    )
    with op.batch_alter_table("resource_fields", schema=None) as batch_op:
        batch_op.create_index(
            "ix_resource_fields_num", ["kind", "key", "value_num", "resource_seq"], unique=False
        )
        batch_op.create_index("ix_resource_fields_owner", ["resource_seq"], unique=False)
        batch_op.create_index(
            "ix_resource_fields_text", ["kind", "key", "value_text", "resource_seq"], unique=False
        )


def downgrade() -> None:
    """Reverts this revision."""
    with op.batch_alter_table("resource_fields", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_fields_text")
        batch_op.drop_index("ix_resource_fields_owner")
        batch_op.drop_index("ix_resource_fields_num")

    op.drop_table("resource_fields")
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_resources_live_name",
            sqlite_where=sa.text("status != 3 AND name_lower IS NOT NULL"),
            postgresql_where=sa.text("status != 3 AND name_lower IS NOT NULL"),
        )
        batch_op.drop_index("ix_resources_scope")
        batch_op.drop_index("ix_resources_list")

    op.drop_table("resources")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_metrics_run_key")

    op.drop_table("metrics")
    with op.batch_alter_table("lineage_edges", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_edges_dst")

    op.drop_table("lineage_edges")
    with op.batch_alter_table("inference_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_inference_logs_time")

    op.drop_table("inference_logs")
    op.drop_table("idempotency")
