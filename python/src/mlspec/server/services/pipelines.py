"""mlspec.pipelines.v1.PipelinesService: validate, publish, submit, clone, run states.

Drafts, pipelines, modules and their versions use the generic standard methods; this
module holds the transformations of SPEC.md section 4 (Draft.submit and Pipeline.submit
-> PipelineRun, PipelineRun.clone and Pipeline.clone -> Draft, Draft.publish ->
Pipeline), graph validation with every violation at once, and the run state changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2, value_pb2
from mlspec.domain import kind_rules
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.pipelines import graph, modules
from mlspec.domain.tracking import runs
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.pipelines.v1 import graph_pb2, module_pb2, pipeline_pb2, pipeline_run_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb
from mlspec.query import Comparison
from mlspec.server.routes import CREATE, GET, LIST, UPDATE, read, write
from mlspec.store.api import Edge, ListQuery
from mlspec.tracking.v1 import run_pb2

SERVICE = "mlspec.pipelines.v1.PipelinesService"
K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind
R = graph_pb2.GraphValidationRule


def check(res: Resources, g: graph_pb2.PipelineGraph) -> modules.Resolution:
    """Resolves and validates a graph for publication: FAILED_PRECONDITION on violations."""
    resolution, violations, _ = modules.graph_violations(res, g)
    if violations:
        raise _graph_error(errors.FailedPrecondition, violations, [])
    return resolution


def _graph_error(
    cls: type[errors.DomainError],
    violations: list[graph_pb2.GraphViolation],
    extra: list[FieldViolation],
) -> errors.DomainError:
    details = [FieldViolation(modules.where(v), v.message) for v in violations] + extra
    messages = [v.message for v in violations] + [f"{v.field} {v.description}" for v in extra]
    return cls(
        f"the pipeline graph has {len(messages)} violation(s): " + "; ".join(messages),
        reason="GRAPH_INVALID" if violations else "PARAMETER_VALUES_INVALID",
        violations=details,
    )


def _check_size(g: graph_pb2.PipelineGraph, path: str) -> None:
    found = graph.size_violations(g, path)
    if found:
        raise errors.InvalidArgument(
            "; ".join(f"{v.field} {v.description}" for v in found),
            reason="GRAPH_TOO_LARGE",
            violations=found,
        )


def validate_graph(request: pb.ValidatePipelineGraphRequest, res: Resources) -> Message:
    """Returns every violation of a graph (references checked and used on request)."""
    if not request.HasField("graph") or not request.graph.vertices:
        raise errors.invalid("graph", "is required and must hold at least one vertex")
    _check_size(request.graph, "graph")
    enclosing = request.enclosing_interface if request.HasField("enclosing_interface") else None
    if request.check_references:
        resolution = modules.resolve_graph(res, request.graph, for_use=True)
    else:
        resolution = modules.Resolution(interfaces=modules.declared_interfaces(res, request.graph))
    violations, order = graph.validate(request.graph, resolution.interfaces, enclosing)
    violations = resolution.violations + violations
    if request.parameter_values:
        _, problems = graph.submission_problems(request.graph, request.parameter_values, {})
        violations += [
            graph_pb2.GraphViolation(rule=rule, parameter_name=name, message=text)  # type: ignore[arg-type]
            for name, rule, text in problems
        ]
    return pb.ValidatePipelineGraphResponse(
        valid=not violations, violations=graph.sort_violations(violations), topological_order=order
    )


def draft_violations(res: Resources, g: graph_pb2.PipelineGraph) -> list[graph_pb2.GraphViolation]:
    """The violations a draft records when it is written (references resolved for use)."""
    _, violations, _ = modules.graph_violations(res, g)
    return violations


def _record_violations(
    res: Resources, draft: pipeline_pb2.PipelineDraft
) -> pipeline_pb2.PipelineDraft:
    violations = draft_violations(res, draft.graph)
    if list(draft.violations) == violations:
        return draft
    loaded = res.get(K.RESOURCE_KIND_PIPELINE_DRAFT, draft.meta.id)
    assert isinstance(loaded.message, pipeline_pb2.PipelineDraft)
    updated = pipeline_pb2.PipelineDraft()
    updated.CopyFrom(loaded.message)
    del updated.violations[:]
    updated.violations.extend(violations)
    return res.save(loaded, updated)


def create_draft(request: pb.CreatePipelineDraftRequest, res: Resources) -> Message:
    """Creates a draft and records its graph's violations."""
    if not request.HasField("pipeline_draft"):
        raise errors.invalid("pipeline_draft", "is required")
    _check_size(request.pipeline_draft.graph, "pipeline_draft.graph")
    stored = kind_rules.create(res, request.pipeline_draft, "pipeline_draft")
    assert isinstance(stored, pipeline_pb2.PipelineDraft)
    return pb.CreatePipelineDraftResponse(pipeline_draft=_record_violations(res, stored))


