"""mlspec.client.statistics and drift: statistics, slices, outliers, distances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from mlspec.client.drift import distance
from mlspec.client.statistics import (
    data_analysis,
    dataset_statistics,
    feature_statistics,
    outlier_rows,
    outliers,
    sliced_statistics,
    slices,
)
from mlspec.common.v1.reference_pb2 import ResourceKind, ResourceRef
from mlspec.data.v1 import statistics_pb2 as st_pb
from mlspec.lifecycle.v1 import analysis_pb2


def test_numeric_statistics_match_numpy() -> None:
    values = np.array([3.0, 0.0, 7.5, np.nan, 1.25, 0.0, 9.0])
    feature = feature_statistics("x", values, bins=4)
    present = values[~np.isnan(values)]
    assert feature.type == st_pb.FEATURE_TYPE_FLOAT
    assert feature.common_stats.num_missing == 1
    assert feature.common_stats.num_non_missing == 6
    assert feature.common_stats.distinct_count == 5
    numbers = feature.num_stats
    assert numbers.mean == pytest.approx(present.mean())
    assert numbers.std_dev == pytest.approx(present.std())
    assert (numbers.min, numbers.max, numbers.median) == (0.0, 9.0, float(np.median(present)))
    assert numbers.num_zeros == 2
    standard, quantiles = numbers.histograms
    assert standard.type == st_pb.HISTOGRAM_TYPE_STANDARD
    assert quantiles.type == st_pb.HISTOGRAM_TYPE_QUANTILES
    assert len(standard.buckets) == 4
    assert sum(b.sample_count for b in standard.buckets) == 6
    assert sum(b.sample_count for b in quantiles.buckets) == 6
    assert standard.num_nan == 1
    assert [q.quantile for q in numbers.quantiles] == [0.01, 0.25, 0.5, 0.75, 0.99]


@settings(deadline=None, max_examples=50)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1))
def test_histograms_hold_every_value(values: list[float]) -> None:
    feature = feature_statistics("x", values, bins=5)
    for histogram in feature.num_stats.histograms:
        assert sum(b.sample_count for b in histogram.buckets) == len(values)
        lows = [b.low_value for b in histogram.buckets]
        assert lows == sorted(lows)


def test_string_statistics_and_missing_values() -> None:
    feature = feature_statistics("plan", ["pro", "basic", None, "pro", float("nan"), "pro"])
    assert feature.type == st_pb.FEATURE_TYPE_STRING
    assert feature.is_categorical
    assert feature.common_stats.num_missing == 2
    strings = feature.string_stats
    assert strings.unique == 2
    assert [(v.value, v.frequency) for v in strings.top_values] == [("pro", 3.0), ("basic", 1.0)]
    assert strings.avg_length == pytest.approx((3 * 3 + 5) / 4)
    assert [b.label for b in strings.rank_histogram.buckets] == ["pro", "basic"]


def test_columns_must_be_one_dimensional_and_of_equal_length() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        dataset_statistics({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="one-dimensional"):
        dataset_statistics({"a": np.zeros((2, 2))})


def test_slices_and_sliced_statistics() -> None:
    columns = {"g": np.array(["b", "a", "b", None], dtype=object), "x": np.arange(4.0)}
    keys = [(key, mask.tolist()) for key, mask in slices(columns, ["g"])]
    assert keys == [
        ({}, [True, True, True, True]),
        ({"g": "a"}, [False, True, False, False]),
        ({"g": "b"}, [True, False, True, False]),
    ]
    blocks = sliced_statistics(columns, ["g"], name="all")
    assert [(b.name, b.num_examples, dict(b.slice.feature_values)) for b in blocks] == [
        ("all", 4, {}),
        ("g=a", 1, {"g": "a"}),
        ("g=b", 2, {"g": "b"}),
    ]
    with pytest.raises(KeyError):
        slices(columns, ["missing"])


def test_outliers_by_each_method() -> None:
    x = np.array([10.0, 11, 12, 11, 10, 12, 11, 60])
    (iqr,) = outliers({"x": x, "flag": np.array([True] * 8)}, k=1.5, row_ids=list("abcdefgh"))
    assert iqr.method == analysis_pb2.ANALYSIS_OUTLIER_METHOD_IQR
    assert (iqr.count, iqr.feature.steps[:]) == (1, ["x"])
    q1, q3 = np.quantile(x, [0.25, 0.75])
    assert iqr.upper_fence == pytest.approx(q3 + 1.5 * (q3 - q1))
    assert iqr.examples[0].row_id == "h"
    assert iqr.examples[0].value.double_value == 60.0
    assert outliers({"x": x}, method="z_score", threshold=2.0)[0].count == 1
    assert outliers({"x": x}, method="modified_z_score")[0].count == 1
    assert outlier_rows({"x": x, "y": x[::-1]}).tolist() == [True] + [False] * 6 + [True]
    with pytest.raises(ValueError, match="unknown outlier method"):
        outliers({"x": x}, method="magic")


def test_data_analysis_is_a_stage_3_payload() -> None:
    ref = ResourceRef(kind=ResourceKind.RESOURCE_KIND_DATASET_VERSION, id="d-1")
    columns = {"id": [7, 8, 9, 10], "x": [1.0, 1.1, 0.9, 30.0], "g": ["a", "a", "b", "b"]}
    analysis = data_analysis(columns, ref, slice_by=["g"], row_ids="id")
    assert analysis.dataset == ref
    assert [s.feature_keys[:] for s in analysis.slice_specs] == [["g"]]
    assert [s.name for s in analysis.statistics] == ["", "g=a", "g=b"]
    assert all(s.dataset == ref for s in analysis.statistics)
    assert {f.path.steps[0] for f in analysis.statistics[0].features} == {"x", "g"}
    assert analysis.outliers[0].examples[0].row_id == "10"


def test_distances_agree_with_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=400), rng.normal(0.4, 1.2, size=300)
    assert distance(a, b, "KOLMOGOROV_SMIRNOV") == pytest.approx(
        scipy_stats.ks_2samp(a, b).statistic
    )
    assert distance(a, a, "KOLMOGOROV_SMIRNOV") == 0.0
    jsd = distance(a, b, "JENSEN_SHANNON_DIVERGENCE")
    assert 0.0 < jsd <= 1.0
    assert distance(a, a, "JENSEN_SHANNON_DIVERGENCE") == pytest.approx(0.0, abs=1e-12)
    assert distance(a, b, "POPULATION_STABILITY_INDEX") > distance(
        a, a + 0.01, "POPULATION_STABILITY_INDEX"
    )
    assert distance([2.0, 2.0], [3.0], "NORMALIZED_ABSOLUTE_DIFFERENCE") == 0.5
    assert distance(["a", "a", "b"], ["b", "b"], "L_INFINITY") == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        distance([], [1.0])
    assert not math.isnan(distance([1, 1, 1], [1, 2], "POPULATION_STABILITY_INDEX"))
