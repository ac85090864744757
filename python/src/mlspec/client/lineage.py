"""A typed view of a lineage subgraph (``GetLineage``): nodes, edges, text tree, DOT.

Example:
    >>> graph = client.lineage(model_version, direction="upstream")  # doctest: +SKIP
    >>> print(graph.tree())  # doctest: +SKIP
    MODEL_VERSION churn-model 1.0.0 (4c8e...)
      <- PRODUCED STAGE_REPORT churn-train (e5b4...)
        <- CONSUMED[training_data] DATASET_VERSION transactions 3 (a1f0...)
      -> CONSUMED STAGE_REPORT churn-pkg [MODEL_PACKAGING] (9d2c...) gate OVERRIDDEN by Lena: ...

A stage report the deployment gate decided on (stages 10 and 11) carries the decision
(``LineageNode.gate_decision``) and, for an override, who approved it and why
(``deployment_approval``); the tree and DOT show them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlspec.common.v1.reference_pb2 import ResourceKind
from mlspec.lifecycle.v1 import deployment_gate_pb2, lineage_pb2, stage_pb2

REASON_WIDTH = 60  # characters of an override's reason shown on a tree line


@dataclass(frozen=True)
class Node:
    """One resource of the graph."""

    id: str
    kind: str
    name: str
    version: str
    depth: int
    stage: str
    gate: str = ""  # the deployment gate's decision (PASSED, OVERRIDDEN, ...); "" for none
    approver: str = ""  # who approved the launch (the override), when recorded
    reason: str = ""  # why

    @property
    def gate_text(self) -> str:
        """``gate OVERRIDDEN by NAME: reason`` (the reason cut short), or ``gate PASSED``."""
        if not self.gate:
            return ""
        if self.gate != "OVERRIDDEN" or not self.approver:
            return f"gate {self.gate}"
        reason = " ".join(self.reason.split())
        if len(reason) > REASON_WIDTH:
            reason = reason[: REASON_WIDTH - 3].rstrip() + "..."
        return f"gate OVERRIDDEN by {self.approver}" + (f": {reason}" if reason else "")

    @property
    def label(self) -> str:
        """``KIND name version``, for display."""
        parts = [self.kind, self.name or "", self.version or ""]
        if self.stage:
            parts.append(f"[{self.stage}]")
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class Edge:
    """One directed relation, in the direction of data flow (source to target)."""

    source: str
    target: str
    kind: str
    role: str


class LineageGraph:
    """The lineage around one resource, as returned by ``Client.lineage``.

    Attributes:
        message: the ``mlspec.lifecycle.v1.LineageGraph`` the server returned.
        direction: ``"upstream"``, ``"downstream"`` or ``"both"``.
        nodes: every node, by depth (the root first).
        edges: every edge between the nodes.
        root: the start node (None when the server returned no nodes).
        truncated: True when the traversal stopped at the depth or node limit.
    """

    def __init__(self, message: lineage_pb2.LineageGraph, direction: str) -> None:
        self.message = message
        self.direction = direction
        self.nodes = [
            Node(
                id=n.resource.id,
                kind=_short(ResourceKind.Name(n.resource.kind), "RESOURCE_KIND_"),
                name=n.name,
                version=n.version,
                depth=n.depth,
                stage=_short(stage_pb2.LifecycleStage.Name(n.stage), "LIFECYCLE_STAGE_")
                if n.stage
                else "",
                gate=_short(
                    deployment_gate_pb2.DeploymentGateDecision.Name(n.gate_decision),
                    "DEPLOYMENT_GATE_DECISION_",
                )
                if n.gate_decision
                else "",
                approver=n.deployment_approval.approver.name,
                reason=n.deployment_approval.reason,
            )
            for n in message.nodes
        ]
        self.edges = [
            Edge(
                source=e.source_id,
                target=e.target_id,
                kind=_short(lineage_pb2.LineageEdgeKind.Name(e.kind), "LINEAGE_EDGE_KIND_"),
                role=e.role,
            )
            for e in message.edges
        ]
        self.by_id = {node.id: node for node in self.nodes}
        root_id = message.root.id or (self.nodes[0].id if self.nodes else "")
        self.root = self.by_id.get(root_id)
        self.truncated = message.truncated

    def __len__(self) -> int:
        return len(self.nodes)

    def _neighbours(self, node_id: str) -> list[tuple[str, Edge, str]]:
        """(arrow, edge, other node id) of every edge that leads away from the root.

        An edge leads away from the root when its other end lies deeper (the server's
        ``depth``, the shortest distance from the root); ``<-`` means the other node is
        the edge's source, ``->`` its target.
        """
        here = self.by_id[node_id].depth
        out: list[tuple[str, Edge, str]] = []
        for edge in self.edges:
            source = self.by_id.get(edge.source)
            target = self.by_id.get(edge.target)
            if edge.target == node_id and source is not None and source.depth > here:
                out.append(("<-", edge, edge.source))
            elif edge.source == node_id and target is not None and target.depth > here:
                out.append(("->", edge, edge.target))
        return out

    def tree(self) -> str:
        """The graph as an indented text tree from the root.

        Each line is ``<arrow> EDGE_KIND[role] node``: ``<-`` when the line's node is the
        edge's source (it flowed into the node above, for example an input), ``->`` when
        it is the target (it came out of the node above). A stage report the deployment
        gate decided on ends its line with the decision (``gate PASSED``; ``gate OVERRIDDEN
        by NAME: reason``). A node reached a second time is printed with ``(see above)``
        and not expanded again.
        """
        if self.root is None:
            return ""
        lines = [f"{self.root.label} ({self.root.id})" + _suffix(self.root.gate_text)]
        seen = {self.root.id}

        def walk(node_id: str, indent: int) -> None:
            for arrow, edge, other in self._neighbours(node_id):
                node = self.by_id.get(other)
                if node is None:
                    continue
                role = f"[{edge.role}]" if edge.role else ""
                again = other in seen
                lines.append(
                    f"{'  ' * indent}{arrow} {edge.kind}{role} {node.label} ({node.id})"
                    + (" (see above)" if again else _suffix(node.gate_text))
                )
                if not again:
                    seen.add(other)
                    walk(other, indent + 1)

        walk(self.root.id, 1)
        return "\n".join(lines)

    def to_dot(self, name: str = "lineage") -> str:
        """The graph in Graphviz DOT (edges in the direction of data flow).

        Example:
            >>> print(graph.to_dot())  # doctest: +SKIP
            digraph lineage {
              rankdir=LR;
              ...
        """
        lines = [f"digraph {_dot_id(name)} {{", "  rankdir=LR;", "  node [shape=box];"]
        for node in self.nodes:
            extra = ", style=bold" if self.root is not None and node.id == self.root.id else ""
            label = node.label + (f"\ngate {node.gate}" if node.gate else "")
            lines.append(f"  {_dot_id(node.id)} [label={_dot_id(label)}{extra}];")
        for edge in self.edges:
            label = edge.kind + (f" ({edge.role})" if edge.role else "")
            lines.append(
                f"  {_dot_id(edge.source)} -> {_dot_id(edge.target)} [label={_dot_id(label)}];"
            )
        lines.append("}")
        return "\n".join(lines) + "\n"


def _suffix(text: str) -> str:
    return f" {text}" if text else ""


def _short(name: str, prefix: str) -> str:
    return name.removeprefix(prefix)


def _dot_id(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
