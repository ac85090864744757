"""The stage 7 payload: the model trained, from what, with which search and code.

Example:
    >>> from mlspec.models.v1.model_version_pb2 import ModelVersion
    >>> model = ModelVersion()
    >>> model.meta.id = "m-1"
    >>> model.artifact.digest.digests["sha256"] = "ab" * 32
    >>> payload = model_training(model, hyperparameters={"C": 0.1}, model_format="joblib")
    >>> payload.output_model.id, payload.output_model_digest.digests["sha256"][:4]
    ('m-1', 'abab')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlspec.client.fields import fill
from mlspec.client.refs import digest_of, to_ref
from mlspec.client.values import to_value
from mlspec.common.v1.reference_pb2 import ResourceKind
from mlspec.lifecycle.v1 import training_pb2

__all__ = ["model_training"]


def model_training(
    model: Any,
    *,
    search: training_pb2.HyperparameterSearch | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    training_data: Iterable[Any] = (),
    validation_data: Iterable[Any] = (),
    code: Any = None,
    **fields: Any,
) -> training_pb2.ModelTraining:
    """The ``ModelTraining`` of the model version ``model``.

    ``model`` gives ``output_model`` and ``output_model_digest`` (its artifact digest);
    ``search`` is the ``HyperparameterSearch`` (see ``mlspec.client.tuning``), whose best
    trial's assignments and metrics fill ``hyperparameters`` and ``training_metrics``
    unless given; ``training_data`` and ``validation_data`` are dataset versions; ``code``
    is the code that trained it: a module version (``code_module_version``) or an
    artifact, whose digest becomes ``code_digest``. Other keyword arguments set further
    fields (``model_format``, ``framework``, ``compute``, ...).
    """
    out = training_pb2.ModelTraining()
    out.output_model.CopyFrom(to_ref(model))
    digest = digest_of(model)
    if digest is not None:
        out.output_model_digest.CopyFrom(digest)
    if search is not None:
        out.hyperparameter_search.CopyFrom(search)
        best = next((t for t in search.trials if t.id == search.best_trial_id), None)
        if best is not None and hyperparameters is None:
            for name, value in best.assignments.items():
                out.hyperparameters[name].CopyFrom(value)
        for name, value in search.best_trial_metrics.items():
            out.training_metrics[name].CopyFrom(value)
    for name, plain in (hyperparameters or {}).items():
        out.hyperparameters[name].CopyFrom(to_value(plain))
    out.training_datasets.extend(to_ref(d) for d in training_data)
    out.validation_datasets.extend(to_ref(d) for d in validation_data)
    if code is not None:
        ref = to_ref(code)
        if ref.kind == ResourceKind.RESOURCE_KIND_MODULE_VERSION:
            out.code_module_version.CopyFrom(ref)
        code_digest = digest_of(code)
        if code_digest is not None:
            out.code_digest.CopyFrom(code_digest)
    return fill(out, **fields)
