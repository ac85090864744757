"""mlspec.pipelines.v1.PipelinesService: validate, publish, submit, clone, run states.

Drafts, pipelines, modules and their versions use the generic standard methods; this
module holds the transformations of SPEC.md section 4 (Draft.submit and Pipeline.submit
-> PipelineRun, PipelineRun.clone and Pipeline.clone -> Draft, Draft.publish ->
Pipeline), graph validation with every violation at once, and the run state changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.domain import errors, graph, kind_rules, runs
from mlspec.domain.errors import FieldViolation
from mlspec.domain.resources import Loaded, Resources, micros_to_timestamp
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.pipelines.v1 import graph_pb2, module_pb2, pipeline_pb2, pipeline_run_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb
from mlspec.server.dispatch import Handler
from mlspec.store.sql import now_micros
from mlspec.tracking.v1 import run_pb2

SERVICE = "mlspec.pipelines.v1.PipelinesService"
K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind
R = graph_pb2.GraphValidationRule


@dataclass
class Resolution:
    """Module interfaces of a graph's steps, and what each reference resolved to."""

    interfaces: dict[str, module_pb2.ModuleInterface] = field(default_factory=dict)
    references: list[pipeline_run_pb2.ResolvedReference] = field(default_factory=list)
    violations: list[graph_pb2.GraphViolation] = field(default_factory=list)


def resolve_graph(res: Resources, g: graph_pb2.PipelineGraph, *, for_use: bool) -> Resolution:
    """Resolves every step's module (a Module -> its latest active version) and data vertex."""
    out = Resolution()
    for vertex in g.vertices:
        try:
            if vertex.HasField("step"):
                version = _module_version(
                    res, vertex.step.module, f"vertex {vertex.id}", for_use=for_use
                )
                assert isinstance(version.message, module_pb2.ModuleVersion)
                out.interfaces[vertex.id] = version.message.interface
                resolved = reference_pb2.ResourceRef(
                    kind=K.RESOURCE_KIND_MODULE_VERSION, id=version.record.id
                )
                out.references.append(
                    pipeline_run_pb2.ResolvedReference(
                        vertex_id=vertex.id, requested=vertex.step.module, resolved=resolved
                    )
                )
            elif vertex.HasField("data") and vertex.data.HasField("dataset"):
                target = res.resolve(vertex.data.dataset, f"vertex {vertex.id}", for_use=for_use)
                if target.spec.kind == K.RESOURCE_KIND_DATASET:
                    latest = res.latest_active(K.RESOURCE_KIND_DATASET_VERSION, target.record.id)
                    if latest is None:
                        raise errors.FailedPrecondition(
                            f"dataset {target.record.id} has no usable version", reason="NO_VERSION"
                        )
                    target = latest
                    if for_use:
                        res.check_usable(target, f"vertex {vertex.id}")
                resolved = reference_pb2.ResourceRef(id=target.record.id)
                resolved.kind = target.spec.kind  # type: ignore[assignment]
                out.references.append(
                    pipeline_run_pb2.ResolvedReference(
                        vertex_id=vertex.id, requested=vertex.data.dataset, resolved=resolved
                    )
                )
        except errors.NotFound as exc:
            out.violations.append(
                graph_pb2.GraphViolation(
                    rule=R.GRAPH_VALIDATION_RULE_MODULE_NOT_FOUND,
                    vertex_id=vertex.id,
                    message=exc.message,
                )
            )
        except errors.FailedPrecondition as exc:
            out.violations.append(
                graph_pb2.GraphViolation(
                    rule=R.GRAPH_VALIDATION_RULE_RESOURCE_ARCHIVED,
                    vertex_id=vertex.id,
                    message=exc.message,
                )
            )
    return out


def _module_version(
    res: Resources, ref: reference_pb2.ResourceRef, path: str, *, for_use: bool
) -> Loaded:
    target = res.resolve(ref, path, for_use=for_use)
    if target.spec.kind == K.RESOURCE_KIND_MODULE_VERSION:
        return target
    if target.spec.kind != K.RESOURCE_KIND_MODULE:
        raise errors.NotFound(
            f"{path} refers to a {target.spec.label}, not a module", reason="RESOURCE_NOT_FOUND"
        )
    latest = res.latest_active(K.RESOURCE_KIND_MODULE_VERSION, target.record.id)
    if latest is None:
        raise errors.NotFound(
            f"module {target.record.id} has no active version", reason="RESOURCE_NOT_FOUND"
        )
    if for_use:
        res.check_usable(latest, path)
    return latest


