"""Client.validate asks the server whether it would store a message (validate_only)."""

from __future__ import annotations

import pytest

from mlspec.client import Client
from mlspec.client.errors import InvalidArgument
from mlspec.client.validation import NotCreatable, create_method
from mlspec.common.v1 import object_meta_pb2
from mlspec.data.v1 import data_service_pb2, dataset_pb2
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2, training_pb2
from mlspec.tracking.v1 import metric_pb2


def test_a_valid_resource_comes_back_as_it_would_be_stored(client: Client) -> None:
    checked = client.validate(dataset_pb2.Dataset(meta=object_meta_pb2.ObjectMeta(name="churn")))
    assert checked.meta.name == "churn" and checked.meta.id
    assert not client.data.ListDatasets(data_service_pb2.ListDatasetsRequest()).datasets


def test_every_violation_of_a_report_is_raised(client: Client) -> None:
    report = stage_report_pb2.StageReport(
        stage=stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING,
        status=stage_report_pb2.STAGE_REPORT_STATUS_SUCCEEDED,
        model_training=training_pb2.ModelTraining(model_format="onnx"),
    )
    with pytest.raises(InvalidArgument) as caught:
        client.validate(report)
    fields = {field for field, _ in caught.value.field_violations}
    assert {
        "stage_report.run_id",
        "stage_report.start_time",
        "stage_report.model_training.output_model",
    } <= fields


def test_only_creatable_messages_are_validated() -> None:
    method, field_in, _ = create_method("mlspec.lifecycle.v1.StageReport")
    assert (method.name, field_in) == ("ReportStage", "stage_report")
    with pytest.raises(NotCreatable):
        create_method(metric_pb2.Metric.DESCRIPTOR.full_name)
