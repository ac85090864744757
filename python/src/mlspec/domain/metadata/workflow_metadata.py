"""Validating workflow metadata files (SPEC.md section 8), and the records that store them.

Every violation at once: a parse error, missing required fields and a `schema_version`
whose major version this server does not know (errors), and missing sections without
which the job cannot be recreated exactly (warnings); the file's canonical digest is
the SHA-256 of its deterministic serialization. A record stores a valid file with that
digest (and a generated name when it has none).
"""

from __future__ import annotations

import hashlib
import re

from mlspec import errors, yaml_format
from mlspec.domain.common import field_behavior
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import Resources
from mlspec.metadata.v1 import metadata_service_pb2 as pb
from mlspec.metadata.v1 import workflow_metadata_pb2, workflow_metadata_record_pb2

ERROR = pb.VIOLATION_SEVERITY_ERROR
WARNING = pb.VIOLATION_SEVERITY_WARNING
# The major versions of the file format this server reads.
KNOWN_MAJORS = frozenset({"1"})
_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]+")


def schema_version_problem(version: str) -> str:
    """Why a `schema_version` cannot be read ('' when it can): `MAJOR.MINOR`, major known."""
    major, dot, minor = version.partition(".")
    if not (major.isdigit() and dot and minor.isdigit()):
        return "must be MAJOR.MINOR, for example 1.0"
    if str(int(major)) not in KNOWN_MAJORS:
        return f"has major version {major}; this server reads {', '.join(sorted(KNOWN_MAJORS))}"
    return ""


def canonical_digest(metadata: workflow_metadata_pb2.WorkflowMetadata) -> str:
    """SHA-256 of the deterministic serialization of a workflow metadata file."""
    return hashlib.sha256(metadata.SerializeToString(deterministic=True)).hexdigest()


def _prepare_record(
    _res: Resources, record: workflow_metadata_record_pb2.WorkflowMetadataRecord, path: str
) -> None:
    problem = schema_version_problem(record.workflow_metadata.schema_version)
    if record.workflow_metadata.schema_version and problem:
        raise errors.invalid(
            f"{path}.workflow_metadata.schema_version", problem, reason="UNKNOWN_SCHEMA_VERSION"
        )


def _derive_record(
    _res: Resources, record: workflow_metadata_record_pb2.WorkflowMetadataRecord, _path: str
) -> None:
    record.canonical_digest.Clear()
    record.canonical_digest.digests["sha256"] = canonical_digest(record.workflow_metadata)
    if not record.meta.name:
        base = _NAME_CHARACTERS.sub("-", record.workflow_metadata.model.name).strip("-_")
        record.meta.name = f"{base or 'workflow'}-{record.meta.id}"[-255:].lstrip("-_")


RULES = {
    "mlspec.metadata.v1.WorkflowMetadataRecord": KindRules(
        prepare=_prepare_record, derive=_derive_record
    )
}


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
    problem = schema_version_problem(metadata.schema_version)
    if metadata.schema_version and problem:
        response.violations.add(
            field="workflow_metadata.schema_version",
            code="UNKNOWN_SCHEMA_VERSION",
            description=problem,
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
    response.canonical_digest.digests["sha256"] = canonical_digest(metadata)
    return response
