"""Kubeflow Pipelines v2: a compiled pipeline as MLSpec modules and a published pipeline.

Reads the IR YAML that the ``kfp`` compiler writes (``PipelineSpec``, schema 2.x) as
plain YAML, so ``kfp`` is not needed at run time. The mapping:

| KFP IR | MLSpec |
|---|---|
| component with an executor | primitive ``Module`` (named after the Python function, or the component) and a ``ModuleVersion`` |
| lightweight Python component (code in the command) | ``Snapshot.inline`` (the code, its SHA-256), ``Executor.runtime_image`` = the image |
| container component | ``Snapshot.container_image``; an image given by tag has ``digest.unknown_reason`` |
| component with a DAG (sub-pipeline, condition, loop, exit handler) | complex ``Module`` whose version's graph is the DAG |
| ``inputDefinitions`` / ``outputDefinitions`` | ``ModuleInterface``: artifacts are ports, input parameters are parameters, output parameters are value ports |
| task | step ``Vertex`` (id from the task name, ``display_name`` = ``taskInfo.name``) |
| ``runtimeValue.constant`` / ``componentInputParameter`` | ``ParameterBinding.value`` / ``.graph_parameter`` |
| ``taskOutputParameter`` | ``ParameterBinding.step_output`` |
| ``taskOutputArtifact`` / ``componentInputArtifact`` | data ``Edge`` / a ``graph_input`` data vertex |
| ``dependentTasks`` not carried by the above | control ``Edge`` |
| ``triggerPolicy.condition`` | ``Trigger.condition`` (CEL, ``params.<name>``) |
| ``parameterIterator`` / ``iteratorPolicy`` | ``Iterator`` and an ``iterator_item`` binding |
| ``retryPolicy``, ``cachingOptions``, container ``resources``, ``env`` | ``RetryPolicy``, ``CachingOptions``, ``ComputeResources``, ``Executor.env`` |
| ``root`` | ``PipelineDraft``, published as ``Pipeline`` (name, version = content digest) |
| ``root.inputDefinitions.parameters`` / ``root.dag.outputs`` | ``GraphParameter`` / ``GraphOutput`` |

KFP names that MLSpec's name rules refuse (``pipelinechannel--x``) are rewritten
(``pipelinechannel__x``); the originals stay in display names. Module versions are
labelled by the digest of their content, so a component shared by several pipelines is
one version, and importing the same file twice adds nothing. What is not mapped is
listed in ``KfpPlan.notes``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from google.protobuf import duration_pb2

from mlspec.client import Client
from mlspec.common.v1 import compute_pb2, object_meta_pb2, reference_pb2, value_pb2
from mlspec.interop import names
from mlspec.interop.external import ImportCounts, ensure, external_id
from mlspec.pipelines.v1 import graph_pb2, module_pb2, pipeline_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb

SYSTEM = "kfp"
V = value_pb2.ValueType
_PARAMETER_TYPES = {
    "NUMBER_DOUBLE": V.VALUE_TYPE_DOUBLE,
    "NUMBER_INTEGER": V.VALUE_TYPE_INT,
    "STRING": V.VALUE_TYPE_STRING,
    "BOOLEAN": V.VALUE_TYPE_BOOL,
    "LIST": V.VALUE_TYPE_ARRAY,
    "STRUCT": V.VALUE_TYPE_OBJECT,
    "TASK_FINAL_STATUS": V.VALUE_TYPE_OBJECT,
}
# DAG components the compiler makes for control flow; they belong to one pipeline.
_CONTROL_FLOW = re.compile(r"^comp-(condition|condition-branches|for-loop|exit-handler)-\d+$")
_PLACEHOLDERS = [
    (re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}"), "parameters.{}"),
    (re.compile(r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.(?:path|uri)\}\}"), "inputs.{}.uri"),
    (re.compile(r"\{\{\$\.outputs\.artifacts\['([^']+)'\]\.(?:path|uri)\}\}"), "outputs.{}.uri"),
    (re.compile(r"\{\{\$\.outputs\.parameters\['([^']+)'\]\.output_file\}\}"), "outputs.{}.uri"),
]
_CONDITION_INPUT = re.compile(r"inputs\.parameter_values\[['\"]([^'\"]+)['\"]\]")


class KfpFormatError(ValueError):
    """The file is not a compiled KFP v2 pipeline (or uses a shape this importer cannot read)."""


@dataclass
class ModulePlan:
    """One module version to make: its module's name and kind, the version, its identity."""

    component: str
    module_name: str
    kind: int
    version: module_pb2.ModuleVersion
    label: str
    display_name: str


