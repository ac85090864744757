"""Monitoring records: inference requests, predictions and feedback (stage 12).

They are append-only records kept by time (not resources): a request is recorded once
per request id, a request has at most one final prediction, and feedback names a
recorded prediction or request. Predictions are also counted in their model's training
buckets as they are recorded (``serving_stats``). The kinds of record are numbered in
``event_kinds``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence, Sized
from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common import field_behavior
from mlspec.domain.common.resources import Resources
from mlspec.domain.monitoring import serving_stats
from mlspec.domain.monitoring.event_kinds import FEEDBACK, PREDICTION, REQUEST
from mlspec.monitoring.v1 import inference_pb2
from mlspec.store.api import EventRow

MAX_ITEMS = 1000


def micros(stamp: Any) -> int:
    """A Timestamp in microseconds since the epoch."""
    return int(stamp.ToMicroseconds())


def limit(items: Sized, path: str) -> None:
    """INVALID_ARGUMENT for more items than one call may carry."""
    if len(items) > MAX_ITEMS:
        raise errors.too_many(path, len(items), MAX_ITEMS)


def require(message: Message, path: str) -> None:
    """Clears output-only fields; INVALID_ARGUMENT for missing required ones."""
    field_behavior.clear_output_only(message)
    violations = field_behavior.missing_required(message, path)
    if violations:
        raise errors.InvalidArgument(
            f"{path} is incomplete", reason="INVALID_RECORD", violations=violations
        )


def model_id_of(res: Resources, ref: reference_pb2.ResourceRef, path: str) -> str:
    """The id of the model version a reference names ('' for no reference)."""
    return res.resolve(ref, path, for_use=False).record.id if ref.WhichOneof("target") else ""


def record_predictions(
    res: Resources,
    requests: Sequence[inference_pb2.InferenceRequest],
    predictions: Sequence[inference_pb2.InferencePrediction],
) -> None:
    """Stores requests and their predictions (at most one final prediction per request)."""
    if not requests and not predictions:
        raise errors.invalid("requests", "send requests, predictions or both")
    limit(requests, "requests")
    limit(predictions, "predictions")
    rows = []
    in_call = set()
    for i, inference in enumerate(requests):
        require(inference, f"requests[{i}]")
        in_call.add(inference.request_id)
        rows.append(
            EventRow(
                REQUEST,
                inference.request_id,
                micros(inference.request_time),
                inference.SerializeToString(),
                deployment=inference.deployment_endpoint,
            )
        )
    finals: dict[str, int] = {}
    served: list[tuple[inference_pb2.InferencePrediction, str]] = []
    for i, prediction in enumerate(predictions):
        path = f"predictions[{i}]"
        item = prediction
        require(item, path)
        if item.request_id not in in_call and not res.event_exists(REQUEST, item.request_id):
            raise errors.invalid(
                f"{path}.request_id", "names a request that is neither in this call nor recorded"
            )
        if item.final:
            finals[item.request_id] = finals.get(item.request_id, 0) + 1
            if finals[item.request_id] > 1:
                raise errors.invalid(f"{path}.final", "a request has at most one final prediction")
        key = f"{item.request_id}/{item.prediction_id or item.ensemble_member_id or i}"
        model_id = model_id_of(res, item.model, f"{path}.model")
        served.append((item, model_id))
        rows.append(
            EventRow(
                PREDICTION,
                key,
                micros(item.request_time),
                item.SerializeToString(),
                model_version_id=model_id,
                deployment=item.deployment_endpoint,
                failing=False,
            )
        )
    res.append_events(rows + serving_stats.rows(res, served))


def record_feedback(res: Resources, feedback: Sequence[inference_pb2.PredictionFeedback]) -> int:
    """Stores feedback on recorded predictions (or requests); returns how many."""
    if not feedback:
        raise errors.invalid("feedback", "holds no feedback")
    limit(feedback, "feedback")
    rows = []
    for i, item in enumerate(feedback):
        path = f"feedback[{i}]"
        require(item, path)
        if item.HasField("usefulness") and not 0.0 <= item.usefulness <= 1.0:
            raise errors.invalid(f"{path}.usefulness", "must be between 0 and 1")
        kind, key = (
            (PREDICTION, f"{item.request_id}/{item.prediction_id}")
            if item.prediction_id
            else (REQUEST, item.request_id)
        )
        if not res.event_exists(kind, key):
            raise errors.NotFound(
                f"{path}: no recorded prediction or request {key!r}", reason="RECORD_NOT_FOUND"
            )
        rows.append(
            EventRow(
                FEEDBACK,
                f"{key}#{uuid.uuid4().hex}",
                micros(item.feedback_time),
                item.SerializeToString(),
            )
        )
    res.append_events(rows)
    return len(rows)
