"""Model-version operations beyond create and update: moving aliases, comparing versions.

An alias is held by at most one version of a model: setting it on a version takes it
from the version that held it (under the model's lock). Comparing aligns the metrics of
2 to 20 versions by key, slice and dataset role, with each value's delta to the first.
"""

from __future__ import annotations

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.models import versions as model_versions
from mlspec.errors import FieldViolation
from mlspec.models.v1 import model_version_pb2
from mlspec.models.v1 import models_service_pb2 as pb

K = reference_pb2.ResourceKind


def set_alias(
    res: Resources, request: pb.SetModelVersionAliasRequest
) -> pb.SetModelVersionAliasResponse:
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


def compare(
    res: Resources, request: pb.CompareModelVersionsRequest
) -> pb.CompareModelVersionsResponse:
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