@dataclass
class KfpPlan:
    """Everything one compiled pipeline becomes, before anything is sent to a server."""

    name: str
    display_name: str
    description: str
    label: str
    graph: graph_pb2.PipelineGraph
    modules: list[ModulePlan]
    source: str
    notes: list[str] = field(default_factory=list)


def load(text: str) -> Mapping[str, Any]:
    """Parses IR YAML; KfpFormatError when it is not a compiled KFP v2 pipeline."""
    try:
        # kfp-kubernetes writes its platform spec as a second document; the first is the IR.
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise KfpFormatError(f"not YAML: {exc}") from None
    ir = documents[0] if documents else None
    if not isinstance(ir, dict) or "root" not in ir or "pipelineInfo" not in ir:
        raise KfpFormatError(
            "not a compiled KFP v2 pipeline (no pipelineInfo and root); compile it with "
            "kfp.compiler.Compiler().compile(pipeline, 'pipeline.yaml')"
        )
    version = str(ir.get("schemaVersion", ""))
    if not version.startswith("2."):
        raise KfpFormatError(f"KFP IR schema {version or '(none)'} is not 2.x")
    return ir


def _digest(message: Any) -> str:
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


def _duration(text: str) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromJsonString(text if text.endswith("s") else f"{text}s")
    return duration


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIXES = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def _quantity(text: Any) -> float:
    """A Kubernetes quantity (``500m``, ``4G``, ``2Gi``) as a number."""
    match = _QUANTITY.match(str(text).strip())
    if match is None or match.group(2) not in _SUFFIXES:
        raise KfpFormatError(f"{text!r} is not a resource quantity")
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def _typed_value(value: Any, value_type: int) -> value_pb2.Value:
    """A KFP constant as a Value of the declared type (the IR writes integers as 100.0)."""
    if value is None:
        return value_pb2.Value(null_value=0)  # type: ignore[arg-type]
    if value_type == V.VALUE_TYPE_INT and isinstance(value, (int, float)):
        return value_pb2.Value(int_value=int(value))
    if value_type == V.VALUE_TYPE_DOUBLE and isinstance(value, (int, float)):
        return value_pb2.Value(double_value=float(value))
    if isinstance(value, bool):
        return value_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return value_pb2.Value(int_value=value)
    if isinstance(value, float):
        return value_pb2.Value(double_value=value)
    if isinstance(value, str):
        return value_pb2.Value(string_value=value)
    if isinstance(value, list):
        array = value_pb2.Value()
        array.array_value.SetInParent()
        for item in value:
            array.array_value.values.append(_typed_value(item, V.VALUE_TYPE_UNSPECIFIED))
        return array
    if isinstance(value, dict):
        obj = value_pb2.Value()
        obj.object_value.SetInParent()
        for key, item in value.items():
            obj.object_value.fields[str(key)].CopyFrom(_typed_value(item, V.VALUE_TYPE_UNSPECIFIED))
        return obj
    raise KfpFormatError(f"cannot read the constant {value!r}")


def _artifact_type(spec: Mapping[str, Any]) -> graph_pb2.ArtifactTypeSchema:
    schema = spec.get("artifactType", {})
    return graph_pb2.ArtifactTypeSchema(
        schema_title=schema.get("schemaTitle", "system.Artifact"),
        schema_version=schema.get("schemaVersion", ""),
    )


