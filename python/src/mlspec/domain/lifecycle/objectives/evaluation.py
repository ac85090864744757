"""Objectives evaluated on evaluation (stage 8) and hold-back test (stage 9) reports.

``evaluate_report`` is the one evaluation the service does: the objective set of a stage
1 report on the values of a stage 8 or 9 report (``values.gather``). When a stage 8 or
9 report is stored, ``record`` puts that evaluation in the payload's
``objectives_evaluation`` and links the objectives report to it in lineage; a report
whose outcome disagrees with the server's gets an OBJECTIVES_OUTCOME_DISAGREES warning.
"""

from __future__ import annotations

from mlspec import errors
from mlspec.common.v1 import reference_pb2, threshold_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle.objectives import reports, values
from mlspec.lifecycle.v1 import (
    lineage_pb2,
    objectives_evaluation_pb2,
    objectives_pb2,
    stage_pb2,
    stage_report_pb2,
)
from mlspec.objectives import ObjectiveSet, check_objectives, evaluate_set
from mlspec.store.api import Edge

K = reference_pb2.ResourceKind
S = stage_pb2.LifecycleStage
Report = stage_report_pb2.StageReport
Evaluation = objectives_evaluation_pb2.ObjectivesEvaluation


def objective_set(
    message: objectives_pb2.CodifiedObjectives, path: str, *, stored: bool
) -> ObjectiveSet:
    """The checked set; INVALID_ARGUMENT (FAILED_PRECONDITION for a stored one) if invalid."""
    checked, found = check_objectives(message, path)
    if checked is None:
        if stored:
            raise errors.FailedPrecondition(
                f"the objectives of {path} cannot be evaluated: "
                + "; ".join(f"{v.field} {v.description}" for v in found),
                reason="INVALID_OBJECTIVES",
                violations=found,
            )
        raise errors.not_valid("the codified objectives are not valid", found, "INVALID_OBJECTIVES")
    return checked


def model_version_of(report: Report) -> str:
    """Id of the model version a stage 8 or 9 report is about."""
    if report.model_version.id:
        return report.model_version.id
    if report.HasField("model_evaluation"):
        return report.model_evaluation.candidate_model.id
    if report.HasField("model_test"):
        return report.model_test.model.id
    return ""


def evaluate_report(
    res: Resources,
    report: Report,
    objectives: ObjectiveSet,
    objectives_report: Report | None,
) -> Evaluation:
    """The objective set on a stage 8 or 9 report's values."""
    found, baseline = values.gather(
        res, report, model_version_of(report), objectives_report, report.stage
    )
    evaluation = evaluate_set(objectives, found, report.stage)
    evaluation.report_id = report.meta.id
    if objectives_report is not None:
        evaluation.objectives_report_id = objectives_report.meta.id
    evaluation.baseline.CopyFrom(baseline)
    evaluation.evaluate_time.CopyFrom(micros_to_timestamp(now_micros()))
    return evaluation


def objectives_for(res: Resources, report: Report) -> Report | None:
    """The stage 1 report whose objectives apply to a stage 8 or 9 report."""
    if report.HasField("model_test"):
        try:
            evaluation = reports.load(res, report.model_test.evaluation_report_id, "evaluation")
        except errors.NotFound:
            return None
        return reports.objectives_report_of(res, evaluation)
    return reports.objectives_report_of(res, report)


def record(res: Resources, report: Report, path: str) -> list[Edge]:
    """Stores the server's evaluation in a stage 8 or 9 report being created."""
    if report.HasField("model_evaluation"):
        named = report.model_evaluation.objectives_report
        if named.id:
            kind = res.kind_of(named.id)
            stage = (
                reports.load(res, named.id, path).stage
                if kind == K.RESOURCE_KIND_STAGE_REPORT
                else 0
            )
            if stage != S.LIFECYCLE_STAGE_CODIFY_OBJECTIVES:
                raise errors.invalid(
                    f"{path}.model_evaluation.objectives_report",
                    "must name a stage 1 (codify objectives) report",
                )
        payload = report.model_evaluation
    else:
        payload = report.model_test  # type: ignore[assignment]
    objectives = objectives_for(res, report)
    if objectives is None:
        return []
    checked = objective_set(
        objectives.codified_objectives, f"stage report {objectives.meta.id}", stored=True
    )
    evaluation = evaluate_report(res, report, checked, objectives)
    payload.objectives_evaluation.CopyFrom(evaluation)
    claimed = payload.objectives_outcome
    if claimed and claimed != evaluation.outcome:
        name = threshold_pb2.ThresholdOutcome.Name
        res.scope.warn(
            "OBJECTIVES_OUTCOME_DISAGREES",
            f"{path}: the report says {name(claimed)} but the server's evaluation of the "
            f"objectives of stage report {objectives.meta.id} is {name(evaluation.outcome)}",
        )
    if any(e.resource.id == objectives.meta.id for e in report.inputs):
        return []
    return [(objectives.meta.id, report.meta.id, lineage_pb2.LINEAGE_EDGE_KIND_CONSUMED)]
