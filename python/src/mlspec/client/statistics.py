"""Descriptive statistics of tabular data as the contract's messages (stage 3, data analysis).

The data is given as *columns*: a mapping of feature name to a one-dimensional array-like
of equal length (numpy arrays, lists, pandas Series, ...). What each column gets:

- numeric columns (bool, int, float): ``NumericStatistics`` with mean, standard deviation
  (population), zeros, min, median, max, sum, the requested quantiles, and two histograms
  of ``bins`` buckets: STANDARD (equal width) and QUANTILES (bounds at quantiles). NaN is
  a missing value; infinite values count in the histograms' ``num_undefined``;
- string and other object columns: ``StringStatistics`` with the number of distinct
  values, the most frequent values, the average length and a rank histogram; ``None``
  and float NaN are missing values;
- every column: ``CommonStatistics`` (present and missing counts, distinct count).

Outliers (``outliers``, ``outlier_rows``) are found per numeric column by Tukey's fences
(``iqr``: outside [Q1 - k*IQR, Q3 + k*IQR]), the z-score (``z_score``: more than
``threshold`` standard deviations from the mean) or the modified z-score
(``modified_z_score``: 0.6745 * |x - median| / MAD above ``threshold``).

Needs numpy (``pip install numpy``).

Example:
    >>> import numpy as np
    >>> cols = {"age": np.array([31, 45, 27, 60]), "plan": ["a", "b", "a", None]}
    >>> stats = dataset_statistics(cols, name="train")
    >>> stats.num_examples, stats.features[0].num_stats.max, stats.features[1].string_stats.unique
    (4, 60.0, 2)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from mlspec.client.fields import enum_number
from mlspec.client.refs import to_ref
from mlspec.client.values import to_value
from mlspec.data.v1 import statistics_pb2
from mlspec.lifecycle.v1 import analysis_pb2

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as exc:  # pragma: no cover - numpy is in the demo and dev extras
    raise ModuleNotFoundError("mlspec.client.statistics needs numpy: pip install numpy") from exc

__all__ = [
    "Columns",
    "as_columns",
    "data_analysis",
    "dataset_statistics",
    "feature_statistics",
    "outlier_rows",
    "outliers",
    "slice_name",
    "sliced_statistics",
]

Columns: TypeAlias = "Mapping[str, Any]"
"""Feature name to a one-dimensional array-like; every column has the same length."""

TOOL = "mlspec.client.statistics"
DEFAULT_QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)
_FT = statistics_pb2.FeatureType


def as_columns(columns: Columns) -> dict[str, npt.NDArray[Any]]:
    """The columns as one-dimensional numpy arrays; ``ValueError`` if lengths differ."""
    out: dict[str, npt.NDArray[Any]] = {}
    for name, values in columns.items():
        array = np.asarray(values)
        if array.dtype.kind in "US":  # keep text as objects, so that None stays None
            array = array.astype(object)
        if array.ndim != 1:
            raise ValueError(f"column {name!r} is not one-dimensional (shape {array.shape})")
        out[str(name)] = array
    lengths = {len(a) for a in out.values()}
    if len(lengths) > 1:
        raise ValueError(f"the columns differ in length: {sorted(lengths)}")
    return out


def is_numeric(array: npt.NDArray[Any]) -> bool:
    """Whether a column holds numbers (bool, int, unsigned or float)."""
    return array.dtype.kind in "biuf"


def feature_type(array: npt.NDArray[Any]) -> int:
    """The contract's ``FeatureType`` of a column."""
    kind = array.dtype.kind
    if kind == "b":
        return _FT.FEATURE_TYPE_BOOL
    if kind in "iu":
        return _FT.FEATURE_TYPE_INT
    if kind == "f":
        return _FT.FEATURE_TYPE_FLOAT
    if kind == "M":
        return _FT.FEATURE_TYPE_TIMESTAMP
    sample = next((v for v in array if not _is_missing(v)), None)
    if isinstance(sample, bool):
        return _FT.FEATURE_TYPE_BOOL
    if isinstance(sample, int):
        return _FT.FEATURE_TYPE_INT
    if isinstance(sample, float):
        return _FT.FEATURE_TYPE_FLOAT
    if isinstance(sample, bytes):
        return _FT.FEATURE_TYPE_BYTES
    return _FT.FEATURE_TYPE_STRING


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def missing_mask(array: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """True where a value is missing (NaN for numbers, None or NaN for objects)."""
    if array.dtype.kind == "f":
        return np.asarray(np.isnan(array), dtype=bool)
    if array.dtype.kind in "biuM":
        return np.zeros(len(array), dtype=bool)
    return np.fromiter((_is_missing(v) for v in array), dtype=bool, count=len(array))


def feature_statistics(
    name: str,
    values: Any,
    *,
    bins: int = 10,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    top_k: int = 10,
) -> statistics_pb2.FeatureStatistics:
    """The statistics of one column (see the module documentation).

    Example:
        >>> feature_statistics("x", [1.0, 2.0, float("nan")]).common_stats.num_missing
        1
    """
    array = as_columns({name: values})[name]
    kind = feature_type(array)
    missing = missing_mask(array)
    present = array[~missing]
    feature = statistics_pb2.FeatureStatistics(type=kind)  # type: ignore[arg-type]
    feature.path.steps.append(name)
    common = feature.common_stats
    common.num_non_missing = len(present)
    common.num_missing = int(missing.sum())
    if len(present):
        common.min_num_values = common.max_num_values = 1
        common.avg_num_values = 1.0
    common.tot_num_values = len(present)
    if kind in (_FT.FEATURE_TYPE_INT, _FT.FEATURE_TYPE_FLOAT, _FT.FEATURE_TYPE_BOOL):
        numbers = present.astype(float)
        common.distinct_count = len(np.unique(numbers))
        _numeric(feature.num_stats, numbers, bins=bins, quantiles=quantiles)
        feature.num_stats.histograms[0].num_nan = common.num_missing
    elif kind in (_FT.FEATURE_TYPE_STRING, _FT.FEATURE_TYPE_BYTES):
        counts = Counter(v if isinstance(v, (str, bytes)) else str(v) for v in present)
        common.distinct_count = len(counts)
        if kind == _FT.FEATURE_TYPE_STRING:
            _strings(feature.string_stats, counts, top_k=top_k)
            feature.is_categorical = True
        else:
            sizes = [len(v) for v in counts.elements()]
            feature.bytes_stats.unique = len(counts)
            if sizes:
                feature.bytes_stats.avg_num_bytes = sum(sizes) / len(sizes)
                feature.bytes_stats.min_num_bytes = min(sizes)
                feature.bytes_stats.max_num_bytes = max(sizes)
    return feature


def _numeric(
    out: statistics_pb2.NumericStatistics,
    numbers: npt.NDArray[np.float64],
    *,
    bins: int,
    quantiles: Sequence[float],
) -> None:
    finite = numbers[np.isfinite(numbers)]
    standard = out.histograms.add(name="values", type=statistics_pb2.HISTOGRAM_TYPE_STANDARD)
    by_quantile = out.histograms.add(name="values", type=statistics_pb2.HISTOGRAM_TYPE_QUANTILES)
    standard.num_undefined = by_quantile.num_undefined = len(numbers) - len(finite)
    if not len(numbers):
        return
    out.mean = float(np.mean(numbers))
    out.std_dev = float(np.std(numbers))
    out.num_zeros = int(np.count_nonzero(numbers == 0))
    out.min = float(np.min(numbers))
    out.max = float(np.max(numbers))
    out.median = float(np.median(numbers))
    out.sum = float(np.sum(numbers))
    if not len(finite):
        return
    for q, value in zip(quantiles, np.quantile(finite, list(quantiles)), strict=True):
        out.quantiles.add(quantile=float(q), value=float(value))
    low, high = float(np.min(finite)), float(np.max(finite))
    counts: npt.NDArray[Any] = np.array([len(finite)])
    edges: npt.NDArray[Any] = np.array([low, high])  # one bucket holds them all, unless:
    if low < high:
        with contextlib.suppress(ValueError):  # a range too narrow for `bins` at this magnitude
            counts, edges = np.histogram(finite, bins=bins)
    _buckets(standard, edges, counts)
    bounds = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
    if len(bounds) < 2:
        bounds = np.array([low, high])
        counts = np.array([len(finite)])
    else:
        counts, _ = np.histogram(finite, bins=bounds)
    _buckets(by_quantile, bounds, counts)


def _buckets(
    histogram: statistics_pb2.Histogram, edges: npt.NDArray[Any], counts: npt.NDArray[Any]
) -> None:
    for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True):
        histogram.buckets.add(
            low_value=float(low), high_value=float(high), sample_count=float(count)
        )


