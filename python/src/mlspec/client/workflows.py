"""A run as a workflow metadata file (SPEC.md section 8), and the run again from the file.

``describe_run`` gives the ``mlspec.metadata.v1.WorkflowMetadata`` of a run: the newest
workflow metadata record stored for the run when there is one, otherwise what the run
itself records (its dataset inputs, the model version it produced, its parameters, code
and environment). Either way ``properties`` carries what recreates the run's definition
elsewhere: ``tracking_experiment`` and ``tracking_run`` (names), ``run_params`` (every
parameter, typed) and ``run_tags``.

``recreate_run`` does the reverse on another server: the experiment (got or created by
name), a PENDING run of that name with the parameters, tags and the dataset inputs the
server knows, and a workflow metadata record linked to it. References to datasets and
models that this server does not have are left out of the record (and listed in
``Recreated.dropped``); everything else of the file is kept. Recreating twice adds
nothing: the run is found by name and the record by its content.

Example:
    >>> metadata = describe_run(client, run)  # doctest: +SKIP
    >>> recreated = recreate_run(other_client, metadata)  # doctest: +SKIP
    >>> recreated.run.state  # RUN_STATE_PENDING, ready for start_run(experiment, name)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.rpc import error_details_pb2

from mlspec.client.client import version_text
from mlspec.client.errors import AlreadyExists, InvalidArgument, NotFound
from mlspec.client.values import from_value, to_value
from mlspec.common.v1 import object_meta_pb2, reference_pb2, resource_service_pb2, run_state_pb2
from mlspec.data.v1 import data_service_pb2, dataset_pb2
from mlspec.metadata.v1 import (
    metadata_service_pb2,
    workflow_metadata_pb2,
    workflow_metadata_record_pb2,
)
from mlspec.models.v1 import models_service_pb2
from mlspec.tracking.v1 import (
    experiment_pb2,
    metric_pb2,
    run_pb2,
    tracking_service_pb2,
)

__all__ = [
    "PROPERTY_EXPERIMENT",
    "PROPERTY_PARAMS",
    "PROPERTY_RUN",
    "PROPERTY_TAGS",
    "SCHEMA_VERSION",
    "Recreated",
    "describe_run",
    "recreate_run",
]

K = reference_pb2.ResourceKind
WorkflowMetadata = workflow_metadata_pb2.WorkflowMetadata
SCHEMA_VERSION = "1.0"
PROPERTY_EXPERIMENT = "tracking_experiment"
PROPERTY_RUN = "tracking_run"
PROPERTY_PARAMS = "run_params"
PROPERTY_TAGS = "run_tags"

# Run parameters that have a field of their own in TrainingParameters, and back.
_NUMBERS = ("batch_size", "epochs", "max_steps")
_NAMES = {"optimizer": "optimizer", "loss": "loss"}
_ROLES = {
    "train": "DATASET_ROLE_TRAINING",
    "training": "DATASET_ROLE_TRAINING",
    "validation": "DATASET_ROLE_VALIDATION",
    "evaluation": "DATASET_ROLE_EVALUATION",
    "test": "DATASET_ROLE_HOLD_BACK_TEST",
    "hold_back_test": "DATASET_ROLE_HOLD_BACK_TEST",
    "holdback": "DATASET_ROLE_HOLD_BACK_TEST",
    "debugging": "DATASET_ROLE_DEBUGGING",
    "reference": "DATASET_ROLE_REFERENCE",
    "inference": "DATASET_ROLE_INFERENCE",
}


@dataclass
class Recreated:
    """What ``recreate_run`` found or made, and what it left out.

    ``*_created`` is False for what already existed; ``dropped`` holds the field paths of
    references this server cannot resolve (left out of the stored record).
    """

    experiment: experiment_pb2.Experiment
    experiment_created: bool
    run: run_pb2.Run
    run_created: bool
    record: workflow_metadata_record_pb2.WorkflowMetadataRecord
    record_created: bool
    dropped: list[str] = field(default_factory=list)


# -- describing a run -----------------------------------------------------------------


def describe_run(client: Any, run: run_pb2.Run) -> workflow_metadata_pb2.WorkflowMetadata:
    """The workflow metadata of ``run``: its newest stored file, or what the run records."""
    experiment = client.tracking.GetExperiment(
        tracking_service_pb2.GetExperimentRequest(id=run.experiment_id)
    ).experiment
    records = client.metadata.ListWorkflowMetadataRecords(
        metadata_service_pb2.ListWorkflowMetadataRecordsRequest(
            run=reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_RUN, id=run.meta.id),
            order_by="meta.create_time desc",
            page_size=1,
        )
    ).workflow_metadata_records
    metadata = WorkflowMetadata()
    if records:
        metadata.CopyFrom(records[0].workflow_metadata)
    else:
        _from_run(client, run, metadata)
    properties = metadata.properties
    properties[PROPERTY_EXPERIMENT].CopyFrom(to_value(experiment.meta.name))
    properties[PROPERTY_RUN].CopyFrom(to_value(run.meta.name))
    if run.params:
        properties[PROPERTY_PARAMS].CopyFrom(
            to_value({p.key: from_value(p.value) for p in run.params})
        )
    if run.tags:
        properties[PROPERTY_TAGS].CopyFrom(to_value(dict(run.tags)))
    return metadata


def _from_run(client: Any, run: run_pb2.Run, metadata: WorkflowMetadata) -> None:
    metadata.schema_version = SCHEMA_VERSION
    metadata.name = run.meta.name
    metadata.description = run.meta.description
    for used in run.inputs:
        info = _dataset_info(client, used)
        if info is not None:
            metadata.datasets.append(info)
    for made in run.outputs:
        if made.resource.kind == K.RESOURCE_KIND_MODEL_VERSION and made.resource.id:
            _model_info(client, made.resource.id, metadata)
            break
    params = {p.key: from_value(p.value) for p in run.params}
    training = metadata.training
    if "learning_rate" in params and isinstance(params["learning_rate"], int | float):
        training.learning_rate.value = float(params["learning_rate"])
    for name in _NUMBERS:
        if isinstance(params.get(name), int):
            setattr(training, name, params[name])
    for param, target in _NAMES.items():
        if isinstance(params.get(param), str):
            getattr(training, target).name = params[param]
    if run.HasField("source"):
        code = metadata.environment.code
        code.repository = run.source.repository_url
        code.commit = run.source.commit
        code.entry_point = run.source.entry_point
        code.ref = run.source.tag or run.source.branch
        metadata.environment.command.extend(run.source.command)
    if run.HasField("environment"):
        env = run.environment
        metadata.environment.container_image = env.container_image
        if env.HasField("container_image_digest"):
            metadata.environment.container_image_digest.CopyFrom(env.container_image_digest)
        if env.HasField("compute"):
            metadata.environment.compute.CopyFrom(env.compute)
        metadata.environment.os = env.os
        if env.python_version:
            metadata.framework.runtime.language = "python"
            metadata.framework.runtime.version = env.python_version
        metadata.framework.requirements.extend(
            workflow_metadata_pb2.Requirement(name=p.name, version=p.version) for p in env.packages
        )


def _dataset_info(client: Any, used: run_pb2.RunInput) -> workflow_metadata_pb2.DatasetInfo | None:
    role = metric_pb2.DatasetRole.Name(used.role).removeprefix("DATASET_ROLE_").lower()
    info = workflow_metadata_pb2.DatasetInfo(role="" if role == "unspecified" else role)
    if used.digest.digests:
        info.digest.CopyFrom(used.digest)
    if used.resource.kind != K.RESOURCE_KIND_DATASET_VERSION or not used.resource.id:
        if not used.source_uri:
            return None
        info.name = used.source_uri.rstrip("/").rsplit("/", 1)[-1] or used.source_uri
        info.source = used.source_uri
        return info
    version = client.data.GetDatasetVersion(
        data_service_pb2.GetDatasetVersionRequest(id=used.resource.id)
    ).dataset_version
    dataset = client.data.GetDataset(
        data_service_pb2.GetDatasetRequest(id=version.dataset_id)
    ).dataset
    info.name = dataset.meta.name
    info.version = str(version.version)
    info.source = used.source_uri or _location(version)
    if not info.digest.digests and version.content_digest.digests:
        info.digest.CopyFrom(version.content_digest)
    info.dataset_ref.CopyFrom(
        reference_pb2.ResourceRef(
            kind=K.RESOURCE_KIND_DATASET, name=dataset.meta.name, version=info.version
        )
    )
    return info


def _location(version: dataset_pb2.DatasetVersion) -> str:
    path = version.definition.data_path
    if path.resolved_uri:
        return path.resolved_uri
    where = path.datastore.name or path.datastore.id
    return f"{where}:{path.path.relative_path}" if path.path.relative_path else where


def _model_info(client: Any, version_id: str, metadata: WorkflowMetadata) -> None:
    version = client.models.GetModelVersion(
        models_service_pb2.GetModelVersionRequest(id=version_id)
    ).model_version
    model = client.models.GetModel(models_service_pb2.GetModelRequest(id=version.model_id)).model
    text = version_text(version.version)
    info = metadata.model
    info.name = model.meta.name
    info.version = text
    info.source = version.artifact.uri
    info.model_ref.CopyFrom(
        reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_MODEL, name=model.meta.name, version=text)
    )
    framework = version.framework if version.HasField("framework") else model.framework
    if framework.name:
        metadata.framework.name = framework.name
        metadata.framework.version = framework.version
        info.type = info.type or framework.name


# -- recreating a run -----------------------------------------------------------------


def recreate_run(
    client: Any,
    metadata: workflow_metadata_pb2.WorkflowMetadata,
    *,
    file_digest: str = "",
    source_uri: str = "",
) -> Recreated:
    """Recreates the run ``metadata`` describes on ``client``'s server (see the module).

    ``file_digest`` (the sha256 of the file's bytes) and ``source_uri`` are stored with
    the record. Raises ``InvalidArgument`` with every violation when the file is not
    valid workflow metadata.
    """
    properties = metadata.properties
    experiment_name = _text(properties, PROPERTY_EXPERIMENT) or metadata.name
    run_name = _text(properties, PROPERTY_RUN) or metadata.name
    kept = WorkflowMetadata()
    kept.CopyFrom(metadata)
    dropped = _drop_unknown_references(client, kept)
    _check(client, kept)  # before anything is created: an invalid file leaves nothing behind
    experiment, experiment_created = _experiment(client, experiment_name)
    run, run_created = _run(client, experiment, run_name, metadata, kept)
    record, record_created = _record(client, kept, run, file_digest, source_uri)
    return Recreated(
        experiment, experiment_created, run, run_created, record, record_created, dropped
    )


def _text(properties: Any, key: str) -> str:
    if key not in properties:
        return ""
    value = from_value(properties[key])
    return value if isinstance(value, str) else ""


def _references(metadata: WorkflowMetadata) -> Iterable[tuple[str, reference_pb2.ResourceRef]]:
    if metadata.model.HasField("model_ref"):
        yield "model.model_ref", metadata.model.model_ref
    for i, info in enumerate(metadata.datasets):
        if info.HasField("dataset_ref"):
            yield f"datasets[{i}].dataset_ref", info.dataset_ref


def _drop_unknown_references(client: Any, metadata: WorkflowMetadata) -> list[str]:
    """Clears the references this server cannot resolve; returns their paths."""
    dropped = []
    for path, ref in list(_references(metadata)):
        try:
            client.resources.ResolveResource(
                resource_service_pb2.ResolveResourceRequest(resource=ref)
            )
        except (NotFound, InvalidArgument):
            dropped.append(path)
            ref.Clear()
    if any(p.startswith("model.") for p in dropped):
        metadata.model.ClearField("model_ref")
    for i, info in enumerate(metadata.datasets):
        if f"datasets[{i}].dataset_ref" in dropped:
            info.ClearField("dataset_ref")
    return dropped


def _experiment(client: Any, name: str) -> tuple[experiment_pb2.Experiment, bool]:
    try:
        found = client.tracking.GetExperiment(
            tracking_service_pb2.GetExperimentRequest(name=name)
        ).experiment
        return found, False
    except NotFound:
        pass
    created = client.tracking.CreateExperiment(
        tracking_service_pb2.CreateExperimentRequest(
            experiment=experiment_pb2.Experiment(meta=object_meta_pb2.ObjectMeta(name=name))
        )
    ).experiment
    return created, True


def _run(
    client: Any,
    experiment: experiment_pb2.Experiment,
    name: str,
    metadata: WorkflowMetadata,
    kept: WorkflowMetadata,
) -> tuple[run_pb2.Run, bool]:
    try:
        found = client.tracking.GetRun(
            tracking_service_pb2.GetRunRequest(name=name, experiment_id=experiment.meta.id)
        ).run
        return found, False
    except NotFound:
        pass
    run = run_pb2.Run(experiment_id=experiment.meta.id, state=run_state_pb2.RUN_STATE_PENDING)
    run.meta.name = name
    run.meta.description = metadata.description[:32768]
    for key, value in _params(metadata).items():
        run.params.append(metric_pb2.Param(key=key, value=value))
    tags = metadata.properties.get(PROPERTY_TAGS)
    if tags is not None and tags.HasField("object_value"):
        for key, value in tags.object_value.fields.items():
            text = from_value(value)
            run.tags[key] = text if isinstance(text, str) else str(text)
    for info in kept.datasets:
        if info.HasField("dataset_ref"):
            used = run.inputs.add()
            used.resource.CopyFrom(info.dataset_ref)
            used.role = metric_pb2.DatasetRole.Value(
                _ROLES.get(info.role.lower(), "DATASET_ROLE_UNSPECIFIED")
            )
            if info.digest.digests:
                used.digest.CopyFrom(info.digest)
    created = client.tracking.CreateRun(tracking_service_pb2.CreateRunRequest(run=run)).run
    return created, True


def _params(metadata: WorkflowMetadata) -> dict[str, Any]:
    """The run's parameters: ``run_params`` of the file, else its training parameters."""
    stored = metadata.properties.get(PROPERTY_PARAMS)
    if stored is not None and stored.HasField("object_value"):
        return {key: value for key, value in stored.object_value.fields.items()}
    training = metadata.training
    found: dict[str, Any] = {}
    if training.HasField("learning_rate"):
        found["learning_rate"] = to_value(training.learning_rate.value)
    for name in _NUMBERS:
        if getattr(training, name):
            found[name] = to_value(getattr(training, name))
    for param, target in _NAMES.items():
        if getattr(training, target).name:
            found[param] = to_value(getattr(training, target).name)
    if metadata.HasField("seed"):
        found["seed"] = to_value(metadata.seed)
    for key, value in training.parameters.items():
        found.setdefault(key, value)
    return found


def _check(client: Any, metadata: WorkflowMetadata) -> None:
    """``InvalidArgument`` with every error the server's ValidateWorkflowMetadata finds."""
    checked = client.metadata.ValidateWorkflowMetadata(
        metadata_service_pb2.ValidateWorkflowMetadataRequest(workflow_metadata=metadata)
    )
    if not checked.valid:
        errors = [v for v in checked.violations if v.severity == _ERROR]
        raise InvalidArgument(
            "the workflow metadata is not valid: "
            + "; ".join(f"{v.field}: {v.description}" for v in errors),
            details=[_bad_request(errors)],
        )


def _record(
    client: Any,
    metadata: WorkflowMetadata,
    run: run_pb2.Run,
    file_digest: str,
    source_uri: str,
) -> tuple[workflow_metadata_record_pb2.WorkflowMetadataRecord, bool]:
    ref = reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_RUN, id=run.meta.id)
    request = metadata_service_pb2.ListWorkflowMetadataRecordsRequest(run=ref, page_size=100)
    content = _without_references(metadata)
    while True:
        page = client.metadata.ListWorkflowMetadataRecords(request)
        for existing in page.workflow_metadata_records:
            # The same file: equal content. (References are compared through the names
            # and versions beside them: the server stores a reference by name as an id.)
            if _without_references(existing.workflow_metadata) == content:
                return existing, False
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    record = workflow_metadata_record_pb2.WorkflowMetadataRecord(source_uri=source_uri)
    record.meta.name = run.meta.name  # a record per run, usually; unnamed when taken
    record.workflow_metadata.CopyFrom(metadata)
    record.run.CopyFrom(ref)
    if file_digest:
        record.file_digest.digests["sha256"] = file_digest
    try:
        created = _create_record(client, record)
    except AlreadyExists:
        record.meta.ClearField("name")
        created = _create_record(client, record)
    return created, True


def _create_record(
    client: Any, record: workflow_metadata_record_pb2.WorkflowMetadataRecord
) -> workflow_metadata_record_pb2.WorkflowMetadataRecord:
    created: workflow_metadata_record_pb2.WorkflowMetadataRecord = (
        client.metadata.CreateWorkflowMetadataRecord(
            metadata_service_pb2.CreateWorkflowMetadataRecordRequest(
                workflow_metadata_record=record
            )
        ).workflow_metadata_record
    )
    return created


_ERROR = metadata_service_pb2.VIOLATION_SEVERITY_ERROR


def _without_references(metadata: WorkflowMetadata) -> WorkflowMetadata:
    copy = WorkflowMetadata()
    copy.CopyFrom(metadata)
    copy.model.ClearField("model_ref")
    for info in copy.datasets:
        info.ClearField("dataset_ref")
    return copy


def _bad_request(violations: Iterable[Any]) -> error_details_pb2.BadRequest:
    bad = error_details_pb2.BadRequest()
    for v in violations:
        bad.field_violations.add(field=v.field, description=v.description)
    return bad
