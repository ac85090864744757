"""The ``model_name:model_version`` a Combined-ML log line shows for a record's model.

Records usually name their model version by id alone; the line shows the model's name
and the version's semantic version, looked up once per id for a whole stream.
"""

from __future__ import annotations

from collections.abc import Callable

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.logging.inference_log import model_label
from mlspec.domain.models.versions import canonical_version
from mlspec.models.v1 import model_pb2, model_version_pb2

K = reference_pb2.ResourceKind


def labeller(res: Resources) -> Callable[[reference_pb2.ResourceRef], str]:
    """``label_of`` for ``ncsa_line``: names a reference by id through the store, cached."""
    found: dict[str, str] = {}

    def label_of(ref: reference_pb2.ResourceRef) -> str:
        named = model_label(ref)
        if named or not ref.id:
            return named
        if ref.id not in found:
            found[ref.id] = _looked_up(res, ref)
        return found[ref.id]

    return label_of


def _looked_up(res: Resources, ref: reference_pb2.ResourceRef) -> str:
    """The label of a model version (or of a model with ``ref.version``); "" if unknown."""
    try:
        kind = ref.kind or res.kind_of(ref.id) or K.RESOURCE_KIND_MODEL_VERSION
        if kind == K.RESOURCE_KIND_MODEL:
            model = res.get(K.RESOURCE_KIND_MODEL, ref.id).message
            assert isinstance(model, model_pb2.Model)
            return f"{model.meta.name}:{ref.version}" if ref.version else ""
        version = res.get(K.RESOURCE_KIND_MODEL_VERSION, ref.id).message
        assert isinstance(version, model_version_pb2.ModelVersion)
        model = res.get(K.RESOURCE_KIND_MODEL, version.model_id).message
        assert isinstance(model, model_pb2.Model)
        return f"{model.meta.name}:{canonical_version(version.version)}"
    except (errors.NotFound, errors.InvalidArgument):
        return ""  # archived away or never stored: the line says `-`
