"""What a stage report's status says about the stage, as ``stage_report.proto`` defines it.

A stage *completed* when its report is SUCCEEDED, WARNED (non-blocking problems;
downstream stages may proceed) or CACHED (earlier equivalent results reused). Rules that
guard what a completed stage lets happen, such as the deployment gate on packaging and
serving, apply to all three; a FAILED, SKIPPED or CANCELLED report records history.
"""

from __future__ import annotations

from mlspec.lifecycle.v1 import stage_report_pb2

_S = stage_report_pb2

COMPLETED = frozenset(
    {
        _S.STAGE_REPORT_STATUS_SUCCEEDED,
        _S.STAGE_REPORT_STATUS_WARNED,
        _S.STAGE_REPORT_STATUS_CACHED,
    }
)
