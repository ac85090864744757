"""mlspec.pipelines.v1.PipelinesService: validate, publish, submit, clone, run states.

Drafts, pipelines, modules and their versions use the standard methods; the
transformations of SPEC.md section 4 are ``domain.pipelines.submission`` and the run
state changes ``domain.pipelines.pipeline_runs``.
"""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain import kind_rules
from mlspec.domain.common.resources import DEPRECATED, Resources
from mlspec.domain.pipelines import graph, modules, pipeline_runs, submission
from mlspec.pipelines.v1 import graph_pb2, pipeline_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb
from mlspec.server.routes import CREATE, GET, LIST, UPDATE, read, write

SERVICE = "mlspec.pipelines.v1.PipelinesService"
K = reference_pb2.ResourceKind


def validate_graph(request: pb.ValidatePipelineGraphRequest, res: Resources) -> Message:
    """Returns every violation of a graph (references checked and used on request)."""
    if not request.HasField("graph") or not request.graph.vertices:
        raise errors.invalid("graph", "is required and must hold at least one vertex")
    submission.check_size(request.graph, "graph")
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


def create_draft(request: pb.CreatePipelineDraftRequest, res: Resources) -> Message:
    """Creates a draft and records its graph's violations."""
    if not request.HasField("pipeline_draft"):
        raise errors.invalid("pipeline_draft", "is required")
    submission.check_size(request.pipeline_draft.graph, "pipeline_draft.graph")
    stored = kind_rules.create(res, request.pipeline_draft, "pipeline_draft")
    assert isinstance(stored, pipeline_pb2.PipelineDraft)
    return pb.CreatePipelineDraftResponse(pipeline_draft=submission.record_violations(res, stored))


def update_draft(request: pb.UpdatePipelineDraftRequest, res: Resources) -> Message:
    """Updates a draft and recomputes its graph's violations."""
    if not request.HasField("pipeline_draft"):
        raise errors.invalid("pipeline_draft", "is required")
    submission.check_size(request.pipeline_draft.graph, "pipeline_draft.graph")
    stored = kind_rules.update(res, request.pipeline_draft, request.update_mask, "pipeline_draft")
    assert isinstance(stored, pipeline_pb2.PipelineDraft)
    return pb.UpdatePipelineDraftResponse(pipeline_draft=submission.record_violations(res, stored))


def submit_draft(request: pb.SubmitPipelineDraftRequest, res: Resources) -> Message:
    """Draft.submit -> PipelineRun (request values, then the draft's values, then defaults)."""
    draft = res.get(K.RESOURCE_KIND_PIPELINE_DRAFT, request.draft_id, path="draft_id")
    res.check_usable(draft, "draft_id")
    assert isinstance(draft.message, pipeline_pb2.PipelineDraft)
    run = submission.submit(
        res,
        draft.message.graph,
        ("draft_id", draft.record.id),
        draft.message.parameter_values,
        request,
    )
    return pb.SubmitPipelineDraftResponse(pipeline_run=run)


def submit_pipeline(request: pb.SubmitPipelineRequest, res: Resources) -> Message:
    """Pipeline.submit -> PipelineRun (request values, then the pipeline's defaults)."""
    pipeline = submission.pipeline_of(res, request.pipeline, "pipeline", for_use=True)
    assert isinstance(pipeline.message, pipeline_pb2.Pipeline)
    run = submission.submit(
        res,
        pipeline.message.graph,
        ("pipeline_id", pipeline.record.id),
        pipeline.message.default_parameter_values,
        request,
    )
    return pb.SubmitPipelineResponse(pipeline_run=run)


def publish_draft(request: pb.PublishPipelineDraftRequest, res: Resources) -> Message:
    """Draft.publish -> an immutable Pipeline (the graph must be valid)."""
    return pb.PublishPipelineDraftResponse(pipeline=submission.publish(res, request))


def clone_pipeline(request: pb.ClonePipelineRequest, res: Resources) -> Message:
    """Pipeline.clone -> a new PipelineDraft with the pipeline's graph."""
    return pb.ClonePipelineResponse(pipeline_draft=submission.clone_pipeline(res, request))


def clone_pipeline_run(request: pb.ClonePipelineRunRequest, res: Resources) -> Message:
    """PipelineRun.clone -> a new PipelineDraft (optionally pinned to resolved versions)."""
    draft = submission.clone_pipeline_run(res, request)
    return pb.ClonePipelineRunResponse(pipeline_draft=draft)


def update_pipeline_run_state(request: pb.UpdatePipelineRunStateRequest, res: Resources) -> Message:
    """Moves a pipeline run through the run state machine (once terminal, never again)."""
    run = pipeline_runs.update_pipeline_run_state(res, request)
    return pb.UpdatePipelineRunStateResponse(pipeline_run=run)


def update_step_run_state(request: pb.UpdateStepRunStateRequest, res: Resources) -> Message:
    """Moves a step run through the state machine and records its outputs as lineage."""
    return pb.UpdateStepRunStateResponse(step_run=pipeline_runs.update_step_run_state(res, request))


def get_pipeline(request: pb.GetPipelineRequest, res: Resources) -> Message:
    """A pipeline by id, or by name and version (the latest active one without a version)."""
    loaded = submission.get_pipeline(res, request)
    if loaded.record.status == DEPRECATED:
        res.check_usable(loaded, request.WhichOneof("selector") or "id")
    assert isinstance(loaded.message, pipeline_pb2.Pipeline)
    return pb.GetPipelineResponse(pipeline=loaded.message)


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
    "GetPipeline": read(get_pipeline),
    "ListPipelines": LIST,
    "UpdatePipeline": UPDATE,
    "ValidatePipelineGraph": read(validate_graph, checks=("graph",)),
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
