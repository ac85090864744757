"""mlspec.common.v1.ResourceService: resolve, rename, archive, deprecate, reactivate."""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec.common.v1 import resource_service_pb2 as pb
from mlspec.domain.common.resources import ACTIVE, ARCHIVED, DEPRECATED, Loaded, Resources
from mlspec.server.routes import read, write

SERVICE = "mlspec.common.v1.ResourceService"


def _fill(response: Message, loaded: Loaded) -> Message:
    response.meta.CopyFrom(loaded.meta)  # type: ignore[attr-defined]
    response.resource.Pack(loaded.message)  # type: ignore[attr-defined]
    return response


def resolve(request: pb.ResolveResourceRequest, res: Resources) -> Message:
    """Resolves a reference; deprecated targets come with a warning."""
    loaded = res.resolve(request.resource, "resource", for_use=False)
    if loaded.record.status == DEPRECATED:
        res.check_usable(loaded, "resource")
    return _fill(pb.ResolveResourceResponse(), loaded)


def rename(request: pb.RenameResourceRequest, res: Resources) -> Message:
    """Renames a resource referenced by id."""
    loaded = res.rename(request.resource, request.new_name, request.etag, "resource")
    return _fill(pb.RenameResourceResponse(), loaded)


def archive(request: pb.ArchiveResourceRequest, res: Resources) -> Message:
    """Archives a resource referenced by id."""
    loaded = res.set_status(request.resource, ARCHIVED, request.etag, "resource")
    return _fill(pb.ArchiveResourceResponse(), loaded)


def deprecate(request: pb.DeprecateResourceRequest, res: Resources) -> Message:
    """Deprecates a resource referenced by id."""
    loaded = res.set_status(request.resource, DEPRECATED, request.etag, "resource")
    return _fill(pb.DeprecateResourceResponse(), loaded)


def reactivate(request: pb.ReactivateResourceRequest, res: Resources) -> Message:
    """Reactivates a resource referenced by id (its name must still be free)."""
    loaded = res.set_status(request.resource, ACTIVE, request.etag, "resource")
    return _fill(pb.ReactivateResourceResponse(), loaded)


# Every RPC of ResourceService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "ResolveResource": read(resolve),
    "RenameResource": write(rename),
    "ArchiveResource": write(archive),
    "DeprecateResource": write(deprecate),
    "ReactivateResource": write(reactivate),
}
