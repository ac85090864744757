"""Alembic environment of the metadata store; run through ``mlspec db upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mlspec.store.sql.schema import metadata

config = context.config


def run_migrations() -> None:
    """Runs the migrations on the connection the caller passed, or on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
