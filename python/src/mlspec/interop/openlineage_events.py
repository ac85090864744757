"""MLSpec stage reports as OpenLineage RunEvents, built with ``openlineage-python``.

Imports the contract and that client only, so the server's emitter (``mlspec.server.openlineage``) and the importer share it.

One stage report becomes two events of one OpenLineage run (``runId`` = the report id):
START at its start time, then COMPLETE (SUCCEEDED, WARNED, CACHED), FAIL (FAILED, with
the ``errorMessage`` facet) or ABORT (CANCELLED, SKIPPED) at its end time.

| MLSpec | OpenLineage |
|---|---|
| workspace and stage | job ``<namespace>`` / ``<workspace>.<stage>``, ``jobType`` facet (integration MLSPEC) |
| the report's tracking run | ``parent`` run facet (job ``<workspace>.runs``) |
| the report itself | custom run facet ``mlspec`` (stage, report, run and pipeline-run ids, the payload as proto3 JSON, the dataset of each input and output by resource id) |
| inputs / outputs | input / output datasets, named from the resource's URI (``s3://bucket`` + ``path``) or ``mlspec://<workspace>`` + ``<kind>/<id>`` |
| ``Artifact.schema`` | ``schema`` facet |
| the URI's scheme and authority | ``dataSource`` facet |
| row count and size; a stage 3 report's statistics of the dataset | ``dataQualityMetrics`` input facet (``columnMetrics``: nulls, distinct values, min, max, median) / ``outputStatistics`` facet |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass
from typing import Any
from urllib.parse import urlsplit

import attr
from google.protobuf import json_format
from google.protobuf.message import Message
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    data_quality_metrics_input_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.serde import Serde

from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import artifact_pb2, schema_pb2, statistics_pb2
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2
from mlspec.models.v1 import model_version_pb2

PRODUCER = "https://github.com/mlspec/mlspec"
MLSPEC_FACET = "mlspec"
MLSPEC_FACET_SCHEMA = "https://mlspec.io/spec/openlineage/MLSpecRunFacet.json"
K = reference_pb2.ResourceKind
R = stage_report_pb2.StageReportStatus
_END_STATE = {
    R.STAGE_REPORT_STATUS_SUCCEEDED: RunState.COMPLETE,
    R.STAGE_REPORT_STATUS_WARNED: RunState.COMPLETE,
    R.STAGE_REPORT_STATUS_CACHED: RunState.COMPLETE,
    R.STAGE_REPORT_STATUS_FAILED: RunState.FAIL,
    R.STAGE_REPORT_STATUS_CANCELLED: RunState.ABORT,
    R.STAGE_REPORT_STATUS_SKIPPED: RunState.ABORT,
}
_FIELD_TYPES = {
    statistics_pb2.FEATURE_TYPE_INT: "integer",
    statistics_pb2.FEATURE_TYPE_FLOAT: "double",
    statistics_pb2.FEATURE_TYPE_STRING: "string",
    statistics_pb2.FEATURE_TYPE_BYTES: "binary",
    statistics_pb2.FEATURE_TYPE_BOOL: "boolean",
    statistics_pb2.FEATURE_TYPE_STRUCT: "struct",
}


@attr.define
class MLSpecRunFacet(RunFacet):
    """The stage report behind an event: what MLSpec needs to read the event back."""

    stage: str
    reportId: str
    runId: str = ""
    pipelineRunId: str = ""
    payload: dict[str, Any] = attr.field(factory=dict)
    # The dataset (``namespace/name``) of each input and output, by the emitting server's
    # resource id, so that a reader can point the payload's references at its own copies.
    datasets: dict[str, str] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return MLSPEC_FACET_SCHEMA


@dataclass(frozen=True)
class DatasetName:
    """An OpenLineage dataset identity: namespace and name."""

    namespace: str
    name: str


def stage_name(stage: int) -> str:
    """``LIFECYCLE_STAGE_MODEL_TRAINING`` -> ``model-training``."""
    return (
        stage_pb2.LifecycleStage.Name(stage)  # type: ignore[arg-type]
        .removeprefix("LIFECYCLE_STAGE_")
        .lower()
        .replace("_", "-")
    )


def uri_dataset(uri: str) -> DatasetName | None:
    """The OpenLineage naming of a URI: ``s3://bucket/a/b`` -> (``s3://bucket``, ``a/b``)."""
    parts = urlsplit(uri)
    if not parts.scheme:
        return None
    if parts.scheme == "file" or not parts.netloc:
        return DatasetName(f"{parts.scheme}://", parts.path or uri)
    name = parts.path.lstrip("/") or "/"
    return DatasetName(f"{parts.scheme}://{parts.netloc}", name)


def dataset_name(
    workspace: str, kind: int, resource_id: str, message: Message | None
) -> DatasetName:
    """How a resource appears in OpenLineage: by the URI of its content when it has one."""
    uri = ""
    if isinstance(message, artifact_pb2.Artifact):
        uri = message.uri
    elif isinstance(message, model_version_pb2.ModelVersion):
        uri = message.artifact.uri
    found = uri_dataset(uri) if uri else None
    if found is not None:
        return found
    kind_name = K.Name(kind).removeprefix("RESOURCE_KIND_").lower()  # type: ignore[arg-type]
    return DatasetName(f"mlspec://{workspace}", f"{kind_name}/{resource_id}")


def _schema_facet(schema: schema_pb2.DataSchema) -> schema_dataset.SchemaDatasetFacet | None:
    if not schema.features:
        return None
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=f.name or ".".join(f.path.steps),
                type=_FIELD_TYPES.get(f.type),
                description=f.description or None,
            )
            for f in schema.features
        ]
    )


