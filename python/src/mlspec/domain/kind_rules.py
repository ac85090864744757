"""Rules specific to some kinds, applied around the generic resource rules.

- StageReport: the payload must match the stage, it belongs to a run or step run, and
  its inputs and outputs become lineage edges (input -> report -> output).
- DatasetVersion: numbered within its dataset; the definition is immutable and a new
  version is needed for a new definition (the same definition twice is refused).
- ModuleVersion: numbered within its module.
- Runs (tracking runs; pipeline and step runs change state through their own methods):
  a state change follows the run state machine.
"""

from __future__ import annotations

import hashlib

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.data.v1 import dataset_pb2
from mlspec.domain.common import field_behavior
from mlspec.domain.common.resources import Resources
from mlspec.domain.data import rules as data_rules
from mlspec.domain.lifecycle import stage_reports
from mlspec.domain.models import versions as model_versions
from mlspec.domain.pipelines import modules
from mlspec.domain.tracking import runs
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import lineage_pb2, stage_pb2, stage_report_pb2
from mlspec.pipelines.v1 import module_pb2, pipeline_run_pb2
from mlspec.query import Comparison
from mlspec.store.api import FieldSpec, ListQuery
from mlspec.tracking.v1 import experiment_pb2, run_pb2

K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind
DEFAULT_EXPERIMENT = "Default"

# The payload field of each reportable stage (StageReport.payload).
PAYLOAD_OF_STAGE = {
    stage_pb2.LIFECYCLE_STAGE_CODIFY_OBJECTIVES: "codified_objectives",
    stage_pb2.LIFECYCLE_STAGE_DATA_INGESTION: "data_ingestion",
    stage_pb2.LIFECYCLE_STAGE_DATA_ANALYSIS: "data_analysis",
    stage_pb2.LIFECYCLE_STAGE_DATA_TRANSFORMATION: "data_transformation",
    stage_pb2.LIFECYCLE_STAGE_DATA_VALIDATION: "data_validation",
    stage_pb2.LIFECYCLE_STAGE_DATA_SPLITTING: "data_splitting",
    stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING: "model_training",
    stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION: "model_evaluation",
    stage_pb2.LIFECYCLE_STAGE_MODEL_TEST: "model_test",
    stage_pb2.LIFECYCLE_STAGE_MODEL_PACKAGING: "model_packaging",
    stage_pb2.LIFECYCLE_STAGE_MODEL_SERVING: "model_serving",
}


def create(res: Resources, message: Message, path: str) -> Message:
    """Creates a resource with the rules of its kind."""
    if isinstance(message, stage_report_pb2.StageReport):
        return _create_stage_report(res, message, path)
    if isinstance(message, dataset_pb2.DatasetVersion):
        return res.create(message, path, derive=lambda m: number_dataset_version(res, m))
    if isinstance(message, module_pb2.ModuleVersion):
        return res.create(message, path, derive=lambda m: _number_module_version(res, m))
    if isinstance(message, run_pb2.Run):
        return res.create(message, path, derive=_start_run)
    if isinstance(message, pipeline_run_pb2.StepRun):
        return _create_step_run(res, message, path)
    if isinstance(message, model_versions.ModelVersion):
        return model_versions.create_model_version(res, message, path)
    if isinstance(message, data_rules.Datastore):
        return data_rules.create_datastore(res, message, path)
    if isinstance(message, data_rules.Artifact):
        return data_rules.create_artifact(res, message, path)
    return res.create(message, path)


def _start_run(run: run_pb2.Run) -> None:
    if run.state == run_state_pb2.RUN_STATE_UNSPECIFIED:
        run.state = run_state_pb2.RUN_STATE_PENDING
    if run.state not in (run_state_pb2.RUN_STATE_PENDING, run_state_pb2.RUN_STATE_RUNNING):
        raise errors.invalid(
            "run.state", "a new run is PENDING (the default) or RUNNING; use UpdateRunState after"
        )
    run.state_history.add(to_state=run.state, time=run.meta.create_time)


