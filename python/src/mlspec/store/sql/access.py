"""Bearer tokens and the audit trail (``store.api.UnitOfWork``, access part).

The audit trail has an insert and a query here and nothing else: no statement of the
service updates or deletes an audit row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update

from mlspec.store.api import AuditRow, TokenRow
from mlspec.store.sql.base import SqlBase
from mlspec.store.sql.schema import audit_events, tokens


class AccessStatements(SqlBase):
    """The token and audit operations of a transaction."""

    def add_token(self, row: TokenRow) -> None:
        """Stores a new token."""
        self.conn.execute(
            insert(tokens).values(
                token_id=row.token_id,
                name=row.name,
                workspace=row.workspace,
                role=row.role,
                secret_hash=row.secret_hash,
                create_time=row.create_time,
                revoke_time=row.revoke_time,
            )
        )

    def find_token(self, token_id: str) -> TokenRow | None:
        """The token with this id (revoked ones too), or None."""
        found = self._rows(
            "SELECT token_id, name, workspace, role, secret_hash, create_time, revoke_time"
            " FROM tokens WHERE token_id = ?",
            (token_id,),
        )
        return _token(found[0]) if found else None

    def list_tokens(self, workspace: str | None = None) -> list[TokenRow]:
        """Every token (of one workspace when given), oldest first."""
        stmt = select(tokens).order_by(tokens.c.create_time, tokens.c.token_id)
        if workspace is not None:
            stmt = stmt.where(tokens.c.workspace == workspace)
        return [_token(r) for r in self.conn.execute(stmt)]

    def revoke_token(self, token_id: str, time: int) -> bool:
        """Marks a valid token revoked; False when it is unknown or already revoked."""
        done = self.conn.execute(
            update(tokens)
            .where(tokens.c.token_id == token_id, tokens.c.revoke_time == 0)
            .values(revoke_time=time)
        )
        return bool(done.rowcount)

    def append_audit(self, rows: Sequence[AuditRow]) -> None:
        """Appends entries to the audit trail."""
        if rows:
            self._rows(
                "INSERT INTO audit_events (workspace, time, principal, method, resource_id,"
                " request_id, code, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.workspace,
                        r.time,
                        r.principal[:300],
                        r.method[:200],
                        r.resource_id[:64],
                        r.request_id[:200],
                        r.code,
                        r.message[:512],
                    )
                    for r in rows
                ],
            )

    def audit_page(
        self,
        workspace: str,
        after_seq: int,
        limit: int,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        method: str = "",
        resource_id: str = "",
    ) -> list[AuditRow]:
        """Audit entries of a workspace in the order they were written."""
        a = audit_events.c
        conditions: list[ColumnElement[bool]] = [a.workspace == workspace, a.seq > after_seq]
        if start_time is not None:
            conditions.append(a.time >= start_time)
        if end_time is not None:
            conditions.append(a.time < end_time)
        if method:
            conditions.append(a.method == method)
        if resource_id:
            conditions.append(a.resource_id == resource_id)
        stmt = select(audit_events).where(*conditions).order_by(a.seq).limit(limit)
        return [
            AuditRow(
                workspace=r.workspace,
                time=int(r.time),
                principal=r.principal,
                method=r.method,
                resource_id=r.resource_id,
                request_id=r.request_id,
                code=r.code,
                message=r.message,
                seq=int(r.seq),
            )
            for r in self.conn.execute(stmt)
        ]


def _token(r: Any) -> TokenRow:
    row = tuple(r)
    return TokenRow(
        token_id=row[0],
        name=row[1],
        workspace=row[2],
        role=row[3],
        secret_hash=row[4],
        create_time=int(row[5]),
        revoke_time=int(row[6]),
    )
