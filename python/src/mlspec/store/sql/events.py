"""Monitoring records (requests, predictions, feedback, signals) by kind and key."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError

from mlspec import errors
from mlspec.store.api import EventRow
from mlspec.store.sql.base import SqlBase, keyset_after
from mlspec.store.sql.schema import events


class EventStatements(SqlBase):
    """The monitoring-record operations of a transaction."""

    def append_events(self, workspace: str, rows: Sequence[EventRow]) -> None:
        """Appends monitoring records; AlreadyExists when a (kind, key) is taken."""
        if not rows:
            return
        try:
            with self._guard():
                self._rows(
                    _INSERT_EVENT,
                    [
                        (
                            workspace,
                            r.kind,
                            r.key,
                            r.model_version_id,
                            r.deployment,
                            r.name,
                            int(r.failing),
                            r.time,
                            r.data,
                        )
                        for r in rows
                    ],
                )
        except IntegrityError as exc:
            raise errors.AlreadyExists(
                "a record with the same id was already recorded", reason="ALREADY_RECORDED"
            ) from exc

    def event_exists(self, workspace: str, kind: int, key: str) -> bool:
        """Whether a monitoring record of ``kind`` with ``key`` exists."""
        return bool(
            self._rows(
                "SELECT 1 FROM events WHERE workspace = ? AND kind = ? AND key = ?",
                (workspace, kind, key),
            )
        )

    def count_events(
        self,
        workspace: str,
        kind: int,
        model_version_id: str,
        start_time: int,
        end_time: int,
        deployment: str = "",
    ) -> int:
        """How many monitoring records of a kind and model version fall in [start, end)."""
        statement = _COUNT_EVENTS + (" AND deployment = ?" if deployment else "")
        params = (workspace, kind, model_version_id, start_time, end_time)
        rows = self._rows(statement, (*params, deployment) if deployment else params)
        return int(rows[0][0])

    def events_page(
        self,
        workspace: str,
        kinds: Sequence[int],
        *,
        model_version_id: str = "",
        deployment: str = "",
        start_time: int | None = None,
        end_time: int | None = None,
        only_failing: bool = False,
        after: tuple[int, int] | None = None,
        oldest_first: bool = False,
        limit: int = 100,
    ) -> list[tuple[int, int, int, bytes]]:
        """See ``UnitOfWork.events_page``: one keyset-paged query."""
        conditions: list[ColumnElement[bool]] = [
            events.c.workspace == workspace,
            events.c.kind.in_(list(kinds)),
        ]
        if model_version_id:
            conditions.append(events.c.model_version_id == model_version_id)
        if deployment:
            conditions.append(events.c.deployment == deployment)
        if start_time is not None:
            conditions.append(events.c.time >= start_time)
        if end_time is not None:
            conditions.append(events.c.time < end_time)
        if only_failing:
            conditions.append(events.c.failing == 1)
        if after is not None:
            conditions.append(keyset_after(events.c.time, events.c.seq, after, oldest_first))
        order = (events.c.time, events.c.seq)
        stmt = (
            select(events.c.seq, events.c.kind, events.c.time, events.c.data)
            .where(*conditions)
            .order_by(*(order if oldest_first else (c.desc() for c in order)))
            .limit(limit)
        )
        return [
            (int(r.seq), int(r.kind), int(r.time), bytes(r.data)) for r in self.conn.execute(stmt)
        ]


_COUNT_EVENTS = (
    "SELECT count(*) FROM events WHERE workspace = ? AND kind = ? AND model_version_id = ?"
    " AND time >= ? AND time < ?"
)
_INSERT_EVENT = (
    "INSERT INTO events (workspace, kind, key, model_version_id, deployment, name, failing, time, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
