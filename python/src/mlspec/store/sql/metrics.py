"""Metric points of tracking runs, appended in bulk and read back in recording order."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select

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
        after_seq: int,
        limit: int,
        *,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> list[tuple[int, bytes]]:
        """Returns (seq, serialized Metric) points of one run's metric in recording order.

        ``min_step`` and ``max_step`` bound the steps (both inclusive) in SQL.
        """
        conditions = [metrics.c.run_id == run_id, metrics.c.key == key, metrics.c.seq > after_seq]
        if min_step is not None:
            conditions.append(metrics.c.step >= min_step)
        if max_step is not None:
            conditions.append(metrics.c.step <= max_step)
        rows = self.conn.execute(
            select(metrics.c.seq, metrics.c.data)
            .where(*conditions)
            .order_by(metrics.c.seq)
            .limit(limit)
        )
        return [(int(r.seq), bytes(r.data)) for r in rows]
