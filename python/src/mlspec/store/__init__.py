"""Storage of the reference service: one interface, one SQL implementation.

``open_store(url)`` returns a ``SqlStore`` for ``sqlite:///path`` (the embedded default) or
``postgresql+psycopg://...`` (for many stateless server processes in front of one
database). The schema is managed by Alembic (``mlspec db upgrade``).
"""

from mlspec.store.records import (
    FieldValue,
    ListQuery,
    ListResult,
    ResourceRecord,
)
from mlspec.store.sql import SchemaOutOfDate, SqlStore, open_store

__all__ = [
    "FieldValue",
    "ListQuery",
    "ListResult",
    "ResourceRecord",
    "SchemaOutOfDate",
    "SqlStore",
    "open_store",
]
