"""Inference-log streams: appending hash-chained records and reading them in order."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, insert, select

from mlspec.store.api import LogRow
from mlspec.store.sql.base import SqlBase, keyset_after
from mlspec.store.sql.schema import inference_logs, log_checkpoints


class LogStatements(SqlBase):
    """The inference-log operations of a transaction."""

    def last_log(self, workspace: str, stream_id: str) -> tuple[int, str] | None:
        """Returns (sequence, record hash) of the newest record of a log stream."""
        row = self.conn.execute(
            select(inference_logs.c.sequence, inference_logs.c.record_hash)
            .where(inference_logs.c.workspace == workspace, inference_logs.c.stream_id == stream_id)
            .order_by(inference_logs.c.sequence.desc())
            .limit(1)
        ).first()
        return None if row is None else (int(row.sequence), row.record_hash)

    def append_logs(self, workspace: str, rows: Sequence[LogRow]) -> None:
        """Appends log records to their streams (one executemany on the driver)."""
        if rows:
            self._rows(
                _INSERT_LOG,
                [
                    (
                        workspace,
                        r.stream_id,
                        r.sequence,
                        r.time,
                        r.model_version_id,
                        r.record_hash,
                        r.data,
                    )
                    for r in rows
                ],
            )

    def append_checkpoint(
        self, workspace: str, stream_id: str, sequence: int, time: int, data: bytes
    ) -> None:
        """Stores a signed checkpoint of a stream's head (serialized LogCheckpoint)."""
        self.conn.execute(
            insert(log_checkpoints).values(
                workspace=workspace, stream_id=stream_id, sequence=sequence, time=time, data=data
            )
        )

    def last_checkpoint(self, workspace: str, stream_id: str) -> int:
        """The sequence number of a stream's newest checkpoint; 0 when it has none."""
        t = log_checkpoints.c
        row = self.conn.execute(
            select(t.sequence)
            .where(t.workspace == workspace, t.stream_id == stream_id)
            .order_by(t.sequence.desc())
            .limit(1)
        ).first()
        return 0 if row is None else int(row.sequence)

    def checkpoints(
        self, workspace: str, stream_id: str, after_sequence: int, limit: int
    ) -> list[tuple[int, bytes]]:
        """(sequence, serialized LogCheckpoint) of a stream after a position, in order."""
        t = log_checkpoints.c
        rows = self.conn.execute(
            select(t.sequence, t.data)
            .where(t.workspace == workspace, t.stream_id == stream_id, t.sequence > after_sequence)
            .order_by(t.sequence)
            .limit(limit)
        )
        return [(int(r.sequence), bytes(r.data)) for r in rows]

    def log_page(
        self,
        workspace: str,
        stream_id: str,
        after: tuple[str, int] | None,
        limit: int,
        *,
        descending: bool = False,
        start_time: int | None = None,
        end_time: int | None = None,
        model_version_id: str = "",
    ) -> list[tuple[tuple[str, int], bytes]]:
        """See ``UnitOfWork.log_page``: one keyset-paged query."""
        t = inference_logs.c
        conditions: list[ColumnElement[bool]] = [t.workspace == workspace]
        if stream_id:
            conditions.append(t.stream_id == stream_id)
        if after is not None:
            conditions.append(keyset_after(t.stream_id, t.sequence, after, not descending))
        if start_time is not None:
            conditions.append(t.time >= start_time)
        if end_time is not None:
            conditions.append(t.time < end_time)
        if model_version_id:
            conditions.append(t.model_version_id == model_version_id)
        order = (t.stream_id, t.sequence)
        rows = self.conn.execute(
            select(t.stream_id, t.sequence, t.data)
            .where(*conditions)
            .order_by(*((c.desc() for c in order) if descending else order))
            .limit(limit)
        )
        return [((str(r.stream_id), int(r.sequence)), bytes(r.data)) for r in rows]

    def logs(
        self,
        workspace: str,
        stream_id: str,
        after_sequence: int,
        limit: int,
        *,
        until_sequence: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        model_version_id: str = "",
    ) -> list[tuple[int, bytes]]:
        """Returns (sequence, serialized record) of a stream in sequence order."""
        if stream_id and start_time is None and end_time is None and not model_version_id:
            # The chain walk of VerifyLogChain: straight on the driver, page after page.
            return [
                (int(sequence), bytes(data))
                for sequence, data in self._rows(
                    _STREAM_PAGE,
                    (
                        workspace,
                        stream_id,
                        after_sequence,
                        until_sequence if until_sequence is not None else 2**62,
                        limit,
                    ),
                )
            ]
        conditions: list[ColumnElement[bool]] = [
            inference_logs.c.workspace == workspace,
            inference_logs.c.sequence > after_sequence,
        ]
        if stream_id:
            conditions.append(inference_logs.c.stream_id == stream_id)
        if until_sequence is not None:
            conditions.append(inference_logs.c.sequence <= until_sequence)
        if start_time is not None:
            conditions.append(inference_logs.c.time >= start_time)
        if end_time is not None:
            conditions.append(inference_logs.c.time < end_time)
        if model_version_id:
            conditions.append(inference_logs.c.model_version_id == model_version_id)
        rows = self.conn.execute(
            select(inference_logs.c.sequence, inference_logs.c.data)
            .where(*conditions)
            .order_by(inference_logs.c.stream_id, inference_logs.c.sequence)
            .limit(limit)
        )
        return [(int(r.sequence), bytes(r.data)) for r in rows]


_INSERT_LOG = (
    "INSERT INTO inference_logs"
    " (workspace, stream_id, sequence, time, model_version_id, record_hash, data)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_STREAM_PAGE = (
    "SELECT sequence, data FROM inference_logs WHERE workspace = ? AND stream_id = ?"
    " AND sequence > ? AND sequence <= ? ORDER BY sequence LIMIT ?"
)
