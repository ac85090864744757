"""End to end: a dataset and a run, a training report, the lineage of the model version."""

from __future__ import annotations

import grpc
import pytest

from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import data_service_pb2, dataset_pb2, datastore_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2, lineage_pb2, stage_pb2, stage_report_pb2
from mlspec.models.v1 import model_pb2, model_version_pb2, models_service_pb2
from mlspec.tracking.v1 import experiment_pb2, run_pb2, tracking_service_pb2

from .conftest import Stubs

K = reference_pb2.ResourceKind


def ref(kind: int, resource_id: str) -> reference_pb2.ResourceRef:
    return reference_pb2.ResourceRef(kind=kind, id=resource_id)


def test_training_report_links_data_to_model(stubs: Stubs) -> None:
    dataset = stubs.data.CreateDataset(
        data_service_pb2.CreateDatasetRequest(dataset=dataset_pb2.Dataset(meta={"name": "churn"}))
    ).dataset
    stubs.data.CreateDatastore(
        data_service_pb2.CreateDatastoreRequest(
            datastore=datastore_pb2.Datastore(
                meta={"name": "lake"}, type=datastore_pb2.DATASTORE_TYPE_S3
            )
        )
    )
    definition = {
        "data_path": {
            "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
            "path": {"relative_path": "churn/"},
        }
    }
    version = stubs.data.CreateDatasetVersion(
        data_service_pb2.CreateDatasetVersionRequest(
            dataset_version=dataset_pb2.DatasetVersion(
                dataset_id=dataset.meta.id, definition=definition
            )
        )
    ).dataset_version
    assert version.version == 1
    experiment = stubs.tracking.CreateExperiment(
        tracking_service_pb2.CreateExperimentRequest(
            experiment=experiment_pb2.Experiment(meta={"name": "exp"})
        )
    ).experiment
    run = stubs.tracking.CreateRun(
        tracking_service_pb2.CreateRunRequest(run=run_pb2.Run(experiment_id=experiment.meta.id))
    ).run
    model = stubs.models.CreateModel(
        models_service_pb2.CreateModelRequest(model=model_pb2.Model(meta={"name": "churn-model"}))
    ).model
    mv = stubs.models.CreateModelVersion(
        models_service_pb2.CreateModelVersionRequest(
            model_version=model_version_pb2.ModelVersion(
                model_id=model.meta.id,
                version={"major": 1},
                artifact={"uri": "s3://m/1", "digest": {"digests": {"sha256": "a" * 64}}},
            )
        )
    ).model_version
    report = stage_report_pb2.StageReport(
        stage=stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING,
        run_id=run.meta.id,
        start_time={"seconds": 1_700_000_000},
        status=stage_report_pb2.STAGE_REPORT_STATUS_SUCCEEDED,
        inputs=[
            {"resource": ref(K.RESOURCE_KIND_DATASET_VERSION, version.meta.id), "role": "training"}
        ],
        outputs=[{"resource": ref(K.RESOURCE_KIND_MODEL_VERSION, mv.meta.id)}],
        model_training={
            "model_format": "onnx",
            "output_model": ref(K.RESOURCE_KIND_MODEL_VERSION, mv.meta.id),
        },
    )
    stored = stubs.lifecycle.ReportStage(
        lifecycle_service_pb2.ReportStageRequest(stage_report=report)
    ).stage_report
    assert stored.meta.id
    graph = stubs.lifecycle.GetLineage(
        lifecycle_service_pb2.GetLineageRequest(
            start=ref(K.RESOURCE_KIND_MODEL_VERSION, mv.meta.id),
            direction=lineage_pb2.LINEAGE_DIRECTION_UPSTREAM,
        )
    ).graph
    ids = {n.resource.id for n in graph.nodes}
    assert {mv.meta.id, stored.meta.id, version.meta.id, dataset.meta.id, run.meta.id} <= ids

    with pytest.raises(grpc.RpcError) as err:
        stubs.lifecycle.ReportStage(
            lifecycle_service_pb2.ReportStageRequest(
                stage_report=stage_report_pb2.StageReport(
                    stage=stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING,
                    run_id=run.meta.id,
                    start_time={"seconds": 1},
                    status=stage_report_pb2.STAGE_REPORT_STATUS_SUCCEEDED,
                    data_ingestion={},
                )
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