def _interface(component: Mapping[str, Any]) -> module_pb2.ModuleInterface:
    interface = module_pb2.ModuleInterface()
    inputs = component.get("inputDefinitions", {})
    outputs = component.get("outputDefinitions", {})
    for name, spec in sorted(inputs.get("artifacts", {}).items()):
        interface.inputs.add(
            name=names.identifier(name),
            artifact_type=_artifact_type(spec),
            optional=bool(spec.get("isOptional")),
            is_list=bool(spec.get("isArtifactList")),
            description=spec.get("description", ""),
        )
    for name, spec in sorted(inputs.get("parameters", {}).items()):
        value_type = _PARAMETER_TYPES.get(spec.get("parameterType", ""), V.VALUE_TYPE_UNSPECIFIED)
        param = interface.parameters.add(
            name=names.identifier(name),
            type=value_type,
            # An exit handler's task status is filled by the orchestrator, never bound.
            optional=bool(spec.get("isOptional"))
            or spec.get("parameterType") == "TASK_FINAL_STATUS",
            description=spec.get("description", ""),
        )
        if "defaultValue" in spec:
            param.default_value.CopyFrom(_typed_value(spec["defaultValue"], value_type))
    for name, spec in sorted(outputs.get("artifacts", {}).items()):
        interface.outputs.add(
            name=names.identifier(name),
            artifact_type=_artifact_type(spec),
            is_list=bool(spec.get("isArtifactList")),
            description=spec.get("description", ""),
        )
    for name, spec in sorted(outputs.get("parameters", {}).items()):
        interface.outputs.add(
            name=names.identifier(name),
            value_type=_PARAMETER_TYPES.get(
                spec.get("parameterType", ""), V.VALUE_TYPE_UNSPECIFIED
            ),
            description=spec.get("description", ""),
        )
    return interface


def _placeholders(text: str) -> str:
    """KFP placeholders in a command or argument as MLSpec's (others are kept as they are)."""
    for pattern, template in _PLACEHOLDERS:

        def replace(match: re.Match[str], template: str = template) -> str:
            return "{{" + template.format(names.identifier(match.group(1))) + "}}"

        text = pattern.sub(replace, text)
    return text


def _resources(spec: Mapping[str, Any]) -> compute_pb2.ComputeResources:
    resources = compute_pb2.ComputeResources()
    cpu_limit = spec.get("resourceCpuLimit", spec.get("cpuLimit"))
    cpu_request = spec.get("resourceCpuRequest", spec.get("cpuRequest"))
    if cpu_limit is not None:
        resources.cpu_limit = _quantity(cpu_limit)
    if cpu_request is not None:
        resources.cpu_request = _quantity(cpu_request)
    if "resourceMemoryLimit" in spec:
        resources.memory_limit_bytes = int(_quantity(spec["resourceMemoryLimit"]))
    elif "memoryLimit" in spec:  # gigabytes
        resources.memory_limit_bytes = int(float(spec["memoryLimit"]) * 1e9)
    if "resourceMemoryRequest" in spec:
        resources.memory_request_bytes = int(_quantity(spec["resourceMemoryRequest"]))
    elif "memoryRequest" in spec:
        resources.memory_request_bytes = int(float(spec["memoryRequest"]) * 1e9)
    accelerator = spec.get("accelerator")
    if accelerator:
        resources.accelerators.add(
            type=str(accelerator.get("resourceType", accelerator.get("type", ""))),
            count=int(accelerator.get("resourceCount", accelerator.get("count", 1))),
        )
    return resources


def _primitive(
    component: Mapping[str, Any], executor: Mapping[str, Any], notes: list[str], where: str
) -> tuple[module_pb2.ModuleVersion, str]:
    """A component with a container executor; returns the version and the function name."""
    container = executor.get("container")
    if container is None:
        kinds = ", ".join(sorted(executor)) or "nothing"
        raise KfpFormatError(f"{where}: the executor holds {kinds}, not a container")
    version = module_pb2.ModuleVersion(interface=_interface(component))
    image = str(container.get("image", ""))
    command = [str(c) for c in container.get("command", [])]
    args = [str(a) for a in container.get("args", [])]
    function = ""
    if "--function_to_execute" in args:
        function = args[args.index("--function_to_execute") + 1]
    snapshot = version.snapshot
    executor_out = version.executor
    if any("kfp.dsl.executor_main" in c for c in command) and command:
        code = command[-1]  # the program the launcher writes to ephemeral_component.py
        snapshot.inline.code = code
        snapshot.inline.language = "python"
        snapshot.inline.base_image = image
        snapshot.digest.digests["sha256"] = hashlib.sha256(code.encode()).hexdigest()
        executor_out.runtime_image = image
        executor_out.runtime = "python"
        executor_out.entrypoint = function
    else:
        name, _, digest = image.partition("@")
        snapshot.container_image.image = name
        if digest.startswith("sha256:"):
            snapshot.container_image.image_digest = digest
            snapshot.digest.digests["sha256"] = digest.removeprefix("sha256:")
        else:
            snapshot.digest.unknown_reason = f"kfp: image {image} is given by tag, not digest"
    executor_out.command.extend(_placeholders(c) for c in command)
    executor_out.args.extend(_placeholders(a) for a in args)
    for variable in container.get("env", []):
        executor_out.env[str(variable["name"])] = str(variable.get("value", ""))
    if container.get("resources"):
        executor_out.resources.CopyFrom(_resources(container["resources"]))
    for key in sorted(set(container) - {"image", "command", "args", "env", "resources"}):
        notes.append(f"{where}: container field {key!r} is not mapped")
    return version, function


