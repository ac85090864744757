"""Serving statistics: predictions counted in their model's training buckets as recorded.

Measuring drift by reading back every prediction of a window costs a decode per
prediction; with many features and a million predictions that is minutes. So each
RecordPredictions call also stores, per model version, deployment endpoint and minute of
request time, one ``SERVING_STATS`` record, a ``DatasetStatistics``: how many predictions
the call recorded (``num_examples``), how many of them were final
(``weighted_num_examples``), and the final predictions' feature values counted in the
buckets of the model's training statistics (histograms for numeric features, top values
for categorical ones; ``name`` is the analysis report the buckets come from). Drift over
a window then adds these up (``counts``) and reads predictions back only where it must:
the window's partial first and last minutes, minutes counted on other buckets (a newer
analysis report), and windows whose predictions were not all counted (recorded before
this existed).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import statistics_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.monitoring import drift
from mlspec.domain.monitoring.event_kinds import PREDICTION, SERVING_STATS
from mlspec.monitoring.v1 import inference_pb2
from mlspec.store.api import EventRow

K = reference_pb2.ResourceKind
MINUTE = 60_000_000


def rows(
    res: Resources, served: Sequence[tuple[inference_pb2.InferencePrediction, str]]
) -> list[EventRow]:
    """The serving-statistics records of predictions being recorded (prediction, model id)."""
    groups: dict[tuple[str, str, int], list[inference_pb2.InferencePrediction]] = {}
    for prediction, model_id in served:
        minute = prediction.request_time.ToMicroseconds() // MINUTE * MINUTE
        groups.setdefault((model_id, prediction.deployment_endpoint, minute), []).append(prediction)
    baselines: dict[str, drift.Baseline | None] = {}
    found = []
    for (model_id, endpoint, minute), predictions in groups.items():
        if model_id not in baselines:
            baselines[model_id] = _baseline(res, model_id)
        baseline = baselines[model_id]
        stats = statistics_pb2.DatasetStatistics(num_examples=len(predictions))
        if baseline is not None:
            stats.name = baseline.report_id
            counts, finals = drift.serving_counts(baseline, (p for p in predictions if p.final), ())
            stats.weighted_num_examples = finals
            for name, counted in counts.items():
                _add(stats, baseline.features[name], counted)
        found.append(
            EventRow(
                SERVING_STATS,
                uuid.uuid4().hex,
                minute,
                stats.SerializeToString(),
                model_version_id=model_id,
                deployment=endpoint,
                name=stats.name,
            )
        )
    return found


def _baseline(res: Resources, model_id: str) -> drift.Baseline | None:
    try:
        return drift.baseline_of(res, res.get(K.RESOURCE_KIND_MODEL_VERSION, model_id))
    except errors.FailedPrecondition:  # no training statistics (yet): count predictions only
        return None


def _add(
    stats: statistics_pb2.DatasetStatistics, buckets: drift.FeatureBuckets, counted: list[float]
) -> None:
    feature = stats.features.add()
    feature.path.steps.append(buckets.name)
    if buckets.numeric:
        histogram = feature.num_stats.histograms.add()
        for index, count in enumerate(counted):
            histogram.buckets.add(
                low_value=buckets.edges[index],
                high_value=buckets.edges[index + 1],
                sample_count=count,
            )
    else:
        for category, index in buckets.categories.items():
            feature.string_stats.top_values.add(value=category, frequency=counted[index])


def counts(
    res: Resources,
    baseline: drift.Baseline,
    model_id: str,
    start: int,
    end: int,
    endpoint: str,
    features: Sequence[str],
) -> tuple[dict[str, list[float]], int]:
    """Per feature, the window's final predictions counted in the baseline's buckets."""
    first, last = -(-start // MINUTE) * MINUTE, end // MINUTE * MINUTE
    if first >= last:
        return _scan(res, baseline, model_id, [(start, end)], endpoint, features)
    minutes: dict[int, tuple[int, int, list[statistics_pb2.DatasetStatistics]]] = {}
    recorded = 0
    for _, _, time, data in drift.window_events(
        res, SERVING_STATS, model_id, endpoint, first, last
    ):
        stats = statistics_pb2.DatasetStatistics.FromString(data)
        total, matching, kept = minutes.get(time, (0, 0, []))
        recorded += stats.num_examples
        if stats.name == baseline.report_id:
            kept.append(stats)
            matching += stats.num_examples
        minutes[time] = (total + stats.num_examples, matching, kept)
    if recorded != res.count_events(PREDICTION, model_id, first, last, endpoint):
        # Some predictions of the window were never counted: read them all back.
        return _scan(res, baseline, model_id, [(start, end)], endpoint, features)
    wanted = list(features) or list(baseline.features)
    totals = {n: [0.0] * len(baseline.features[n].baseline) for n in wanted}
    ranges = [(start, first), (last, end)]
    for minute, (total, matching, kept) in minutes.items():
        if matching != total:  # counted on other buckets: read that minute back
            ranges.append((minute, minute + MINUTE))
            continue
        for stats in kept:
            _sum_into(totals, baseline, stats)
    extra, extra_seen = _scan(res, baseline, model_id, ranges, endpoint, features)
    for name, counted in extra.items():
        totals[name] = [a + b for a, b in zip(totals[name], counted, strict=True)]
    seen = sum(int(s.weighted_num_examples) for _, _, kept in minutes.values() for s in kept)
    return totals, seen + extra_seen


def _sum_into(
    totals: dict[str, list[float]],
    baseline: drift.Baseline,
    stats: statistics_pb2.DatasetStatistics,
) -> None:
    for feature in stats.features:
        name = ".".join(feature.path.steps)
        target = totals.get(name)
        if target is None:
            continue
        if feature.HasField("num_stats"):
            for index, bucket in enumerate(feature.num_stats.histograms[0].buckets):
                target[index] += bucket.sample_count
        else:
            categories = baseline.features[name].categories
            for value in feature.string_stats.top_values:
                target[categories[value.value]] += value.frequency


def _scan(
    res: Resources,
    baseline: drift.Baseline,
    model_id: str,
    ranges: list[tuple[int, int]],
    endpoint: str,
    features: Sequence[str],
) -> tuple[dict[str, list[float]], int]:
    """Counts read back from the predictions of some time ranges."""
    wanted = list(features) or list(baseline.features)
    totals = {n: [0.0] * len(baseline.features[n].baseline) for n in wanted}
    seen = 0
    for start, end in ranges:
        if start >= end:
            continue
        predictions = drift.final_predictions(res, model_id, start, end, endpoint)
        counted, found = drift.serving_counts(baseline, predictions, features)
        seen += found
        for name, values in counted.items():
            totals[name] = [a + b for a, b in zip(totals[name], values, strict=True)]
    return totals, seen
