"""Pipeline and step run states: moves through the run state machine, with their effects.

A pipeline or step run moves only as ``tracking.runs.transition`` allows, and its
tracking Run follows it. Cancelling a pipeline run cancels its unfinished step runs; a
step run's outputs must be ports of its module and become lineage (step run ->
artifact, PRODUCED).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.data.v1 import artifact_pb2
from mlspec.domain.clock import now_timestamp
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.pipelines.step_runs import count_step_states
from mlspec.domain.tracking import runs
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.pipelines.v1 import module_pb2, pipeline_run_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb
from mlspec.tracking.v1 import run_pb2

K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind


def move(
    res: Resources,
    loaded: Loaded,
    state: int,
    etag: str,
    reason: str,
    message_text: str,
    error: Message | None,
) -> Any:
    """Moves a pipeline or step run (and its tracking run) to ``state``; stores it."""
    updated: Any = type(loaded.message)()
    updated.CopyFrom(loaded.message)
    if error is not None and not error.ListFields():
        error = None  # an empty error says nothing
    runs.transition(
        updated, state, now_timestamp(), reason=reason, message=message_text, error=error
    )
    stored = res.save(loaded, updated, etag)
    tracking_id = getattr(stored, "run_id", "")
    if tracking_id:
        _sync_tracking_run(res, tracking_id, state, reason)
    if isinstance(stored, pipeline_run_pb2.StepRun):
        count_step_states(res, stored.pipeline_run_id, {loaded.message.state: -1, state: 1})  # type: ignore[attr-defined]
    return stored


def _sync_tracking_run(res: Resources, run_id: str, state: int, reason: str) -> None:
    tracking = res.get(K.RESOURCE_KIND_RUN, run_id)
    assert isinstance(tracking.message, run_pb2.Run)
    if tracking.message.state == state or runs.is_terminal(tracking.message.state):
        return
    updated = run_pb2.Run()
    updated.CopyFrom(tracking.message)
    runs.transition(updated, state, now_timestamp(), reason=reason)
    res.save(tracking, updated)


def update_pipeline_run_state(
    res: Resources, request: pb.UpdatePipelineRunStateRequest
) -> pipeline_run_pb2.PipelineRun:
    """Moves a pipeline run through the run state machine (once terminal, never again)."""
    loaded = res.get(K.RESOURCE_KIND_PIPELINE_RUN, request.pipeline_run_id, path="pipeline_run_id")
    stored = move(
        res,
        loaded,
        request.state,
        request.etag,
        request.reason,
        request.message,
        request.error if request.HasField("error") else None,
    )
    if request.state == run_state_pb2.RUN_STATE_CANCELLED:
        cancel_step_runs(res, loaded.record.id, request.reason or "PIPELINE_RUN_CANCELLED")
    assert isinstance(stored, pipeline_run_pb2.PipelineRun)
    return stored


def cancel_step_runs(res: Resources, pipeline_run_id: str, reason: str) -> None:
    """Cancelling a pipeline run also cancels its unfinished step runs."""
    query = res.query(K.RESOURCE_KIND_STEP_RUN, scope=pipeline_run_id)
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
        move(
            res,
            step,
            run_state_pb2.RUN_STATE_CANCELLED,
            "",
            reason,
            f"pipeline run {pipeline_run_id} was cancelled",
            None,
        )


def update_step_run_state(
    res: Resources, request: pb.UpdateStepRunStateRequest
) -> pipeline_run_pb2.StepRun:
    """Moves a step run through the state machine and records its outputs as lineage."""
    loaded = res.get(K.RESOURCE_KIND_STEP_RUN, request.step_run_id, path="step_run_id")
    assert isinstance(loaded.message, pipeline_run_pb2.StepRun)
    _check_output_ports(res, loaded.message, request)
    foreign = []
    for port, artifacts in request.output_artifacts.items():
        for i, artifact_id in enumerate(artifacts.artifact_ids):
            where = f"output_artifacts[{port!r}].artifact_ids[{i}]"
            artifact = res.get(K.RESOURCE_KIND_ARTIFACT, artifact_id, path=where).message
            assert isinstance(artifact, artifact_pb2.Artifact)
            producers = {artifact.run_id, artifact.step_run_id} - {""}
            if not producers & {loaded.message.run_id, loaded.record.id}:
                foreign.append(
                    FieldViolation(where, "was not produced by this step run's tracking run")
                )
    if foreign:
        raise errors.InvalidArgument(
            "a step run's outputs are artifacts it produced: "
            + ", ".join(v.field for v in foreign),
            reason="OUTPUT_OF_ANOTHER_RUN",
            violations=foreign,
        )
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
    stored = move(
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
    assert isinstance(stored, pipeline_run_pb2.StepRun)
    return stored


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
