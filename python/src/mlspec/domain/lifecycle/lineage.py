"""Lineage queries: which data, code and pipeline produced a thing, and what was built from it.

Edges are recorded when resources are created (a stage report's inputs and outputs, a
step run's pipeline run and module version, a version's parent, ...). A query walks them
in SQL with a recursive query in one or both directions, bounded by ``max_depth``, then
loads only the nodes it reached.

Edges are stored in the direction the walk follows (the data-flow direction: from what
was there first to what came of it), so a version's edge runs from its parent to the
version and a part's edge from the whole to the part. The contract defines VERSION_OF
and PART_OF the other way round ("the source is a version / part of the target"), so
those two kinds are turned around when the graph is presented; the walk is unchanged.
"""

from __future__ import annotations

from collections import deque

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import dataset_pb2
from mlspec.domain.common.resources import ARCHIVED, Resources
from mlspec.lifecycle.v1 import lineage_pb2, stage_pb2, stage_report_pb2
from mlspec.models.v1 import model_version_pb2
from mlspec.pipelines.v1 import module_pb2, pipeline_pb2

D = lineage_pb2.LineageDirection
E = lineage_pb2.LineageEdgeKind
K = reference_pb2.ResourceKind
DEFAULT_DEPTH = 20
MAX_DEPTH = 100
_DIRECTIONS = frozenset(D.values())
_KINDS = frozenset(K.values()) - {K.RESOURCE_KIND_UNSPECIFIED}
# Stored parent -> child, presented child -> parent (see the module docstring).
# Enum members read once: attribute access on a generated enum wrapper is slow in a loop.
_STAGE_REPORT = K.RESOURCE_KIND_STAGE_REPORT
_CONSUMED = E.LINEAGE_EDGE_KIND_CONSUMED
_PRODUCED = E.LINEAGE_EDGE_KIND_PRODUCED
_DERIVED_FROM = E.LINEAGE_EDGE_KIND_DERIVED_FROM
_REVERSED = frozenset({E.LINEAGE_EDGE_KIND_PART_OF, E.LINEAGE_EDGE_KIND_VERSION_OF})
_VERSIONED = frozenset(
    {
        K.RESOURCE_KIND_DATASET_VERSION,
        K.RESOURCE_KIND_MODULE_VERSION,
        K.RESOURCE_KIND_MODEL_VERSION,
        K.RESOURCE_KIND_PIPELINE,
    }
)
_LOADED = _VERSIONED | {_STAGE_REPORT}
_ENDPOINT_EDGES = frozenset({E.LINEAGE_EDGE_KIND_CONSUMED, E.LINEAGE_EDGE_KIND_PRODUCED})
# Stage reports whose nodes show the objectives outcome or the deployment gate's decision.
_JUDGED_STAGES = frozenset(
    {
        stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION,
        stage_pb2.LIFECYCLE_STAGE_MODEL_TEST,
        stage_pb2.LIFECYCLE_STAGE_MODEL_PACKAGING,
        stage_pb2.LIFECYCLE_STAGE_MODEL_SERVING,
    }
)

Edge = tuple[str, str, int]


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
    if direction not in _DIRECTIONS:
        raise errors.invalid("direction", "must be a LineageDirection value")
    bad = [i for i, kind in enumerate(node_kinds) if kind not in _KINDS]
    if bad:
        raise errors.InvalidArgument(
            "node_kinds holds values that name no resource kind",
            reason="INVALID_FIELD",
            violations=[
                errors.FieldViolation(f"node_kinds[{i}]", "must name a resource kind") for i in bad
            ],
        )
    depth = max_depth or DEFAULT_DEPTH
    root = res.resolve(start, "start", for_use=False)
    # The contract: an unspecified direction is treated as UPSTREAM.
    direction = direction or D.LINEAGE_DIRECTION_UPSTREAM
    reached: dict[str, int] = {root.record.id: 0}
    traversed: set[Edge] = set()
    directions = []
    if direction in (D.LINEAGE_DIRECTION_UPSTREAM, D.LINEAGE_DIRECTION_BOTH):
        directions.append(True)
    if direction in (D.LINEAGE_DIRECTION_DOWNSTREAM, D.LINEAGE_DIRECTION_BOTH):
        directions.append(False)
    for upstream in directions:
        nodes, edges = res.walk(root.record.id, upstream=upstream, max_depth=depth)
        for node_id, d in nodes.items():
            reached[node_id] = min(d, reached.get(node_id, d))
        traversed |= edges
    summaries = res.summaries(list(reached))
    wanted = set(node_kinds)
    graph = lineage_pb2.LineageGraph()
    graph.root.kind = root.spec.kind  # type: ignore[assignment]
    graph.root.id = root.record.id
    kept: dict[str, int] = {}
    for node_id, node_depth in reached.items():
        summary = summaries.get(node_id)
        if summary is None:
            continue
        if node_depth == depth:
            graph.truncated = True
        kind, _name, status = summary
        if node_id == root.record.id or not (
            (status == ARCHIVED and not show_archived) or (wanted and kind not in wanted)
        ):
            kept[node_id] = kind
    present = [e for e in traversed if e[0] in summaries and e[1] in summaries]
    reports = {
        node
        for src, dst, relation in present
        if relation in _ENDPOINT_EDGES
        for node in (src, dst)
        if summaries[node][0] == _STAGE_REPORT
    }
    # Stage reports are read whole (their stage, and the roles of their endpoints), as
    # are versioned nodes (their version label): one query for all of them.
    loaded = [node_id for node_id, kind in kept.items() if kind in _LOADED]
    res.prefetch([*reports, *loaded])
    roles = _roles(res, reports)
    for node_id, node_depth in sorted(reached.items(), key=lambda item: (item[1], item[0])):
        if node_id not in kept:
            continue
        kind, name, _status = summaries[node_id]
        entry = graph.nodes.add(name=name, depth=node_depth)
        entry.resource.kind = kind  # type: ignore[assignment]
        entry.resource.id = node_id
        if kind == _STAGE_REPORT:
            report = res.get(kind, node_id).message
            assert isinstance(report, stage_report_pb2.StageReport)
            entry.stage = report.stage
            if report.stage in _JUDGED_STAGES:
                _objectives_summary(report, entry)
        if kind in _VERSIONED:
            entry.version = _version(res, kind, node_id)
    for src, dst, relation, role in _collapse(present, kept, roles):
        if relation in _REVERSED:
            src, dst = dst, src
        graph.edges.add(source_id=src, target_id=dst, kind=relation, role=role)
    return graph


