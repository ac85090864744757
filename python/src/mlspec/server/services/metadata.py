"""mlspec.metadata.v1.MetadataService: validating workflow metadata files."""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec.domain.common.resources import Resources
from mlspec.domain.metadata import workflow_metadata
from mlspec.metadata.v1 import metadata_service_pb2 as pb
from mlspec.server.routes import CREATE, GET, LIST, read

SERVICE = "mlspec.metadata.v1.MetadataService"
ERROR = pb.VIOLATION_SEVERITY_ERROR
WARNING = pb.VIOLATION_SEVERITY_WARNING


def validate(request: pb.ValidateWorkflowMetadataRequest, res: Resources) -> Message:
    """Parses (YAML or message) and checks a workflow metadata file; all violations at once."""
    return workflow_metadata.validate(res, request)


# Every RPC of MetadataService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "CreateWorkflowMetadataRecord": CREATE,
    "GetWorkflowMetadataRecord": GET,
    "ListWorkflowMetadataRecords": LIST,
    "ValidateWorkflowMetadata": read(validate, checks=("workflow_metadata",)),
}
