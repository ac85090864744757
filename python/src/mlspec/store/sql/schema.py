"""The SQL schema of the metadata store (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Every resource kind lives in one ``resources`` table: the serialized message is the source
of truth, and the columns that queries need are indexed beside it. Fields that List
filters may test (labels and per-kind fields such as a stage report's stage) are copied
into ``resource_fields``, one row per value with either ``value_text`` or ``value_num`` set
(never both), so its two value indexes are partial: each holds only the rows of its own
kind of value. Lineage edges go into ``lineage_edges``. Alembic migrations under
``mlspec/store/sql/migrations`` create exactly these tables; a test checks they agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    text,
)

from mlspec.common.v1 import object_meta_pb2

ARCHIVED = object_meta_pb2.OBJECT_STATUS_ARCHIVED  # unique names hold among the others
metadata = MetaData()

# An integer primary key that SQLite makes its rowid and PostgreSQL an identity column.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

resources = Table(
    "resources",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("workspace", String(255), nullable=False),
    Column("kind", SmallInteger, nullable=False),
    # The parent that scopes the name (run for artifacts, dataset for versions, ...);
    # empty for kinds scoped by the workspace alone.
    Column("scope", String(40), nullable=False, server_default=""),
    Column("name", String(255)),
    Column("name_lower", String(255)),
    Column("status", SmallInteger, nullable=False),
    Column("create_time", BigInteger, nullable=False),  # microseconds since the epoch
    Column("update_time", BigInteger, nullable=False),
    Column("etag", String(40), nullable=False),
    Column("data", LargeBinary, nullable=False),
)
# Names are unique (case-insensitively) per workspace, kind and scope among objects that
# are not archived; archiving frees the name.
Index(
    "uq_resources_live_name",
    resources.c.workspace,
    resources.c.kind,
    resources.c.scope,
    resources.c.name_lower,
    unique=True,
    sqlite_where=text(f"status != {ARCHIVED} AND name_lower IS NOT NULL"),
    postgresql_where=text(f"status != {ARCHIVED} AND name_lower IS NOT NULL"),
)
Index("ix_resources_list", resources.c.workspace, resources.c.kind, resources.c.seq)
Index(
    "ix_resources_scope",
    resources.c.workspace,
    resources.c.kind,
    resources.c.scope,
    resources.c.seq,
)

resource_fields = Table(
    "resource_fields",
    metadata,
    Column("resource_seq", _SEQ, ForeignKey("resources.seq"), nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("key", String(300), nullable=False),
    Column("value_text", String(1024)),
    Column("value_num", Float),
)
# A row holds a text or a number, never both: each value index takes only the rows of its
# own kind, so a write adds one index entry per value instead of two. A comparison of the
# value (=, <, >=, ...) implies IS NOT NULL, so SQLite and PostgreSQL still use them.
Index(
    "ix_resource_fields_text",
    resource_fields.c.kind,
    resource_fields.c.key,
    resource_fields.c.value_text,
    resource_fields.c.resource_seq,
    sqlite_where=text("value_text IS NOT NULL"),
    postgresql_where=text("value_text IS NOT NULL"),
)
Index(
    "ix_resource_fields_num",
    resource_fields.c.kind,
    resource_fields.c.key,
    resource_fields.c.value_num,
    resource_fields.c.resource_seq,
    sqlite_where=text("value_num IS NOT NULL"),
    postgresql_where=text("value_num IS NOT NULL"),
)
Index("ix_resource_fields_owner", resource_fields.c.resource_seq)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("workspace", String(255), nullable=False),
    Column("src_id", String(40), nullable=False),
    Column("dst_id", String(40), nullable=False),
    Column("relation", SmallInteger, nullable=False),
    PrimaryKeyConstraint("src_id", "dst_id", "relation", name="pk_lineage_edges"),
)
Index("ix_lineage_edges_dst", lineage_edges.c.dst_id, lineage_edges.c.src_id)

idempotency = Table(
    "idempotency",
    metadata,
    Column("workspace", String(255), nullable=False),
    Column("method", String(200), nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    PrimaryKeyConstraint("workspace", "method", "request_id", name="pk_idempotency"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
Index("ix_metrics_run_key", metrics.c.run_id, metrics.c.key, metrics.c.step, metrics.c.seq)

inference_logs = Table(
    "inference_logs",
    metadata,
    Column("workspace", String(255), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("model_version_id", String(40), nullable=False, server_default=""),
    Column("record_hash", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("workspace", "stream_id", "sequence", name="pk_inference_logs"),
)
Index("ix_inference_logs_time", inference_logs.c.workspace, inference_logs.c.time)

# Signed checkpoints of inference-log streams: the service's signature over a stream's
# head (sequence, record hash); `data` is the serialized LogCheckpoint.
log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("workspace", String(255), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("workspace", "stream_id", "sequence", name="pk_log_checkpoints"),
)

# Monitoring records (stage 12): inference requests, predictions, feedback and signals,
# appended and read back by time; `key` identifies a record within its kind (a request id,
# "request id/prediction id", a signal id).
events = Table(
    "events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("workspace", String(255), nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("key", String(400), nullable=False),
    Column("model_version_id", String(40), nullable=False, server_default=""),
    Column("deployment", String(255), nullable=False, server_default=""),
    Column("name", String(255), nullable=False, server_default=""),
    Column("failing", SmallInteger, nullable=False, server_default="0"),
    Column("time", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
Index("uq_events_key", events.c.workspace, events.c.kind, events.c.key, unique=True)
Index(
    "ix_events_model_time",
    events.c.workspace,
    events.c.kind,
    events.c.model_version_id,
    events.c.time,
)
Index("ix_events_time", events.c.workspace, events.c.kind, events.c.time)

# Bearer tokens: only the SHA-256 of each secret is kept.
tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("name", String(255), nullable=False, server_default=""),
    Column("workspace", String(63), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("revoke_time", BigInteger, nullable=False, server_default="0"),
)
Index("ix_tokens_workspace", tokens.c.workspace, tokens.c.create_time)

# The audit trail: one row per mutation, appended and never changed by the service.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("workspace", String(63), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("principal", String(300), nullable=False),
    Column("method", String(200), nullable=False),
    Column("resource_id", String(64), nullable=False, server_default=""),
    Column("request_id", String(200), nullable=False, server_default=""),
    Column("code", String(32), nullable=False),
    Column("message", String(512), nullable=False, server_default=""),
)
Index("ix_audit_time", audit_events.c.workspace, audit_events.c.time)
