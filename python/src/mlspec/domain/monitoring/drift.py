"""Drift of served features against the training statistics (stage 12, computed here).

The baseline is the unsliced statistics of the data-analysis stage report (stage 3) of
the data the model version was trained on: per feature, its histogram's buckets
(numeric) or its top values plus "other" (categorical), with their counts. The serving
side is the model version's final predictions of a window (recorded with
RecordPredictions), each feature value counted in the same buckets. Each feature gets a
population stability index and a Jensen-Shannon distance, as drift signals.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mlspec import errors
from mlspec.common.v1 import reference_pb2, value_pb2
from mlspec.data.v1 import statistics_pb2
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.lifecycle.neighbours import newest_report
from mlspec.domain.logging.provenance import training_datasets, training_report
from mlspec.domain.monitoring.event_kinds import PREDICTION
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2
from mlspec.models.v1 import model_version_pb2
from mlspec.monitoring.v1 import inference_pb2

K = reference_pb2.ResourceKind
Report = stage_report_pb2.StageReport
OTHER = "(other)"
# Probabilities are floored at this before PSI's logarithm, so that an empty bucket on
# one side gives a large, finite index.
EPSILON = 1e-6
PAGE = 1000


@dataclass
class FeatureBuckets:
    """One feature's buckets and the training counts in them."""

    name: str
    numeric: bool
    edges: list[float] = field(default_factory=list)  # numeric: bucket i is [edges[i], edges[i+1])
    categories: dict[str, int] = field(default_factory=dict)  # categorical: value -> bucket
    baseline: list[float] = field(default_factory=list)

    last: int = field(init=False, default=0)  # the index of the last bucket

    def __post_init__(self) -> None:
        """Notes the index of the last bucket."""
        self.last = len(self.baseline) - 1

    def bucket(self, value: value_pb2.Value) -> int:
        """The bucket of a served value; -1 when the value does not fit the feature."""
        kind = value.WhichOneof("kind")
        if self.numeric:
            if kind == "double_value":
                number = value.double_value
            elif kind == "int_value":
                number = float(value.int_value)
            elif kind == "bool_value":
                number = float(value.bool_value)
            else:
                return -1
            if number != number:  # NaN
                return -1
            # Values beyond the training range fall into the outer buckets.
            index = bisect.bisect_right(self.edges, number) - 1
            return 0 if index < 0 else (index if index < self.last else self.last)
        if kind == "string_value":
            text = value.string_value
        elif kind == "bool_value":
            text = "true" if value.bool_value else "false"
        elif kind == "int_value":
            text = str(value.int_value)
        else:
            return -1
        return self.categories.get(text, self.categories.get(OTHER, -1))

    def label(self, index: int) -> str:
        """A bucket's name, for ``top_contributor``."""
        if self.numeric:
            return f"[{self.edges[index]:g}, {self.edges[index + 1]:g})"
        return next(name for name, i in self.categories.items() if i == index)


@dataclass
class Baseline:
    """The training statistics drift is measured against."""

    report_id: str
    dataset_version_id: str
    features: dict[str, FeatureBuckets]
    skipped: list[str]


def baseline_of(res: Resources, model: Loaded) -> Baseline:
    """The training statistics of a model version; FAILED_PRECONDITION when there are none."""
    version = model.message
    assert isinstance(version, model_version_pb2.ModelVersion)
    datasets = training_datasets(res, version, training_report(res, model.record.id))
    datasets.sort(key=lambda pair: pair[1] not in ("train", "training"))
    for dataset, _role in datasets:
        report = _analysis_report(res, dataset.record.id)
        if report is None:
            continue
        stats = next(
            (s for s in report.data_analysis.statistics if not s.slice.feature_values), None
        )
        if stats is None:
            continue
        features: dict[str, FeatureBuckets] = {}
        skipped: list[str] = []
        for feature in stats.features:
            buckets = _buckets(feature)
            if buckets is None:
                skipped.append(".".join(feature.path.steps))
            else:
                features[buckets.name] = buckets
        return Baseline(report.meta.id, dataset.record.id, features, skipped)
    raise errors.FailedPrecondition(
        f"the store knows no training statistics of model version {model.record.id}: report a "
        "data-analysis stage (with unsliced statistics) of the dataset version it was trained "
        "on, and its model-training stage with that input (or set lineage.datasets)",
        reason="NO_TRAINING_STATISTICS",
    )


