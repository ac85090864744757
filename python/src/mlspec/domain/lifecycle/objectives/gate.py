"""The deployment gate (deployment_gate.proto): whether a model version may be deployed.

``decide`` reads the model version's latest evaluation (stage 8) and hold-back test
(stage 9), evaluates their objectives again, evaluates the objectives checked at
deployment on the model version's figures, looks for leakage in the splits that
produced its data and for the approval the launch criteria may require, and returns the
decision with every failure. ``check_report`` applies it to a completed (SUCCEEDED,
WARNED or CACHED) packaging or serving report being stored: FAILED_PRECONDITION (DEPLOYMENT_GATE_FAILED) listing the
failures, unless the report carries an override; the decision is recorded on the report
and the reports it read are linked to it in lineage.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlspec import errors
from mlspec.common.v1 import reference_pb2, threshold_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle.objectives import evaluation, leakage, reports, values
from mlspec.domain.lifecycle.report_status import COMPLETED
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import deployment_gate_pb2 as pb
from mlspec.lifecycle.v1 import (
    evaluation_pb2,
    lineage_pb2,
    objectives_evaluation_pb2,
    stage_pb2,
    stage_report_pb2,
)
from mlspec.objectives import ObjectiveSet, evaluate_set, observation_text
from mlspec.store.api import Edge

K = reference_pb2.ResourceKind
S = stage_pb2.LifecycleStage
C = pb.DeploymentGateCheck
Report = stage_report_pb2.StageReport
Evaluation = objectives_evaluation_pb2.ObjectivesEvaluation
PASSED = threshold_pb2.THRESHOLD_OUTCOME_PASSED
_DEPLOY_STAGES: dict[int, frozenset[int]] = {
    S.LIFECYCLE_STAGE_MODEL_PACKAGING: frozenset({S.LIFECYCLE_STAGE_MODEL_PACKAGING}),
    S.LIFECYCLE_STAGE_MODEL_SERVING: frozenset(
        {S.LIFECYCLE_STAGE_MODEL_PACKAGING, S.LIFECYCLE_STAGE_MODEL_SERVING}
    ),
}
_WORD = {
    S.LIFECYCLE_STAGE_MODEL_EVALUATION: "evaluation",
    S.LIFECYCLE_STAGE_MODEL_TEST: "hold-back test",
    S.LIFECYCLE_STAGE_MODEL_PACKAGING: "deployment",
    S.LIFECYCLE_STAGE_MODEL_SERVING: "deployment",
}


def _failure(
    check: int,
    message: str,
    *,
    report_id: str = "",
    stage: int = 0,
    objective_id: str = "",
    observations: Iterable[objectives_evaluation_pb2.ObjectiveObservation] = (),
) -> pb.DeploymentGateFailure:
    failure = pb.DeploymentGateFailure(
        check=check,  # type: ignore[arg-type]
        message=message,
        report_id=report_id,
        stage=stage,  # type: ignore[arg-type]
        objective_id=objective_id,
    )
    failure.observations.extend(observations)
    return failure


def _evaluation_failures(found: Evaluation) -> list[pb.DeploymentGateFailure]:
    word = _WORD.get(found.stage, "evaluation")
    where = f" (report {found.report_id})" if found.report_id else ""
    failures = []
    blocking_failed = set()
    name = threshold_pb2.ThresholdOutcome.Name
    for result in found.results:
        if not result.checked or not result.blocking or result.outcome == PASSED:
            continue
        blocking_failed.add(result.objective_id)
        seen = "; ".join(observation_text(o) for o in result.observations)
        outcome = name(result.outcome).removeprefix("THRESHOLD_OUTCOME_").lower()
        failures.append(
            _failure(
                C.DEPLOYMENT_GATE_CHECK_OBJECTIVE,
                f"{word}{where}: objective {result.objective_id} {outcome} ({seen})",
                report_id=found.report_id,
                stage=found.stage,
                objective_id=result.objective_id,
                observations=result.observations,
            )
        )
    launch = found.launch_criteria
    for objective_id in launch.failed_objective_ids:
        if objective_id not in blocking_failed:
            failures.append(
                _failure(
                    C.DEPLOYMENT_GATE_CHECK_LAUNCH_CRITERIA,
                    f"{word}{where}: required objective {objective_id} did not pass",
                    report_id=found.report_id,
                    stage=found.stage,
                    objective_id=objective_id,
                )
            )
    if launch.expression_outcome not in (0, PASSED):
        seen = "; ".join(observation_text(o) for o in launch.observations)
        failures.append(
            _failure(
                C.DEPLOYMENT_GATE_CHECK_LAUNCH_CRITERIA,
                f"{word}{where}: the launch criteria's expression does not hold ({seen})",
                report_id=found.report_id,
                stage=found.stage,
                observations=launch.observations,
            )
        )
    return failures


def _rejected(report: Report) -> bool:
    payload = report.model_evaluation if report.HasField("model_evaluation") else report.model_test
    return (
        report.status == stage_report_pb2.STAGE_REPORT_STATUS_FAILED
        or payload.decision == evaluation_pb2.MODEL_GATE_DECISION_REJECTED
    )


def _data_ids(res: Resources, model_version_id: str, used: list[Report]) -> list[str]:
    ids = []
    training = reports.about_model_version(res, model_version_id, S.LIFECYCLE_STAGE_MODEL_TRAINING)
    for report in [*training, *used]:
        ids += [e.resource.id for e in report.inputs]
        ids += [d.id for d in report.model_training.training_datasets]
        ids += [d.dataset.id for d in report.model_evaluation.datasets]
        ids.append(report.model_test.holdback_dataset.dataset.id)
    return ids


def decide(
    res: Resources,
    model_version_id: str,
    stage: int,
    approval: pb.DeploymentApproval | None,
    *,
    preview: bool = False,
) -> tuple[pb.DeploymentGate, list[Evaluation]]:
    """The gate's decision about a model version for a report of ``stage`` (10 or 11)."""
    gate = pb.DeploymentGate()
    gate.model_version.kind = K.RESOURCE_KIND_MODEL_VERSION
    gate.model_version.id = model_version_id
    gate.decide_time.CopyFrom(micros_to_timestamp(now_micros()))
    evaluations: list[Evaluation] = []
    failures: list[pb.DeploymentGateFailure] = []
    latest = reports.about_model_version(res, model_version_id, S.LIFECYCLE_STAGE_MODEL_EVALUATION)
    objectives = reports.objectives_report_of(res, latest[0]) if latest else None
    if not latest:
        failures.append(
            _failure(
                C.DEPLOYMENT_GATE_CHECK_EVALUATION,
                f"model version {model_version_id} has no evaluation (stage 8) report",
            )
        )
    elif objectives is None:
        gate.evaluation_report_id = latest[0].meta.id
        failures.append(
            _failure(
                C.DEPLOYMENT_GATE_CHECK_EVALUATION,
                f"evaluation report {latest[0].meta.id} names no codified objectives "
                "(model_evaluation.objectives_report)",
                report_id=latest[0].meta.id,
                stage=S.LIFECYCLE_STAGE_MODEL_EVALUATION,
            )
        )
    else:
        gate.evaluation_report_id = latest[0].meta.id
        gate.objectives_report_id = objectives.meta.id
        checked = evaluation.objective_set(
            objectives.codified_objectives, f"stage report {objectives.meta.id}", stored=True
        )
        used = [latest[0]]
        tests = reports.about_model_version(res, model_version_id, S.LIFECYCLE_STAGE_MODEL_TEST)
        if tests:
            gate.test_report_id = tests[0].meta.id
            used.append(tests[0])
        elif checked.message.launch_criteria.require_holdback_test:
            failures.append(
                _failure(
                    C.DEPLOYMENT_GATE_CHECK_HOLDBACK_TEST,
                    f"the launch criteria require a hold-back test and model version "
                    f"{model_version_id} has no stage 9 report",
                )
            )
        for report in used:
            if _rejected(report):
                failures.append(
                    _failure(
                        C.DEPLOYMENT_GATE_CHECK_REPORT_REJECTED,
                        f"{_WORD[report.stage]} report {report.meta.id} failed or rejected the "
                        "model",
                        report_id=report.meta.id,
                        stage=report.stage,
                    )
                )
            found = evaluation.evaluate_report(res, report, checked, objectives)
            evaluations.append(found)
            failures += _evaluation_failures(found)
        deployed = _deployment_evaluation(res, checked, objectives, model_version_id, stage)
        if deployed is not None:
            evaluations.append(deployed)
            failures += _evaluation_failures(deployed)
        bound = checked.max_leakage_fraction
        for splitting, check in leakage.failures(
            res, _data_ids(res, model_version_id, used), bound
        ):
            failures.append(
                _failure(
                    C.DEPLOYMENT_GATE_CHECK_LEAKAGE,
                    f"splitting report {splitting.meta.id}: {check.overlap_count} keys of split "
                    f"{check.split_b!r} are also in {check.split_a!r} "
                    f"({check.overlap_fraction:.2%} > {bound:.2%} allowed)",
                    report_id=splitting.meta.id,
                    stage=S.LIFECYCLE_STAGE_DATA_SPLITTING,
                )
            )
        if checked.message.launch_criteria.require_human_approval and (
            approval is None or not approval.approver.name
        ):
            failures.append(
                _failure(
                    C.DEPLOYMENT_GATE_CHECK_HUMAN_APPROVAL,
                    "the launch criteria require a person's approval: set deployment_approval "
                    "(approver, reason) on the report",
                )
            )
    gate.failures.extend(failures)
    if not failures:
        gate.decision = pb.DEPLOYMENT_GATE_DECISION_PASSED
    elif preview and all(f.check == C.DEPLOYMENT_GATE_CHECK_HUMAN_APPROVAL for f in failures):
        gate.decision = pb.DEPLOYMENT_GATE_DECISION_NEEDS_APPROVAL
    elif approval is not None and approval.override:
        gate.decision = pb.DEPLOYMENT_GATE_DECISION_OVERRIDDEN
    else:
        gate.decision = pb.DEPLOYMENT_GATE_DECISION_BLOCKED
    if approval is not None:
        gate.approval.CopyFrom(approval)
    return gate, evaluations


