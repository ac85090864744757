"""Rules of step runs (mlspec.pipelines.v1.StepRun) beyond the common object rules.

A step run belongs to a pipeline run that has not finished and to one of its step
vertices; vertex, iteration and attempt identify it within the pipeline run (one step
run each: ALREADY_EXISTS); its inputs name ports of the vertex's module and usable
artifacts. The server fills the module version the run resolved for the vertex, starts
it PENDING, links it to what it consumed and the code it executed, and gives it the
tracking Run it is (RUN_KIND_STEP_RUN, in the pipeline run's experiment).
"""

from __future__ import annotations

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import Resources
from mlspec.domain.tracking import runs
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.pipelines.v1 import module_pb2, pipeline_run_pb2
from mlspec.query import Comparison
from mlspec.store.api import Edge, FieldSpec
from mlspec.tracking.v1 import run_pb2

K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind
StepRun = pipeline_run_pb2.StepRun


def _pipeline_run(res: Resources, step: StepRun, path: str) -> pipeline_run_pb2.PipelineRun:
    loaded = res.get(
        K.RESOURCE_KIND_PIPELINE_RUN, step.pipeline_run_id, path=f"{path}.pipeline_run_id"
    )
    assert isinstance(loaded.message, pipeline_run_pb2.PipelineRun)
    return loaded.message


def _module_version_of(pipeline_run: pipeline_run_pb2.PipelineRun, vertex_id: str) -> str:
    """The module version the pipeline run resolved for a step vertex ('' if none)."""
    return next(
        (r.resolved.id for r in pipeline_run.resolved_references if r.vertex_id == vertex_id),
        "",
    )


def _prepare(res: Resources, step: StepRun, path: str) -> None:
    pipeline_run = _pipeline_run(res, step, path)
    if runs.is_terminal(pipeline_run.state):
        raise errors.FailedPrecondition(
            f"pipeline run {step.pipeline_run_id} has finished; it takes no new step runs",
            reason="RUN_TERMINAL",
        )
    vertex_ids = {v.id for v in pipeline_run.resolved_graph.vertices if v.HasField("step")}
    if step.vertex_id not in vertex_ids:
        raise errors.invalid(
            f"{path}.vertex_id", f"is not a step vertex of pipeline run {step.pipeline_run_id}"
        )
    _check_step_run_fields(res, step, _module_version_of(pipeline_run, step.vertex_id), path)
    if step.attempt == 0:
        step.attempt = 1  # attempts start at 1
    if not step.meta.name:
        iteration = f"-{step.iteration_index}" if step.HasField("iteration_index") else ""
        step.meta.name = f"{step.vertex_id}{iteration}-{step.attempt}"
    _check_step_run_unique(res, step, path)
    for port, artifacts in step.input_artifacts.items():
        for i, artifact_id in enumerate(artifacts.artifact_ids):
            res.check_usable(
                res.get(
                    K.RESOURCE_KIND_ARTIFACT,
                    artifact_id,
                    path=f"{path}.input_artifacts[{port!r}].artifact_ids[{i}]",
                ),
                path,
            )


def _derive(res: Resources, step: StepRun, path: str) -> list[Edge]:
    module_version_id = _module_version_of(_pipeline_run(res, step, path), step.vertex_id)
    step.module_version_id = module_version_id
    step.state = run_state_pb2.RUN_STATE_PENDING
    step.state_history.add(state=step.state, time=step.meta.create_time)
    if step.cache.hit:  # the outputs were reused: nothing executes, the run is CACHED
        runs.transition(step, run_state_pb2.RUN_STATE_CACHED, step.meta.create_time)
    edges: list[Edge] = [
        (a, step.meta.id, E.LINEAGE_EDGE_KIND_CONSUMED)
        for port in step.input_artifacts.values()
        for a in port.artifact_ids
    ]
    if module_version_id:
        edges.append((module_version_id, step.meta.id, E.LINEAGE_EDGE_KIND_EXECUTED_CODE))
    return edges


