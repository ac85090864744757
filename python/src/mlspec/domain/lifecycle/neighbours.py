"""The stage reports one lineage hop away from a resource.

Rules that read what a stage recorded about a resource (the training report of a model
version, the analysis report of a dataset version) find it here: the newest report of
that stage, SUCCEEDED or WARNED, directly upstream or downstream of the resource.
"""

from __future__ import annotations

from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.resources import Resources
from mlspec.lifecycle.v1 import stage_report_pb2

__all__ = ["USABLE", "newest_report"]

Report = stage_report_pb2.StageReport
USABLE = (
    stage_report_pb2.STAGE_REPORT_STATUS_SUCCEEDED,
    stage_report_pb2.STAGE_REPORT_STATUS_WARNED,
)
_REPORT = reference_pb2.RESOURCE_KIND_STAGE_REPORT


def newest_report(res: Resources, node_id: str, stage: int, *, upstream: bool) -> Report | None:
    """The newest usable report of ``stage`` one hop upstream (or downstream) of a node."""
    nodes, _ = res.walk(node_id, upstream=upstream, max_depth=1)
    summaries = res.summaries([i for i in nodes if i != node_id])
    reports = [i for i, (kind, _, _) in summaries.items() if kind == _REPORT]
    res.prefetch(reports)
    best: Report | None = None
    for report_id in reports:
        report = res.get(_REPORT, report_id).message
        assert isinstance(report, Report)
        if report.stage != stage or report.status not in USABLE:
            continue
        if best is None or report.meta.create_time.ToMicroseconds() > (
            best.meta.create_time.ToMicroseconds()
        ):
            best = report
    return best