def _deployment_evaluation(
    res: Resources,
    checked: ObjectiveSet,
    objectives: Report,
    model_version_id: str,
    stage: int,
) -> Evaluation | None:
    """The objectives checked at packaging (and serving) on the model version's figures."""
    stages = _DEPLOY_STAGES.get(stage) or _DEPLOY_STAGES[S.LIFECYCLE_STAGE_MODEL_PACKAGING]
    if not any(item.check_stages & stages for item in checked.objectives):
        return None
    found, baseline = values.gather(res, None, model_version_id, objectives, stage)
    result = evaluate_set(checked, found, stage, stages, launch_expression=False)
    result.objectives_report_id = objectives.meta.id
    result.baseline.CopyFrom(baseline)
    result.evaluate_time.CopyFrom(micros_to_timestamp(now_micros()))
    return result


def model_version_of(report: Report) -> str:
    """Id of the model version a packaging or serving report is about ("" when none)."""
    payload = report.model_packaging if report.HasField("model_packaging") else report.model_serving
    for ref in (report.model_version, payload.model):
        if ref.kind == K.RESOURCE_KIND_MODEL_VERSION and ref.id:
            return ref.id
    return ""


def check_approval(report: Report, path: str) -> None:
    """INVALID_ARGUMENT for an approval on another stage, or an override without a reason.

    The approver's name is Required (``Person.name``): the required-field walk checks it.
    """
    if not report.HasField("deployment_approval"):
        return
    field = f"{path}.deployment_approval"
    if report.stage not in _DEPLOY_STAGES:
        raise errors.invalid(
            field, "is only for packaging (stage 10) and serving (stage 11) reports"
        )
    approval = report.deployment_approval
    found = []
    if approval.override and not approval.reason.strip():
        found.append(FieldViolation(f"{field}.reason", "is required for an override: say why"))
    if found:
        raise errors.not_valid("the deployment approval is not valid", found, "INVALID_APPROVAL")


