"""mlspec.models.v1.ModelsService: version look-up, aliases and comparison of versions.

Creating and updating versions are standard methods; their rules (unique semantic
version and aliases, artifact digest, what an update may change) are in
``mlspec.domain.model_rules``.
"""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.resources import ACTIVE, DEPRECATED, Loaded, Resources
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
    violations = model_versions.alias_violations([request.alias], "alias")
    if violations:
        raise errors.InvalidArgument(
            "alias is not valid",
            reason="INVALID_ALIAS",
            violations=[FieldViolation("alias", v.description) for v in violations],
        )
    model = res.get(K.RESOURCE_KIND_MODEL, request.model_id, path="model_id")
    model_versions.lock_model(res, model.record.id)
    holder = model_versions.alias_holder(res, model.record.id, request.alias)
    response = pb.SetModelVersionAliasResponse()
    if holder is not None:
        response.previous_model_version_id = holder.record.id
        if holder.record.id != request.model_version_id:
            assert isinstance(holder.message, model_version_pb2.ModelVersion)
            moved = model_version_pb2.ModelVersion()
            moved.CopyFrom(holder.message)
            moved.aliases.remove(request.alias)
            res.save(holder, moved)
    if request.model_version_id:
        target = res.get(
            K.RESOURCE_KIND_MODEL_VERSION, request.model_version_id, path="model_version_id"
        )
        assert isinstance(target.message, model_version_pb2.ModelVersion)
        if target.message.model_id != model.record.id:
            raise errors.invalid(
                "model_version_id",
                f"is a version of model {target.message.model_id}, not {model.record.id}",
            )
        res.check_usable(target, "model_version_id")
        updated = model_version_pb2.ModelVersion()
        updated.CopyFrom(target.message)
        if request.alias not in updated.aliases:
            updated.aliases.append(request.alias)
            res.save(res.get(K.RESOURCE_KIND_MODEL_VERSION, target.record.id), updated)
        response.model_version.CopyFrom(updated)
    return response


def compare(request: pb.CompareModelVersionsRequest, res: Resources) -> Message:
    """Aligns the metrics of 2 to 20 versions by key, slice and dataset role."""
    ids = list(request.model_version_ids)
    if not 2 <= len(ids) <= 20:
        raise errors.invalid("model_version_ids", "compare between 2 and 20 versions")
    versions = []
    for i, version_id in enumerate(ids):
        loaded = res.get(K.RESOURCE_KIND_MODEL_VERSION, version_id, path=f"model_version_ids[{i}]")
        assert isinstance(loaded.message, model_version_pb2.ModelVersion)
        versions.append(loaded.message)
    response = pb.CompareModelVersionsResponse()
    rows: dict[tuple[str, bytes, str], pb.MetricComparisonRow] = {}
    wanted = set(request.metric_keys)
    for version in versions:
        ref = response.model_versions.add(id=version.meta.id, name=version.meta.name)
        ref.kind = K.RESOURCE_KIND_MODEL_VERSION
        for metric in version.metrics:
            if wanted and metric.key not in wanted:
                continue
            if (
                metric.HasField("slice")
                and metric.slice.ListFields()
                and not request.include_slices
            ):
                continue
            key = (
                metric.key,
                metric.slice.SerializeToString(deterministic=True),
                metric.dataset_role,
            )
            row = rows.get(key)
            if row is None:
                row = rows[key] = response.rows.add(
                    key=metric.key, slice=metric.slice, dataset_role=metric.dataset_role
                )
            cell = row.cells.add(model_version_id=version.meta.id, value=metric.value)
            baseline = row.cells[0]
            if (
                len(row.cells) > 1
                and _number(baseline.value) is not None
                and _number(metric.value) is not None
            ):
                cell.delta = _number(metric.value) - _number(baseline.value)  # type: ignore[operator]
    return response


def _number(value: Message) -> float | None:
    kind = value.WhichOneof("kind")
    if kind == "double_value":
        return float(value.double_value)  # type: ignore[attr-defined]
    if kind == "int_value":
        return float(value.int_value)  # type: ignore[attr-defined]
    return None


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