@dataclass
class _Context:
    """The parsed file and what conversion learns along the way."""

    ir: Mapping[str, Any]
    pipeline: str
    notes: list[str]
    modules: dict[str, ModulePlan] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    visiting: set[str] = field(default_factory=set)

    @property
    def components(self) -> Mapping[str, Any]:
        return self.ir.get("components", {})  # type: ignore[no-any-return]

    @property
    def executors(self) -> Mapping[str, Any]:
        return self.ir.get("deploymentSpec", {}).get("executors", {})  # type: ignore[no-any-return]


def _module(ctx: _Context, component_name: str) -> ModulePlan:
    """The module plan of a component, made (with those it uses) on first request."""
    if component_name in ctx.modules:
        return ctx.modules[component_name]
    if component_name in ctx.visiting:
        raise KfpFormatError(f"component {component_name} contains itself")
    component = ctx.components.get(component_name)
    if component is None:
        raise KfpFormatError(f"a task refers to component {component_name!r}, which is not defined")
    ctx.visiting.add(component_name)
    base = component_name.removeprefix("comp-")
    if "dag" in component:
        graph = _graph(ctx, component["dag"], component, f"component {component_name}")
        version = module_pb2.ModuleVersion(interface=_interface(component), graph=graph)
        kind = module_pb2.MODULE_KIND_COMPLEX
        module_name = f"{ctx.pipeline}-{base}" if _CONTROL_FLOW.match(component_name) else base
    else:
        label = component.get("executorLabel", "")
        executor = ctx.executors.get(label)
        if executor is None:
            raise KfpFormatError(
                f"component {component_name} names executor {label!r}, which is not defined"
            )
        version, function = _primitive(
            component, executor, ctx.notes, f"component {component_name}"
        )
        kind = module_pb2.MODULE_KIND_PRIMITIVE
        module_name = function or re.sub(r"-\d+$", "", base)
    module_name = names.resource_name(module_name)
    label = _digest(version)[:16]
    version.version = label
    version.meta.display_name = component_name
    plan = ModulePlan(component_name, module_name, kind, version, label, component_name)
    ctx.visiting.discard(component_name)
    ctx.modules[component_name] = plan
    ctx.order.append(component_name)
    return plan


def _condition(text: str) -> str:
    """A KFP trigger condition in MLSpec's CEL, reading ``params.<name>``."""
    return _CONDITION_INPUT.sub(lambda m: "params." + names.identifier(m.group(1)), text)