def _strings(out: statistics_pb2.StringStatistics, counts: Counter[Any], *, top_k: int) -> None:
    out.unique = len(counts)
    total = sum(counts.values())
    if total:
        out.avg_length = sum(len(v) * n for v, n in counts.items()) / total
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    out.rank_histogram.name = "values"
    for rank, (value, count) in enumerate(ranked[:top_k]):
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        out.top_values.add(value=text, frequency=float(count))
        out.rank_histogram.buckets.add(
            low_rank=rank, high_rank=rank, label=text, sample_count=float(count)
        )


def dataset_statistics(
    columns: Columns,
    *,
    name: str = "",
    slice: Mapping[str, str] | None = None,
    dataset: Any = None,
    bins: int = 10,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    top_k: int = 10,
) -> statistics_pb2.DatasetStatistics:
    """The statistics of every column, as one ``DatasetStatistics`` block.

    ``slice`` names the slice these rows are (feature to value; empty for all examples),
    ``dataset`` the dataset version they come from (a resource message or reference).
    """
    arrays = as_columns(columns)
    out = statistics_pb2.DatasetStatistics(
        name=name, num_examples=len(next(iter(arrays.values()), [])), tool=TOOL
    )
    if slice:
        out.slice.feature_values.update({k: str(v) for k, v in slice.items()})
        out.slice.display_name = slice_name(slice)
    if dataset is not None:
        out.dataset.CopyFrom(to_ref(dataset))
    out.compute_time.FromDatetime(dt.datetime.now(dt.timezone.utc))
    for column, values in arrays.items():
        out.features.append(
            feature_statistics(column, values, bins=bins, quantiles=quantiles, top_k=top_k)
        )
    return out


