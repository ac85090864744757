"""mlspec.models.v1.ModelsService: version look-up, aliases and comparison of versions.

Creating and updating versions are standard methods; their rules (unique semantic
version and aliases, artifact digest, what an update may change) are in
``domain.models.versions``; aliases and comparisons in ``domain.models.operations``.
"""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.resources import ACTIVE, DEPRECATED, Loaded, Resources
from mlspec.domain.models import operations as model_operations
from mlspec.domain.models import versions as model_versions
from mlspec.errors import FieldViolation
from mlspec.models.v1 import model_version_pb2
from mlspec.models.v1 import models_service_pb2 as pb
from mlspec.query import Comparison
from mlspec.server.routes import CREATE, GET, LIST, UPDATE, read, write
from mlspec.store.api import FieldSpec, ListQuery

SERVICE = "mlspec.models.v1.ModelsService"
K = reference_pb2.ResourceKind
MV = K.RESOURCE_KIND_MODEL_VERSION


def get_version(request: pb.GetModelVersionRequest, res: Resources) -> Message:
    """Gets a version by id, or by name, semantic version or alias within its model."""
    selector = request.WhichOneof("selector")
    if selector is None:
        raise errors.invalid("id", "set id, or name, version or alias with model_id")
    if selector == "id":
        loaded = res.get(MV, request.id)
    elif selector == "external_id":
        loaded = res.get_by_external_id(MV, request.external_id)
    else:
        if not request.model_id:
            raise errors.invalid(
                "model_id", f"is required to look a version up by {selector} (or use id)"
            )
        if selector == "name":
            loaded = res.get_by_name(MV, request.name, request.model_id)
        elif selector == "version":
            text = model_versions.canonical_version(
                model_versions.parse_version(request.version, "version")
            )
            loaded = _by_member(res, request.model_id, "version", text, "version")
        else:
            loaded = _by_member(res, request.model_id, "aliases", request.alias, "alias")
    if loaded.record.status == DEPRECATED:
        res.check_usable(loaded, selector)
    assert isinstance(loaded.message, model_version_pb2.ModelVersion)
    return pb.GetModelVersionResponse(model_version=loaded.message)


def _by_member(res: Resources, model_id: str, member: str, value: str, path: str) -> Loaded:
    """The non-archived version of a model whose indexed ``member`` is ``value``."""
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=MV,
        scope=model_id,
        statuses=(ACTIVE, DEPRECATED),
        filter=Comparison((member,), "=", value),
        page_size=1,
        members={member: FieldSpec("text")},
    )
    page = res.list_page(query)
    if not page.records:
        raise errors.NotFound(
            f"model {model_id} has no version with {path} {value!r} (archived versions are "
            "found by id only)",
            reason="RESOURCE_NOT_FOUND",
            resource_type=model_versions.FULL_NAME,
            resource_name=value,
            violations=[FieldViolation(path, "no such version")],
        )
    return res.get(MV, page.records[0].id)


def set_alias(request: pb.SetModelVersionAliasRequest, res: Resources) -> Message:
    """Points an alias at a version (moving it) or removes it (empty version id)."""
    return model_operations.set_alias(res, request)


def compare(request: pb.CompareModelVersionsRequest, res: Resources) -> Message:
    """Aligns the metrics of 2 to 20 versions by key, slice and dataset role."""
    return model_operations.compare(res, request)


# Every RPC of ModelsService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "CreateModel": CREATE,
    "GetModel": GET,
    "ListModels": LIST,
    "UpdateModel": UPDATE,
    "CreateModelVersion": CREATE,
    "GetModelVersion": read(get_version),
    "ListModelVersions": LIST,
    "UpdateModelVersion": UPDATE,
    "SetModelVersionAlias": write(set_alias),
    "CompareModelVersions": read(compare),
}