def _analysis_report(res: Resources, dataset_version_id: str) -> Report | None:
    """The newest usable data-analysis report that read a dataset version."""
    return newest_report(
        res, dataset_version_id, stage_pb2.LIFECYCLE_STAGE_DATA_ANALYSIS, upstream=False
    )


def _buckets(feature: statistics_pb2.FeatureStatistics) -> FeatureBuckets | None:
    name = ".".join(feature.path.steps)
    if feature.HasField("num_stats") and feature.num_stats.histograms:
        histograms = feature.num_stats.histograms
        histogram = next(
            (h for h in histograms if h.type == statistics_pb2.HISTOGRAM_TYPE_STANDARD),
            histograms[0],
        )
        buckets = sorted(histogram.buckets, key=lambda b: b.low_value)
        if not buckets:
            return None
        edges = [b.low_value for b in buckets] + [buckets[-1].high_value]
        return FeatureBuckets(name, True, edges=edges, baseline=[b.sample_count for b in buckets])
    if feature.HasField("string_stats") and feature.string_stats.top_values:
        top = feature.string_stats.top_values
        categories = {v.value: i for i, v in enumerate(top)}
        counts = [v.frequency for v in top]
        rest = feature.common_stats.num_non_missing - sum(counts)
        categories[OTHER] = len(counts)
        counts.append(max(rest, 0.0))
        return FeatureBuckets(name, False, categories=categories, baseline=counts)
    return None


def _distribution(counts: Sequence[float]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0 for _ in counts]


def psi(serving: Sequence[float], baseline: Sequence[float]) -> float:
    """Population stability index: sum over buckets of (p - q) ln(p / q), floored at EPSILON."""
    p, q = _distribution(serving), _distribution(baseline)
    total = 0.0
    for a, b in zip(p, q, strict=True):
        a, b = max(a, EPSILON), max(b, EPSILON)
        total += (a - b) * math.log(a / b)
    return total


def js_distance(serving: Sequence[float], baseline: Sequence[float]) -> float:
    """Jensen-Shannon distance: the square root of the base-2 divergence, in [0, 1]."""
    p, q = _distribution(serving), _distribution(baseline)
    divergence = 0.0
    for a, b in zip(p, q, strict=True):
        m = (a + b) / 2
        if a > 0:
            divergence += 0.5 * a * math.log2(a / m)
        if b > 0:
            divergence += 0.5 * b * math.log2(b / m)
    return math.sqrt(max(divergence, 0.0))


def top_contributor(buckets: FeatureBuckets, serving: Sequence[float]) -> str:
    """The bucket whose share moved the most."""
    p, q = _distribution(serving), _distribution(buckets.baseline)
    index = max(range(len(p)), key=lambda i: abs(p[i] - q[i]))
    return buckets.label(index)


def window_events(
    res: Resources, kind: int, model_id: str, deployment_endpoint: str, start: int, end: int
) -> Iterator[tuple[int, int, int, bytes]]:
    """The model version's records of ``kind`` with a time in [start, end), oldest first."""
    return res.events(
        [kind],
        page=PAGE,
        model_version_id=model_id,
        deployment=deployment_endpoint,
        start_time=start,
        end_time=end,
        oldest_first=True,
    )


def final_predictions(
    res: Resources, model_id: str, start: int, end: int, deployment_endpoint: str
) -> Iterator[inference_pb2.InferencePrediction]:
    """The model version's final predictions with a request time in [start, end), oldest first."""
    for _, _, _, data in window_events(res, PREDICTION, model_id, deployment_endpoint, start, end):
        prediction = inference_pb2.InferencePrediction.FromString(data)
        if prediction.final:
            yield prediction


def serving_counts(
    baseline: Baseline,
    predictions: Iterator[inference_pb2.InferencePrediction],
    features: Sequence[str],
) -> tuple[dict[str, list[float]], int]:
    """Per feature, the served values counted in the baseline's buckets; and how many predictions."""
    wanted = {n: baseline.features[n] for n in features} if features else baseline.features
    counts = {n: [0.0] * len(b.baseline) for n, b in wanted.items()}
    seen = 0
    for prediction in predictions:
        seen += 1
        for name, value in prediction.input_features.items():
            buckets = wanted.get(name)
            if buckets is not None:
                index = buckets.bucket(value)
                if index >= 0:
                    counts[name][index] += 1
    return counts, seen