def _graph(
    ctx: _Context, dag: Mapping[str, Any], owner: Mapping[str, Any], where: str
) -> graph_pb2.PipelineGraph:
    """A KFP DAG as a PipelineGraph (its components become modules first)."""
    graph = graph_pb2.PipelineGraph()
    tasks: Mapping[str, Any] = dag.get("tasks", {})
    ids = {name: names.vertex_id(name) for name in tasks}
    if len(set(ids.values())) != len(ids):
        raise KfpFormatError(f"{where}: two task names map to the same vertex id")
    inputs_added: set[str] = set()
    imported = {name for name, task in tasks.items() if _importer(ctx, task) is not None}
    for task_name in sorted(tasks):
        task = tasks[task_name]
        vid = ids[task_name]
        importer = _importer(ctx, task)
        if importer is not None:
            graph.vertices.add(
                id=vid,
                display_name=task.get("taskInfo", {}).get("name", task_name),
                data=_importer_vertex(importer, task, ctx.notes, f"{where}, task {task_name}"),
            )
            continue
        plan = _module(ctx, task["componentRef"]["name"])
        declared = {p.name: p.type for p in plan.version.interface.parameters}
        vertex = graph.vertices.add(
            id=vid, display_name=task.get("taskInfo", {}).get("name", task_name)
        )
        step = vertex.step
        step.module.CopyFrom(
            reference_pb2.ResourceRef(
                kind=reference_pb2.RESOURCE_KIND_MODULE, name=plan.module_name, version=plan.label
            )
        )
        linked: set[str] = set()
        for pname, spec in sorted(task.get("inputs", {}).get("parameters", {}).items()):
            binding = step.parameters[names.identifier(pname)]
            if "runtimeValue" in spec:
                constant = spec["runtimeValue"].get("constant")
                binding.value.CopyFrom(
                    _typed_value(constant, declared.get(names.identifier(pname), 0))
                )
            elif "componentInputParameter" in spec:
                binding.graph_parameter = names.identifier(spec["componentInputParameter"])
            elif "taskOutputParameter" in spec:
                producer = spec["taskOutputParameter"]["producerTask"]
                binding.step_output.vertex_id = ids.get(producer, names.vertex_id(producer))
                binding.step_output.port_name = names.identifier(
                    spec["taskOutputParameter"]["outputParameterKey"]
                )
                linked.add(producer)
            else:
                del step.parameters[names.identifier(pname)]
                ctx.notes.append(
                    f"{where}, task {task_name}: parameter {pname} ({', '.join(spec)}) is not mapped"
                )
        for aname, spec in sorted(task.get("inputs", {}).get("artifacts", {}).items()):
            target = graph_pb2.Port(vertex_id=vid, port_name=names.identifier(aname))
            if "taskOutputArtifact" in spec:
                producer = spec["taskOutputArtifact"]["producerTask"]
                source = graph_pb2.Port(
                    vertex_id=ids.get(producer, names.vertex_id(producer)),
                    port_name="data"
                    if producer in imported
                    else names.identifier(spec["taskOutputArtifact"]["outputArtifactKey"]),
                )
                linked.add(producer)
            elif "componentInputArtifact" in spec:
                input_name = names.identifier(spec["componentInputArtifact"])
                data_id = names.vertex_id(f"input-{input_name}")
                if data_id not in inputs_added:
                    graph.vertices.add(
                        id=data_id, data=graph_pb2.DataVertex(graph_input=input_name)
                    )
                    inputs_added.add(data_id)
                source = graph_pb2.Port(vertex_id=data_id, port_name="data")
            else:
                ctx.notes.append(f"{where}, task {task_name}: artifact {aname} is not mapped")
                continue
            graph.edges.add(kind=graph_pb2.EDGE_KIND_DATA, source=source, target=target)
        for dependency in task.get("dependentTasks", []):
            if dependency not in linked:
                graph.edges.add(
                    kind=graph_pb2.EDGE_KIND_CONTROL,
                    source=graph_pb2.Port(
                        vertex_id=ids.get(dependency, names.vertex_id(dependency)),
                        port_name="_control",
                    ),
                    target=graph_pb2.Port(vertex_id=vid, port_name="_control"),
                )
        _task_options(task, step, ctx.notes, f"{where}, task {task_name}")
    _graph_outputs(dag, graph, ids)
    return graph


