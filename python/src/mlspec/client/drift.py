"""Distances between two distributions of a feature, as ``DriftSignal`` comparators use them.

``distance(baseline, current, comparator)`` computes, for one-dimensional samples:

- ``KOLMOGOROV_SMIRNOV``: the largest absolute difference of the two empirical
  cumulative distribution functions (numbers);
- ``POPULATION_STABILITY_INDEX``: sum over bins of (p - q) * ln(p / q), where the bins
  are ``bins`` quantile bins of the baseline (categories for text) and empty bins count
  as ``epsilon``;
- ``JENSEN_SHANNON_DIVERGENCE``: the Jensen-Shannon divergence of the binned
  distributions with base-2 logarithms, between 0 and 1;
- ``L_INFINITY``: the largest absolute difference of the relative frequency of any
  category (or bin);
- ``NORMALIZED_ABSOLUTE_DIFFERENCE``: |mean(current) - mean(baseline)| / |mean(baseline)|.

Missing values (NaN, None) are left out. The comparator is a ``DriftComparator`` number or
name (short names such as ``"KOLMOGOROV_SMIRNOV"`` work).

Needs numpy (``pip install numpy``).

Example:
    >>> round(distance([1, 2, 3, 4], [3, 4, 5, 6], "KOLMOGOROV_SMIRNOV"), 2)
    0.5
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mlspec.client.fields import enum_number
from mlspec.client.statistics import is_numeric, missing_mask
from mlspec.monitoring.v1 import signals_pb2

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as exc:  # pragma: no cover - numpy is in the demo and dev extras
    raise ModuleNotFoundError("mlspec.client.drift needs numpy: pip install numpy") from exc

__all__ = ["distance"]

_C = signals_pb2.DriftComparator


def _clean(values: Any) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.dtype.kind in "US":
        array = array.astype(object)
    if array.ndim != 1:
        raise ValueError(f"expected a one-dimensional sample, got shape {array.shape}")
    return array[~missing_mask(array)]


def _frequencies(
    baseline: npt.NDArray[Any], current: npt.NDArray[Any], bins: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Relative frequencies of both samples over the baseline's bins (or categories)."""
    if is_numeric(baseline) and is_numeric(current):
        base = baseline.astype(float)
        edges = np.unique(np.quantile(base, np.linspace(0, 1, bins + 1)))
        if len(edges) < 2:
            edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        inner = edges[1:-1]
        p = np.bincount(np.searchsorted(inner, base, side="right"), minlength=len(edges) - 1)
        q = np.bincount(
            np.searchsorted(inner, current.astype(float), side="right"), minlength=len(edges) - 1
        )
    else:
        categories = sorted({str(v) for v in baseline} | {str(v) for v in current})
        base_counts = Counter(str(v) for v in baseline)
        current_counts = Counter(str(v) for v in current)
        p = np.array([base_counts[c] for c in categories])
        q = np.array([current_counts[c] for c in categories])
    return p / max(p.sum(), 1), q / max(q.sum(), 1)


def distance(
    baseline: Any,
    current: Any,
    comparator: str | int = "KOLMOGOROV_SMIRNOV",
    *,
    bins: int = 10,
    epsilon: float = 1e-4,
) -> float:
    """The distance between two samples by ``comparator`` (see the module documentation)."""
    number = (
        enum_number(_C.DESCRIPTOR, comparator) if isinstance(comparator, str) else int(comparator)
    )
    base = _clean(baseline)
    cur = _clean(current)
    if not len(base) or not len(cur):
        raise ValueError("both samples need at least one value")
    if number == _C.DRIFT_COMPARATOR_KOLMOGOROV_SMIRNOV:
        a = np.sort(base.astype(float))
        b = np.sort(cur.astype(float))
        grid = np.concatenate([a, b])
        cdf_a = np.searchsorted(a, grid, side="right") / len(a)
        cdf_b = np.searchsorted(b, grid, side="right") / len(b)
        return float(np.max(np.abs(cdf_a - cdf_b)))
    if number == _C.DRIFT_COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE:
        before = float(np.mean(base.astype(float)))
        after = float(np.mean(cur.astype(float)))
        return abs(after - before) / abs(before) if before else float(abs(after - before))
    p, q = _frequencies(base, cur, bins)
    if number == _C.DRIFT_COMPARATOR_L_INFINITY:
        return float(np.max(np.abs(p - q)))
    if number == _C.DRIFT_COMPARATOR_POPULATION_STABILITY_INDEX:
        p, q = np.maximum(p, epsilon), np.maximum(q, epsilon)
        return float(np.sum((q - p) * np.log(q / p)))
    if number == _C.DRIFT_COMPARATOR_JENSEN_SHANNON_DIVERGENCE:
        m = (p + q) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_p = np.where(p > 0, p * np.log2(p / m), 0.0)
            kl_q = np.where(q > 0, q * np.log2(q / m), 0.0)
        return float(min(1.0, max(0.0, (kl_p.sum() + kl_q.sum()) / 2)))
    raise ValueError(f"comparator {comparator!r} is not supported")
