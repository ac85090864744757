"""Validation of pipeline graphs (SPEC.md section 4): every violation at once.

The rules: vertex ids are valid and unique; every vertex is a data or a step vertex;
edges join existing ports in the right direction (data vertices have one output port,
``data``; every vertex has a control port, ``_control``, used by control edges only);
no self loops and no cycles; every non-optional step input is connected, and no input
is connected more than once; graph parameter names are valid and unique; step parameter
bindings name parameters the module declares, and graph parameters that exist; required
module parameters are bound or have defaults. Module interfaces are supplied by the
caller (resolved from the store), keyed by vertex id.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque

from mlspec.pipelines.v1 import graph_pb2, module_pb2

R = graph_pb2.GraphValidationRule
DATA_PORT = "data"
CONTROL_PORT = "_control"
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")


def _violation(rule: int, message: str, **where: object) -> graph_pb2.GraphViolation:
    v = graph_pb2.GraphViolation(rule=rule, message=message)  # type: ignore[arg-type]
    if "vertex_id" in where:
        v.vertex_id = str(where["vertex_id"])
    if "edge_index" in where:
        v.edge_index = int(where["edge_index"])  # type: ignore[call-overload]
    if "port" in where:
        v.port.CopyFrom(where["port"])  # type: ignore[arg-type]
    if "parameter" in where:
        v.parameter_name = str(where["parameter"])
    if "cycle" in where:
        v.cycle_vertex_ids.extend(where["cycle"])  # type: ignore[arg-type]
    return v


def validate(
    graph: graph_pb2.PipelineGraph, interfaces: dict[str, module_pb2.ModuleInterface]
) -> tuple[list[graph_pb2.GraphViolation], list[str]]:
    """Returns every violation of the graph and, when acyclic, a topological order."""
    found: list[graph_pb2.GraphViolation] = []
    vertices: dict[str, graph_pb2.Vertex] = {}
    for vertex in graph.vertices:
        if not _ID.fullmatch(vertex.id):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_VERTEX_ID_INVALID,
                    f"vertex id {vertex.id!r} must start with a letter and hold letters, digits, '-' or '_'",
                    vertex_id=vertex.id,
                )
            )
        if vertex.id in vertices:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_DUPLICATE_ID,
                    f"vertex id {vertex.id!r} is used twice",
                    vertex_id=vertex.id,
                )
            )
        vertices[vertex.id] = vertex
        if vertex.WhichOneof("kind") is None:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_VERTEX_INCOMPLETE,
                    f"vertex {vertex.id!r} is neither a data nor a step vertex",
                    vertex_id=vertex.id,
                )
            )

    def outputs(vid: str) -> set[str]:
        vertex = vertices[vid]
        if vertex.HasField("data"):
            return {DATA_PORT}
        interface = interfaces.get(vid)
        return {p.name for p in interface.outputs} if interface is not None else set()

    def inputs(vid: str) -> dict[str, module_pb2.PortDefinition]:
        interface = interfaces.get(vid)
        if vertices[vid].HasField("data") or interface is None:
            return {}
        return {p.name: p for p in interface.inputs}

    successors: dict[str, set[str]] = defaultdict(set)
    connected: dict[tuple[str, str], int] = defaultdict(int)
    edge_ids: set[str] = set()
    for i, edge in enumerate(graph.edges):
        if edge.id:
            if edge.id in edge_ids:
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_DUPLICATE_ID,
                        f"edge id {edge.id!r} is used twice",
                        edge_index=i,
                    )
                )
            edge_ids.add(edge.id)
        src, dst = edge.source, edge.target
        missing = [p.vertex_id for p in (src, dst) if p.vertex_id not in vertices]
        if missing:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_EDGE_UNKNOWN_VERTEX,
                    f"edge {i} refers to unknown vertex {missing[0]!r}",
                    edge_index=i,
                )
            )
            continue
        if src.vertex_id == dst.vertex_id:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_SELF_LOOP,
                    f"edge {i} joins vertex {src.vertex_id!r} to itself",
                    edge_index=i,
                    vertex_id=src.vertex_id,
                )
            )
            continue
        control = edge.kind == graph_pb2.EDGE_KIND_CONTROL
        uses_control = CONTROL_PORT in (src.port_name, dst.port_name)
        if control != (src.port_name == CONTROL_PORT and dst.port_name == CONTROL_PORT) or (
            not control and uses_control
        ):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_EDGE_KIND_MISMATCH,
                    f"edge {i}: control edges join `_control` ports and data edges never do",
                    edge_index=i,
                )
            )
            continue
        successors[src.vertex_id].add(dst.vertex_id)
        if control:
            continue
        if src.port_name not in outputs(src.vertex_id):
            rule = (
                R.GRAPH_VALIDATION_RULE_EDGE_DIRECTION
                if src.port_name in inputs(src.vertex_id)
                else R.GRAPH_VALIDATION_RULE_EDGE_UNKNOWN_PORT
            )
            found.append(
                _violation(
                    rule,
                    f"edge {i}: {src.vertex_id}.{src.port_name} is not an output port",
                    edge_index=i,
                    port=src,
                )
            )
            continue
        target_inputs = inputs(dst.vertex_id)
        if dst.port_name not in target_inputs:
            rule = (
                R.GRAPH_VALIDATION_RULE_EDGE_DIRECTION
                if dst.port_name in outputs(dst.vertex_id)
                else R.GRAPH_VALIDATION_RULE_EDGE_UNKNOWN_PORT
            )
            found.append(
                _violation(
                    rule,
                    f"edge {i}: {dst.vertex_id}.{dst.port_name} is not an input port",
                    edge_index=i,
                    port=dst,
                )
            )
            continue
        connected[(dst.vertex_id, dst.port_name)] += 1

    for vid, vertex in vertices.items():
        if not vertex.HasField("step"):
            continue
        interface = interfaces.get(vid)
        if interface is None:
            continue
        for port in interface.inputs:
            count = connected[(vid, port.name)]
            where = graph_pb2.Port(vertex_id=vid, port_name=port.name)
            if count == 0 and not port.optional:
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_INPUT_UNCONNECTED,
                        f"input {vid}.{port.name} is required but not connected",
                        vertex_id=vid,
                        port=where,
                    )
                )
            elif count > 1 and not port.is_list:
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_INPUT_MULTIPLY_CONNECTED,
                        f"input {vid}.{port.name} is connected {count} times; an input connects to exactly one output",
                        vertex_id=vid,
                        port=where,
                    )
                )
        found.extend(_parameter_violations(vid, vertex.step, interface, graph))

    found.extend(_graph_parameter_violations(graph))
    order, cyclic = _topological_order(list(vertices), successors)
    if cyclic:
        found.append(
            _violation(
                R.GRAPH_VALIDATION_RULE_CYCLE,
                "the graph has a cycle through " + ", ".join(sorted(cyclic)),
                cycle=sorted(cyclic),
            )
        )
        order = []
    return found, order


def _parameter_violations(
    vid: str,
    step: graph_pb2.StepVertex,
    interface: module_pb2.ModuleInterface,
    graph: graph_pb2.PipelineGraph,
) -> list[graph_pb2.GraphViolation]:
    found = []
    declared = {p.name: p for p in interface.parameters}
    graph_params = {p.name for p in graph.parameters}
    for name, binding in step.parameters.items():
        if name not in declared:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_PARAMETER_UNKNOWN,
                    f"step {vid} binds {name!r}, which its module does not declare",
                    vertex_id=vid,
                    parameter=name,
                )
            )
        if (
            binding.WhichOneof("source") == "graph_parameter"
            and binding.graph_parameter not in graph_params
        ):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_UNKNOWN,
                    f"step {vid} binds {name!r} to unknown graph parameter {binding.graph_parameter!r}",
                    vertex_id=vid,
                    parameter=name,
                )
            )
    for name, param in declared.items():
        if (
            name not in step.parameters
            and not param.optional
            and not param.HasField("default_value")
        ):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_PARAMETER_UNBOUND,
                    f"step {vid} does not bind required parameter {name!r}",
                    vertex_id=vid,
                    parameter=name,
                )
            )
    return found


def _graph_parameter_violations(graph: graph_pb2.PipelineGraph) -> list[graph_pb2.GraphViolation]:
    found = []
    seen: set[str] = set()
    for param in graph.parameters:
        if not _ID.fullmatch(param.name):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_INVALID,
                    f"graph parameter name {param.name!r} is not valid",
                    parameter=param.name,
                )
            )
        if param.name in seen:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_INVALID,
                    f"graph parameter {param.name!r} is declared twice; names are unique in a graph",
                    parameter=param.name,
                )
            )
        seen.add(param.name)
    return found


def _topological_order(
    vertex_ids: list[str], successors: dict[str, set[str]]
) -> tuple[list[str], set[str]]:
    indegree = {v: 0 for v in vertex_ids}
    for src in vertex_ids:
        for dst in successors.get(src, ()):
            indegree[dst] += 1
    ready = deque(sorted(v for v, d in indegree.items() if d == 0))
    order = []
    while ready:
        vid = ready.popleft()
        order.append(vid)
        for dst in sorted(successors.get(vid, ())):
            indegree[dst] -= 1
            if indegree[dst] == 0:
                ready.append(dst)
    return order, {v for v, d in indegree.items() if d > 0}
