"""Objective checks and the stage 7-11 payload builders of mlspec.client."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from mlspec.client import payloads
from mlspec.client.client import framework_of
from mlspec.client.evaluation import check_objectives, metric_results, sliced_metric_results
from mlspec.client.fields import build
from mlspec.client.signing import SignedModel
from mlspec.client.transport import fill_request_id
from mlspec.client.tuning import hyperparameter_search, search_space
from mlspec.common.v1.digest_pb2 import SignedEnvelope
from mlspec.common.v1.reference_pb2 import ResourceKind, ResourceRef
from mlspec.common.v1.threshold_pb2 import ThresholdOutcome as O
from mlspec.data.v1.dataset_pb2 import DatasetVersion
from mlspec.lifecycle.v1 import evaluation_pb2, serving_pb2, stage_report_pb2, training_pb2
from mlspec.lifecycle.v1.objectives_pb2 import CodifiedObjectives
from mlspec.logging.v1.logging_service_pb2 import (
    ListInferenceLogsRequest,
    WriteInferenceLogsRequest,
)
from mlspec.models.v1.model_version_pb2 import ModelVersion
from mlspec.monitoring.v1.inference_pb2 import PredictionFeedback

D = evaluation_pb2.ModelGateDecision


def _goals(*objectives: dict[str, Any], required: tuple[str, ...] = ()) -> CodifiedObjectives:
    return build(
        CodifiedObjectives,
        objectives=list(objectives),
        launch_criteria={"required_objective_ids": list(required)},
    )


def _at_least(name: str, metric: str, bound: float, **more: Any) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "metric_name": metric,
        "threshold": {"value_threshold": {"lower_bound": bound}},
        **more,
    }


RESULTS = (
    metric_results({"auc": 0.93, "recall": 0.8}, sample_count=100)
    + metric_results({"recall": 0.7}, slice={"size": "small"}, sample_count=40)
    + metric_results({"recall": 0.9}, slice={"size": "large"}, sample_count=60)
)


def test_objectives_pass_fail_warn_and_miss() -> None:
    goals = _goals(
        _at_least("auc", "auc", 0.9),
        _at_least("recall-small", "recall", 0.75, scope={"feature_values": {"size": "small"}}),
        _at_least("recall", "recall", 0.85, severity="WARNING"),
        _at_least("f1", "f1", 0.5, severity="WARNING"),
    )
    check = check_objectives(goals, RESULTS)
    outcomes = {r.objective_id: r.outcome for r in check.threshold_results}
    assert outcomes == {
        "auc": O.THRESHOLD_OUTCOME_PASSED,
        "recall-small": O.THRESHOLD_OUTCOME_FAILED,
        "recall": O.THRESHOLD_OUTCOME_WARNED,
        "f1": O.THRESHOLD_OUTCOME_MISSING,
    }
    assert check.outcome == O.THRESHOLD_OUTCOME_FAILED and not check.passed
    assert check.decision == D.MODEL_GATE_DECISION_REJECTED
    small = check.threshold_results[1]
    assert small.message == "recall 0.7 < 0.75 on size=small"
    assert small.value == 0.7 and small.blocking
    assert dict(small.slice_key.feature_values) == {"size": "small"}
    assert {r.objective_id for r in check.failures} == {"recall-small", "recall", "f1"}


def test_boundary_values_pass_and_warnings_only_warn() -> None:
    at_bound = check_objectives(_goals(_at_least("auc", "auc", 0.93)), RESULTS)
    assert at_bound.decision == D.MODEL_GATE_DECISION_APPROVED
    only_warned = check_objectives(
        _goals(_at_least("auc", "auc", 0.95, severity="WARNING")), RESULTS
    )
    assert only_warned.decision == D.MODEL_GATE_DECISION_APPROVED_WITH_WARNINGS
    required = check_objectives(
        _goals(_at_least("auc", "auc", 0.95, severity="WARNING"), required=("auc",)), RESULTS
    )
    assert required.decision == D.MODEL_GATE_DECISION_REJECTED


def test_change_thresholds_need_the_baseline_value() -> None:
    goal = {
        "id": "auc",
        "name": "auc",
        "metric_name": "auc",
        "threshold": {"change_threshold": {"absolute": 0.01, "direction": "HIGHER_IS_BETTER"}},
    }
    (missing,) = check_objectives(_goals(goal), RESULTS).threshold_results
    assert missing.outcome == O.THRESHOLD_OUTCOME_MISSING
    better = RESULTS + metric_results({"auc": 0.935}, model_role="baseline")
    (ok,) = check_objectives(_goals(goal), better).threshold_results
    assert (ok.outcome, ok.baseline_value) == (O.THRESHOLD_OUTCOME_PASSED, 0.935)
    worse = RESULTS + metric_results({"auc": 0.95}, model_role="baseline")
    assert check_objectives(_goals(goal), worse).outcome == O.THRESHOLD_OUTCOME_FAILED


def test_fairness_objectives_check_the_gap_between_slices() -> None:
    goal = {
        "id": "gap",
        "name": "gap",
        "metric_name": "recall",
        "scope": {"feature_values": {"size": "large"}},
        "comparison_scope": {"feature_values": {"size": "small"}},
        "threshold": {"value_threshold": {"lower_bound": -0.1}},
    }
    check = check_objectives(_goals(goal), RESULTS)
    (gap,) = check.fairness_gaps
    assert gap.difference == pytest.approx(-0.2)
    assert check.threshold_results[0].outcome == O.THRESHOLD_OUTCOME_FAILED


def test_sliced_metric_results_compute_each_slice() -> None:
    rows = {"size": np.array(["a", "b", "b"]), "hit": np.array([1.0, 0.0, 1.0])}
    results = sliced_metric_results(rows, ["size"], lambda m: {"rate": rows["hit"][m].mean()})
    assert [(dict(r.slice_key.feature_values), r.sample_count) for r in results] == [
        ({}, 3),
        ({"size": "a"}, 1),
        ({"size": "b"}, 2),
    ]


def _model() -> ModelVersion:
    model = build(ModelVersion, meta={"id": "m-1"})
    model.artifact.uri = "file:///models/m1/"
    model.artifact.size_bytes = 10
    model.artifact.digest.digests["sha256"] = "cd" * 32
    return model


def _splitting() -> Any:
    parts = {"train": {"id": [1, 2]}, "validation": {"id": [3]}, "holdback": {"id": [4]}}
    versions = {
        n: build(
            DatasetVersion, meta={"id": f"d-{n}"}, content_digest={"digests": {"sha256": n * 8}}
        )
        for n in parts
    }
    return payloads.data_splitting(
        ResourceRef(id="src"), parts, datasets=versions, key_columns=["id"]
    )


def test_an_evaluation_lists_as_failures_only_the_failed_checks() -> None:
    """The contract: ``failures`` is the subset of ``threshold_results`` that FAILED (a
    server refuses anything else), so warnings and missing values stay out of it."""
    goals = _goals(
        _at_least("recall-small", "recall", 0.75, scope={"feature_values": {"size": "small"}}),
        _at_least("recall", "recall", 0.85, severity="WARNING"),
        _at_least("f1", "f1", 0.5, severity="WARNING"),
    )
    evaluation = payloads.model_evaluation(_model(), RESULTS, goals, splitting=_splitting())
    assert [r.objective_id for r in evaluation.failures] == ["recall-small"]
    assert list(evaluation.failures) == [
        r for r in evaluation.threshold_results if r.outcome == O.THRESHOLD_OUTCOME_FAILED
    ]
    assert evaluation.decision == D.MODEL_GATE_DECISION_REJECTED


def test_evaluation_and_test_payloads_keep_apart_validation_and_holdback_data() -> None:
    goals = _goals(_at_least("auc", "auc", 0.9))
    report = build(stage_report_pb2.StageReport, meta={"id": "r-1"}, codified_objectives=goals)
    splitting = _splitting()
    evaluation = payloads.model_evaluation(_model(), RESULTS, report, splitting=splitting)
    assert evaluation.objectives_report.id == "r-1"
    assert evaluation.decision == D.MODEL_GATE_DECISION_APPROVED
    (data,) = evaluation.datasets
    assert (data.split, data.dataset.id, data.example_count) == ("validation", "d-validation", 100)
    assert [s.feature_keys[:] for s in evaluation.slicing_specs] == [[], ["size"]]
    test = payloads.model_test(_model(), RESULTS, goals, evaluation="ev-1", splitting=splitting)
    assert test.evaluation_report_id == "ev-1"
    assert test.holdback_dataset.split == "holdback"
    assert test.holdback_dataset.digest.digests["sha256"] == "holdback" * 8
    disjoint = test.disjointness
    assert [r.id for r in disjoint.compared_datasets] == ["d-train", "d-validation"]
    assert (disjoint.overlap_count, disjoint.outcome) == (0, O.THRESHOLD_OUTCOME_PASSED)
    assert test.test_result.passed_tests[:] == ["auc"]
    leaky = _splitting()
    leaky.leakage_checks[1].overlap_count = 2  # train vs holdback
    failed = payloads.model_test(_model(), RESULTS, goals, evaluation="ev-1", splitting=leaky)
    assert failed.disjointness.outcome == O.THRESHOLD_OUTCOME_FAILED


def test_training_packaging_and_serving_payloads() -> None:
    grid = {"C": [0.1, 1.0], "class_weight": [None, "balanced"]}
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)), np.array([0, 1] * 30)
    search = GridSearchCV(
        LogisticRegression(), grid, cv=2, scoring=["roc_auc", "recall"], refit="roc_auc"
    ).fit(x, y)
    tried = payloads.sklearn_search(search)
    assert len(tried.trials) == 4 and tried.tool == "GridSearchCV"
    assert tried.algorithm.kind == training_pb2.SEARCH_ALGORITHM_KIND_GRID
    assert tried.objective.metric == "roc_auc"
    assert tried.best_trial_id == str(search.best_index_)
    assert tried.trials[0].assignments["class_weight"].WhichOneof("kind") == "null_value"
    assert [p.WhichOneof("feasible_space") for p in tried.search_space] == [
        "discrete",
        "categorical",
    ]
    training = payloads.model_training(_model(), search=tried, training_data=[ResourceRef(id="t")])
    assert training.output_model_digest.digests["sha256"] == "cd" * 32
    assert set(training.hyperparameters) == {"C", "class_weight"}
    assert "roc_auc" in training.training_metrics

    signed = SignedModel(None, "k", "ef" * 32, SignedEnvelope(payload=b"x"))  # type: ignore[arg-type]
    package = payloads.model_packaging(
        _model(), signed=signed, source_reports=["r-7"], package_format="joblib"
    )
    assert package.package_digest.digests["sha256"] == "ef" * 32
    assert package.signed_manifest.payload == b"x"
    assert (package.package_uri, package.size_bytes) == ("file:///models/m1/", 10)
    assert package.provenance.source_stage_report_ids[:] == ["r-7"]

    served = payloads.model_serving(_model(), "scorer", "https://s.example.com/v1", packaging="p-1")
    assert served.endpoint.protocol == serving_pb2.SERVING_PROTOCOL_REST
    assert served.packaging_report_id == "p-1"
    assert served.traffic[0].model.kind == ResourceKind.RESOURCE_KIND_MODEL_VERSION
    other = payloads.model_serving(_model(), "scorer", "inproc://scorer", protocol="GRPC")
    assert other.endpoint.protocol == serving_pb2.SERVING_PROTOCOL_GRPC
    assert payloads.model_serving(_model(), "s", "inproc://s").endpoint.protocol == (
        serving_pb2.SERVING_PROTOCOL_OTHER
    )


def test_hyperparameter_search_records_failed_trials() -> None:
    search = hyperparameter_search(
        [{"a": 1}, {"a": 2}, {"a": 3}],
        {"loss": [0.5, float("nan"), 0.2]},
        direction="LOWER_IS_BETTER",
    )
    assert search.objective.metric == "loss"
    assert [t.state for t in search.trials] == [
        training_pb2.TRAINING_TRIAL_STATE_SUCCEEDED,
        training_pb2.TRAINING_TRIAL_STATE_FAILED,
        training_pb2.TRAINING_TRIAL_STATE_SUCCEEDED,
    ]
    assert search.best_trial_id == "2"
    with pytest.raises(ValueError):
        hyperparameter_search([{"a": 1}], {"loss": [1.0, 2.0]})
    assert search_space({"n": [1, 2]})[0].discrete.values[:] == [1.0, 2.0]


def test_small_conveniences() -> None:
    assert framework_of("scikit-learn").version
    assert framework_of("not-installed-anywhere").version == ""
    # `source` is a field of PredictionFeedback; build takes it as a keyword.
    assert build(PredictionFeedback, source="pathology").source == "pathology"
    # A reading method's request_id is a filter, never an idempotency key to fill in.
    listing = ListInferenceLogsRequest()
    assert (
        fill_request_id(listing, "/mlspec.logging.v1.LoggingService/ListInferenceLogs") is listing
    )
    writing = fill_request_id(
        WriteInferenceLogsRequest(), "/mlspec.logging.v1.LoggingService/WriteInferenceLogs"
    )
    assert isinstance(writing, WriteInferenceLogsRequest) and writing.request_id
