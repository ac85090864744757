"""Codified objectives through a real server: checked when stored, evaluated on stage 8
and 9 reports, the deployment gate on stages 10 and 11 with its override, the hold-back
test kept apart from training and evaluation, and leakage computed from fingerprints.

The contract sentences checked are in objectives.proto, objectives_evaluation.proto,
deployment_gate.proto, holdback_test.proto, splitting.proto and lifecycle_service.proto.
"""

from __future__ import annotations

import hashlib
from typing import Any

import grpc
import pytest

from mlspec.lifecycle.v1 import deployment_gate_pb2 as gate_pb
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc

from .conftest import Stubs
from .messages import make
from .test_stage_rules import DSV, MV, World, ref, violated_fields

DIALECT = "mlspec-objective/v1"
OBJECTIVES: dict[str, Any] = {
    "objectives_version": "1",
    "model_outputs": [{"name": "churn_probability", "type": "VALUE_TYPE_DOUBLE"}],
    "document_digest": {"digests": {"sha256": "0" * 64}},
    "objectives": [
        {
            "id": "auc-overall",
            "name": "AUC",
            "metric_name": "auc",
            "threshold": {"value_threshold": {"lower_bound": 0.8}},
            "severity": "OBJECTIVE_SEVERITY_BLOCKING",
            "expression": {"text": "auc >= 0.8", "dialect": DIALECT},
        },
        {
            "id": "recall-new",
            "name": "Recall on new customers",
            "metric_name": "recall",
            "scope": {"feature_values": {"segment": "new"}},
            "threshold": {"value_threshold": {"lower_bound": 0.6}},
            "severity": "OBJECTIVE_SEVERITY_BLOCKING",
        },
        {
            "id": "gap",
            "name": "FNR gap",
            "metric_name": "false_negative_rate",
            "scope": {"feature_values": {"age": "old"}},
            "comparison_scope": {"feature_values": {"age": "young"}},
            "threshold": {"value_threshold": {"upper_bound": 0.05}},
            "severity": "OBJECTIVE_SEVERITY_WARNING",
            "expression": {
                "text": 'slices["age=old"].false_negative_rate - '
                'slices["age=young"].false_negative_rate <= 0.05',
                "dialect": "cel",
            },
        },
    ],
    "launch_criteria": {
        "expression": {"text": 'auc >= 0.8 and passed("recall-new")', "dialect": DIALECT}
    },
}
GOOD = {"auc": 0.91, "recall[segment=new]": 0.7}
BAD = {"auc": 0.71, "recall[segment=new]": 0.7}


def results(values: dict[str, float]) -> list[dict[str, Any]]:
    found = []
    for variable, value in values.items():
        name, _, rest = variable.partition("[")
        slice_ = dict(p.split("=") for p in rest.rstrip("]").split(",")) if rest else {}
        found.append(
            {
                "metric_key": {"name": name},
                "slice_key": {"feature_values": slice_},
                "value": {"double_value": value},
            }
        )
    return found


