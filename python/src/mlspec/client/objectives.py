"""Codified objectives from the SDK: ask what the deployment gate decides, fingerprint splits.

``evaluate_objectives(client, model_version)`` calls LifecycleService.EvaluateObjectives:
the model version's latest evaluation and hold-back test judged against their codified
objectives, and the deployment gate's decision (``response.gate``)::

    answer = client.evaluate_objectives(model_version)
    if answer.gate.decision != DeploymentGateDecision.DEPLOYMENT_GATE_DECISION_PASSED:
        for failure in answer.gate.failures:
            print(failure.message)

``split_fingerprint(keys)`` builds the ``mlspec-keyset/v1`` fingerprint of a split (see
splitting.proto) from its row keys, so that the service can compute the overlap between
splits itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from mlspec.client.refs import to_ref
from mlspec.common.v1 import reference_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2, objectives_pb2, splitting_pb2

if TYPE_CHECKING:
    from mlspec.client.client import Client

__all__ = ["FINGERPRINT_FORMAT", "evaluate_objectives", "key_hash", "split_fingerprint"]

FINGERPRINT_FORMAT = "mlspec-keyset/v1"
_SEPARATOR = "\x1f"


def evaluate_objectives(
    client: Client,
    model_version: Any = None,
    *,
    stage_report_id: str = "",
    objectives: objectives_pb2.CodifiedObjectives | None = None,
    objectives_report_id: str = "",
) -> lifecycle_service_pb2.EvaluateObjectivesResponse:
    """The objectives evaluated on a model version (or one stage 8 or 9 report).

    ``model_version`` is a ``ModelVersion``, a ``ResourceRef`` or an id; the answer holds
    one ``ObjectivesEvaluation`` per report and, for a model version, the deployment
    gate's decision. ``objectives`` or ``objectives_report_id`` evaluate another
    objective set instead of the one the evaluation names.
    """
    request = lifecycle_service_pb2.EvaluateObjectivesRequest(
        objectives_report_id=objectives_report_id
    )
    if stage_report_id:
        request.stage_report_id = stage_report_id
    elif isinstance(model_version, str):
        request.model_version.kind = reference_pb2.RESOURCE_KIND_MODEL_VERSION
        request.model_version.id = model_version
    elif model_version is not None:
        request.model_version.CopyFrom(to_ref(model_version))
    else:
        raise ValueError("give a model version or a stage_report_id")
    if objectives is not None:
        request.objectives.CopyFrom(objectives)
    response: lifecycle_service_pb2.EvaluateObjectivesResponse = (
        client.lifecycle.EvaluateObjectives(request)
    )
    return response


def key_hash(values: Sequence[object] | str) -> int:
    """The 64-bit hash of a row key: SHA-256 of its UTF-8 text, first 8 bytes, big-endian.

    A key of several columns is their text joined by U+001F.

    Example:
        >>> key_hash("customer-17") == key_hash(["customer-17"])
        True
    """
    text = values if isinstance(values, str) else _SEPARATOR.join(str(v) for v in values)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def split_fingerprint(
    keys: Iterable[Sequence[object] | str],
    key_columns: Sequence[str] = (),
    *,
    sample_rate: float = 1.0,
) -> splitting_pb2.SplitFingerprint:
    """The ``mlspec-keyset/v1`` fingerprint of a split's row keys.

    With ``sample_rate`` below 1 only the hashes below ``sample_rate * 2**64`` are kept
    (the same keys in every split), which keeps fingerprints of large splits small.

    Example:
        >>> fp = split_fingerprint(["a", "b", "a"], ["customer_id"])
        >>> fp.key_count, len(fp.key_hashes)
        (2, 16)
    """
    if not 0 < sample_rate <= 1:
        raise ValueError("sample_rate must be in (0, 1]")
    hashes = {key_hash(key) for key in keys}
    bound = sample_rate * 2**64
    kept = sorted(h for h in hashes if sample_rate == 1 or h < bound)
    return splitting_pb2.SplitFingerprint(
        format=FINGERPRINT_FORMAT,
        key_columns=list(key_columns),
        key_hashes=b"".join(h.to_bytes(8, "big") for h in kept),
        sample_rate=0 if sample_rate == 1 else sample_rate,
        key_count=len(hashes),
    )