def slice_name(slice: Mapping[str, str]) -> str:
    """``feature=value`` pairs joined by commas, in key order (``""`` for all examples)."""
    return ",".join(f"{k}={v}" for k, v in sorted(slice.items()))


def slices(columns: Columns, slice_by: Iterable[str]) -> list[tuple[dict[str, str], Any]]:
    """Each slice of the rows by the values of the ``slice_by`` columns, with its row mask.

    The first entry is the overall slice (an empty key and every row); then one entry per
    feature and distinct non-missing value, in feature order and sorted by value text.

    Example:
        >>> [key for key, _ in slices({"g": ["a", "b", "a"]}, ["g"])]
        [{}, {'g': 'a'}, {'g': 'b'}]
    """
    arrays = as_columns(columns)
    length = len(next(iter(arrays.values()), []))
    out: list[tuple[dict[str, str], Any]] = [({}, np.ones(length, dtype=bool))]
    for feature in slice_by:
        if feature not in arrays:
            raise KeyError(f"no column {feature!r} to slice by")
        values = arrays[feature]
        present = ~missing_mask(values)
        texts = np.array([str(v) for v in values], dtype=object)
        for text in sorted(set(texts[present])):
            out.append(({feature: text}, present & (texts == text)))
    return out


def sliced_statistics(
    columns: Columns, slice_by: Iterable[str] = (), **options: Any
) -> list[statistics_pb2.DatasetStatistics]:
    """One ``DatasetStatistics`` for all rows, then one per slice (see :func:`slices`).

    Takes the keyword arguments of :func:`dataset_statistics`; each block's name is its
    slice's name (``name`` for the overall block).
    """
    arrays = as_columns(columns)
    name = options.pop("name", "")
    out = []
    for key, mask in slices(arrays, slice_by):
        rows = {column: values[mask] for column, values in arrays.items()}
        out.append(
            dataset_statistics(rows, name=slice_name(key) or name, slice=key or None, **options)
        )
    return out


def _flags(
    values: npt.NDArray[np.float64], method: str, k: float, threshold: float | None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], float | None, float | None]:
    """(outlying mask, outlier score per value, lower fence, upper fence) of one column."""
    finite = values[np.isfinite(values)]
    scores = np.zeros(len(values))
    if not len(finite):
        return np.zeros(len(values), dtype=bool), scores, None, None
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "iqr":
            q1, q3 = np.quantile(finite, [0.25, 0.75])
            spread = q3 - q1
            lower, upper = float(q1 - k * spread), float(q3 + k * spread)
            distance = np.maximum(lower - values, values - upper)
            scores = np.where(spread > 0, distance / (spread or 1.0), 0.0)
            return (values < lower) | (values > upper), scores, lower, upper
        if method == "z_score":
            limit = 3.0 if threshold is None else threshold
            mean, std = float(np.mean(finite)), float(np.std(finite))
            scores = np.abs(values - mean) / std if std > 0 else np.zeros(len(values))
            return scores > limit, scores, mean - limit * std, mean + limit * std
        if method == "modified_z_score":
            limit = 3.5 if threshold is None else threshold
            median = float(np.median(finite))
            mad = float(np.median(np.abs(finite - median)))
            scores = 0.6745 * np.abs(values - median) / mad if mad > 0 else np.zeros(len(values))
            bound = limit * mad / 0.6745
            return scores > limit, scores, median - bound, median + bound
    raise ValueError(f"unknown outlier method {method!r}; use iqr, z_score or modified_z_score")


def _numeric_columns(columns: Columns) -> dict[str, npt.NDArray[np.float64]]:
    return {
        name: values.astype(float)
        for name, values in as_columns(columns).items()
        if is_numeric(values) and values.dtype.kind != "b"
    }


