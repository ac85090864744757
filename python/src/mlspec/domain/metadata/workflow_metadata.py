"""Validating workflow metadata files (SPEC.md section 8).

Every violation at once: a parse error, missing required fields (errors), and missing
sections without which the job cannot be recreated exactly (warnings); the file's
canonical digest is the SHA-256 of its deterministic serialization.
"""

from __future__ import annotations

import hashlib

from mlspec import yaml_format
from mlspec.domain.common import field_behavior
from mlspec.domain.common.resources import Resources
from mlspec.metadata.v1 import metadata_service_pb2 as pb
from mlspec.metadata.v1 import workflow_metadata_pb2

ERROR = pb.VIOLATION_SEVERITY_ERROR
WARNING = pb.VIOLATION_SEVERITY_WARNING


def validate(
    res: Resources, request: pb.ValidateWorkflowMetadataRequest
) -> pb.ValidateWorkflowMetadataResponse:
    """Parses (YAML or message) and checks a workflow metadata file; all violations at once."""
    response = pb.ValidateWorkflowMetadataResponse()
    metadata = workflow_metadata_pb2.WorkflowMetadata()
    source = request.WhichOneof("source")
    if source == "yaml":
        try:
            yaml_format.load(request.yaml, metadata)
        except yaml_format.ParseError as exc:
            response.violations.add(
                field="yaml", code="PARSE_ERROR", description=str(exc), severity=ERROR
            )
            return response
    elif source == "workflow_metadata":
        metadata.CopyFrom(request.workflow_metadata)
    else:
        response.violations.add(
            field="source",
            code="MISSING",
            description="set workflow_metadata or yaml",
            severity=ERROR,
        )
        return response
    for violation in field_behavior.missing_required(metadata, "workflow_metadata"):
        response.violations.add(
            field=violation.field,
            code="REQUIRED",
            description=violation.description,
            severity=ERROR,
        )
    for section in ("data_processing", "architecture", "environment", "seed"):
        if not metadata.HasField(section):
            response.violations.add(
                field=f"workflow_metadata.{section}",
                code="RECREATE_INCOMPLETE",
                description=f"without {section} the job cannot be recreated exactly",
                severity=WARNING,
            )
    response.valid = not any(v.severity == ERROR for v in response.violations)
    response.canonical_digest.digests["sha256"] = hashlib.sha256(
        metadata.SerializeToString(deterministic=True)
    ).hexdigest()
    return response
