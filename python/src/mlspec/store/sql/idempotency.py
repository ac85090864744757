"""Request ids: the stored response of every mutation that carried a ``request_id``."""

from __future__ import annotations

import time

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from mlspec.store.api import ConcurrentWrite
from mlspec.store.sql.base import SqlBase
from mlspec.store.sql.schema import idempotency


class IdempotencyStatements(SqlBase):
    """The request-id operations of a transaction."""

    def recall(self, workspace: str, method: str, request_id: str) -> tuple[str, bytes] | None:
        """Returns (request fingerprint, response) stored for a request id, if any."""
        row = self.conn.execute(
            select(idempotency.c.request_hash, idempotency.c.response).where(
                idempotency.c.workspace == workspace,
                idempotency.c.method == method,
                idempotency.c.request_id == request_id,
            )
        ).first()
        return None if row is None else (row.request_hash, bytes(row.response))

    def remember(
        self, workspace: str, method: str, request_id: str, fingerprint: str, response: bytes
    ) -> None:
        """Stores the response of a request id, in the same transaction as its effects.

        ConcurrentWrite when another transaction stored the same request id first.
        """
        # No savepoint: on a conflict the whole request's transaction is abandoned anyway.
        try:
            self.conn.execute(
                insert(idempotency).values(
                    workspace=workspace,
                    method=method,
                    request_id=request_id,
                    request_hash=fingerprint,
                    response=response,
                    create_time=time.time_ns() // 1000,
                )
            )
        except IntegrityError as exc:
            raise ConcurrentWrite(f"request id {request_id!r} was stored by another call") from exc