def _importer(ctx: _Context, task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The importer spec of a task that runs ``dsl.importer``, else None."""
    component = ctx.components.get(task.get("componentRef", {}).get("name", ""), {})
    executor = ctx.executors.get(component.get("executorLabel", ""), {})
    found = executor.get("importer")
    return found if isinstance(found, dict) else None


def _importer_vertex(
    importer: Mapping[str, Any], task: Mapping[str, Any], notes: list[str], where: str
) -> graph_pb2.DataVertex:
    """A ``dsl.importer`` task: data that enters the pipeline from a URI."""
    vertex = graph_pb2.DataVertex(
        artifact_type=_artifact_type({"artifactType": importer.get("typeSchema", {})})
    )
    uri = importer.get("artifactUri", {})
    constant = uri.get("runtimeValue", {}).get("constant")
    if constant is None:  # the compiler passes a constant URI as the task's `uri` input
        constant = (
            task.get("inputs", {})
            .get("parameters", {})
            .get("uri", {})
            .get("runtimeValue", {})
            .get("constant")
        )
    if constant is not None:
        vertex.data_path_uri = str(constant)
    else:
        notes.append(
            f"{where}: an importer whose URI is a pipeline parameter is not mapped; kfp:importer stands for it"
        )
        vertex.data_path_uri = "kfp:importer"
    return vertex


def _task_options(
    task: Mapping[str, Any], step: graph_pb2.StepVertex, notes: list[str], where: str
) -> None:
    """Caching, retry, condition, trigger and loop of a task as the step's TaskOptions."""
    options = step.options
    if "cachingOptions" in task:
        caching = task["cachingOptions"]
        options.caching.mode = (
            graph_pb2.CACHE_MODE_ENABLED
            if caching.get("enableCache")
            else graph_pb2.CACHE_MODE_DISABLED
        )
        if caching.get("cacheKey"):
            options.caching.cache_key_salt = str(caching["cacheKey"])
    retry = task.get("retryPolicy")
    if retry:
        options.retry_policy.max_retries = int(retry.get("maxRetryCount", 0))
        if "backoffDuration" in retry:
            options.retry_policy.initial_backoff.CopyFrom(_duration(str(retry["backoffDuration"])))
        if "backoffFactor" in retry:
            options.retry_policy.backoff_multiplier = float(retry["backoffFactor"])
        if "backoffMaxDuration" in retry:
            options.retry_policy.max_backoff.CopyFrom(_duration(str(retry["backoffMaxDuration"])))
    trigger = task.get("triggerPolicy", {})
    if trigger.get("condition"):
        options.trigger.condition = _condition(str(trigger["condition"]))
        options.trigger.condition_dialect = "cel"
    if trigger.get("strategy") == "ALL_UPSTREAM_TASKS_COMPLETED":
        options.trigger.policy = graph_pb2.TRIGGER_POLICY_ALL_UPSTREAM_COMPLETED
    iterator = task.get("parameterIterator")
    if iterator:
        items = iterator.get("items", {})
        if "raw" in items:
            literal = items["raw"]
            parsed = json.loads(literal) if isinstance(literal, str) else literal
            options.iterator.literal_items.CopyFrom(
                _typed_value(list(parsed), V.VALUE_TYPE_ARRAY).array_value
            )
        elif "inputParameter" in items:
            bound = step.parameters.get(names.identifier(items["inputParameter"]))
            if bound is not None and bound.WhichOneof("source") == "graph_parameter":
                options.iterator.graph_parameter = bound.graph_parameter
            else:
                notes.append(
                    f"{where}: a loop over {items['inputParameter']} (not a pipeline parameter) is not mapped"
                )
        item = iterator.get("itemInput")
        if item:
            step.parameters[names.identifier(item)].iterator_item.SetInParent()
        limit = task.get("iteratorPolicy", {}).get("parallelismLimit")
        if limit:
            options.iterator.parallelism = int(limit)
    if task.get("artifactIterator"):
        notes.append(f"{where}: a loop over artifacts is not mapped")
    if not options.ListFields():
        step.ClearField("options")


def _graph_outputs(
    dag: Mapping[str, Any], graph: graph_pb2.PipelineGraph, ids: Mapping[str, str]
) -> None:
    outputs = dag.get("outputs", {})
    for name, spec in sorted(outputs.get("parameters", {}).items()):
        source = spec.get("valueFromParameter")
        if source:
            graph.outputs.add(
                name=names.identifier(name),
                source=graph_pb2.Port(
                    vertex_id=ids.get(
                        source["producerSubtask"], names.vertex_id(source["producerSubtask"])
                    ),
                    port_name=names.identifier(source["outputParameterKey"]),
                ),
            )
    for name, spec in sorted(outputs.get("artifacts", {}).items()):
        selectors = spec.get("artifactSelectors", [])
        if selectors:
            graph.outputs.add(
                name=names.identifier(name),
                source=graph_pb2.Port(
                    vertex_id=ids.get(
                        selectors[0]["producerSubtask"],
                        names.vertex_id(selectors[0]["producerSubtask"]),
                    ),
                    port_name=names.identifier(selectors[0]["outputArtifactKey"]),
                ),
            )


def plan(ir: Mapping[str, Any], source: str = "") -> KfpPlan:
    """What a compiled pipeline becomes: modules in dependency order and the pipeline graph."""
    info = ir["pipelineInfo"]
    kfp_name = str(info.get("name", "pipeline"))
    ctx = _Context(ir, names.resource_name(kfp_name), [])
    root = ir["root"]
    graph = _graph(ctx, root.get("dag", {}), root, "root")
    for name, spec in sorted(root.get("inputDefinitions", {}).get("parameters", {}).items()):
        value_type = _PARAMETER_TYPES.get(spec.get("parameterType", ""), V.VALUE_TYPE_UNSPECIFIED)
        param = graph.parameters.add(
            name=names.identifier(name),
            type=value_type,
            description=spec.get("description", ""),
        )
        if "defaultValue" in spec:
            param.default_value.CopyFrom(_typed_value(spec["defaultValue"], value_type))
    for name in sorted(root.get("inputDefinitions", {}).get("artifacts", {})):
        ctx.notes.append(f"root: pipeline input artifact {name} is not mapped")
    for key in sorted(
        set(ir)
        - {
            "components",
            "deploymentSpec",
            "pipelineInfo",
            "root",
            "schemaVersion",
            "sdkVersion",
            "defaultPipelineRoot",
        }
    ):
        ctx.notes.append(f"the IR's {key!r} is not mapped")
    return KfpPlan(
        name=ctx.pipeline,
        display_name=str(info.get("displayName") or kfp_name),
        description=str(info.get("description", "")),
        label=_digest(graph)[:16],
        graph=graph,
        modules=[ctx.modules[c] for c in ctx.order],
        source=source,
        notes=ctx.notes,
    )


@dataclass
class KfpImport:
    """The outcome of importing one compiled pipeline."""

    plan: KfpPlan
    pipeline: pipeline_pb2.Pipeline
    counts: ImportCounts


def _ensure_module(client: Client, counts: ImportCounts, plan: ModulePlan, source: str) -> None:
    """The plan's module (by name) and version (by external id), created when missing."""
    module = ensure(
        counts,
        "Module",
        lambda: client.pipelines.GetModule(pb.GetModuleRequest(name=plan.module_name)).module,
        lambda: (
            client.pipelines.CreateModule(
                pb.CreateModuleRequest(
                    module=module_pb2.Module(
                        meta=object_meta_pb2.ObjectMeta(
                            name=plan.module_name,
                            description=f"Imported from Kubeflow Pipelines ({plan.component}).",
                        ),
                        kind=plan.kind,  # type: ignore[arg-type]
                    )
                )
            ).module
        ),
    )
    version = module_pb2.ModuleVersion()
    version.CopyFrom(plan.version)
    version.module_id = module.meta.id
    ext = external_id(SYSTEM, f"{plan.module_name}@{plan.label}", source)
    version.meta.external_id.CopyFrom(ext)
    ensure(
        counts,
        "ModuleVersion",
        lambda: (
            client.pipelines.GetModuleVersion(
                pb.GetModuleVersionRequest(external_id=ext)
            ).module_version
        ),
        lambda: (
            client.pipelines.CreateModuleVersion(
                pb.CreateModuleVersionRequest(module_version=version)
            ).module_version
        ),
    )


def import_pipeline(client: Client, ir: Mapping[str, Any], source: str = "") -> KfpImport:
    """Creates the modules, versions, draft and pipeline of a compiled pipeline (or finds them)."""
    result = plan(ir, source)
    counts = ImportCounts()
    for module_plan in result.modules:
        _ensure_module(client, counts, module_plan, source)
    draft_ext = external_id(SYSTEM, f"{result.name}@{result.label}", source)
    draft = pipeline_pb2.PipelineDraft(graph=result.graph)
    draft.meta.name = names.resource_name(f"{result.name}-{result.label}")
    draft.meta.display_name = result.display_name
    draft.meta.description = result.description
    draft.meta.external_id.CopyFrom(draft_ext)
    stored_draft = ensure(
        counts,
        "PipelineDraft",
        lambda: (
            client.pipelines.GetPipelineDraft(
                pb.GetPipelineDraftRequest(external_id=draft_ext)
            ).pipeline_draft
        ),
        lambda: (
            client.pipelines.CreatePipelineDraft(
                pb.CreatePipelineDraftRequest(pipeline_draft=draft)
            ).pipeline_draft
        ),
    )
    pipeline = ensure(
        counts,
        "Pipeline",
        lambda: (
            client.pipelines.GetPipeline(
                pb.GetPipelineRequest(name=result.name, version=result.label)
            ).pipeline
        ),
        lambda: (
            client.pipelines.PublishPipelineDraft(
                pb.PublishPipelineDraftRequest(
                    draft_id=stored_draft.meta.id, name=result.name, version=result.label
                )
            ).pipeline
        ),
    )
    return KfpImport(result, pipeline, counts)