class Chain:
    """Reports of one model version: objectives, evaluation, test, packaging, serving."""

    def __init__(self, world: World, criteria: dict[str, Any] | None = None) -> None:
        self.world = world
        body = dict(
            OBJECTIVES, launch_criteria={**OBJECTIVES["launch_criteria"], **(criteria or {})}
        )
        self.objectives = world.send(
            world.report(
                stage="LIFECYCLE_STAGE_CODIFY_OBJECTIVES",
                model_training=None,
                codified_objectives=body,
            )
        )

    def evaluate(self, mv: int, metrics: dict[str, float], **fields: Any) -> Any:
        w = self.world
        mv_ref = ref(MV, w.mv[mv].meta.id)
        payload = {
            "candidate_model": mv_ref,
            "datasets": [
                {
                    "dataset": ref(DSV, w.dsv[1].meta.id),
                    "digest": {"digests": {"sha256": "1" * 64}},
                    "split": "validation",
                }
            ],
            "objectives_report": {
                "kind": "RESOURCE_KIND_STAGE_REPORT",
                "id": self.objectives.meta.id,
            },
            "metric_results": results(metrics),
            "objectives_outcome": "THRESHOLD_OUTCOME_PASSED",
            "decision": "MODEL_GATE_DECISION_APPROVED",
            **fields,
        }
        return w.send(
            w.report(
                stage="LIFECYCLE_STAGE_MODEL_EVALUATION",
                model_training=None,
                model_version=mv_ref,
                start_time="2026-03-02T10:00:00Z",
                end_time="2026-03-02T11:00:00Z",
                model_evaluation=payload,
            )
        )

    def test_body(self, mv: int, evaluation_id: str, metrics: dict[str, float], **test: Any) -> Any:
        w = self.world
        holdback = w.dsv[2]
        payload: dict[str, Any] = {
            "evaluation_report_id": evaluation_id,
            "model": ref(MV, w.mv[mv].meta.id),
            "holdback_dataset": {
                "dataset": ref(DSV, holdback.meta.id),
                "digest": {"digests": {"sha256": "2" * 64}},
                "split": "holdback",
            },
            "disjointness": {
                "holdback_dataset": ref(DSV, holdback.meta.id),
                "holdback_digest": {"digests": {"sha256": "2" * 64}},
                "compared_datasets": [ref(DSV, w.dsv[1].meta.id)],
                "compared_digests": [{"digests": {"sha256": "1" * 64}}],
                "overlap_count": 0,
                "outcome": "THRESHOLD_OUTCOME_PASSED",
            },
            "metric_results": results(metrics),
            "test_result": {"result": "THRESHOLD_OUTCOME_PASSED"},
            "objectives_outcome": "THRESHOLD_OUTCOME_PASSED",
            "decision": "MODEL_GATE_DECISION_APPROVED",
            **test,
        }
        return w.report(
            stage="LIFECYCLE_STAGE_MODEL_TEST",
            model_training=None,
            model_version=ref(MV, w.mv[mv].meta.id),
            start_time="2026-03-02T12:00:00Z",
            model_test=payload,
        )

    def test(self, mv: int, evaluation_id: str, metrics: dict[str, float], **test: Any) -> Any:
        return self.world.send(self.test_body(mv, evaluation_id, metrics, **test))

    def package(
        self, mv: int, approval: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        w = self.world
        body = w.report(
            stage="LIFECYCLE_STAGE_MODEL_PACKAGING",
            model_training=None,
            model_version=ref(MV, w.mv[mv].meta.id),
            start_time="2026-03-02T13:00:00Z",
            inputs=[{"resource": ref(MV, w.mv[mv].meta.id), "role": "model"}],
            model_packaging={
                "model": ref(MV, w.mv[mv].meta.id),
                "package_format": "onnx",
                "package_uri": "s3://m/p",
                "package_digest": {"digests": {"sha256": "c" * 64}},
            },
            **fields,
        )
        if approval is not None:
            body["deployment_approval"] = approval
        return body

    def gate(self, mv: int) -> Any:
        return self.world.stubs.lifecycle.EvaluateObjectives(
            make(
                lc.EvaluateObjectivesRequest, {"model_version": ref(MV, self.world.mv[mv].meta.id)}
            )
        )


@pytest.fixture
def world(stubs: Stubs) -> World:
    return World(stubs)


def error(world: World, body: dict[str, Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        world.send(body)
    return err.value


# -- item 2: objectives checked when stored --------------------------------------------


@pytest.mark.parametrize(
    ("text", "dialect", "field", "words"),
    [
        ("auc >= ", "mlspec-objective/v1", "objectives[0].expression.text", "column 7"),
        ("auc and 0.5", "mlspec-objective/v1", "objectives[0].expression.text", "column 1"),
        (
            "auc >= 0.8 and aucc > 1",
            "mlspec-objective/v1",
            "objectives[0].expression.text",
            "column 16: unknown metric 'aucc'",
        ),
        ("metrics.auc + 1 >= 0.8", "cel", "objectives[0].expression.text", "does not mix"),
        ("auc >= 0.8", "sql", "objectives[0].expression.dialect", "unknown dialect"),
    ],
)
def test_an_invalid_objective_is_refused_with_its_field_and_position(
    world: World, text: str, dialect: str, field: str, words: str
) -> None:
    body = dict(OBJECTIVES)
    body["objectives"] = [
        dict(OBJECTIVES["objectives"][0], expression={"text": text, "dialect": dialect})
    ]
    body["launch_criteria"] = {}
    err = error(
        world,
        world.report(
            stage="LIFECYCLE_STAGE_CODIFY_OBJECTIVES", model_training=None, codified_objectives=body
        ),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"stage_report.codified_objectives.{field}" in violated_fields(err)
    assert words in str(err.details())


def test_unknown_objective_ids_in_the_launch_criteria_are_refused(world: World) -> None:
    body = dict(
        OBJECTIVES,
        launch_criteria={
            "required_objective_ids": ["auc-overall", "nope"],
            "expression": {"text": 'passed("missing")', "dialect": DIALECT},
        },
    )
    err = error(
        world,
        world.report(
            stage="LIFECYCLE_STAGE_CODIFY_OBJECTIVES", model_training=None, codified_objectives=body
        ),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err) == {
        "stage_report.codified_objectives.launch_criteria.required_objective_ids[1]",
        "stage_report.codified_objectives.launch_criteria.expression.text",
    }
    assert "column 8: unknown objective id 'missing'" in str(err.details())


# -- items 3 and 4: evaluated, gated, overridden ----------------------------------------


def test_a_model_that_meets_its_objectives_is_packaged_and_the_result_is_in_lineage(
    world: World,
) -> None:
    chain = Chain(world, {"require_holdback_test": True})
    evaluation = chain.evaluate(
        0, {**GOOD, "false_negative_rate[age=old]": 0.3, "false_negative_rate[age=young]": 0.2}
    )
    stored = evaluation.model_evaluation.objectives_evaluation
    assert stored.objectives_report_id == chain.objectives.meta.id
    assert stored.outcome == 3  # WARNED: the gap (0.1) is a warning objective
    outcomes = {r.objective_id: r.outcome for r in stored.results}
    assert outcomes == {"auc-overall": 1, "recall-new": 1, "gap": 3}
    assert stored.results[1].expression.text == "recall[segment=new] >= 0.6"
    before = chain.gate(0).gate
    assert before.decision == gate_pb.DEPLOYMENT_GATE_DECISION_BLOCKED
    assert [f.check for f in before.failures] == [gate_pb.DEPLOYMENT_GATE_CHECK_HOLDBACK_TEST]
    chain.test(0, evaluation.meta.id, GOOD)
    answer = chain.gate(0)
    assert answer.gate.decision == gate_pb.DEPLOYMENT_GATE_DECISION_PASSED
    assert [e.stage for e in answer.evaluations] == [8, 9]
    packaged = world.send(chain.package(0))
    assert packaged.deployment_gate.decision == gate_pb.DEPLOYMENT_GATE_DECISION_PASSED
    assert packaged.deployment_gate.evaluation_report_id == evaluation.meta.id
    graph = world.stubs.lifecycle.GetLineage(
        make(
            lc.GetLineageRequest,
            {"start": ref(MV, world.mv[0].meta.id), "direction": "LINEAGE_DIRECTION_DOWNSTREAM"},
        )
    ).graph
    nodes = {n.resource.id: n for n in graph.nodes}
    assert nodes[packaged.meta.id].gate_decision == gate_pb.DEPLOYMENT_GATE_DECISION_PASSED
    upstream = world.stubs.lifecycle.GetLineage(
        make(lc.GetLineageRequest, {"start": ref("RESOURCE_KIND_STAGE_REPORT", packaged.meta.id)})
    ).graph
    judged = {n.resource.id: n.objectives_outcome for n in upstream.nodes}
    assert judged[evaluation.meta.id] == 3
    assert chain.objectives.meta.id in judged


def test_a_model_that_misses_an_objective_is_not_packaged_or_served_without_an_override(
    world: World,
) -> None:
    chain = Chain(world)
    evaluation = chain.evaluate(0, BAD)
    assert evaluation.model_evaluation.objectives_evaluation.outcome == 2
    # Every status that says the stage completed is gated, not only SUCCEEDED.
    for status in ("SUCCEEDED", "WARNED", "CACHED"):
        err = error(world, chain.package(0, status=f"STAGE_REPORT_STATUS_{status}"))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "objective auc-overall failed (auc = 0.71)" in str(err.details())
        assert "evaluation.objectives[auc-overall]" in violated_fields(err)
    no_reason = {"approver": {"name": "Lena"}, "override": True}
    err = error(world, chain.package(0, no_reason))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err) == {"stage_report.deployment_approval.reason"}
    override = {"approver": {"name": "Lena"}, "override": True, "reason": "hotfix, ticket 9"}
    packaged = world.send(chain.package(0, override))
    recorded = packaged.deployment_gate
    assert recorded.decision == gate_pb.DEPLOYMENT_GATE_DECISION_OVERRIDDEN
    assert [f.objective_id for f in recorded.failures] == ["auc-overall", ""]
    assert recorded.failures[0].observations[0].value == pytest.approx(0.71)
    assert packaged.deployment_approval.caller == "anonymous"
    assert packaged.deployment_approval.HasField("record_time")
    # Serving is gated the same way.
    serving = world.report(
        stage="LIFECYCLE_STAGE_MODEL_SERVING",
        model_training=None,
        model_version=ref(MV, world.mv[0].meta.id),
        start_time="2026-03-02T14:00:00Z",
        model_serving={
            "endpoint": {
                "name": "churn",
                "uri": "https://churn.example/v2/models/churn/infer",
                "protocol": "SERVING_PROTOCOL_REST",
            },
            "model_name": "churn",
            "model": ref(MV, world.mv[0].meta.id),
            "rollout_strategy": "ROLLOUT_STRATEGY_ALL_AT_ONCE",
            "transition_status": "SERVING_TRANSITION_STATUS_UP_TO_DATE",
            "rollout_result": "ROLLOUT_RESULT_SUCCEEDED",
        },
    )
    assert error(world, serving).code() == grpc.StatusCode.FAILED_PRECONDITION
    warned = dict(serving, status="STAGE_REPORT_STATUS_WARNED")
    assert error(world, warned).code() == grpc.StatusCode.FAILED_PRECONDITION
    served = world.send(dict(serving, deployment_approval=override))
    graph = world.stubs.lifecycle.GetLineage(
        make(
            lc.GetLineageRequest,
            {
                "start": ref("RESOURCE_KIND_STAGE_REPORT", evaluation.meta.id),
                "direction": "LINEAGE_DIRECTION_DOWNSTREAM",
            },
        )
    ).graph
    shown = {n.resource.id: n for n in graph.nodes}
    for report in (packaged, served):
        node = shown[report.meta.id]
        assert node.gate_decision == gate_pb.DEPLOYMENT_GATE_DECISION_OVERRIDDEN
        assert node.deployment_approval.reason == "hotfix, ticket 9"
        assert node.deployment_approval.caller == "anonymous"
    # A FAILED packaging report is not gated; an approval belongs to stages 10 and 11 only.
    world.send(chain.package(0, status="STAGE_REPORT_STATUS_FAILED"))
    err = error(world, world.report(deployment_approval=override))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_no_evaluation_and_human_approval_are_gate_failures(world: World) -> None:
    chain = Chain(world, {"require_human_approval": True})
    err = error(world, chain.package(0))
    assert "has no evaluation (stage 8) report" in str(err.details())
    chain.evaluate(0, GOOD)
    assert chain.gate(0).gate.decision == gate_pb.DEPLOYMENT_GATE_DECISION_NEEDS_APPROVAL
    err = error(world, chain.package(0))
    assert "require a person's approval" in str(err.details())
    approved = world.send(chain.package(0, {"approver": {"name": "Lena"}, "reason": "ok"}))
    assert approved.deployment_gate.decision == gate_pb.DEPLOYMENT_GATE_DECISION_PASSED
    assert approved.deployment_gate.approval.approver.name == "Lena"


def test_the_baseline_is_compared_and_reported(world: World) -> None:
    body = dict(
        OBJECTIVES,
        objectives=[
            {
                "id": "no-worse",
                "name": "No worse",
                "metric_name": "auc",
                "severity": "OBJECTIVE_SEVERITY_BLOCKING",
                "threshold": {
                    "change_threshold": {
                        "absolute": 0.01,
                        "direction": "DIRECTION_HIGHER_IS_BETTER",
                    }
                },
            }
        ],
        launch_criteria={},
    )
    objectives = world.send(
        world.report(
            stage="LIFECYCLE_STAGE_CODIFY_OBJECTIVES", model_training=None, codified_objectives=body
        )
    )
    chain = Chain.__new__(Chain)
    chain.world, chain.objectives = world, objectives
    old = chain.evaluate(1, {"auc": 0.9})
    new = chain.evaluate(0, {"auc": 0.88}, baseline_model=ref(MV, world.mv[1].meta.id))
    result = new.model_evaluation.objectives_evaluation
    assert result.results[0].expression.text == "delta(auc) >= -0.01"
    assert result.results[0].outcome == 2
    assert result.results[0].observations[0].baseline_value == pytest.approx(0.9)
    assert result.baseline.report_id == old.meta.id
    assert result.baseline.source == 2  # BASELINE_REPORT
    warnings = world.stubs.lifecycle.ReportStage(
        make(
            lc.ReportStageRequest,
            {
                "stage_report": {
                    **chain.world.report(
                        stage="LIFECYCLE_STAGE_MODEL_EVALUATION",
                        model_training=None,
                        model_version=ref(MV, world.mv[0].meta.id),
                        start_time="2026-03-02T10:00:00Z",
                    ),
                    "model_evaluation": {
                        "candidate_model": ref(MV, world.mv[0].meta.id),
                        "objectives_report": {
                            "kind": "RESOURCE_KIND_STAGE_REPORT",
                            "id": objectives.meta.id,
                        },
                        "metric_results": [
                            *results({"auc": 0.95}),
                            {
                                "metric_key": {"name": "auc", "model_role": "baseline"},
                                "slice_key": {},
                                "value": {"double_value": 0.99},
                            },
                        ],
                        "datasets": [
                            {
                                "dataset": ref(DSV, world.dsv[1].meta.id),
                                "digest": {"digests": {"sha256": "1" * 64}},
                            }
                        ],
                        "objectives_outcome": "THRESHOLD_OUTCOME_PASSED",
                        "decision": "MODEL_GATE_DECISION_APPROVED",
                    },
                }
            },
        )
    ).warnings
    assert [w.code for w in warnings] == ["OBJECTIVES_OUTCOME_DISAGREES"]


def test_objectives_report_must_be_a_stage_1_report(world: World) -> None:
    chain = Chain(world)
    training = world.send(world.report())
    mv_ref = ref(MV, world.mv[0].meta.id)
    err = error(
        world,
        world.report(
            stage="LIFECYCLE_STAGE_MODEL_EVALUATION",
            model_training=None,
            model_version=mv_ref,
            model_evaluation={
                "candidate_model": mv_ref,
                "datasets": [
                    {
                        "dataset": ref(DSV, world.dsv[1].meta.id),
                        "digest": {"digests": {"sha256": "1" * 64}},
                    }
                ],
                "objectives_report": {"kind": "RESOURCE_KIND_STAGE_REPORT", "id": training.meta.id},
                "objectives_outcome": "THRESHOLD_OUTCOME_PASSED",
                "decision": "MODEL_GATE_DECISION_APPROVED",
            },
        ),
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stage_report.model_evaluation.objectives_report" in violated_fields(err)
    assert chain.objectives.meta.id


# -- item 5: the hold-back test apart from evaluation ----------------------------------


def test_a_test_report_must_name_a_hold_back_split_apart_from_the_evaluation(world: World) -> None:
    chain = Chain(world)
    evaluation = chain.evaluate(0, GOOD)
    unnamed = chain.test_body(0, evaluation.meta.id, GOOD)
    unnamed["model_test"]["holdback_dataset"]["split"] = ""
    err = error(world, unnamed)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stage_report.model_test.holdback_dataset.split" in violated_fields(err)
    same_split = chain.test_body(0, evaluation.meta.id, GOOD)
    same_split["model_test"]["holdback_dataset"]["split"] = "validation"
    err = error(world, same_split)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "the split of the evaluation's datasets[0]" in str(err.details())


def test_a_test_report_on_training_or_evaluation_data_is_refused(world: World) -> None:
    chain = Chain(world)
    # Training of version 0 read the future hold-back set (dsv[2]) by digest.
    world.send(
        world.report(
            model_version=ref(MV, world.mv[0].meta.id),
            inputs=[
                {
                    "resource": ref(DSV, world.dsv[0].meta.id),
                    "role": "training_data",
                    "digest": {"digests": {"sha256": "0" * 64}},
                }
            ],
            model_training={
                "model_format": "onnx",
                "output_model": ref(MV, world.mv[0].meta.id),
                "training_datasets": [ref(DSV, world.dsv[2].meta.id)],
            },
        )
    )
    evaluation = chain.evaluate(0, GOOD)
    err = error(world, chain.test_body(0, evaluation.meta.id, GOOD))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "model_training.training_datasets[0] of model_training report" in str(err.details())
    # An earlier evaluation of version 1 read data whose digest is the hold-back digest.
    chain.evaluate(
        1,
        GOOD,
        datasets=[
            {
                "dataset": ref(DSV, world.dsv[0].meta.id),
                "digest": {"digests": {"sha256": "2" * 64}},
                "split": "validation",
            }
        ],
    )
    later = chain.evaluate(1, GOOD)
    err = error(world, chain.test_body(1, later.meta.id, GOOD))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "model_evaluation.datasets[0] of model_evaluation report" in str(err.details())


# -- item 6: leakage from fingerprints -------------------------------------------------


def fingerprint(keys: list[str], **fields: Any) -> dict[str, Any]:
    hashes = sorted({int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big") for k in keys})
    import base64

    raw = b"".join(h.to_bytes(8, "big") for h in hashes)
    return {
        "format": "mlspec-keyset/v1",
        "key_columns": ["customer_id"],
        "key_hashes": base64.b64encode(raw).decode(),
        "key_count": len(keys),
        **fields,
    }


def splitting(
    world: World, train: list[str], holdback: list[str], role: str = "SPLIT_ROLE_HOLDBACK"
) -> Any:
    split = {
        "method": "SPLIT_METHOD_HASH",
        "row_count": 10,
        "digest": {"digests": {"sha256": "9" * 64}},
    }
    return world.send(
        world.report(
            stage="LIFECYCLE_STAGE_DATA_SPLITTING",
            model_training=None,
            outputs=[
                {"resource": ref(DSV, world.dsv[1].meta.id), "role": "train_split"},
                {"resource": ref(DSV, world.dsv[2].meta.id), "role": "holdback_split"},
            ],
            data_splitting={
                "source_dataset": ref(DSV, world.dsv[0].meta.id),
                "splits": [
                    {
                        **split,
                        "name": "train",
                        "role": "SPLIT_ROLE_TRAIN",
                        "output_dataset": ref(DSV, world.dsv[1].meta.id),
                        "fingerprint": fingerprint(train),
                    },
                    {
                        **split,
                        "name": "holdback",
                        "role": role,
                        "output_dataset": ref(DSV, world.dsv[2].meta.id),
                        "digest": {"digests": {"sha256": "2" * 64}},
                        "fingerprint": fingerprint(holdback),
                    },
                ],
            },
        )
    )


def test_overlapping_fingerprints_are_computed_flagged_and_block_the_gate(world: World) -> None:
    train = [f"c{i}" for i in range(100)]
    report = splitting(world, train, [f"c{i}" for i in range(95, 120)])
    checks = report.data_splitting.computed_leakage_checks
    assert [(c.split_a, c.split_b, c.overlap_count) for c in checks] == [("train", "holdback", 5)]
    assert checks[0].overlap_fraction == pytest.approx(0.2)
    assert checks[0].result == 3  # WARNED
    chain = Chain(world)
    evaluation = chain.evaluate(0, GOOD)
    chain.test(0, evaluation.meta.id, GOOD)
    err = error(world, chain.package(0))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "5 keys of split 'holdback' are also in 'train'" in str(err.details())
    # A bound in the launch criteria tolerates it.
    tolerant = Chain(world, {"max_leakage_fraction": 0.25})
    world.mv.append(world.model_version(3))
    evaluation = tolerant.evaluate(2, GOOD)
    assert world.send(tolerant.package(2)).deployment_gate.decision == 1


def test_fingerprints_are_checked_and_a_non_hold_back_split_is_no_test_set(world: World) -> None:
    bad = fingerprint(["a", "b"])
    import base64

    raw = base64.b64decode(bad["key_hashes"])
    bad["key_hashes"] = base64.b64encode(raw[8:] + raw[:8] if raw[:8] < raw[8:] else raw).decode()
    with pytest.raises(grpc.RpcError) as err:
        world.send(
            world.report(
                stage="LIFECYCLE_STAGE_DATA_SPLITTING",
                model_training=None,
                data_splitting={
                    "source_dataset": ref(DSV, world.dsv[0].meta.id),
                    "splits": [
                        {
                            "name": "train",
                            "role": "SPLIT_ROLE_TRAIN",
                            "method": "SPLIT_METHOD_HASH",
                            "digest": {"digests": {"sha256": "9" * 64}},
                            "fingerprint": bad,
                        }
                    ],
                },
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ascending" in str(err.value.details())
    splitting(world, ["a"], ["b"], role="SPLIT_ROLE_VALIDATION")
    chain = Chain(world)
    evaluation = chain.evaluate(0, GOOD)
    refused = error(world, chain.test_body(0, evaluation.meta.id, GOOD))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not SPLIT_ROLE_HOLDBACK" in str(refused.details())


def test_evaluate_objectives_on_a_report_with_given_objectives(world: World) -> None:
    chain = Chain(world)
    evaluation = chain.evaluate(0, GOOD)
    answer = world.stubs.lifecycle.EvaluateObjectives(
        make(
            lc.EvaluateObjectivesRequest,
            {
                "stage_report_id": evaluation.meta.id,
                "objectives": dict(
                    OBJECTIVES,
                    objectives=[
                        dict(
                            OBJECTIVES["objectives"][0],
                            expression={"text": "auc > 0.95", "dialect": DIALECT},
                        )
                    ],
                    launch_criteria={},
                ),
            },
        )
    )
    (only,) = answer.evaluations
    assert only.results[0].outcome == 2 and only.report_id == evaluation.meta.id
    with pytest.raises(grpc.RpcError) as err:
        world.stubs.lifecycle.EvaluateObjectives(
            make(lc.EvaluateObjectivesRequest, {"stage_report_id": chain.objectives.meta.id})
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        world.stubs.lifecycle.EvaluateObjectives(lc.EvaluateObjectivesRequest())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