def default_experiment(res: Resources) -> str:
    """The id of the workspace's `Default` experiment, created on first use."""
    try:
        return res.get_by_name(K.RESOURCE_KIND_EXPERIMENT, DEFAULT_EXPERIMENT).record.id
    except errors.NotFound:
        experiment = experiment_pb2.Experiment()
        experiment.meta.name = DEFAULT_EXPERIMENT
        experiment.meta.description = "Runs submitted without an experiment."
        created = res.create(experiment, "experiment")
        return created.meta.id


def tracking_run_for(res: Resources, kind: int, experiment_id: str, **links: str) -> run_pb2.Run:
    """Creates the tracking Run record that a pipeline run or step run is."""
    run = run_pb2.Run(kind=kind, experiment_id=experiment_id or default_experiment(res), **links)  # type: ignore[arg-type]
    stored = res.create(run, "run", derive=_start_run)
    assert isinstance(stored, run_pb2.Run)
    return stored


def _create_step_run(res: Resources, step: pipeline_run_pb2.StepRun, path: str) -> Message:
    pipeline_run = res.get(
        K.RESOURCE_KIND_PIPELINE_RUN, step.pipeline_run_id, path=f"{path}.pipeline_run_id"
    )
    assert isinstance(pipeline_run.message, pipeline_run_pb2.PipelineRun)
    if runs.is_terminal(pipeline_run.message.state):
        raise errors.FailedPrecondition(
            f"pipeline run {step.pipeline_run_id} has finished; it takes no new step runs",
            reason="RUN_TERMINAL",
        )
    vertex_ids = {v.id for v in pipeline_run.message.resolved_graph.vertices if v.HasField("step")}
    if step.vertex_id not in vertex_ids:
        raise errors.invalid(
            f"{path}.vertex_id", f"is not a step vertex of pipeline run {step.pipeline_run_id}"
        )
    module_version_id = next(
        (
            r.resolved.id
            for r in pipeline_run.message.resolved_references
            if r.vertex_id == step.vertex_id
        ),
        "",
    )
    _check_step_run_fields(res, step, module_version_id, path)
    if step.attempt == 0:
        step.attempt = 1  # attempts start at 1
    if not step.meta.name:
        iteration = f"-{step.iteration_index}" if step.HasField("iteration_index") else ""
        step.meta.name = f"{step.vertex_id}{iteration}-{step.attempt}"
    _check_step_run_unique(res, step, path)

    def derive(message: pipeline_run_pb2.StepRun) -> list[tuple[str, int]]:
        message.module_version_id = module_version_id
        message.state = run_state_pb2.RUN_STATE_PENDING
        message.state_history.add(state=message.state, time=message.meta.create_time)
        edges = [
            (a, int(E.LINEAGE_EDGE_KIND_CONSUMED))
            for port in message.input_artifacts.values()
            for a in port.artifact_ids
        ]
        if module_version_id:
            edges.append((module_version_id, int(E.LINEAGE_EDGE_KIND_EXECUTED_CODE)))
        return edges

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
    stored = res.create(step, path, derive=derive)
    assert isinstance(stored, pipeline_run_pb2.StepRun)
    loaded = res.get(K.RESOURCE_KIND_STEP_RUN, stored.meta.id)
    experiment_id = ""
    if pipeline_run.message.run_id:
        parent = res.get(K.RESOURCE_KIND_RUN, pipeline_run.message.run_id)
        assert isinstance(parent.message, run_pb2.Run)
        experiment_id = parent.message.experiment_id
    run = tracking_run_for(
        res,
        run_pb2.RUN_KIND_STEP_RUN,
        experiment_id,
        step_run_id=stored.meta.id,
        pipeline_run_id=step.pipeline_run_id,
    )
    stored.run_id = run.meta.id
    return res.save(loaded, stored)


