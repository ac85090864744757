"""mlspec.lifecycle.v1.LifecycleService: lineage, objectives, provenance (reports: generic create)."""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle import lineage, provenance
from mlspec.domain.lifecycle.objectives import service as objectives
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as pb
from mlspec.server.routes import BATCH_CREATE, CREATE, GET, LIST, read

SERVICE = "mlspec.lifecycle.v1.LifecycleService"


def get_lineage(request: pb.GetLineageRequest, res: Resources) -> Message:
    """Walks lineage around a resource."""
    graph = lineage.get_lineage(
        res,
        request.start,
        request.direction,
        request.max_depth,
        list(request.node_kinds),
        request.show_archived,
    )
    return pb.GetLineageResponse(graph=graph)


def evaluate_objectives(request: pb.EvaluateObjectivesRequest, res: Resources) -> Message:
    """Evaluates codified objectives on reports, and the deployment gate of a model version."""
    return objectives.evaluate_objectives(res, request)


def export_provenance(request: pb.ExportProvenanceRequest, res: Resources) -> Message:
    """Signs the upstream lineage of a model version as an in-toto attestation."""
    return pb.ExportProvenanceResponse(attestation=provenance.export(res, request.model_version))


# Every RPC of LifecycleService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "ReportStage": CREATE,
    "BatchReportStages": BATCH_CREATE,
    "GetStageReport": GET,
    "ListStageReports": LIST,
    "GetLineage": read(get_lineage),
    "EvaluateObjectives": read(evaluate_objectives),
    "ExportProvenance": read(export_provenance),
}
