"""Validation of pipeline graphs (SPEC.md section 4): every violation at once.

The rules are those listed on ``mlspec.pipelines.v1.PipelineGraph``: vertex and edge ids
are well formed and unique; every vertex is a data vertex with a source or a step vertex;
edges join existing ports in the right direction (data vertices have one output port,
``data``; every vertex has a control port, ``_control``, used by control edges only);
no self loops and no cycles; every non-optional step input is connected, and no input
is connected more than once; a data edge joins ports of compatible types; graph
parameters are well formed, unique and their defaults satisfy their type; step
parameter bindings name parameters the module declares, graph parameters that exist
with a compatible type, and literal values of the right type; required module
parameters are bound or have defaults; task options are in range; graph outputs are
unique and name existing data output ports. Module interfaces are supplied by the
caller (resolved from the store), keyed by vertex id; references (rules 2, 11, 12) are
resolved by the caller too (``mlspec.domain.modules``).

Parameter values (defaults, literals, submitted values) are checked with
``value_problems``.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Callable, Mapping

from mlspec.common.v1 import reference_pb2, value_pb2
from mlspec.errors import FieldViolation
from mlspec.pipelines.v1 import graph_pb2, module_pb2

R = graph_pb2.GraphValidationRule
V = value_pb2.ValueType
DATA_PORT = "data"
CONTROL_PORT = "_control"
ANY_ARTIFACT = "mlspec.Any"
DEFAULT_DATA_TYPE = "mlspec.Dataset"
MAX_VERTICES = 1000
MAX_EDGES = 5000
MAX_RETRIES = 100
VERTEX_ID = re.compile(r"[a-z][a-z0-9_-]{0,62}")
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")

# The Value members that satisfy each declared type (an integer is a valid double).
_MEMBERS_OF_TYPE: dict[int, tuple[str, ...]] = {
    V.VALUE_TYPE_DOUBLE: ("double_value", "int_value"),
    V.VALUE_TYPE_INT: ("int_value",),
    V.VALUE_TYPE_STRING: ("string_value",),
    V.VALUE_TYPE_BOOL: ("bool_value",),
    V.VALUE_TYPE_BYTES: ("bytes_value",),
    V.VALUE_TYPE_ARRAY: ("array_value",),
    V.VALUE_TYPE_OBJECT: ("object_value",),
}

# A port type: ("artifact", schema title) or ("value", ValueType); None when unknown.
PortType = tuple[str, object] | None


def _violation(rule: int, message: str, **where: object) -> graph_pb2.GraphViolation:
    v = graph_pb2.GraphViolation(rule=rule, message=message)  # type: ignore[arg-type]
    if "vertex_id" in where:
        v.vertex_id = str(where["vertex_id"])
    if "edge_index" in where:
        v.edge_index = int(where["edge_index"])  # type: ignore[call-overload]
    if "edge_id" in where:
        v.edge_id = str(where["edge_id"])
    if "port" in where:
        v.port.CopyFrom(where["port"])  # type: ignore[arg-type]
    if "parameter" in where:
        v.parameter_name = str(where["parameter"])
    if "cycle" in where:
        v.cycle_vertex_ids.extend(where["cycle"])  # type: ignore[arg-type]
    return v


def type_name(value_type: int) -> str:
    """The short name of a value type, for messages (``DOUBLE``)."""
    return V.Name(value_type).removeprefix("VALUE_TYPE_")  # type: ignore[arg-type]


def value_problems(
    value: value_pb2.Value,
    value_type: int,
    constraint: value_pb2.ValueConstraint | None = None,
) -> list[str]:
    """What is wrong with a value for a declared type and constraint (empty when fine)."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return ["sets no value"]
    members = _MEMBERS_OF_TYPE.get(value_type)
    if members is not None and kind not in members:
        return [f"is a {kind.removesuffix('_value')}, not a {type_name(value_type)}"]
    if constraint is None:
        return []
    problems = []
    if kind in ("double_value", "int_value"):
        number = float(getattr(value, kind))
        if constraint.HasField("min") and number < constraint.min:
            problems.append(f"is below the minimum {constraint.min:g}")
        if constraint.HasField("max") and number > constraint.max:
            problems.append(f"is above the maximum {constraint.max:g}")
    if constraint.allowed_values and not any(
        _same_value(value, allowed) for allowed in constraint.allowed_values
    ):
        problems.append("is not one of the allowed values")
    if constraint.pattern and kind == "string_value":
        try:
            if re.search(constraint.pattern, value.string_value) is None:
                problems.append(f"does not match the pattern {constraint.pattern!r}")
        except re.error:
            pass
    if kind == "array_value":
        count = len(value.array_value.values)
        if constraint.HasField("min_items") and count < constraint.min_items:
            problems.append(f"has {count} items; at least {constraint.min_items} are required")
        if constraint.HasField("max_items") and count > constraint.max_items:
            problems.append(f"has {count} items; at most {constraint.max_items} are allowed")
    return problems