def update_draft(request: pb.UpdatePipelineDraftRequest, res: Resources) -> Message:
    """Updates a draft and recomputes its graph's violations."""
    if not request.HasField("pipeline_draft"):
        raise errors.invalid("pipeline_draft", "is required")
    _check_size(request.pipeline_draft.graph, "pipeline_draft.graph")
    stored = kind_rules.update(res, request.pipeline_draft, request.update_mask, "pipeline_draft")
    assert isinstance(stored, pipeline_pb2.PipelineDraft)
    return pb.UpdatePipelineDraftResponse(pipeline_draft=_record_violations(res, stored))


def _graph_digest(g: graph_pb2.PipelineGraph) -> str:
    return hashlib.sha256(g.SerializeToString(deterministic=True)).hexdigest()


def _submit(
    res: Resources,
    g: graph_pb2.PipelineGraph,
    source: tuple[str, str],
    stored_values: Mapping[str, value_pb2.Value],
    request: pb.SubmitPipelineRequest | pb.SubmitPipelineDraftRequest,
) -> Message:
    """Checks the graph and the parameter values, then creates the pending PipelineRun.

    Graph violations and bad parameter values are INVALID_ARGUMENT, all reported at
    once; when those are fine, archived references are FAILED_PRECONDITION.
    """
    resolution, violations, _ = modules.graph_violations(res, g)
    values, problems = graph.submission_problems(g, request.parameter_values, stored_values)
    bad_values = [FieldViolation(f"parameter_values[{name!r}]", text) for name, _, text in problems]
    archived = [v for v in violations if v.rule == R.GRAPH_VALIDATION_RULE_RESOURCE_ARCHIVED]
    invalid = [v for v in violations if v.rule != R.GRAPH_VALIDATION_RULE_RESOURCE_ARCHIVED]
    if invalid or bad_values:
        raise _graph_error(errors.InvalidArgument, invalid, bad_values)
    if archived:
        raise _graph_error(errors.FailedPrecondition, archived, [])
    run = pipeline_run_pb2.PipelineRun(experiment_id=request.experiment_id)
    setattr(run, source[0], source[1])
    run.meta.name = request.run_name
    run.meta.description = request.run_description
    run.meta.labels.update(request.run_labels)

    def derive(message: Message) -> list[Edge]:
        assert isinstance(message, pipeline_run_pb2.PipelineRun)
        message.resolved_graph.CopyFrom(g)
        message.resolved_references.extend(resolution.references)
        message.resolved_graph_digest.digests["sha256"] = _graph_digest(g)
        for name, value in values.items():
            message.parameter_values[name].CopyFrom(value)
        message.state = run_state_pb2.RUN_STATE_PENDING
        message.state_history.add(state=message.state, time=message.meta.create_time)
        return [
            (r.resolved.id, message.meta.id, E.LINEAGE_EDGE_KIND_CONSUMED)
            for r in resolution.references
        ]

    stored = res.create(run, "pipeline_run", derive=derive)
    assert isinstance(stored, pipeline_run_pb2.PipelineRun)
    loaded = res.get(K.RESOURCE_KIND_PIPELINE_RUN, stored.meta.id)
    tracking = runs.tracking_run_for(
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
    """Draft.submit -> PipelineRun (request values, then the draft's values, then defaults)."""
    draft = res.get(K.RESOURCE_KIND_PIPELINE_DRAFT, request.draft_id, path="draft_id")
    res.check_usable(draft, "draft_id")
    assert isinstance(draft.message, pipeline_pb2.PipelineDraft)
    return _submit(
        res,
        draft.message.graph,
        ("draft_id", draft.record.id),
        draft.message.parameter_values,
        request,
    )


def submit_pipeline(request: pb.SubmitPipelineRequest, res: Resources) -> Message:
    """Pipeline.submit -> PipelineRun (request values, then the pipeline's defaults)."""
    pipeline = _pipeline(res, request.pipeline, "pipeline", for_use=True)
    assert isinstance(pipeline.message, pipeline_pb2.Pipeline)
    return _submit(
        res,
        pipeline.message.graph,
        ("pipeline_id", pipeline.record.id),
        pipeline.message.default_parameter_values,
        request,
    )


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
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=K.RESOURCE_KIND_PIPELINE,
        statuses=(1, 2),
        filter=Comparison(("name",), "=", name),
        page_size=1000,
    )
    return [res.get(K.RESOURCE_KIND_PIPELINE, r.id) for r in res.list_page(query).records]


