"""Metric points of tracking runs, appended in bulk and read back by step, then time."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, insert, or_, select

from mlspec.store.sql.base import SqlBase
from mlspec.store.sql.schema import metrics


class MetricStatements(SqlBase):
    """The metric operations of a transaction."""

    def append_metrics(self, rows: Sequence[tuple[str, str, int, int, bytes]]) -> None:
        """Appends metric points (run id, key, step, time in µs, serialized Metric)."""
        if rows:
            self.conn.execute(
                insert(metrics),
                [
                    {"run_id": r, "key": k, "step": s, "time": t, "data": d}
                    for r, k, s, t, d in rows
                ],
            )

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
        """Returns ((step, time, seq), serialized Metric) of one run's metric in that order.

        ``after`` is the position of the last point read; ``min_step`` and ``max_step``
        bound the steps (both inclusive) in SQL.
        """
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
            select(metrics.c.step, metrics.c.time, metrics.c.seq, metrics.c.data)
            .where(*conditions)
            .order_by(metrics.c.step, metrics.c.time, metrics.c.seq)
            .limit(limit)
        )
        return [((int(r.step), int(r.time), int(r.seq)), bytes(r.data)) for r in rows]
