"""The StageReport hooks of the objective rules, by payload (``stage_reports`` calls them).

``prepare`` (the request alone decides, INVALID_ARGUMENT): codified objectives are
checked (syntax, types, names, positions), split fingerprints are well formed, a stage 9
report names its hold-back split, a deployment approval is on a stage 10 or 11 report
with an approver (and a reason for an override). ``derive`` (with the resolved
references): a splitting report's overlaps are computed, a stage 8 or 9 report gets the
server's evaluation of its objectives, a stage 9 report is kept apart from training and
evaluation data, and a SUCCEEDED stage 10 or 11 report passes the deployment gate.
"""

from __future__ import annotations

from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle.objectives import evaluation, gate, holdback, leakage
from mlspec.lifecycle.v1 import stage_report_pb2
from mlspec.store.api import Edge

Report = stage_report_pb2.StageReport


def prepare(_res: Resources, report: Report, path: str) -> None:
    """The checks of the objective rules that need nothing resolved."""
    payload = report.WhichOneof("payload")
    if payload == "codified_objectives":
        evaluation.objective_set(
            report.codified_objectives, f"{path}.codified_objectives", stored=False
        )
    elif payload == "data_splitting":
        leakage.check_fingerprints(report, path)
    elif payload == "model_test":
        holdback.check_split_named(report, path)
    gate.check_approval(report, path)


def derive(res: Resources, report: Report, path: str) -> list[Edge]:
    """The objective rules that need the resolved references; returns lineage edges."""
    payload = report.WhichOneof("payload")
    if payload == "data_splitting":
        leakage.record(res, report, path)
    elif payload == "model_evaluation":
        return evaluation.record(res, report, path)
    elif payload == "model_test":
        holdback.check_apart(res, report, evaluation.model_version_of(report), path)
        return evaluation.record(res, report, path)
    elif payload in ("model_packaging", "model_serving"):
        return gate.check_report(res, report, path)
    return []
