"""Lineage edges: adding them, walking them in SQL, and summarising the nodes reached."""

from __future__ import annotations

from collections.abc import Sequence

from mlspec.store.sql.base import SqlBase


class LineageStatements(SqlBase):
    """The lineage operations of a transaction."""

    def add_edges(self, workspace: str, edges: Sequence[tuple[str, str, int]]) -> None:
        """Adds lineage edges (source id, target id, relation); existing ones are kept."""
        unique = list(dict.fromkeys(edges))
        if unique:
            self._rows(_INSERT_EDGE, [(workspace, s, d, r) for s, d, r in unique])

    def walk_edges(
        self, workspace: str, start: str, *, upstream: bool, max_depth: int
    ) -> tuple[dict[str, int], set[tuple[str, str, int]]]:
        """Walks lineage edges from ``start`` in SQL (a recursive query).

        Returns the nodes reached with their smallest depth, and the edges traversed.
        """
        sql = walk_statement(upstream=upstream)
        nodes: dict[str, int] = {}
        edges: set[tuple[str, str, int]] = set()
        for node, depth, src, dst, relation in self._rows(sql, (start, max_depth, workspace)):
            if node not in nodes or depth < nodes[node]:
                nodes[node] = int(depth)
            if src is not None:
                edges.add((src, dst, int(relation)))
        return nodes, edges

    def summaries(self, workspace: str, ids: Sequence[str]) -> dict[str, tuple[int, str, int]]:
        """Id -> (kind, name, status) without loading the stored messages."""
        found: dict[str, tuple[int, str, int]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self._rows(summaries_by_ids(len(chunk)), tuple(chunk))
            for id_, space, kind, name, status in rows:
                if space == workspace:  # see summaries_by_ids
                    found[id_] = (int(kind), name or "", int(status))
        return found


def walk_statement(*, upstream: bool) -> str:
    """The recursive walk from one node (parameters: start id, max depth, workspace).

    Each step looks edges up by their near end: ``ix_lineage_edges_dst`` upstream, the
    primary key (source first) downstream.
    """
    near, far = ("dst_id", "src_id") if upstream else ("src_id", "dst_id")
    return f"""
        WITH RECURSIVE walk(node, depth, src, dst, relation) AS (
            SELECT CAST(? AS VARCHAR(40)), 0, CAST(NULL AS VARCHAR(40)),
                   CAST(NULL AS VARCHAR(40)), CAST(NULL AS SMALLINT)
            UNION
            SELECT e.{far}, w.depth + 1, e.src_id, e.dst_id, e.relation
            FROM lineage_edges e JOIN walk w ON e.{near} = w.node
            WHERE w.depth < ? AND e.workspace = ?
        )
        SELECT node, depth, src, dst, relation FROM walk
        """  # noqa: S608 - the interpolated names are fixed column names, not input


def summaries_by_ids(count: int) -> str:
    """The statement that summarises ``count`` resources by id, through the id index.

    Like ``resources.select_by_ids`` it names no workspace (SQLite without statistics
    would scan the workspace through ``ix_resources_scope``); callers check it.
    """
    marks = ", ".join("?" * count)
    return f"SELECT id, workspace, kind, name, status FROM resources WHERE id IN ({marks})"  # noqa: S608 - only '?' placeholders are added


_INSERT_EDGE = (
    "INSERT INTO lineage_edges (workspace, src_id, dst_id, relation) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
