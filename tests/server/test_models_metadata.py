"""Model version aliases and comparison; workflow metadata validation."""

from __future__ import annotations

import pathlib

import grpc
import pytest

from mlspec.metadata.v1 import metadata_service_pb2 as meta_pb
from mlspec.metadata.v1 import metadata_service_pb2_grpc
from mlspec.models.v1 import model_pb2, model_version_pb2
from mlspec.models.v1 import models_service_pb2 as pb

from .conftest import Stubs
from .messages import make

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "metadata" / "workflow.yaml"


def version(stubs: Stubs, model_id: str, major: int, auc: float) -> model_version_pb2.ModelVersion:
    created: model_version_pb2.ModelVersion = stubs.models.CreateModelVersion(
        pb.CreateModelVersionRequest(
            model_version=make(
                model_version_pb2.ModelVersion,
                {
                    "model_id": model_id,
                    "version": {"major": major},
                    "artifact": {
                        "uri": f"s3://m/{major}",
                        "digest": {"digests": {"sha256": "a" * 64}},
                    },
                    "metrics": [{"key": "auc", "value": {"double_value": auc}}],
                },
            )
        )
    ).model_version
    return created


def test_alias_moves_between_versions_and_versions_compare(stubs: Stubs) -> None:
    model = stubs.models.CreateModel(
        pb.CreateModelRequest(model=make(model_pb2.Model, {"meta": {"name": "churn"}}))
    ).model
    v1, v2 = version(stubs, model.meta.id, 1, 0.80), version(stubs, model.meta.id, 2, 0.85)
    stubs.models.SetModelVersionAlias(
        pb.SetModelVersionAliasRequest(
            model_id=model.meta.id, alias="champion", model_version_id=v1.meta.id
        )
    )
    moved = stubs.models.SetModelVersionAlias(
        pb.SetModelVersionAliasRequest(
            model_id=model.meta.id, alias="champion", model_version_id=v2.meta.id
        )
    )
    assert moved.previous_model_version_id == v1.meta.id and list(moved.model_version.aliases) == [
        "champion"
    ]
    got = stubs.models.GetModelVersion(
        pb.GetModelVersionRequest(model_id=model.meta.id, alias="champion")
    ).model_version
    assert got.meta.id == v2.meta.id
    assert not stubs.models.GetModelVersion(
        pb.GetModelVersionRequest(id=v1.meta.id)
    ).model_version.aliases
    rows = stubs.models.CompareModelVersions(
        pb.CompareModelVersionsRequest(model_version_ids=[v1.meta.id, v2.meta.id])
    ).rows
    assert [r.key for r in rows] == ["auc"] and rows[0].cells[1].delta == pytest.approx(0.05)
    with pytest.raises(grpc.RpcError) as err:
        stubs.models.CompareModelVersions(
            pb.CompareModelVersionsRequest(model_version_ids=[v1.meta.id])
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_workflow_metadata_validation(channel: grpc.Channel) -> None:
    metadata = metadata_service_pb2_grpc.MetadataServiceStub(channel)
    good = metadata.ValidateWorkflowMetadata(
        meta_pb.ValidateWorkflowMetadataRequest(yaml=EXAMPLE.read_text())
    )
    assert good.valid and good.canonical_digest.digests["sha256"]
    bad = metadata.ValidateWorkflowMetadata(
        meta_pb.ValidateWorkflowMetadataRequest(yaml="name: x\n")
    )
    assert not bad.valid
    assert {"workflow_metadata.schema_version", "workflow_metadata.framework"} <= {
        v.field for v in bad.violations
    }
    broken = metadata.ValidateWorkflowMetadata(
        meta_pb.ValidateWorkflowMetadataRequest(yaml="nme: [\n")
    )
    assert not broken.valid and broken.violations[0].code == "PARSE_ERROR"
    # Sent as a message, missing Required fields are violations of the answer too, not
    # a refusal of the call: the method reports every problem of the file.
    partial = metadata.ValidateWorkflowMetadata(
        meta_pb.ValidateWorkflowMetadataRequest(workflow_metadata={"name": "x"})
    )
    assert not partial.valid
    assert {"workflow_metadata.schema_version", "workflow_metadata.framework"} <= {
        v.field for v in partial.violations
    }