def _pipeline_version(
    res: Resources, ref: reference_pb2.ResourceRef, path: str, *, for_use: bool
) -> Loaded:
    loaded = res.find_by_name(K.RESOURCE_KIND_PIPELINE, ref.name, ref.version)
    if loaded is None:
        raise errors.NotFound(
            f"no pipeline {ref.name!r} version {ref.version!r}", reason="RESOURCE_NOT_FOUND"
        )
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
    check(res, draft.message.graph)
    name = request.name or draft.record.name
    sequence = len(_pipelines_named(res, name)) + 1
    version = request.version or str(sequence)
    pipeline = pipeline_pb2.Pipeline()
    pipeline.meta.name = name
    pipeline.meta.description = request.description or draft.message.meta.description
    if request.HasField("attestation"):
        pipeline.attestation.CopyFrom(request.attestation)

    def derive(message: Message) -> list[Edge]:
        assert isinstance(message, pipeline_pb2.Pipeline)
        message.graph.CopyFrom(draft.message.graph)  # type: ignore[attr-defined]
        message.published_from_draft_id = draft.record.id
        message.version = version
        message.sequence = sequence
        message.graph_digest.digests["sha256"] = _graph_digest(message.graph)
        for key, value in draft.message.parameter_values.items():  # type: ignore[attr-defined]
            message.default_parameter_values[key].CopyFrom(value)
        message.publish_time.CopyFrom(message.meta.create_time)
        return [(draft.record.id, message.meta.id, E.LINEAGE_EDGE_KIND_DERIVED_FROM)]

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

    def derive(message: Message) -> list[Edge]:
        assert isinstance(message, pipeline_pb2.PipelineDraft)
        message.cloned_from.CopyFrom(cloned_from)
        return [(cloned_from.id, message.meta.id, E.LINEAGE_EDGE_KIND_DERIVED_FROM)]

    stored = res.create(draft, "pipeline_draft", derive=derive)
    assert isinstance(stored, pipeline_pb2.PipelineDraft)
    return _record_violations(res, stored)


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
    if request.state == run_state_pb2.RUN_STATE_CANCELLED:
        _cancel_step_runs(res, loaded.record.id, request.reason or "PIPELINE_RUN_CANCELLED")
    return pb.UpdatePipelineRunStateResponse(pipeline_run=stored)


def _cancel_step_runs(res: Resources, pipeline_run_id: str, reason: str) -> None:
    """Cancelling a pipeline run also cancels its unfinished step runs."""
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=K.RESOURCE_KIND_STEP_RUN,
        scope=pipeline_run_id,
        page_size=1000,
    )
    unfinished = []
    while True:
        page = res.list_page(query)
        for record in page.records:
            step = res.get(K.RESOURCE_KIND_STEP_RUN, record.id)
            assert isinstance(step.message, pipeline_run_pb2.StepRun)
            if not runs.is_terminal(step.message.state):
                unfinished.append(step)
        if not page.more:
            break
        query.after = page.last
    for step in unfinished:
        _move(
            res,
            step,
            run_state_pb2.RUN_STATE_CANCELLED,
            "",
            reason,
            f"pipeline run {pipeline_run_id} was cancelled",
            None,
        )


def update_step_run_state(request: pb.UpdateStepRunStateRequest, res: Resources) -> Message:
    """Moves a step run through the state machine and records its outputs as lineage."""
    loaded = res.get(K.RESOURCE_KIND_STEP_RUN, request.step_run_id, path="step_run_id")
    assert isinstance(loaded.message, pipeline_run_pb2.StepRun)
    _check_output_ports(res, loaded.message, request)
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
    res.link(edges)
    return pb.UpdateStepRunStateResponse(step_run=stored)


def _check_output_ports(
    res: Resources, step: pipeline_run_pb2.StepRun, request: pb.UpdateStepRunStateRequest
) -> None:
    """INVALID_ARGUMENT for outputs on ports the step's module interface does not declare."""
    if not step.module_version_id or not (request.output_artifacts or request.output_values):
        return
    version = res.get(K.RESOURCE_KIND_MODULE_VERSION, step.module_version_id)
    assert isinstance(version.message, module_pb2.ModuleVersion)
    declared = {p.name for p in version.message.interface.outputs}
    unknown = [
        FieldViolation(f"{field_name}[{port!r}]", "is not an output port of the step's module")
        for field_name in ("output_artifacts", "output_values")
        for port in sorted(getattr(request, field_name))
        if port not in declared
    ]
    if unknown:
        raise errors.InvalidArgument(
            "outputs on unknown ports: " + ", ".join(v.field for v in unknown),
            reason="UNKNOWN_PORT",
            violations=unknown,
        )


# Every RPC of PipelinesService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "CreateModule": CREATE,
    "GetModule": GET,
    "ListModules": LIST,
    "UpdateModule": UPDATE,
    "CreateModuleVersion": CREATE,
    "GetModuleVersion": GET,
    "ListModuleVersions": LIST,
    "UpdateModuleVersion": UPDATE,
    "CreatePipelineDraft": write(create_draft),
    "GetPipelineDraft": GET,
    "ListPipelineDrafts": LIST,
    "UpdatePipelineDraft": write(update_draft),
    "PublishPipelineDraft": write(publish_draft),
    "GetPipeline": GET,
    "ListPipelines": LIST,
    "UpdatePipeline": UPDATE,
    "ValidatePipelineGraph": read(validate_graph),
    "SubmitPipelineDraft": write(submit_draft),
    "SubmitPipeline": write(submit_pipeline),
    "GetPipelineRun": GET,
    "ListPipelineRuns": LIST,
    "UpdatePipelineRunState": write(update_pipeline_run_state),
    "ClonePipelineRun": write(clone_pipeline_run),
    "ClonePipeline": write(clone_pipeline),
    "CreateStepRun": CREATE,
    "GetStepRun": GET,
    "ListStepRuns": LIST,
    "UpdateStepRunState": write(update_step_run_state),
}
