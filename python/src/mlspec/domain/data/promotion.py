"""Promoting an artifact to a dataset version (SPEC.md section 3).

A live artifact with a data path becomes the next version of an existing dataset, or
the first version of a new one, once: the version takes the artifact's location,
digest, size and producing run, and lineage records artifact -> version (PROMOTED_TO).
"""

from __future__ import annotations

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import artifact_pb2, dataset_pb2
from mlspec.data.v1 import data_service_pb2 as pb
from mlspec.domain import kind_rules
from mlspec.domain.common.resources import Resources
from mlspec.domain.data import rules as data_rules
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.store.api import Edge

K = reference_pb2.ResourceKind


def promote_artifact(
    res: Resources, request: pb.PromoteArtifactRequest
) -> pb.PromoteArtifactResponse:
    """Makes an artifact a new version of an existing or a new dataset."""
    artifact = res.get(K.RESOURCE_KIND_ARTIFACT, request.artifact_id, path="artifact_id")
    res.check_usable(artifact, "artifact_id")
    assert isinstance(artifact.message, artifact_pb2.Artifact)
    if artifact.message.promoted_dataset_version_id:
        raise errors.AlreadyExists(
            f"artifact {artifact.record.id} was already promoted to dataset version "
            f"{artifact.message.promoted_dataset_version_id}",
            reason="ALREADY_PROMOTED",
            resource_type="mlspec.data.v1.DatasetVersion",
            resource_name=artifact.message.promoted_dataset_version_id,
        )
    if artifact.message.state not in (
        artifact_pb2.ARTIFACT_STATE_UNSPECIFIED,
        artifact_pb2.ARTIFACT_STATE_LIVE,
    ):
        raise errors.FailedPrecondition(
            f"artifact {artifact.record.id} is {artifact_pb2.ArtifactState.Name(artifact.message.state)}; only live artifacts can be promoted",
            reason="ARTIFACT_NOT_LIVE",
        )
    if not artifact.message.HasField("location"):
        raise errors.FailedPrecondition(
            f"artifact {artifact.record.id} has no data path (location) to define a dataset version by",
            reason="ARTIFACT_HAS_NO_LOCATION",
        )
    target = request.WhichOneof("target")
    if target == "existing_dataset":
        if request.existing_dataset.kind != K.RESOURCE_KIND_DATASET:
            raise errors.invalid("existing_dataset.kind", "must be RESOURCE_KIND_DATASET")
        dataset_msg = res.resolve(
            request.existing_dataset, "existing_dataset", for_use=True
        ).message
    elif target == "new_dataset":
        dataset_msg = kind_rules.create(res, request.new_dataset, "new_dataset")
    else:
        raise errors.invalid("existing_dataset", "set existing_dataset or new_dataset")
    assert isinstance(dataset_msg, dataset_pb2.Dataset)
    version = dataset_pb2.DatasetVersion(dataset_id=dataset_msg.meta.id)
    version.definition.data_path.CopyFrom(artifact.message.location)
    version.meta.description = (
        request.version_description or f"Promoted from artifact {artifact.record.name}"
    )
    version.meta.labels.update(request.version_labels)
    if artifact.message.digest.digests:  # an empty DigestSet would break its own rule
        version.content_digest.CopyFrom(artifact.message.digest)
    version.size_bytes = artifact.message.size_bytes
    version.producer_run_id = artifact.message.run_id

    def derive(message: dataset_pb2.DatasetVersion) -> list[Edge]:
        data_rules.number_dataset_version(res, message)
        message.source_artifact_id = artifact.record.id
        return [(artifact.record.id, message.meta.id, lineage_pb2.LINEAGE_EDGE_KIND_PROMOTED_TO)]

    stored_version = res.create(version, "dataset_version", derive=derive)
    data_rules.refresh_dataset(res, stored_version)
    promoted = artifact_pb2.Artifact()
    promoted.CopyFrom(artifact.message)
    promoted.promoted_dataset_version_id = stored_version.meta.id
    stored_artifact = res.save(artifact, promoted)
    return pb.PromoteArtifactResponse(
        dataset=dataset_msg, dataset_version=stored_version, artifact=stored_artifact
    )