def _check_step_run_fields(
    res: Resources, step: pipeline_run_pb2.StepRun, module_version_id: str, path: str
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


def _check_step_run_unique(res: Resources, step: pipeline_run_pb2.StepRun, path: str) -> None:
    """ALREADY_EXISTS when the pipeline run has a step run of this vertex, iteration, attempt."""
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=K.RESOURCE_KIND_STEP_RUN,
        scope=step.pipeline_run_id,
        filter=Comparison(("vertex_id",), "=", step.vertex_id),
        page_size=1000,
        members={"vertex_id": FieldSpec("text")},
    )
    iteration = step.iteration_index if step.HasField("iteration_index") else None
    while True:
        page = res.tx.list_page(query)
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


# Fields of a tracking Run that UpdateRun may change: always, and while it is running.
RUN_ALWAYS_MUTABLE = frozenset({"meta.description", "meta.labels", "tags", "properties"})
RUN_MUTABLE_WHILE_OPEN = frozenset({"logs", "source", "environment", "end_time"})


def update(res: Resources, message: Message, mask: field_mask_pb2.FieldMask, path: str) -> Message:
    """Updates a resource with the rules of its kind."""
    if isinstance(message, run_pb2.Run):
        _check_run_update(res, message, mask, path)
    if isinstance(message, model_versions.ModelVersion):
        return model_versions.update_model_version(res, message, mask, path)
    if isinstance(message, data_rules.Datastore):
        return data_rules.update_datastore(res, message, mask, path)
    if isinstance(message, data_rules.Artifact):
        return data_rules.update_artifact(res, message, mask, path)
    return res.update(message, mask, path)


def _check_run_update(
    res: Resources, run: run_pb2.Run, mask: field_mask_pb2.FieldMask, path: str
) -> None:
    current = res.get(K.RESOURCE_KIND_RUN, run.meta.id, path=f"{path}.meta.id")
    assert isinstance(current.message, run_pb2.Run)
    paths = list(mask.paths)
    if not paths:
        before, after = run_pb2.Run(), run_pb2.Run()
        before.CopyFrom(current.message)
        after.CopyFrom(run)
        field_behavior.clear_output_only(before)
        field_behavior.clear_output_only(after)
        paths = _changed_paths(before, after)
    allowed = RUN_ALWAYS_MUTABLE | RUN_MUTABLE_WHILE_OPEN
    inside = field_behavior.paths_within(paths, allowed)
    bad = [p for p in paths if p not in inside]
    if bad:
        raise errors.InvalidArgument(
            "UpdateRun changes only description, labels, tags, properties, logs, source, "
            "environment and end_time; state changes go through UpdateRunState",
            reason="FIELD_NOT_UPDATABLE",
            violations=[
                FieldViolation(f"{path}.{p}", "cannot be changed by UpdateRun") for p in bad
            ],
        )
    frozen = field_behavior.paths_within(paths, RUN_MUTABLE_WHILE_OPEN)
    if frozen and runs.is_terminal(current.message.state):
        raise errors.FailedPrecondition(
            f"run {run.meta.id} has finished; {', '.join(frozen)} can no longer change",
            reason="RUN_TERMINAL",
            violations=[
                FieldViolation(f"{path}.{p}", "is frozen once the run has finished") for p in frozen
            ],
        )


def _changed_paths(old: Message, new: Message) -> list[str]:
    """Top-level fields (and meta sub-fields) that differ between two messages."""
    changed = []
    for fd in new.DESCRIPTOR.fields:
        if fd.name == "meta":
            changed += [
                f"meta.{m}"
                for m in ("name", "description", "labels")
                if getattr(old.meta, m) != getattr(new.meta, m)  # type: ignore[attr-defined]
            ]
        elif getattr(old, fd.name) != getattr(new, fd.name):
            changed.append(fd.name)
    return changed