def _same_value(a: value_pb2.Value, b: value_pb2.Value) -> bool:
    numeric = ("double_value", "int_value")
    ka, kb = a.WhichOneof("kind"), b.WhichOneof("kind")
    if ka in numeric and kb in numeric:
        return float(getattr(a, ka)) == float(getattr(b, kb))
    return a == b


def _constraint(holder: object) -> value_pb2.ValueConstraint | None:
    return holder.constraint if holder.HasField("constraint") else None  # type: ignore[attr-defined]


def size_violations(graph: graph_pb2.PipelineGraph, path: str) -> list[FieldViolation]:
    """The size limits of a graph: at most 1,000 vertices and 5,000 edges."""
    found = []
    if len(graph.vertices) > MAX_VERTICES:
        found.append(
            FieldViolation(
                f"{path}.vertices",
                f"holds {len(graph.vertices)} vertices; at most {MAX_VERTICES} are allowed",
            )
        )
    if len(graph.edges) > MAX_EDGES:
        found.append(
            FieldViolation(
                f"{path}.edges",
                f"holds {len(graph.edges)} edges; at most {MAX_EDGES} are allowed",
            )
        )
    return found


def _port_type(port: module_pb2.PortDefinition) -> PortType:
    which = port.WhichOneof("type")
    if which == "artifact_type" and port.artifact_type.schema_title:
        return ("artifact", port.artifact_type.schema_title)
    if which == "value_type":
        return ("value", port.value_type)
    return None


def _data_vertex_type(
    data: graph_pb2.DataVertex, enclosing: module_pb2.ModuleInterface | None
) -> PortType:
    if data.artifact_type.schema_title:
        return ("artifact", data.artifact_type.schema_title)
    source = data.WhichOneof("source")
    if source == "data_path_uri":
        return ("artifact", DEFAULT_DATA_TYPE)
    if source == "dataset":
        if data.dataset.kind == reference_pb2.RESOURCE_KIND_ARTIFACT:
            return None  # an artifact may hold anything; its type is not known here
        return ("artifact", DEFAULT_DATA_TYPE)
    if source == "graph_input" and enclosing is not None:
        port = next((p for p in enclosing.inputs if p.name == data.graph_input), None)
        return _port_type(port) if port is not None else None
    return None


def _compatible(source: PortType, target: PortType) -> bool:
    """Rule 6: equal types, or a target that accepts any artifact type."""
    if source is None or target is None:
        return True
    if target[0] == "artifact":
        return source[0] == "artifact" and (target[1] == ANY_ARTIFACT or source[1] == target[1])
    if source[0] != "value":
        return False
    s, t = source[1], target[1]
    return (
        s == t
        or V.VALUE_TYPE_UNSPECIFIED in (s, t)
        or (s == V.VALUE_TYPE_INT and t == V.VALUE_TYPE_DOUBLE)
    )


def _describe(port_type: PortType) -> str:
    if port_type is None:
        return "unknown"
    if port_type[0] == "value":
        return f"value {type_name(int(port_type[1]))}"  # type: ignore[call-overload]
    return str(port_type[1])


