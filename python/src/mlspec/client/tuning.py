"""A hyperparameter search and its trials as the contract's ``HyperparameterSearch``.

Any tuner's results fit: a list of trial assignments (one dict of hyperparameters per
trial) and, per metric, one value per trial. For scikit-learn's ``GridSearchCV`` or
``RandomizedSearchCV`` these are ``cv_results_["params"]`` and columns of ``cv_results_``;
for Optuna, each trial's ``params`` and ``value``.

Example:
    >>> search = hyperparameter_search(
    ...     [{"C": 0.1}, {"C": 1.0}], {"auc": [0.91, 0.95]}, objective="auc",
    ...     search_space={"C": [0.1, 1.0]}, algorithm="GRID")
    >>> search.best_trial_id, search.search_space[0].discrete.values[:]
    ('1', [0.1, 1.0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlspec.client.fields import enum_number
from mlspec.client.values import to_value
from mlspec.common.v1 import threshold_pb2
from mlspec.lifecycle.v1 import training_pb2

__all__ = ["hyperparameter_search", "search_space", "sklearn_search"]


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def search_space(grid: Mapping[str, Sequence[Any]]) -> list[training_pb2.SearchParameter]:
    """One ``SearchParameter`` per hyperparameter of a grid (name to candidate values).

    All-numeric candidates become a ``discrete`` space; anything else (strings, None,
    booleans) a ``categorical`` one of their text.

    Example:
        >>> [p.WhichOneof("feasible_space") for p in search_space({"C": [1, 10], "w": [None, "balanced"]})]
        ['discrete', 'categorical']
    """
    out = []
    for name, values in grid.items():
        plain = [_plain(v) for v in values]
        parameter = training_pb2.SearchParameter(name=name)
        if plain and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in plain):
            parameter.discrete.values.extend(float(v) for v in plain)
        else:
            parameter.categorical.values.extend(str(v) for v in plain)
        out.append(parameter)
    return out


_search_space = search_space  # hyperparameter_search's argument has the same name


def hyperparameter_search(
    trials: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Sequence[Any]],
    *,
    objective: str = "",
    direction: str | int = "HIGHER_IS_BETTER",
    algorithm: str | int = "GRID",
    search_space: Mapping[str, Sequence[Any]] | None = None,
    tool: str = "",
    tool_version: str = "",
    seed: int = 0,
) -> training_pb2.HyperparameterSearch:
    """The search, its trials (ids ``"0"``, ``"1"``, ...) and the best trial.

    ``metrics`` maps a metric name to one value per trial; ``objective`` names the metric
    optimized in ``direction`` (the first metric by default). A trial whose objective value is missing or NaN is
    recorded FAILED (and cannot be the best); the other trials SUCCEEDED.
    """
    count = len(trials)
    objective = objective or next(iter(metrics), "")
    for name, values in metrics.items():
        if len(values) != count:
            raise ValueError(f"metric {name!r} has {len(values)} values for {count} trials")
    if objective not in metrics:
        raise KeyError(f"the objective {objective!r} is not among the metrics")
    direction_number = (
        enum_number(threshold_pb2.Direction.DESCRIPTOR, direction)
        if isinstance(direction, str)
        else int(direction)
    )
    out = training_pb2.HyperparameterSearch(
        tool=tool, tool_version=tool_version, seed=seed, max_trial_count=count
    )
    out.algorithm.kind = (
        enum_number(training_pb2.SearchAlgorithmKind.DESCRIPTOR, algorithm)  # type: ignore[assignment]
        if isinstance(algorithm, str)
        else algorithm
    )
    out.objective.metric = objective
    out.objective.direction = direction_number  # type: ignore[assignment]
    out.objective.additional_metrics.extend(m for m in metrics if m != objective)
    if search_space is not None:
        out.search_space.extend(_search_space(search_space))
    best: tuple[float, int] | None = None
    sign = -1.0 if direction_number == threshold_pb2.DIRECTION_LOWER_IS_BETTER else 1.0
    for i, assignments in enumerate(trials):
        trial = out.trials.add(id=str(i))
        for name, value in assignments.items():
            trial.assignments[name].CopyFrom(to_value(_plain(value)))
        score = _plain(metrics[objective][i])
        ok = isinstance(score, (int, float)) and not math.isnan(score)
        for name, values in metrics.items():
            value = _plain(values[i])
            if not (isinstance(value, float) and math.isnan(value)):
                trial.observed_metrics[name].CopyFrom(to_value(value))
        trial.state = (
            training_pb2.TRAINING_TRIAL_STATE_SUCCEEDED
            if ok
            else training_pb2.TRAINING_TRIAL_STATE_FAILED
        )
        if ok and (best is None or sign * float(score) > best[0]):
            best = (sign * float(score), i)
    if best is not None:
        out.best_trial_id = str(best[1])
        for name, value in out.trials[best[1]].observed_metrics.items():
            out.best_trial_metrics[name].CopyFrom(value)
    return out


def sklearn_search(
    search: Any, *, metrics: Mapping[str, str] | None = None
) -> training_pb2.HyperparameterSearch:
    """The ``HyperparameterSearch`` of a fitted scikit-learn search (duck-typed).

    Works with ``GridSearchCV``, ``RandomizedSearchCV`` and the halving searches: the
    trials are ``cv_results_["params"]``; the metrics are the mean cross-validated test
    score of each scorer (named after it: ``roc_auc``, ``recall``; ``score`` for the
    estimator's own), unless ``metrics`` maps names to other ``cv_results_`` columns;
    the objective is the refit scorer. A ``param_grid`` is a GRID search space, a
    ``param_distributions`` of lists a RANDOM one (other distributions are left out of
    the space). scikit-learn itself is not imported.
    """
    results = search.cv_results_
    if metrics is None:
        prefix = "mean_test_"
        metrics = {
            column.removeprefix(prefix): column for column in results if column.startswith(prefix)
        }
    refit = search.refit if isinstance(search.refit, str) else "score"
    grid = getattr(search, "param_grid", None)
    space = grid if grid is not None else getattr(search, "param_distributions", None)
    if isinstance(space, list):  # a list of grids: the union of their values per name
        merged: dict[str, list[Any]] = {}
        for part in space:
            for name, values in part.items():
                merged.setdefault(name, []).extend(
                    v for v in values if v not in merged.get(name, [])
                )
        space = merged
    if isinstance(space, Mapping):
        space = {
            name: list(values) for name, values in space.items() if isinstance(values, Sequence)
        }
    random_state = getattr(search, "random_state", None)
    return hyperparameter_search(
        list(results["params"]),
        {name: list(results[column]) for name, column in metrics.items()},
        objective=refit if refit in metrics else "",
        algorithm="GRID" if grid is not None else "RANDOM",
        search_space=space if isinstance(space, Mapping) else None,
        tool=type(search).__name__,
        seed=random_state if isinstance(random_state, int) else 0,
    )