def _create_stage_report(
    res: Resources, report: stage_report_pb2.StageReport, path: str
) -> Message:
    violations: list[FieldViolation] = []
    expected = PAYLOAD_OF_STAGE.get(report.stage)
    if expected is None:
        violations.append(
            FieldViolation(
                f"{path}.stage",
                "must be one of the stages 1-11; monitoring and logging have their own services",
            )
        )
    actual = report.WhichOneof("payload")
    if expected is not None and actual is not None and actual != expected:
        violations.append(
            FieldViolation(
                f"{path}.{actual}",
                f"does not match stage {stage_pb2.LifecycleStage.Name(report.stage)}; set {expected}",
            )
        )
    if not report.run_id and not report.step_run_id:
        violations.append(FieldViolation(f"{path}.run_id", "set run_id or step_run_id (or both)"))
    if (
        report.HasField("end_time")
        and report.HasField("start_time")
        and report.end_time.ToNanoseconds() < report.start_time.ToNanoseconds()
    ):
        violations.append(FieldViolation(f"{path}.end_time", "is before start_time"))
    violations += stage_reports.violations(report, path, expected)
    if violations:
        raise errors.not_valid("the stage report is not valid", violations, "INVALID_STAGE_REPORT")
    versioned = stage_reports.versioned_refs(report)
    stored = res.create(
        report,
        path,
        ref_edges=False,
        derive=lambda m: stage_reports.derive(res, m, path, versioned),
    )
    assert isinstance(stored, stage_report_pb2.StageReport)
    report_id = stored.meta.id
    edges = [(e.resource.id, report_id, E.LINEAGE_EDGE_KIND_CONSUMED) for e in stored.inputs]
    edges += [(report_id, e.resource.id, E.LINEAGE_EDGE_KIND_PRODUCED) for e in stored.outputs]
    res.tx.add_edges(res.scope.workspace, edges)
    return stored


def _number_module_version(res: Resources, version: Message) -> None:
    """Checks a new module version, numbers it, and fills its label and name when empty."""
    assert isinstance(version, module_pb2.ModuleVersion)
    modules.check_module_version(res, version, "module_version")
    count = res.tx.count_in_scope(
        res.scope.workspace, K.RESOURCE_KIND_MODULE_VERSION, version.module_id
    )
    version.sequence = count + 1
    if not version.version:
        number = count + 1
        while _module_version_labelled(res, version.module_id, str(number)):
            number += 1
        version.version = str(number)
    elif _module_version_labelled(res, version.module_id, version.version):
        raise errors.AlreadyExists(
            f"module {version.module_id} already has a version {version.version!r}",
            reason="VERSION_TAKEN",
            resource_type="mlspec.pipelines.v1.ModuleVersion",
            resource_name=version.version,
        )
    if not version.meta.name:
        module = res.get(K.RESOURCE_KIND_MODULE, version.module_id)
        version.meta.name = f"{module.record.name}-{version.version}".replace(".", "_")


def _module_version_labelled(res: Resources, module_id: str, label: str) -> bool:
    """Whether a version of the module (any status) has this version label."""
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=K.RESOURCE_KIND_MODULE_VERSION,
        scope=module_id,
        filter=Comparison(("version",), "=", label),
        page_size=1,
        members={"version": FieldSpec("text")},
    )
    return bool(res.tx.list_page(query).records)


def number_dataset_version(res: Resources, version: Message) -> None:
    """Numbers a new dataset version and digests its definition (same definition: refused)."""
    assert isinstance(version, dataset_pb2.DatasetVersion)
    digest = hashlib.sha256(version.definition.SerializeToString(deterministic=True)).hexdigest()
    latest = res.latest_active(K.RESOURCE_KIND_DATASET_VERSION, version.dataset_id)
    if latest is not None:
        assert isinstance(latest.message, dataset_pb2.DatasetVersion)
        if latest.message.definition_digest.digests.get("sha256") == digest:
            raise errors.AlreadyExists(
                f"the latest version ({latest.message.version}) of dataset {version.dataset_id} "
                "already has this definition; a new version needs a changed definition",
                reason="SAME_DEFINITION",
                resource_type="mlspec.data.v1.DatasetVersion",
                resource_name=latest.record.id,
            )
    count = res.tx.count_in_scope(
        res.scope.workspace, K.RESOURCE_KIND_DATASET_VERSION, version.dataset_id
    )
    version.version = count + 1
    version.definition_digest.digests["sha256"] = digest