def validate(
    graph: graph_pb2.PipelineGraph,
    interfaces: dict[str, module_pb2.ModuleInterface],
    enclosing: module_pb2.ModuleInterface | None = None,
) -> tuple[list[graph_pb2.GraphViolation], list[str]]:
    """Returns every violation of the graph and, when acyclic, a topological order.

    ``enclosing`` is the interface of the complex module whose subgraph this is; it is
    None for a top-level graph.
    """
    found: list[graph_pb2.GraphViolation] = []
    vertices: dict[str, graph_pb2.Vertex] = {}
    for vertex in graph.vertices:
        if not VERTEX_ID.fullmatch(vertex.id):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_VERTEX_ID_INVALID,
                    f"vertex id {vertex.id!r} must match ^[a-z][a-z0-9_-]{{0,62}}$",
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
        found.extend(_vertex_kind_violations(vertex, enclosing))

    def outputs(vid: str) -> dict[str, PortType]:
        vertex = vertices[vid]
        if vertex.HasField("data"):
            return {DATA_PORT: _data_vertex_type(vertex.data, enclosing)}
        interface = interfaces.get(vid)
        return {p.name: _port_type(p) for p in interface.outputs} if interface is not None else {}

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
            if not VERTEX_ID.fullmatch(edge.id):
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_VERTEX_ID_INVALID,
                        f"edge id {edge.id!r} must match ^[a-z][a-z0-9_-]{{0,62}}$",
                        edge_index=i,
                        edge_id=edge.id,
                    )
                )
            if edge.id in edge_ids:
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_DUPLICATE_ID,
                        f"edge id {edge.id!r} is used twice",
                        edge_index=i,
                        edge_id=edge.id,
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
        source_ports = outputs(src.vertex_id)
        if src.port_name not in source_ports:
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
        source_type = source_ports[src.port_name]
        target_type = _port_type(target_inputs[dst.port_name])
        if not _compatible(source_type, target_type):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_PORT_TYPE_MISMATCH,
                    f"edge {i}: {src.vertex_id}.{src.port_name} carries "
                    f"{_describe(source_type)} but {dst.vertex_id}.{dst.port_name} takes "
                    f"{_describe(target_type)}",
                    edge_index=i,
                    port=dst,
                )
            )

    graph_params: dict[str, int] = {p.name: int(p.type) for p in graph.parameters}
    if enclosing is not None:
        for p in enclosing.parameters:
            graph_params.setdefault(p.name, int(p.type))
    for vid, vertex in vertices.items():
        if not vertex.HasField("step"):
            continue
        found.extend(_task_option_violations(vid, vertex.step.options, graph_params))
        interface = interfaces.get(vid)
        if interface is None:
            found.extend(_iterator_item_violations(vid, vertex.step))
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
        found.extend(_parameter_violations(vid, vertex.step, interface, graph_params))
    for vid, vertex in vertices.items():
        if vertex.HasField("step"):
            found.extend(
                _step_output_violations(vid, vertex.step, interfaces, vertices, outputs, successors)
            )

    found.extend(_graph_parameter_violations(graph))
    found.extend(_output_violations(graph, {vid: set(outputs(vid)) for vid in vertices}, enclosing))
    if graph.HasField("default_task_options"):
        found.extend(_task_option_violations("", graph.default_task_options, graph_params))
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


