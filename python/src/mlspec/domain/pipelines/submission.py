"""Pipeline transformations of SPEC.md section 4 and the checks they make.

Draft.submit and Pipeline.submit -> PipelineRun, Draft.publish -> Pipeline,
Pipeline.clone and PipelineRun.clone -> Draft, and the graph violations a draft records.
Graph violations and bad parameter values are reported all at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Protocol

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2, value_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import ACTIVE, DEPRECATED, Loaded, Resources
from mlspec.domain.pipelines import graph, modules
from mlspec.domain.tracking import runs
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.pipelines.v1 import graph_pb2, pipeline_pb2, pipeline_run_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb
from mlspec.query import Comparison, OrderKey
from mlspec.store.api import Edge
from mlspec.tracking.v1 import run_pb2

K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind
R = graph_pb2.GraphValidationRule


class Submission(Protocol):
    """What a submit request says about the run to create (SubmitPipeline, SubmitPipelineDraft)."""

    experiment_id: str
    run_name: str
    run_description: str

    @property
    def run_labels(self) -> Mapping[str, str]: ...

    @property
    def parameter_values(self) -> Mapping[str, value_pb2.Value]: ...


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


def check_size(g: graph_pb2.PipelineGraph, path: str) -> None:
    """INVALID_ARGUMENT for a graph over the contract's size limits."""
    found = graph.size_violations(g, path)
    if found:
        raise errors.InvalidArgument(
            "; ".join(f"{v.field} {v.description}" for v in found),
            reason="GRAPH_TOO_LARGE",
            violations=found,
        )


def draft_violations(res: Resources, g: graph_pb2.PipelineGraph) -> list[graph_pb2.GraphViolation]:
    """The violations a draft records when it is written (references resolved for use)."""
    _, violations, _ = modules.graph_violations(res, g)
    return violations


def record_violations(
    res: Resources, draft: pipeline_pb2.PipelineDraft
) -> pipeline_pb2.PipelineDraft:
    """Stores a draft's current graph violations on it (when they changed)."""
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


def _graph_digest(g: graph_pb2.PipelineGraph) -> str:
    return hashlib.sha256(g.SerializeToString(deterministic=True)).hexdigest()


def submit(
    res: Resources,
    g: graph_pb2.PipelineGraph,
    source: tuple[str, str],
    stored_values: Mapping[str, value_pb2.Value],
    request: Submission,
) -> pipeline_run_pb2.PipelineRun:
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
    run.meta.name = request.run_name or _run_name(res, source)
    run.meta.description = request.run_description
    run.meta.labels.update(request.run_labels)

    def derive(message: Message) -> list[Edge]:
        assert isinstance(message, pipeline_run_pb2.PipelineRun)
        message.resolved_graph.CopyFrom(pinned(g, resolution.references))
        message.resolved_references.extend(resolution.references)
        message.resolved_graph_digest.digests["sha256"] = _graph_digest(message.resolved_graph)
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
    return res.save(loaded, stored)


def pinned(
    g: graph_pb2.PipelineGraph, references: list[pipeline_run_pb2.ResolvedReference]
) -> graph_pb2.PipelineGraph:
    """The graph with every module and dataset reference pinned to what it resolved to."""
    out = graph_pb2.PipelineGraph()
    out.CopyFrom(g)
    resolved = {r.vertex_id: r.resolved for r in references}
    for vertex in out.vertices:
        target = resolved.get(vertex.id)
        if target is None:
            continue
        if vertex.HasField("step"):
            vertex.step.module.CopyFrom(target)
        elif vertex.HasField("data") and vertex.data.HasField("dataset"):
            vertex.data.dataset.CopyFrom(target)
    return out


def _run_name(res: Resources, source: tuple[str, str]) -> str:
    """``<pipeline or draft name>-<yyyymmdd-hhmmss>``, with ``-2``... when that is taken."""
    kind = (
        K.RESOURCE_KIND_PIPELINE if source[0] == "pipeline_id" else K.RESOURCE_KIND_PIPELINE_DRAFT
    )
    origin = res.get(kind, source[1]).record.name or "run"
    stamp = micros_to_timestamp(now_micros()).ToDatetime().strftime("%Y%m%d-%H%M%S")
    base = f"{origin}-{stamp}"[:240]
    name, n = base, 1
    while res.find_by_name(K.RESOURCE_KIND_PIPELINE_RUN, name) is not None:
        n += 1
        name = f"{base}-{n}"
    return name


