"""mlspec.data.v1.DataService: the data resources, and promoting an artifact.

Datastores, artifacts, datasets and their versions, profiles, checkpoints and views
are standard methods; promotion is ``domain.data.promotion``.
"""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import data_service_pb2 as pb
from mlspec.domain.common.resources import Resources
from mlspec.domain.data import promotion
from mlspec.server.routes import BATCH_CREATE, CREATE, GET, LIST, UPDATE, write

SERVICE = "mlspec.data.v1.DataService"
K = reference_pb2.ResourceKind


def promote_artifact(request: pb.PromoteArtifactRequest, res: Resources) -> Message:
    """Makes an artifact a new version of an existing or a new dataset."""
    return promotion.promote_artifact(res, request)


# Every RPC of DataService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "CreateDatastore": CREATE,
    "GetDatastore": GET,
    "ListDatastores": LIST,
    "UpdateDatastore": UPDATE,
    "CreateArtifact": CREATE,
    "GetArtifact": GET,
    "ListArtifacts": LIST,
    "UpdateArtifact": UPDATE,
    "BatchCreateArtifacts": BATCH_CREATE,
    "PromoteArtifact": write(promote_artifact),
    "CreateDataset": CREATE,
    "GetDataset": GET,
    "ListDatasets": LIST,
    "UpdateDataset": UPDATE,
    "CreateDatasetVersion": CREATE,
    "GetDatasetVersion": GET,
    "ListDatasetVersions": LIST,
    "UpdateDatasetVersion": UPDATE,
    "CreateDatasetProfile": CREATE,
    "GetDatasetProfile": GET,
    "ListDatasetProfiles": LIST,
    "UpdateDatasetProfile": UPDATE,
    "CreateDatasetCheckpoint": CREATE,
    "GetDatasetCheckpoint": GET,
    "ListDatasetCheckpoints": LIST,
    "UpdateDatasetCheckpoint": UPDATE,
    "CreateDatasetView": CREATE,
    "GetDatasetView": GET,
    "ListDatasetViews": LIST,
    "UpdateDatasetView": UPDATE,
}
