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
from mlspec.lifecycle.v1 import lineage_pb2

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
    traversed: set[tuple[str, str, int]] = set()
    directions = []
    if direction in (D.LINEAGE_DIRECTION_UPSTREAM, D.LINEAGE_DIRECTION_BOTH):
        directions.append(True)
    if direction in (D.LINEAGE_DIRECTION_DOWNSTREAM, D.LINEAGE_DIRECTION_BOTH):
        directions.append(False)
    for upstream in directions:
        nodes, edges = res.tx.walk_edges(
            workspace, root.record.id, upstream=upstream, max_depth=depth
        )
        for node_id, d in nodes.items():
            reached[node_id] = min(d, reached.get(node_id, d))
        traversed |= edges
    summaries = res.tx.summaries(workspace, list(reached))
    wanted = set(node_kinds)
    graph = lineage_pb2.LineageGraph()
    graph.root.kind = root.spec.kind  # type: ignore[assignment]
    graph.root.id = root.record.id
    kept: set[str] = set()
    for node_id, node_depth in sorted(reached.items(), key=lambda item: (item[1], item[0])):
        summary = summaries.get(node_id)
        if summary is None:
            continue
        kind, name, status, stage = summary
        if node_id != root.record.id and (
            (status == ARCHIVED and not show_archived) or (wanted and kind not in wanted)
        ):
            continue
        kept.add(node_id)
        entry = graph.nodes.add(name=name, depth=node_depth)
        entry.resource.kind = kind  # type: ignore[assignment]
        entry.resource.id = node_id
        if kind == reference_pb2.RESOURCE_KIND_STAGE_REPORT:
            entry.stage = stage  # type: ignore[assignment]
        if node_depth == depth:
            graph.truncated = True
    for src, dst, relation in sorted(traversed):
        if src in kept and dst in kept:
            graph.edges.add(source_id=src, target_id=dst, kind=relation)
    return graph
