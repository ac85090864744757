"""Live performance: predictions joined with later ground truth by request id (stage 12).

In the manner of Michelangelo's live accuracy: each final prediction of a model version is
joined with the latest feedback on its request that carries a ground-truth label, and the
pairs of a window give the metric the prediction type has: ``accuracy`` (and ``auc`` for
two classes with a score) for labels, ``mae`` and ``rmse`` for numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mlspec.common.v1 import threshold_pb2, value_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.monitoring.event_kinds import FEEDBACK
from mlspec.monitoring.v1 import inference_pb2

HIGHER = threshold_pb2.DIRECTION_HIGHER_IS_BETTER
LOWER = threshold_pb2.DIRECTION_LOWER_IS_BETTER
DIRECTIONS = {"accuracy": HIGHER, "auc": HIGHER, "mae": LOWER, "rmse": LOWER}
PAGE = 1000
_POSITIVE = ("1", "true", "yes", "positive")


@dataclass(frozen=True)
class Pair:
    """One prediction with its ground truth: when, the prediction, its score, the truth."""

    time: int
    prediction: value_pb2.Value
    score: float | None
    truth: value_pb2.Value


def ground_truth(res: Resources, since: int, request_ids: set[str]) -> dict[str, value_pb2.Value]:
    """The latest ground-truth label fed back on each of ``request_ids`` (final predictions)."""
    latest: dict[str, tuple[int, value_pb2.Value]] = {}
    for _, _, time, data in res.events([FEEDBACK], page=PAGE, start_time=since, oldest_first=True):
        feedback = inference_pb2.PredictionFeedback.FromString(data)
        if (
            feedback.request_id in request_ids
            and feedback.prediction_id in ("", "final")
            and feedback.HasField("ground_truth_label")
            and time >= latest.get(feedback.request_id, (-1, None))[0]
        ):
            latest[feedback.request_id] = (time, feedback.ground_truth_label)
    return {key: value for key, (_, value) in latest.items()}


def join(
    predictions: Iterable[inference_pb2.InferencePrediction],
    truths: dict[str, value_pb2.Value],
) -> Iterator[Pair]:
    """The predictions that have a ground truth, paired with it."""
    for prediction in predictions:
        truth = truths.get(prediction.request_id)
        if truth is not None:
            yield Pair(
                prediction.request_time.ToMicroseconds(),
                prediction.prediction,
                _score(prediction),
                truth,
            )


def _score(prediction: inference_pb2.InferencePrediction) -> float | None:
    if prediction.HasField("confidence"):
        return prediction.confidence
    value = prediction.prediction
    if value.WhichOneof("kind") == "double_value":
        return value.double_value
    fields = value.object_value.fields
    if "score" in fields and fields["score"].WhichOneof("kind") == "double_value":
        return fields["score"].double_value
    return None


def _label(value: value_pb2.Value) -> str | None:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "1" if value.bool_value else "0"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value" and value.double_value.is_integer():
        return str(int(value.double_value))
    if kind == "object_value" and "label" in value.object_value.fields:
        return _label(value.object_value.fields["label"])
    return None


def _number(value: value_pb2.Value) -> float | None:
    kind = value.WhichOneof("kind")
    if kind == "double_value":
        return value.double_value
    if kind == "int_value":
        return float(value.int_value)
    return None


def metrics(pairs: list[Pair]) -> dict[str, float]:
    """The metrics the pairs' prediction type has (empty for no pair)."""
    if not pairs:
        return {}
    truths = [_label(p.truth) for p in pairs]
    if any(t is None for t in truths):  # numeric ground truth: regression
        errors = [
            (n - t)
            for p in pairs
            if (n := _number(p.prediction)) is not None and (t := _number(p.truth)) is not None
        ]
        if not errors:
            return {}
        return {
            "mae": sum(abs(e) for e in errors) / len(errors),
            "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)),
        }
    classes = sorted({t for t in truths if t is not None})
    positive = next((c for c in classes if c.lower() in _POSITIVE), classes[-1])
    found: dict[str, float] = {}
    predicted = [_predicted_label(p, positive, classes) for p in pairs]
    judged = [(g, t) for g, t in zip(predicted, truths, strict=True) if g is not None]
    if judged:
        found["accuracy"] = sum(g == t for g, t in judged) / len(judged)
    scored = [
        (p.score, t == positive) for p, t in zip(pairs, truths, strict=True) if p.score is not None
    ]
    if len(classes) == 2 and scored:
        value = auc(scored)
        if value is not None:
            found["auc"] = value
    return found


def _predicted_label(pair: Pair, positive: str, classes: list[str]) -> str | None:
    label = _label(pair.prediction)
    if label is not None:
        return label
    if pair.score is not None and len(classes) == 2:  # a bare score of a binary model
        negative = next(c for c in classes if c != positive)
        return positive if pair.score >= 0.5 else negative
    return None


def auc(scored: list[tuple[float, bool]]) -> float | None:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half)."""
    positives = sum(1 for _, label in scored if label)
    negatives = len(scored) - positives
    if not positives or not negatives:
        return None
    ordered = sorted(scored, key=lambda pair: pair[0])
    rank_sum, at = 0.0, 0
    while at < len(ordered):
        end = at
        while end < len(ordered) and ordered[end][0] == ordered[at][0]:
            end += 1
        mean_rank = (at + 1 + end) / 2  # ranks at+1 .. end share their mean
        rank_sum += mean_rank * sum(1 for _, label in ordered[at:end] if label)
        at = end
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