def _objectives_summary(
    report: stage_report_pb2.StageReport, node: lineage_pb2.LineageNode
) -> None:
    """The objectives outcome, gate decision and approval a stage 8-11 report records."""
    if report.HasField("model_evaluation"):
        node.objectives_outcome = report.model_evaluation.objectives_evaluation.outcome
    elif report.HasField("model_test"):
        node.objectives_outcome = report.model_test.objectives_evaluation.outcome
    else:
        node.gate_decision = report.deployment_gate.decision
        if report.HasField("deployment_approval"):
            node.deployment_approval.CopyFrom(report.deployment_approval)


def _roles(res: Resources, report_ids: set[str]) -> dict[Edge, str]:
    """The role of each consumed or produced edge of the given stage reports."""
    roles: dict[Edge, str] = {}
    for report_id in report_ids:
        message = res.get(_STAGE_REPORT, report_id).message
        assert isinstance(message, stage_report_pb2.StageReport)
        for endpoint in message.inputs:
            key = (endpoint.resource.id, report_id, _CONSUMED)
            if endpoint.role and not roles.get(key):
                roles[key] = endpoint.role
        for endpoint in message.outputs:
            key = (report_id, endpoint.resource.id, _PRODUCED)
            if endpoint.role and not roles.get(key):
                roles[key] = endpoint.role
    return roles


def _version(res: Resources, kind: int, node_id: str) -> str:
    """The version label of a node of a versioned kind (``3``, ``1.4.0``)."""
    message = res.get(kind, node_id).message
    if isinstance(message, dataset_pb2.DatasetVersion):
        return str(message.version)
    if isinstance(message, module_pb2.ModuleVersion):
        return message.version or str(message.sequence)
    if isinstance(message, model_version_pb2.ModelVersion):
        v = message.version
        text = f"{v.major}.{v.minor}.{v.patch}"
        return f"{text}-{v.prerelease}" if v.prerelease else text
    if isinstance(message, pipeline_pb2.Pipeline):
        return message.version
    return ""


def _collapse(
    edges: list[Edge], kept: dict[str, int], roles: dict[Edge, str]
) -> list[tuple[str, str, int, str]]:
    """The edges between kept nodes, collapsed across the nodes left out of the graph.

    An edge between two kept nodes is returned as it is. A path that runs from a kept
    node through left-out nodes only to another kept node becomes one edge; it keeps the
    kind of its edges when they all share one, and is DERIVED_FROM otherwise. Its role is
    the first role met along the path.
    """
    found: dict[tuple[str, str, int], str] = {}
    outgoing: dict[str, list[Edge]] = {}
    for edge in sorted(edges):
        src, dst, _relation = edge
        if src in kept and dst in kept:
            found.setdefault((src, dst, edge[2]), roles.get(edge, ""))
        outgoing.setdefault(src, []).append(edge)
    hidden_targets = any(dst not in kept for _src, dst, _relation in edges)
    if hidden_targets:
        for start in sorted(kept):
            # States: (node, kind so far, role so far), walked through left-out nodes.
            queue = deque(
                (dst, relation, roles.get((start, dst, relation), ""))
                for _src, dst, relation in outgoing.get(start, ())
                if dst not in kept
            )
            seen = set(queue)
            while queue:
                node, kind, role = queue.popleft()
                for edge in outgoing.get(node, ()):
                    _src, dst, relation = edge
                    next_kind = kind if relation == kind else _DERIVED_FROM
                    next_role = role or roles.get(edge, "")
                    if dst in kept:
                        if dst != start:
                            found.setdefault((start, dst, next_kind), next_role)
                        continue
                    state = (dst, next_kind, next_role)
                    if state not in seen:
                        seen.add(state)
                        queue.append(state)
    return [(src, dst, relation, role) for (src, dst, relation), role in found.items()]
