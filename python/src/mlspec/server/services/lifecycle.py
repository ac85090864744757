"""mlspec.lifecycle.v1.LifecycleService: lineage queries (reports use the generic create)."""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec.domain import lineage
from mlspec.domain.resources import Resources
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as pb
from mlspec.server.dispatch import Handler

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


HANDLERS = {
    f"{SERVICE}/GetLineage": Handler(get_lineage, write=False),
}