def _vertex_kind_violations(
    vertex: graph_pb2.Vertex, enclosing: module_pb2.ModuleInterface | None
) -> list[graph_pb2.GraphViolation]:
    kind = vertex.WhichOneof("kind")
    if kind is None:
        return [
            _violation(
                R.GRAPH_VALIDATION_RULE_VERTEX_INCOMPLETE,
                f"vertex {vertex.id!r} is neither a data nor a step vertex",
                vertex_id=vertex.id,
            )
        ]
    if kind == "step":
        return []
    source = vertex.data.WhichOneof("source")
    if source is None:
        return [
            _violation(
                R.GRAPH_VALIDATION_RULE_VERTEX_INCOMPLETE,
                f"data vertex {vertex.id!r} sets no source (dataset, data_path_uri or graph_input)",
                vertex_id=vertex.id,
            )
        ]
    if source == "graph_input":
        if enclosing is None:
            return [
                _violation(
                    R.GRAPH_VALIDATION_RULE_GRAPH_INPUT_INVALID,
                    f"data vertex {vertex.id!r} reads a graph_input, which only a complex "
                    "module's subgraph may do",
                    vertex_id=vertex.id,
                )
            ]
        if vertex.data.graph_input not in {p.name for p in enclosing.inputs}:
            return [
                _violation(
                    R.GRAPH_VALIDATION_RULE_GRAPH_INPUT_INVALID,
                    f"data vertex {vertex.id!r} reads graph_input {vertex.data.graph_input!r}, "
                    "which the module's interface does not declare",
                    vertex_id=vertex.id,
                )
            ]
    return []


def _compatible_parameter(graph_type: int, module_type: int) -> bool:
    return (
        graph_type == module_type
        or V.VALUE_TYPE_UNSPECIFIED in (graph_type, module_type)
        or (graph_type == V.VALUE_TYPE_INT and module_type == V.VALUE_TYPE_DOUBLE)
    )


def _iterator_item_violations(
    vid: str, step: graph_pb2.StepVertex
) -> list[graph_pb2.GraphViolation]:
    if step.options.HasField("iterator"):
        return []
    return [
        _violation(
            R.GRAPH_VALIDATION_RULE_ITERATOR_INVALID,
            f"step {vid} binds {name!r} to the iterator item but has no iterator",
            vertex_id=vid,
            parameter=name,
        )
        for name, binding in step.parameters.items()
        if binding.WhichOneof("source") == "iterator_item"
    ]


def _parameter_violations(
    vid: str,
    step: graph_pb2.StepVertex,
    interface: module_pb2.ModuleInterface,
    graph_params: dict[str, int],
) -> list[graph_pb2.GraphViolation]:
    found = _iterator_item_violations(vid, step)
    declared = {p.name: p for p in interface.parameters}
    for name, binding in sorted(step.parameters.items()):
        param = declared.get(name)
        if param is None:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_PARAMETER_UNKNOWN,
                    f"step {vid} binds {name!r}, which its module does not declare",
                    vertex_id=vid,
                    parameter=name,
                )
            )
        source = binding.WhichOneof("source")
        if source == "graph_parameter":
            graph_type = graph_params.get(binding.graph_parameter)
            if graph_type is None:
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_UNKNOWN,
                        f"step {vid} binds {name!r} to unknown graph parameter {binding.graph_parameter!r}",
                        vertex_id=vid,
                        parameter=name,
                    )
                )
            elif param is not None and not _compatible_parameter(graph_type, param.type):
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_UNKNOWN,
                        f"step {vid} binds {name!r} ({type_name(param.type)}) to graph parameter "
                        f"{binding.graph_parameter!r} of type {type_name(graph_type)}",
                        vertex_id=vid,
                        parameter=name,
                    )
                )
        elif source == "value" and param is not None:
            for problem in value_problems(binding.value, param.type, _constraint(param)):
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_VALUE_INVALID,
                        f"step {vid}: the value bound to {name!r} {problem}",
                        vertex_id=vid,
                        parameter=name,
                    )
                )
        elif source is None:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_VALUE_INVALID,
                    f"step {vid}: the binding of {name!r} sets no value, graph parameter or iterator item",
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


