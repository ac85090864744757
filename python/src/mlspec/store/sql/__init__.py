"""The SQL backend of the storage interface: SQLAlchemy 2 Core over SQLite or PostgreSQL.

``open_store(url)`` returns a ``SqlStore`` for ``sqlite:///path`` (the embedded default) or
``postgresql+psycopg://...`` (for many stateless server processes in front of one
database). Each file holds one concern: ``engine`` (connections, transactions, schema
check), ``schema`` and ``migrations`` (the tables, managed by Alembic), ``filters`` (the
filter language compiled to SQL), and one group of statements per kind of record
(``resources``, ``lineage``, ``idempotency``, ``metrics``, ``events``, ``logs``) composed into
one ``Transaction``. Nothing here imports the domain or the server.
"""

from mlspec.store.sql.engine import SchemaOutOfDate, SqlStore, alembic_config, open_store
from mlspec.store.sql.transaction import Transaction

__all__ = ["SchemaOutOfDate", "SqlStore", "Transaction", "alembic_config", "open_store"]
