"""The stage 11 payload: a model version rolled out on an endpoint.

Example:
    >>> from mlspec.models.v1.model_version_pb2 import ModelVersion
    >>> model = ModelVersion()
    >>> model.meta.id = "m-1"
    >>> payload = model_serving(model, "churn", "https://churn.example.com/v1:predict")
    >>> payload.traffic[0].percent, RolloutResult.Name(payload.rollout_result)
    (100, 'ROLLOUT_RESULT_SUCCEEDED')
"""

from __future__ import annotations

from typing import Any

from mlspec.client.fields import fill
from mlspec.client.refs import to_ref
from mlspec.lifecycle.v1 import serving_pb2, stage_report_pb2
from mlspec.lifecycle.v1.serving_pb2 import RolloutResult

__all__ = ["RolloutResult", "model_serving"]


def model_serving(
    model: Any,
    name: str,
    endpoint: str,
    *,
    packaging: stage_report_pb2.StageReport | str | None = None,
    protocol: str | int | None = None,
    revision: str = "",
    **fields: Any,
) -> serving_pb2.ModelServing:
    """The ``ModelServing`` of ``model`` served as ``name`` at the ``endpoint`` URI.

    By default the rollout is all at once, finished and successful, with all traffic on
    one revision (``revision``, default ``<name>-<model id>``) serving the model;
    ``packaging`` is the stage 10 report (or its id) of the package deployed, which the
    service checks before it accepts the report. ``protocol`` defaults by the URI's
    scheme: ``http``/``https`` are REST, ``grpc``/``grpcs`` gRPC, anything else OTHER. Other keyword arguments set or replace
    any field (``health``, ``environment``, ``traffic``, ``rollout_strategy``, ...).
    """
    ref = to_ref(model)
    out = serving_pb2.ModelServing(
        model_name=name,
        rollout_strategy=serving_pb2.ROLLOUT_STRATEGY_ALL_AT_ONCE,
        transition_status=serving_pb2.SERVING_TRANSITION_STATUS_UP_TO_DATE,
        rollout_result=serving_pb2.ROLLOUT_RESULT_SUCCEEDED,
    )
    out.model.CopyFrom(ref)
    scheme = endpoint.split("://", 1)[0].lower() if "://" in endpoint else ""
    default = {"http": "REST", "https": "REST", "grpc": "GRPC", "grpcs": "GRPC"}.get(
        scheme, "OTHER"
    )
    fill(out.endpoint, uri=endpoint, protocol=default if protocol is None else protocol)
    out.traffic.add(revision=revision or f"{name}-{ref.id or ref.name}", model=ref, percent=100)
    if packaging is not None:
        out.packaging_report_id = packaging if isinstance(packaging, str) else packaging.meta.id
    return fill(out, **fields)