def _after_create(res: Resources, stored: StepRun, path: str) -> StepRun:
    """Gives the step run its tracking Run (in the pipeline run's experiment)."""
    loaded = res.get(K.RESOURCE_KIND_STEP_RUN, stored.meta.id)
    pipeline_run = _pipeline_run(res, stored, path)
    experiment_id = ""
    if pipeline_run.run_id:
        parent = res.get(K.RESOURCE_KIND_RUN, pipeline_run.run_id)
        assert isinstance(parent.message, run_pb2.Run)
        experiment_id = parent.message.experiment_id
    links = {"step_run_id": stored.meta.id, "pipeline_run_id": stored.pipeline_run_id}
    if pipeline_run.run_id:  # the step's tracking run is a child of the pipeline run's
        links["parent_run_id"] = pipeline_run.run_id
    run = runs.tracking_run_for(res, run_pb2.RUN_KIND_STEP_RUN, experiment_id, **links)
    if stored.state == run_state_pb2.RUN_STATE_CACHED:
        cached = runs.copy_of(run)
        runs.transition(cached, stored.state, stored.meta.create_time, reason="cache hit")
        res.save(res.get(K.RESOURCE_KIND_RUN, run.meta.id), cached)
    stored.run_id = run.meta.id
    count_step_states(res, stored.pipeline_run_id, {stored.state: 1}, total=1)
    return res.save(loaded, stored)


_COUNTED: dict[int, str] = {
    run_state_pb2.RUN_STATE_PENDING: "pending",
    run_state_pb2.RUN_STATE_RUNNING: "running",
    run_state_pb2.RUN_STATE_SUCCEEDED: "succeeded",
    run_state_pb2.RUN_STATE_FAILED: "failed",
    run_state_pb2.RUN_STATE_CANCELLED: "cancelled",
    run_state_pb2.RUN_STATE_CACHED: "cached",
    run_state_pb2.RUN_STATE_SKIPPED: "skipped",
}


def count_step_states(
    res: Resources, pipeline_run_id: str, changes: dict[int, int], total: int = 0
) -> None:
    """Moves the pipeline run's ``step_counts`` by ``changes`` (state -> +1 or -1)."""
    loaded = res.get(K.RESOURCE_KIND_PIPELINE_RUN, pipeline_run_id)
    assert isinstance(loaded.message, pipeline_run_pb2.PipelineRun)
    updated = pipeline_run_pb2.PipelineRun()
    updated.CopyFrom(loaded.message)
    counts = updated.step_counts
    counts.total += total
    for state, change in changes.items():
        name = _COUNTED.get(state)
        if name is not None:
            setattr(counts, name, max(0, getattr(counts, name) + change))
    res.save(loaded, updated)


def _check_step_run_fields(
    res: Resources, step: StepRun, module_version_id: str, path: str
) -> None:
    """Attempt and iteration are not negative; inputs name ports of the module interface."""
    violations: list[FieldViolation] = []
    if step.attempt < 0:
        violations.append(FieldViolation(f"{path}.attempt", "must be 1 or more"))
    if step.HasField("iteration_index") and step.iteration_index < 0:
        violations.append(FieldViolation(f"{path}.iteration_index", "must not be negative"))
    if module_version_id and (step.input_artifacts or step.input_values):
        version = res.get(K.RESOURCE_KIND_MODULE_VERSION, module_version_id)
        assert isinstance(version.message, module_pb2.ModuleVersion)
        declared = {p.name for p in version.message.interface.inputs}
        violations += [
            FieldViolation(
                f"{path}.{field_name}[{port!r}]",
                f"is not an input port of vertex {step.vertex_id!r}'s module",
            )
            for field_name in ("input_artifacts", "input_values")
            for port in sorted(getattr(step, field_name))
            if port not in declared
        ]
    if violations:
        raise errors.not_valid("the step run is not valid", violations, "INVALID_STEP_RUN")


def _check_step_run_unique(res: Resources, step: StepRun, path: str) -> None:
    """ALREADY_EXISTS when the pipeline run has a step run of this vertex, iteration, attempt."""
    query = res.query(
        K.RESOURCE_KIND_STEP_RUN,
        scope=step.pipeline_run_id,
        filter=Comparison(("vertex_id",), "=", step.vertex_id),
        members={"vertex_id": FieldSpec("text")},
    )
    iteration = step.iteration_index if step.HasField("iteration_index") else None
    while True:
        page = res.list_page(query)
        for record in page.records:
            other = pipeline_run_pb2.StepRun.FromString(record.data)
            other_iteration = other.iteration_index if other.HasField("iteration_index") else None
            if (other.attempt or 1) == step.attempt and other_iteration == iteration:
                raise errors.AlreadyExists(
                    f"pipeline run {step.pipeline_run_id} already has step run {record.id} for "
                    f"vertex {step.vertex_id!r}, attempt {step.attempt}"
                    + (f", iteration {iteration}" if iteration is not None else ""),
                    reason="STEP_RUN_EXISTS",
                    resource_type="mlspec.pipelines.v1.StepRun",
                    resource_name=record.id,
                )
        if not page.more:
            return
        query.after = page.last


RULES = {
    "mlspec.pipelines.v1.StepRun": KindRules(
        prepare=_prepare, derive=_derive, after_create=_after_create
    )
}
