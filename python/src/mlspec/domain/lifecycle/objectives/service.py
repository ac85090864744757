"""LifecycleService.EvaluateObjectives: objectives evaluated on demand, nothing stored."""

from __future__ import annotations

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle.objectives import evaluation, gate, reports
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as pb
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2
from mlspec.objectives import ObjectiveSet

K = reference_pb2.ResourceKind
S = stage_pb2.LifecycleStage
Report = stage_report_pb2.StageReport


def _given(
    res: Resources, request: pb.EvaluateObjectivesRequest
) -> tuple[ObjectiveSet, Report | None] | None:
    """The objectives the request gives instead of the stored ones, if any."""
    if request.HasField("objectives"):
        return evaluation.objective_set(request.objectives, "objectives", stored=False), None
    if request.objectives_report_id:
        report = reports.load(res, request.objectives_report_id, "objectives_report_id")
        if report.stage != S.LIFECYCLE_STAGE_CODIFY_OBJECTIVES:
            raise errors.invalid("objectives_report_id", "must name a stage 1 report")
        checked = evaluation.objective_set(
            report.codified_objectives, f"stage report {report.meta.id}", stored=True
        )
        return checked, report
    return None


def _one(
    res: Resources, report: Report, given: tuple[ObjectiveSet, Report | None] | None, path: str
) -> pb.EvaluateObjectivesResponse:
    if report.stage not in (S.LIFECYCLE_STAGE_MODEL_EVALUATION, S.LIFECYCLE_STAGE_MODEL_TEST):
        raise errors.invalid(path, "must name a stage 8 (evaluation) or 9 (test) report")
    if given is None:
        stored = evaluation.objectives_for(res, report)
        if stored is None:
            raise errors.FailedPrecondition(
                f"stage report {report.meta.id} names no codified objectives; give "
                "objectives_report_id or objectives",
                reason="NO_OBJECTIVES",
            )
        checked = evaluation.objective_set(
            stored.codified_objectives, f"stage report {stored.meta.id}", stored=True
        )
        given = (checked, stored)
    response = pb.EvaluateObjectivesResponse()
    response.evaluations.append(evaluation.evaluate_report(res, report, *given))
    return response


def evaluate_objectives(
    res: Resources, request: pb.EvaluateObjectivesRequest
) -> pb.EvaluateObjectivesResponse:
    """Evaluates objectives on a report, or on a model version with the gate's decision."""
    target = request.WhichOneof("target")
    if target is None:
        raise errors.invalid("target", "set model_version or stage_report_id")
    given = _given(res, request)
    if target == "stage_report_id":
        report = reports.load(res, request.stage_report_id, "stage_report_id")
        return _one(res, report, given, "stage_report_id")
    loaded = res.resolve(request.model_version, "model_version", for_use=False)
    if loaded.spec.kind != K.RESOURCE_KIND_MODEL_VERSION:
        raise errors.invalid(
            "model_version.kind", "must be RESOURCE_KIND_MODEL_VERSION (or MODEL with a version)"
        )
    model_version_id = loaded.record.id
    response = pb.EvaluateObjectivesResponse()
    if given is not None:
        for stage in (S.LIFECYCLE_STAGE_MODEL_EVALUATION, S.LIFECYCLE_STAGE_MODEL_TEST):
            latest = reports.about_model_version(res, model_version_id, stage)
            if latest:
                response.evaluations.append(evaluation.evaluate_report(res, latest[0], *given))
        return response
    decided, evaluations = gate.decide(
        res, model_version_id, S.LIFECYCLE_STAGE_MODEL_PACKAGING, None, preview=True
    )
    response.evaluations.extend(evaluations)
    response.gate.CopyFrom(decided)
    return response