def check(
    res: Resources, g: graph_pb2.PipelineGraph, *, for_use: bool
) -> tuple[Resolution, list[str]]:
    """Resolves and validates a graph; FAILED_PRECONDITION listing every violation."""
    resolution = resolve_graph(res, g, for_use=for_use)
    violations, order = graph.validate(g, resolution.interfaces)
    violations = resolution.violations + violations
    if violations:
        raise errors.FailedPrecondition(
            f"the pipeline graph has {len(violations)} violation(s): "
            + "; ".join(v.message for v in violations),
            reason="GRAPH_INVALID",
            violations=[FieldViolation(_where(v), v.message) for v in violations],
        )
    return resolution, order


def _where(v: graph_pb2.GraphViolation) -> str:
    if v.HasField("edge_index"):
        return f"graph.edges[{v.edge_index}]"
    if v.vertex_id:
        return f"graph.vertices[{v.vertex_id!r}]"
    if v.parameter_name:
        return f"graph.parameters[{v.parameter_name!r}]"
    return "graph"


def validate_graph(request: pb.ValidatePipelineGraphRequest, res: Resources) -> Message:
    """Returns every violation of a graph (references checked on request)."""
    resolution = (
        resolve_graph(res, request.graph, for_use=False)
        if request.check_references
        else Resolution()
    )
    if not request.check_references:
        resolution.interfaces = _declared_interfaces(res, request.graph)
    violations, order = graph.validate(request.graph, resolution.interfaces)
    violations = resolution.violations + violations
    return pb.ValidatePipelineGraphResponse(
        valid=not violations, violations=violations, topological_order=order
    )


def _declared_interfaces(
    res: Resources, g: graph_pb2.PipelineGraph
) -> dict[str, module_pb2.ModuleInterface]:
    found = {}
    for vertex in g.vertices:
        if vertex.HasField("step"):
            try:
                version = _module_version(res, vertex.step.module, vertex.id, for_use=False)
            except errors.DomainError:
                continue
            assert isinstance(version.message, module_pb2.ModuleVersion)
            found[vertex.id] = version.message.interface
    return found


def _graph_digest(g: graph_pb2.PipelineGraph) -> str:
    return hashlib.sha256(g.SerializeToString(deterministic=True)).hexdigest()


def _submit(
    res: Resources,
    g: graph_pb2.PipelineGraph,
    source: tuple[str, str],
    defaults: dict[str, object],
    request: pb.SubmitPipelineRequest | pb.SubmitPipelineDraftRequest,
) -> Message:
    resolution, _ = check(res, g, for_use=True)
    run = pipeline_run_pb2.PipelineRun(experiment_id=request.experiment_id)
    setattr(run, source[0], source[1])
    run.meta.name = request.run_name
    run.meta.description = request.run_description
    run.meta.labels.update(request.run_labels)
    declared = {p.name for p in g.parameters}
    unknown = [name for name in request.parameter_values if name not in declared]
    if unknown:
        raise errors.InvalidArgument(
            f"unknown graph parameters: {', '.join(sorted(unknown))}",
            reason="PARAMETER_UNKNOWN",
            violations=[
                FieldViolation(f"parameter_values[{n!r}]", "is not a graph parameter")
                for n in unknown
            ],
        )

    def derive(message: Message) -> list[tuple[str, int]]:
        assert isinstance(message, pipeline_run_pb2.PipelineRun)
        message.resolved_graph.CopyFrom(g)
        message.resolved_references.extend(resolution.references)
        message.resolved_graph_digest.digests["sha256"] = _graph_digest(g)
        for param in g.parameters:
            if param.name in request.parameter_values:
                message.parameter_values[param.name].CopyFrom(request.parameter_values[param.name])
            elif param.HasField("default_value"):
                message.parameter_values[param.name].CopyFrom(param.default_value)
        message.state = run_state_pb2.RUN_STATE_PENDING
        message.state_history.add(state=message.state, time=message.meta.create_time)
        return [(r.resolved.id, E.LINEAGE_EDGE_KIND_CONSUMED) for r in resolution.references]

    stored = res.create(run, "pipeline_run", derive=derive)
    assert isinstance(stored, pipeline_run_pb2.PipelineRun)
    loaded = res.get(K.RESOURCE_KIND_PIPELINE_RUN, stored.meta.id)
    tracking = kind_rules.tracking_run_for(
        res, run_pb2.RUN_KIND_PIPELINE_RUN, request.experiment_id, pipeline_run_id=stored.meta.id
    )
    stored.run_id = tracking.meta.id
    res.save(loaded, stored)
    return (
        pb.SubmitPipelineResponse(pipeline_run=stored)
        if isinstance(request, pb.SubmitPipelineRequest)
        else pb.SubmitPipelineDraftResponse(pipeline_run=stored)
    )


