"""Metric points of tracking runs, appended in bulk and read back by step, then time."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select

from mlspec.store.sql.base import SqlBase
from mlspec.store.sql.schema import metrics
from mlspec.tracking.v1 import metric_pb2


class MetricStatements(SqlBase):
    """The metric operations of a transaction."""

    def append_metrics(self, rows: Sequence[tuple[str, str, int, int, bytes]]) -> None:
        """Appends metric points (run id, key, step, time in µs, serialized Metric).

        One executemany on the driver: SQLAlchemy's would cost more per point than the
        database's own work.
        """
        if rows:
            self._rows(_INSERT_METRIC, list(rows))

    def metric_history(
        self,
        run_id: str,
        key: str,
        after: tuple[int, int, int] | None,
        limit: int,
        *,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> list[tuple[tuple[int, int, int], bytes]]:
        """See ``UnitOfWork.metric_history``; the step bounds are applied in SQL."""
        conditions = [metrics.c.run_id == run_id, metrics.c.key == key]
        if after is not None:
            step, time, seq = after
            conditions.append(
                or_(
                    metrics.c.step > step,
                    and_(metrics.c.step == step, metrics.c.time > time),
                    and_(metrics.c.step == step, metrics.c.time == time, metrics.c.seq > seq),
                )
            )
        if min_step is not None:
            conditions.append(metrics.c.step >= min_step)
        if max_step is not None:
            conditions.append(metrics.c.step <= max_step)
        rows = self.conn.execute(
            select(metrics.c.seq, metrics.c.key, metrics.c.step, metrics.c.time, metrics.c.data)
            .where(*conditions)
            .order_by(metrics.c.step, metrics.c.time, metrics.c.seq)
            .limit(limit)
        )
        return [
            ((int(r.step), int(r.time), int(r.seq)), _whole(r.key, r.step, r.time, bytes(r.data)))
            for r in rows
        ]


def _whole(key: str, step: int, time: int, data: bytes) -> bytes:
    """A point's whole Metric: a stored value-only one merged with its columns.

    A Metric serialization starts with its key (field 1) when it holds one; one that
    starts otherwise was stored without key, step and timestamp (``append_metrics``).
    Serializations of one message concatenated parse as the merged message.
    """
    if data[:1] == _KEY_TAG:
        return data
    head = metric_pb2.Metric(key=key, step=step)
    head.timestamp.FromMicroseconds(time)
    return head.SerializeToString() + data


_KEY_TAG = b"\x0a"
_INSERT_METRIC = "INSERT INTO metrics (run_id, key, step, time, data) VALUES (?, ?, ?, ?, ?)"
