"""Lineage queries: which data, code and pipeline produced a thing, and what was built from it.

Edges are recorded when resources are created (a stage report's inputs and outputs, a
step run's pipeline run and module version, a version's parent, ...). A query walks them
in SQL with a recursive query in one or both directions, bounded by ``max_depth``, then
loads only the nodes it reached.
"""

from __future__ import annotations

from mlspec.common.v1 import reference_pb2
from mlspec.domain import errors
from mlspec.domain.resources import ARCHIVED, Resources
from mlspec.lifecycle.v1 import lineage_pb2, stage_report_pb2

D = lineage_pb2.LineageDirection
DEFAULT_DEPTH = 20
MAX_DEPTH = 100


def get_lineage(
    res: Resources,
    start: reference_pb2.ResourceRef,
    direction: int,
    max_depth: int,
    node_kinds: list[int],
    show_archived: bool,
) -> lineage_pb2.LineageGraph:
    """Builds the lineage graph around ``start``."""
    if max_depth < 0 or max_depth > MAX_DEPTH:
        raise errors.invalid("max_depth", f"must be between 0 and {MAX_DEPTH}")
    depth = max_depth or DEFAULT_DEPTH
    root = res.resolve(start, "start", for_use=False)
    direction = direction or D.LINEAGE_DIRECTION_BOTH
    workspace = res.scope.workspace
    reached: dict[str, int] = {root.record.id: 0}
    if direction in (D.LINEAGE_DIRECTION_UPSTREAM, D.LINEAGE_DIRECTION_BOTH):
        for node, d in res.tx.walk(
            workspace, root.record.id, upstream=True, max_depth=depth
        ).items():
            reached[node] = min(d, reached.get(node, d))
    if direction in (D.LINEAGE_DIRECTION_DOWNSTREAM, D.LINEAGE_DIRECTION_BOTH):
        for node, d in res.tx.walk(
            workspace, root.record.id, upstream=False, max_depth=depth
        ).items():
            reached[node] = min(d, reached.get(node, d))
    records = res.tx.get_many(workspace, list(reached))
    wanted = set(node_kinds)
    graph = lineage_pb2.LineageGraph()
    graph.root.kind = root.spec.kind  # type: ignore[assignment]
    graph.root.id = root.record.id
    kept: set[str] = set()
    for node_id, node_depth in sorted(reached.items(), key=lambda item: (item[1], item[0])):
        record = records.get(node_id)
        if record is None:
            continue
        if record.status == ARCHIVED and not show_archived and node_id != root.record.id:
            continue
        if wanted and record.kind not in wanted and node_id != root.record.id:
            continue
        kept.add(node_id)
        entry = graph.nodes.add(name=record.name, depth=node_depth)
        entry.resource.kind = record.kind  # type: ignore[assignment]
        entry.resource.id = node_id
        if record.kind == reference_pb2.RESOURCE_KIND_STAGE_REPORT:
            entry.stage = stage_report_pb2.StageReport.FromString(record.data).stage
        if node_depth == depth:
            graph.truncated = True
    for src, dst, relation in res.tx.edges_among(workspace, sorted(kept)):
        graph.edges.add(source_id=src, target_id=dst, kind=relation)
    return graph