def pipeline_of(
    res: Resources, ref: reference_pb2.ResourceRef, path: str, *, for_use: bool
) -> Loaded:
    """The pipeline a reference names: by id, by name and version, or the newest by name."""
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


def get_pipeline(res: Resources, request: pb.GetPipelineRequest) -> Loaded:
    """GetPipeline: by id; by name and version; by name alone, the latest active version."""
    selector = request.WhichOneof("selector")
    if selector == "id":
        return res.get(K.RESOURCE_KIND_PIPELINE, request.id)
    if selector == "external_id":
        return res.get_by_external_id(K.RESOURCE_KIND_PIPELINE, request.external_id)
    if request.version:
        return res.get_by_name(K.RESOURCE_KIND_PIPELINE, request.name, request.version)
    query = res.query(
        K.RESOURCE_KIND_PIPELINE,
        statuses=(ACTIVE,),
        filter=Comparison(("name",), "=", request.name),
        page_size=1,
    )
    query.order_by = [OrderKey("create_time", descending=True)]
    page = res.list_page(query)
    if not page.records:
        raise errors.NotFound(
            f"no active pipeline named {request.name!r} (archived and deprecated versions are "
            "found by id or by name and version)",
            reason="RESOURCE_NOT_FOUND",
            resource_type="mlspec.pipelines.v1.Pipeline",
            resource_name=request.name,
            violations=[FieldViolation("name", "no such pipeline")],
        )
    return res.get(K.RESOURCE_KIND_PIPELINE, page.records[0].id)


def _pipelines_named(res: Resources, name: str) -> list[Loaded]:
    query = res.query(
        K.RESOURCE_KIND_PIPELINE,
        statuses=(ACTIVE, DEPRECATED),
        filter=Comparison(("name",), "=", name),
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


def publish(res: Resources, request: pb.PublishPipelineDraftRequest) -> pipeline_pb2.Pipeline:
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
    pipeline.meta.display_name = draft.message.meta.display_name
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
    assert isinstance(stored, pipeline_pb2.Pipeline)
    return stored


def new_draft(
    res: Resources,
    g: graph_pb2.PipelineGraph,
    name: str,
    cloned_from: reference_pb2.ResourceRef,
    params: object,
) -> pipeline_pb2.PipelineDraft:
    """A new draft of a graph, cloned from a pipeline or a pipeline run."""
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
    return record_violations(res, stored)


def clone_pipeline(res: Resources, request: pb.ClonePipelineRequest) -> pipeline_pb2.PipelineDraft:
    """Pipeline.clone -> a new PipelineDraft with the pipeline's graph."""
    pipeline = pipeline_of(res, request.pipeline, "pipeline", for_use=False)
    assert isinstance(pipeline.message, pipeline_pb2.Pipeline)
    name = request.draft_name or f"{pipeline.record.name}-draft-{now_micros() % 1_000_000}"
    ref = reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_PIPELINE, id=pipeline.record.id)
    return new_draft(
        res, pipeline.message.graph, name, ref, pipeline.message.default_parameter_values
    )


def clone_pipeline_run(
    res: Resources, request: pb.ClonePipelineRunRequest
) -> pipeline_pb2.PipelineDraft:
    """PipelineRun.clone -> a new PipelineDraft (optionally pinned to resolved versions)."""
    run = res.get(K.RESOURCE_KIND_PIPELINE_RUN, request.pipeline_run_id, path="pipeline_run_id")
    assert isinstance(run.message, pipeline_run_pb2.PipelineRun)
    g = graph_pb2.PipelineGraph()
    g.CopyFrom(run.message.resolved_graph)
    if not request.pin_resolved_versions:  # the graph as submitted: references as written
        requested = {r.vertex_id: r.requested for r in run.message.resolved_references}
        for vertex in g.vertices:
            if vertex.id in requested and vertex.HasField("step"):
                vertex.step.module.CopyFrom(requested[vertex.id])
            elif vertex.id in requested and vertex.HasField("data"):
                vertex.data.dataset.CopyFrom(requested[vertex.id])
    name = request.draft_name or f"{run.record.name or 'run'}-clone-{now_micros() % 1_000_000}"
    ref = reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_PIPELINE_RUN, id=run.record.id)
    return new_draft(res, g, name, ref, run.message.parameter_values)


def _waive_draft_graph(_draft: pipeline_pb2.PipelineDraft) -> tuple[str, ...]:
    # A draft's graph "may be empty or invalid until submission": its problems are
    # recorded as the draft's violations (record_violations), not refused.
    return ("graph",)


RULES = {"mlspec.pipelines.v1.PipelineDraft": KindRules(waive_required=_waive_draft_graph)}
