"""Every stage payload builder of the SDK in one place, for ``from mlspec.client import payloads``.

Each builder returns the typed payload message of one lifecycle stage, ready for
``stage.set(...)`` (or ``run.stage(..., payload=...)``):

=====================  ==============================================================
stage                  builder
=====================  ==============================================================
2 data ingestion       ``data_ingestion`` (``mlspec.client.ingestion``)
3 data analysis        ``data_analysis`` (``mlspec.client.statistics``)
5 data validation      ``data_validation``, with ``infer_schema`` (``mlspec.client.schemas``)
6 data splitting       ``data_splitting`` (``mlspec.client.splits``)
7 model training       ``model_training`` (``mlspec.client.training``), with
                       ``hyperparameter_search`` or ``sklearn_search``
                       (``mlspec.client.tuning``)
8 model evaluation     ``model_evaluation``, with ``metric_results`` and
                       ``sliced_metric_results`` (``mlspec.client.evaluation``)
9 model test           ``model_test`` (``mlspec.client.evaluation``)
10 model packaging     ``model_packaging`` (``mlspec.client.packaging``)
11 model serving       ``model_serving`` (``mlspec.client.serving``)
=====================  ==============================================================

Stage 1 needs no builder (the ``CodifiedObjectives`` document is the payload); stage 4's
``DataTransformation`` is set field by field. Needs numpy (``pip install numpy``).
"""

from __future__ import annotations

from mlspec.client.evaluation import (
    check_objectives,
    metric_results,
    model_evaluation,
    model_test,
    sliced_metric_results,
)
from mlspec.client.ingestion import data_ingestion
from mlspec.client.packaging import model_packaging
from mlspec.client.schemas import data_validation, infer_schema
from mlspec.client.serving import model_serving
from mlspec.client.splits import data_splitting
from mlspec.client.statistics import data_analysis
from mlspec.client.training import model_training
from mlspec.client.tuning import hyperparameter_search, sklearn_search

__all__ = [
    "check_objectives",
    "data_analysis",
    "data_ingestion",
    "data_splitting",
    "data_validation",
    "hyperparameter_search",
    "infer_schema",
    "metric_results",
    "model_evaluation",
    "model_packaging",
    "model_serving",
    "model_test",
    "model_training",
    "sklearn_search",
    "sliced_metric_results",
]