def submit_draft(request: pb.SubmitPipelineDraftRequest, res: Resources) -> Message:
    """Draft.submit -> PipelineRun."""
    draft = res.get(K.RESOURCE_KIND_PIPELINE_DRAFT, request.draft_id, path="draft_id")
    res.check_usable(draft, "draft_id")
    assert isinstance(draft.message, pipeline_pb2.PipelineDraft)
    return _submit(res, draft.message.graph, ("draft_id", draft.record.id), {}, request)


def submit_pipeline(request: pb.SubmitPipelineRequest, res: Resources) -> Message:
    """Pipeline.submit -> PipelineRun."""
    pipeline = _pipeline(res, request.pipeline, "pipeline", for_use=True)
    assert isinstance(pipeline.message, pipeline_pb2.Pipeline)
    return _submit(res, pipeline.message.graph, ("pipeline_id", pipeline.record.id), {}, request)


def _pipeline(
    res: Resources, ref: reference_pb2.ResourceRef, path: str, *, for_use: bool
) -> Loaded:
    if ref.kind != K.RESOURCE_KIND_PIPELINE:
        raise errors.invalid(f"{path}.kind", "must be RESOURCE_KIND_PIPELINE")
    if ref.WhichOneof("target") == "name" and ref.version:
        return _pipeline_version(res, ref, path, for_use=for_use)
    if ref.WhichOneof("target") == "name":
        candidates = _pipelines_named(res, ref.name)
        if not candidates:
            raise errors.NotFound(f"no pipeline named {ref.name!r}", reason="RESOURCE_NOT_FOUND")
        loaded = candidates[-1]
    else:
        loaded = res.get(K.RESOURCE_KIND_PIPELINE, ref.id, path=f"{path}.id")
    if for_use:
        res.check_usable(loaded, path)
    return loaded


def _pipelines_named(res: Resources, name: str) -> list[Loaded]:
    from mlspec.domain.filters import Comparison
    from mlspec.store.records import ListQuery

    query = ListQuery(
        workspace=res.scope.workspace,
        kind=K.RESOURCE_KIND_PIPELINE,
        statuses=(1, 2),
        filter=Comparison(("name",), "=", name),
        page_size=1000,
    )
    return [res.get(K.RESOURCE_KIND_PIPELINE, r.id) for r in res.tx.list_page(query).records]


def _pipeline_version(
    res: Resources, ref: reference_pb2.ResourceRef, path: str, *, for_use: bool
) -> Loaded:
    record = res.tx.find_by_name(
        res.scope.workspace, K.RESOURCE_KIND_PIPELINE, ref.version, ref.name
    )
    if record is None:
        raise errors.NotFound(
            f"no pipeline {ref.name!r} version {ref.version!r}", reason="RESOURCE_NOT_FOUND"
        )
    loaded = res.get(K.RESOURCE_KIND_PIPELINE, record.id)
    if for_use:
        res.check_usable(loaded, path)
    return loaded