def outliers(
    columns: Columns,
    *,
    method: str = "iqr",
    k: float = 1.5,
    threshold: float | None = None,
    row_ids: Sequence[Any] | None = None,
    max_examples: int = 3,
    slice: Mapping[str, str] | None = None,
) -> list[analysis_pb2.AnalysisOutlier]:
    """One ``AnalysisOutlier`` per numeric column that has outliers, with its fences.

    ``k`` is the fence factor of ``iqr``; ``threshold`` the score limit of ``z_score``
    (default 3) and ``modified_z_score`` (default 3.5). Up to ``max_examples`` of the most
    outlying values are listed with their row id (``row_ids``, or the row's position).

    Example:
        >>> [o.count for o in outliers({"x": [1.0, 2.0, 2.5, 3.0, 40.0]})]
        [1]
    """
    found = []
    for name, values in _numeric_columns(columns).items():
        mask, scores, lower, upper = _flags(values, method, k, threshold)
        count = int(mask.sum())
        if not count:
            continue
        number = enum_number(analysis_pb2.AnalysisOutlierMethod.DESCRIPTOR, method.upper())
        item = analysis_pb2.AnalysisOutlier(
            method=number,  # type: ignore[arg-type]
            count=count,
            fraction=count / len(values),
        )
        item.feature.steps.append(name)
        if method == "iqr":
            item.parameters["k"].CopyFrom(to_value(float(k)))
        elif threshold is not None:
            item.parameters["threshold"].CopyFrom(to_value(float(threshold)))
        if lower is not None and upper is not None:
            item.lower_fence, item.upper_fence = lower, upper
        if slice:
            item.slice.feature_values.update({k_: str(v) for k_, v in slice.items()})
            item.slice.display_name = slice_name(slice)
        for row in sorted(np.flatnonzero(mask), key=lambda i: -scores[i])[:max_examples]:
            example = item.examples.add(value=to_value(float(values[row])))
            example.row_id = str(row_ids[int(row)] if row_ids is not None else row)
            example.score = float(scores[row])
        found.append(item)
    return found


def outlier_rows(
    columns: Columns, *, method: str = "iqr", k: float = 1.5, threshold: float | None = None
) -> npt.NDArray[np.bool_]:
    """True for each row that is an outlier in at least one numeric column.

    Example:
        >>> outlier_rows({"x": [1.0, 2.0, 2.5, 3.0, 40.0]}).tolist()
        [False, False, False, False, True]
    """
    numeric = _numeric_columns(columns)
    length = len(next(iter(as_columns(columns).values()), []))
    rows = np.zeros(length, dtype=bool)
    for values in numeric.values():
        rows |= _flags(values, method, k, threshold)[0]
    return rows


def data_analysis(
    columns: Columns,
    dataset: Any,
    *,
    slice_by: Iterable[str] = (),
    outlier_method: str = "iqr",
    k: float = 1.5,
    threshold: float | None = None,
    row_ids: str | Sequence[Any] | None = None,
    **options: Any,
) -> analysis_pb2.DataAnalysis:
    """The stage 3 payload: statistics overall and per slice, and the outliers found.

    ``dataset`` is the dataset version analysed; ``slice_by`` the columns whose values
    define slices (one statistics block per value, after the overall block); outliers
    are found with ``outlier_method`` over all rows. ``row_ids`` names the rows in the
    outlier examples: a sequence, or the name of the column that holds them (that column
    is then not analysed). Other keyword arguments go to :func:`dataset_statistics`
    (``bins``, ``quantiles``, ``top_k``).

    Example:
        >>> from mlspec.data.v1.dataset_pb2 import DatasetVersion
        >>> version = DatasetVersion()
        >>> version.meta.id = "d-1"
        >>> cols = {"x": [1.0, 2.0, 2.5, 40.0], "g": ["a", "b", "a", "b"]}
        >>> analysis = data_analysis(cols, version, slice_by=["g"])
        >>> [s.name for s in analysis.statistics], len(analysis.outliers)
        (['', 'g=a', 'g=b'], 1)
    """
    slice_by = list(slice_by)
    if isinstance(row_ids, str):
        columns = dict(as_columns(columns))
        row_ids = list(columns.pop(row_ids))
    ref = to_ref(dataset)
    out = analysis_pb2.DataAnalysis(tool_name=TOOL)
    out.dataset.CopyFrom(ref)
    for feature in slice_by:
        out.slice_specs.add(feature_keys=[feature])
    out.statistics.extend(sliced_statistics(columns, slice_by, dataset=ref, **options))
    out.outliers.extend(
        outliers(columns, method=outlier_method, k=k, threshold=threshold, row_ids=row_ids)
    )
    return out