def check_report(res: Resources, report: Report, path: str) -> list[Edge]:
    """Applies the gate to a packaging or serving report being stored."""
    approval = None
    if report.HasField("deployment_approval"):
        approval = report.deployment_approval
        approval.caller = res.scope.creator or "anonymous"
        approval.record_time.CopyFrom(micros_to_timestamp(now_micros()))
    model_version_id = model_version_of(report)
    if report.status not in COMPLETED or not model_version_id:
        return []
    gate, _ = decide(res, model_version_id, report.stage, approval)
    if gate.decision == pb.DEPLOYMENT_GATE_DECISION_BLOCKED:
        raise errors.FailedPrecondition(
            f"the deployment gate refuses model version {model_version_id}: "
            + "; ".join(f.message for f in gate.failures)
            + ". Fix the model, or override with deployment_approval {approver, reason, "
            "override: true}",
            reason="DEPLOYMENT_GATE_FAILED",
            violations=[FieldViolation(_violation_field(f), f.message) for f in gate.failures],
        )
    if (
        gate.decision == pb.DEPLOYMENT_GATE_DECISION_PASSED
        and approval is not None
        and approval.override
    ):
        res.scope.warn("OVERRIDE_NOT_NEEDED", f"{path}: the deployment gate passes without it")
    report.deployment_gate.CopyFrom(gate)
    read = [gate.evaluation_report_id, gate.test_report_id]
    return [(r, report.meta.id, lineage_pb2.LINEAGE_EDGE_KIND_CONSUMED) for r in read if r]


def _violation_field(failure: pb.DeploymentGateFailure) -> str:
    check = C.Name(failure.check).removeprefix("DEPLOYMENT_GATE_CHECK_").lower()
    if failure.objective_id:
        return f"{_WORD.get(failure.stage, check)}.objectives[{failure.objective_id}]"
    return check