def publish_draft(request: pb.PublishPipelineDraftRequest, res: Resources) -> Message:
    """Draft.publish -> an immutable Pipeline (the graph must be valid)."""
    draft = res.get(K.RESOURCE_KIND_PIPELINE_DRAFT, request.draft_id, path="draft_id")
    res.check_usable(draft, "draft_id")
    if request.draft_etag and request.draft_etag != draft.record.etag:
        raise errors.Aborted(
            "the draft changed since it was read (draft_etag mismatch)", reason="ETAG_MISMATCH"
        )
    assert isinstance(draft.message, pipeline_pb2.PipelineDraft)
    check(res, draft.message.graph, for_use=True)
    name = request.name or draft.record.name
    sequence = len(_pipelines_named(res, name)) + 1
    version = request.version or str(sequence)
    pipeline = pipeline_pb2.Pipeline()
    pipeline.meta.name = name
    pipeline.meta.description = request.description or draft.message.meta.description
    if request.HasField("attestation"):
        pipeline.attestation.CopyFrom(request.attestation)

    def derive(message: Message) -> list[tuple[str, int]]:
        assert isinstance(message, pipeline_pb2.Pipeline)
        message.graph.CopyFrom(draft.message.graph)  # type: ignore[attr-defined]
        message.published_from_draft_id = draft.record.id
        message.version = version
        message.sequence = sequence
        message.graph_digest.digests["sha256"] = _graph_digest(message.graph)
        for key, value in draft.message.parameter_values.items():  # type: ignore[attr-defined]
            message.default_parameter_values[key].CopyFrom(value)
        message.publish_time.CopyFrom(message.meta.create_time)
        return [(draft.record.id, E.LINEAGE_EDGE_KIND_DERIVED_FROM)]

    stored = res.create(pipeline, "pipeline", derive=derive)
    updated = pipeline_pb2.PipelineDraft()
    updated.CopyFrom(draft.message)
    updated.last_published_pipeline_id = stored.meta.id
    res.save(draft, updated)
    return pb.PublishPipelineDraftResponse(pipeline=stored)


def _new_draft(
    res: Resources,
    g: graph_pb2.PipelineGraph,
    name: str,
    cloned_from: reference_pb2.ResourceRef,
    params: object,
) -> pipeline_pb2.PipelineDraft:
    draft = pipeline_pb2.PipelineDraft(graph=g)
    draft.meta.name = name
    for key, value in params.items():  # type: ignore[attr-defined]
        draft.parameter_values[key].CopyFrom(value)

    def derive(message: Message) -> list[tuple[str, int]]:
        assert isinstance(message, pipeline_pb2.PipelineDraft)
        message.cloned_from.CopyFrom(cloned_from)
        return [(cloned_from.id, E.LINEAGE_EDGE_KIND_DERIVED_FROM)]

    stored = res.create(draft, "pipeline_draft", derive=derive)
    assert isinstance(stored, pipeline_pb2.PipelineDraft)
    return stored


def clone_pipeline(request: pb.ClonePipelineRequest, res: Resources) -> Message:
    """Pipeline.clone -> a new PipelineDraft with the pipeline's graph."""
    pipeline = _pipeline(res, request.pipeline, "pipeline", for_use=False)
    assert isinstance(pipeline.message, pipeline_pb2.Pipeline)
    name = request.draft_name or f"{pipeline.record.name}-draft-{now_micros() % 1_000_000}"
    ref = reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_PIPELINE, id=pipeline.record.id)
    draft = _new_draft(
        res, pipeline.message.graph, name, ref, pipeline.message.default_parameter_values
    )
    return pb.ClonePipelineResponse(pipeline_draft=draft)


def clone_pipeline_run(request: pb.ClonePipelineRunRequest, res: Resources) -> Message:
    """PipelineRun.clone -> a new PipelineDraft (optionally pinned to resolved versions)."""
    run = res.get(K.RESOURCE_KIND_PIPELINE_RUN, request.pipeline_run_id, path="pipeline_run_id")
    assert isinstance(run.message, pipeline_run_pb2.PipelineRun)
    g = graph_pb2.PipelineGraph()
    g.CopyFrom(run.message.resolved_graph)
    if request.pin_resolved_versions:
        resolved = {r.vertex_id: r.resolved for r in run.message.resolved_references}
        for vertex in g.vertices:
            if vertex.id in resolved and vertex.HasField("step"):
                vertex.step.module.CopyFrom(resolved[vertex.id])
            elif vertex.id in resolved and vertex.HasField("data"):
                vertex.data.dataset.CopyFrom(resolved[vertex.id])
    name = request.draft_name or f"{run.record.name or 'run'}-clone-{now_micros() % 1_000_000}"
    ref = reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_PIPELINE_RUN, id=run.record.id)
    draft = _new_draft(res, g, name, ref, run.message.parameter_values)
    return pb.ClonePipelineRunResponse(pipeline_draft=draft)


def _move(
    res: Resources,
    loaded: Loaded,
    state: int,
    etag: str,
    reason: str,
    message_text: str,
    error: Message | None,
) -> Any:
    current: Any = loaded.message
    runs.check_transition(current.state, state)
    updated = type(current)()
    updated.CopyFrom(current)
    now = micros_to_timestamp(now_micros())
    updated.state = state
    updated.state_history.add(state=state, time=now, reason=reason, message=message_text)
    if state == run_state_pb2.RUN_STATE_RUNNING and not updated.HasField("start_time"):
        updated.start_time.CopyFrom(now)
    if runs.is_terminal(state):
        updated.end_time.CopyFrom(now)
    if error is not None and error.ListFields():
        updated.error.CopyFrom(error)
    stored = res.save(loaded, updated, etag)
    tracking_id = getattr(stored, "run_id", "")
    if tracking_id:
        _sync_tracking_run(res, tracking_id, state, reason)
    return stored