def _step_output_violations(
    vid: str,
    step: graph_pb2.StepVertex,
    interfaces: dict[str, module_pb2.ModuleInterface],
    vertices: dict[str, graph_pb2.Vertex],
    outputs: Callable[[str], dict[str, PortType]],
    successors: dict[str, set[str]],
) -> list[graph_pb2.GraphViolation]:
    """Parameters bound to an upstream step's value output: the port exists, types agree.

    Each such binding orders the steps like a data edge (``successors``), so that the
    acyclicity check counts it.
    """
    found = []
    interface = interfaces.get(vid)
    declared = {p.name: p for p in interface.parameters} if interface is not None else {}
    for name, binding in sorted(step.parameters.items()):
        if binding.WhichOneof("source") != "step_output":
            continue
        port = binding.step_output
        source = vertices.get(port.vertex_id)
        if source is None or not source.HasField("step") or port.vertex_id == vid:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_EDGE_UNKNOWN_VERTEX,
                    f"step {vid} binds {name!r} to an output of {port.vertex_id!r}, which is "
                    + ("the step itself" if port.vertex_id == vid else "not a step vertex"),
                    vertex_id=vid,
                    parameter=name,
                    port=port,
                )
            )
            continue
        successors[port.vertex_id].add(vid)
        if port.vertex_id not in interfaces:  # its module did not resolve (reported already)
            continue
        source_ports = outputs(port.vertex_id)
        if port.port_name not in source_ports:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_EDGE_UNKNOWN_PORT,
                    f"step {vid} binds {name!r} to {port.vertex_id}.{port.port_name}, which is "
                    "not an output port of that step",
                    vertex_id=vid,
                    parameter=name,
                    port=port,
                )
            )
            continue
        port_type = source_ports[port.port_name]
        param = declared.get(name)
        if port_type is None:  # the source's module is not known here: nothing to compare
            continue
        if port_type[0] != "value" or (
            param is not None
            and not _compatible(port_type, ("value", param.type))  # int feeds double, ...
        ):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_PORT_TYPE_MISMATCH,
                    f"step {vid} binds {name!r}"
                    + (f" ({type_name(param.type)})" if param is not None else "")
                    + f" to {port.vertex_id}.{port.port_name}, which carries "
                    f"{_describe(port_type)}",
                    vertex_id=vid,
                    parameter=name,
                    port=port,
                )
            )
    return found


def _task_option_violations(
    vid: str, options: graph_pb2.TaskOptions, graph_params: dict[str, int]
) -> list[graph_pb2.GraphViolation]:
    where: dict[str, object] = {"vertex_id": vid} if vid else {}
    label = f"step {vid}" if vid else "the default task options"
    found = []
    retry = options.retry_policy
    bad_retry = []
    if not 0 <= retry.max_retries <= MAX_RETRIES:
        bad_retry.append(f"max_retries {retry.max_retries} is outside 0..{MAX_RETRIES}")
    for field_name in ("initial_backoff", "max_backoff"):
        duration = getattr(retry, field_name)
        if duration.seconds < 0 or duration.nanos < 0:
            bad_retry.append(f"{field_name} is negative")
    if options.timeout.seconds < 0 or options.timeout.nanos < 0:
        bad_retry.append("timeout is negative")
    for problem in bad_retry:
        found.append(
            _violation(R.GRAPH_VALIDATION_RULE_TASK_OPTIONS_INVALID, f"{label}: {problem}", **where)
        )
    if options.HasField("iterator"):
        iterator = options.iterator
        items = iterator.WhichOneof("items")
        problem = ""
        if items is None:
            problem = "sets neither a graph parameter nor literal items"
        elif items == "graph_parameter":
            param_type = graph_params.get(iterator.graph_parameter)
            if param_type is None:
                problem = f"iterates over unknown graph parameter {iterator.graph_parameter!r}"
            elif param_type not in (V.VALUE_TYPE_ARRAY, V.VALUE_TYPE_UNSPECIFIED):
                problem = (
                    f"iterates over graph parameter {iterator.graph_parameter!r} of type "
                    f"{type_name(param_type)}, not ARRAY"
                )
        if iterator.parallelism < 0:
            problem = problem or "has a negative parallelism"
        if problem:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_ITERATOR_INVALID,
                    f"{label}: the iterator {problem}",
                    **where,
                )
            )
    return found