def _column_metrics(
    statistics: list[statistics_pb2.DatasetStatistics],
) -> dict[str, data_quality_metrics_input_dataset.ColumnMetrics]:
    metrics: dict[str, data_quality_metrics_input_dataset.ColumnMetrics] = {}
    for block in statistics:
        if block.HasField("slice") and block.slice.ListFields():
            continue  # the whole dataset only
        for feature in block.features:
            common = feature.common_stats
            column = data_quality_metrics_input_dataset.ColumnMetrics(
                nullCount=common.num_missing,
                distinctCount=common.distinct_count or None,
                count=float(common.num_non_missing),
            )
            which = feature.WhichOneof("stats")
            if which == "num_stats":
                present = set(feature.num_stats.present_fields)
                for field_name in ("min", "max"):
                    if not present or field_name in present:
                        setattr(column, field_name, getattr(feature.num_stats, field_name))
                if not present or "median" in present:
                    column.quantiles = {"0.5": feature.num_stats.median}
            elif which == "string_stats":
                column.distinctCount = feature.string_stats.unique or column.distinctCount
            metrics[".".join(feature.path.steps)] = column
    return metrics


def _datasets(
    report: stage_report_pb2.StageReport,
    resources: Mapping[str, Message],
    workspace: str,
) -> tuple[list[InputDataset], list[OutputDataset]]:
    statistics = list(report.data_analysis.statistics) if report.HasField("data_analysis") else []
    inputs: list[InputDataset] = []
    outputs: list[OutputDataset] = []
    for side in ("inputs", "outputs"):
        for endpoint in getattr(report, side):
            ref = endpoint.resource
            message = resources.get(ref.id)
            name = dataset_name(workspace, ref.kind, ref.id, message)
            facets: dict[str, Any] = {
                "dataSource": datasource_dataset.DatasourceDatasetFacet(
                    name=name.namespace, uri=name.namespace
                )
            }
            artifact = message if isinstance(message, artifact_pb2.Artifact) else None
            if artifact is not None and artifact.HasField("schema"):
                schema = _schema_facet(artifact.schema)
                if schema is not None:
                    facets["schema"] = schema
            rows = (
                artifact.row_count
                if artifact is not None and artifact.HasField("row_count")
                else None
            )
            size = artifact.size_bytes if artifact is not None and artifact.size_bytes else None
            if side == "inputs":
                columns = _column_metrics(statistics) if statistics else {}
                input_facets: dict[str, Any] = {}
                if rows is not None or size is not None or columns:
                    input_facets["dataQualityMetrics"] = (
                        data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                            columnMetrics=columns, rowCount=rows, bytes=size
                        )
                    )
                inputs.append(
                    InputDataset(name.namespace, name.name, inputFacets=input_facets, facets=facets)
                )
            else:
                output_facets: dict[str, Any] = {}
                if rows is not None or size is not None:
                    output_facets["outputStatistics"] = (
                        output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                            rowCount=rows, size=size
                        )
                    )
                outputs.append(
                    OutputDataset(
                        name.namespace, name.name, facets=facets, outputFacets=output_facets
                    )
                )
    return inputs, outputs


def run_events(
    report: stage_report_pb2.StageReport,
    resources: Mapping[str, Message],
    *,
    namespace: str,
    version: str,
) -> list[RunEvent]:
    """The START and end events of a stored stage report (``resources``: its endpoints, by id)."""
    workspace = report.meta.workspace or "default"
    stage = stage_name(report.stage)
    payload_field = report.WhichOneof("payload")
    payload: dict[str, Any] = {}
    if payload_field is not None:
        payload = json_format.MessageToDict(
            getattr(report, payload_field), preserving_proto_field_name=True
        )
    mlspec_facet = MLSpecRunFacet(
        stage=stage_pb2.LifecycleStage.Name(report.stage),
        reportId=report.meta.id,
        runId=report.run_id,
        pipelineRunId=report.pipeline_run_id,
        payload=payload,
        datasets={
            endpoint.resource.id: "/".join(
                astuple(
                    dataset_name(
                        workspace,
                        endpoint.resource.kind,
                        endpoint.resource.id,
                        resources.get(endpoint.resource.id),
                    )
                )
            )
            for endpoint in (*report.inputs, *report.outputs)
            if endpoint.resource.id
        },
    )
    run_facets: dict[str, Any] = {
        MLSPEC_FACET: mlspec_facet,
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=version, name="mlspec"
        ),
    }
    if report.run_id:
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=report.run_id),
            job=parent_run.Job(namespace=namespace, name=f"{workspace}.runs"),
        )
    job = Job(
        namespace=namespace,
        name=f"{workspace}.{stage}",
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH",
                integration="MLSPEC",
                jobType=stage.upper().replace("-", "_"),
            )
        },
    )
    inputs, outputs = _datasets(report, resources, workspace)
    start = RunEvent(
        eventType=RunState.START,
        eventTime=report.start_time.ToJsonString(),
        run=Run(runId=report.meta.id, facets=dict(run_facets)),
        job=job,
        producer=PRODUCER,
        inputs=inputs,
        outputs=[],
    )
    state = _END_STATE.get(report.status, RunState.OTHER)
    end_facets = dict(run_facets)
    if state == RunState.FAIL:
        end_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=report.error_message or "the stage failed", programmingLanguage="unknown"
        )
    end_time = report.end_time if report.HasField("end_time") else report.start_time
    end = RunEvent(
        eventType=state,
        eventTime=end_time.ToJsonString(),
        run=Run(runId=report.meta.id, facets=end_facets),
        job=job,
        producer=PRODUCER,
        inputs=inputs,
        outputs=outputs,
    )
    return [start, end]


def to_dict(event: RunEvent) -> dict[str, Any]:
    """An event as the JSON object OpenLineage transports send."""
    found: dict[str, Any] = Serde.to_dict(event)
    return found