def _sync_tracking_run(res: Resources, run_id: str, state: int, reason: str) -> None:
    tracking = res.get(K.RESOURCE_KIND_RUN, run_id)
    assert isinstance(tracking.message, run_pb2.Run)
    if tracking.message.state == state or runs.is_terminal(tracking.message.state):
        return
    updated = run_pb2.Run()
    updated.CopyFrom(tracking.message)
    now = micros_to_timestamp(now_micros())
    updated.state_history.add(from_state=updated.state, to_state=state, time=now, reason=reason)
    updated.state = state  # type: ignore[assignment]
    if state == run_state_pb2.RUN_STATE_RUNNING and not updated.HasField("start_time"):
        updated.start_time.CopyFrom(now)
    if runs.is_terminal(state):
        updated.end_time.CopyFrom(now)
    res.save(tracking, updated)


def update_pipeline_run_state(request: pb.UpdatePipelineRunStateRequest, res: Resources) -> Message:
    """Moves a pipeline run through the run state machine (once terminal, never again)."""
    loaded = res.get(K.RESOURCE_KIND_PIPELINE_RUN, request.pipeline_run_id, path="pipeline_run_id")
    stored = _move(
        res,
        loaded,
        request.state,
        request.etag,
        request.reason,
        request.message,
        request.error if request.HasField("error") else None,
    )
    return pb.UpdatePipelineRunStateResponse(pipeline_run=stored)


def update_step_run_state(request: pb.UpdateStepRunStateRequest, res: Resources) -> Message:
    """Moves a step run through the state machine and records its outputs as lineage."""
    loaded = res.get(K.RESOURCE_KIND_STEP_RUN, request.step_run_id, path="step_run_id")
    assert isinstance(loaded.message, pipeline_run_pb2.StepRun)
    for port, artifacts in request.output_artifacts.items():
        for i, artifact_id in enumerate(artifacts.artifact_ids):
            res.get(
                K.RESOURCE_KIND_ARTIFACT,
                artifact_id,
                path=f"output_artifacts[{port!r}].artifact_ids[{i}]",
            )
    runs.check_transition(loaded.message.state, request.state)
    changed = pipeline_run_pb2.StepRun()
    changed.CopyFrom(loaded.message)
    for port, artifacts in request.output_artifacts.items():
        changed.output_artifacts[port].CopyFrom(artifacts)
    for key, value in request.output_values.items():
        changed.output_values[key].CopyFrom(value)
    if request.HasField("usage"):
        changed.usage.CopyFrom(request.usage)
    if request.HasField("logs"):
        changed.logs.CopyFrom(request.logs)
    staged = Loaded(changed, loaded.record, loaded.spec)
    stored = _move(
        res,
        staged,
        request.state,
        request.etag,
        request.reason,
        request.message,
        request.error if request.HasField("error") else None,
    )
    edges = [
        (loaded.record.id, a, E.LINEAGE_EDGE_KIND_PRODUCED)
        for p in request.output_artifacts.values()
        for a in p.artifact_ids
    ]
    res.tx.add_edges(res.scope.workspace, edges)
    return pb.UpdateStepRunStateResponse(step_run=stored)


HANDLERS = {
    f"{SERVICE}/ValidatePipelineGraph": Handler(validate_graph, write=False),
    f"{SERVICE}/SubmitPipelineDraft": Handler(submit_draft, write=True),
    f"{SERVICE}/SubmitPipeline": Handler(submit_pipeline, write=True),
    f"{SERVICE}/PublishPipelineDraft": Handler(publish_draft, write=True),
    f"{SERVICE}/ClonePipeline": Handler(clone_pipeline, write=True),
    f"{SERVICE}/ClonePipelineRun": Handler(clone_pipeline_run, write=True),
    f"{SERVICE}/UpdatePipelineRunState": Handler(update_pipeline_run_state, write=True),
    f"{SERVICE}/UpdateStepRunState": Handler(update_step_run_state, write=True),
}