def _graph_parameter_violations(graph: graph_pb2.PipelineGraph) -> list[graph_pb2.GraphViolation]:
    found = []
    seen: set[str] = set()
    for param in graph.parameters:
        if not NAME.fullmatch(param.name):
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_INVALID,
                    f"graph parameter name {param.name!r} must match ^[A-Za-z][A-Za-z0-9_]{{0,62}}$",
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
        if param.HasField("default_value"):
            for problem in value_problems(param.default_value, param.type, _constraint(param)):
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_VALUE_INVALID,
                        f"the default of graph parameter {param.name!r} {problem}",
                        parameter=param.name,
                    )
                )
    return found


def _output_violations(
    graph: graph_pb2.PipelineGraph,
    output_ports: dict[str, set[str]],
    enclosing: module_pb2.ModuleInterface | None,
) -> list[graph_pb2.GraphViolation]:
    found = []
    seen: set[str] = set()
    for output in graph.outputs:
        problems = []
        if not NAME.fullmatch(output.name):
            problems.append("its name must match ^[A-Za-z][A-Za-z0-9_]{0,62}$")
        if output.name in seen:
            problems.append("the name is used twice; graph output names are unique")
        seen.add(output.name)
        src = output.source
        if src.vertex_id not in output_ports:
            problems.append(f"it names unknown vertex {src.vertex_id!r}")
        elif src.port_name not in output_ports[src.vertex_id]:
            problems.append(f"{src.vertex_id}.{src.port_name} is not a data output port")
        if enclosing is not None and output.name not in {p.name for p in enclosing.outputs}:
            problems.append("the module's interface declares no output of this name")
        for problem in problems:
            found.append(
                _violation(
                    R.GRAPH_VALIDATION_RULE_OUTPUT_INVALID,
                    f"graph output {output.name!r}: {problem}",
                    port=src,
                )
            )
    if enclosing is not None:
        for port in enclosing.outputs:
            if port.name not in seen:
                found.append(
                    _violation(
                        R.GRAPH_VALIDATION_RULE_OUTPUT_INVALID,
                        f"the module's interface declares output {port.name!r} but no graph "
                        "output of that name exists",
                    )
                )
    return found


def submission_problems(
    graph: graph_pb2.PipelineGraph,
    given: Mapping[str, value_pb2.Value],
    stored: Mapping[str, value_pb2.Value],
) -> tuple[dict[str, value_pb2.Value], list[tuple[str, int, str]]]:
    """The graph-parameter values of a submission, and what is wrong with them.

    ``given`` are the submitted values, ``stored`` the draft's values or the pipeline's
    defaults; graph defaults fill the rest. Problems are (parameter name, rule, message):
    an unknown name (GRAPH_PARAMETER_UNKNOWN), a missing value or a value of the wrong
    type or outside its constraint (VALUE_INVALID).
    """
    declared = {p.name: p for p in graph.parameters}
    problems: list[tuple[str, int, str]] = [
        (
            name,
            R.GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_UNKNOWN,
            f"{name!r} is not a parameter of the graph",
        )
        for name in sorted(given)
        if name not in declared
    ]
    values: dict[str, value_pb2.Value] = {}
    for name, param in declared.items():
        if name in given:
            value = given[name]
        elif name in stored:
            value = stored[name]
        elif param.HasField("default_value"):
            values[name] = param.default_value  # checked by the graph rules (rule 7)
            continue
        else:
            problems.append(
                (
                    name,
                    R.GRAPH_VALIDATION_RULE_VALUE_INVALID,
                    f"graph parameter {name!r} has no default and no value was given",
                )
            )
            continue
        for problem in value_problems(value, param.type, _constraint(param)):
            problems.append(
                (
                    name,
                    R.GRAPH_VALIDATION_RULE_VALUE_INVALID,
                    f"the value of graph parameter {name!r} {problem}",
                )
            )
        values[name] = value
    return values, problems


def sort_violations(found: list[graph_pb2.GraphViolation]) -> list[graph_pb2.GraphViolation]:
    """Violations in the stable order of ValidatePipelineGraph: by rule, then location."""
    return sorted(
        found,
        key=lambda v: (
            v.rule,
            v.vertex_id,
            v.edge_index if v.HasField("edge_index") else -1,
            v.parameter_name,
            v.port.port_name,
        ),
    )


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
