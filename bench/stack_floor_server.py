"""The MLSpec server with ReportStage's work replaced, to measure what the stack costs.

Same process layout, gRPC options, interceptors, dispatcher and store transaction as
`mlspec serve`; only the ReportStage handler differs:

- ``nothing``: answers with the request's report, storing nothing (an empty write
  transaction is still opened and committed, as for every mutation);
- ``one-row``: stores the report as one row of the resources table, with no validation,
  no filter index rows and no lineage edges.

The throughput benchmark runs both beside the real server, so that its ratio to the echo
server can be read against what the stack alone allows on the same machine.
"""

from __future__ import annotations

import sys
import threading
import uuid
from typing import Any

from google.protobuf.message import Message

from mlspec.common.v1 import reference_pb2
from mlspec.domain.clock import now_micros
from mlspec.domain.common.resources import ACTIVE, Resources
from mlspec.lifecycle.v1 import lifecycle_service_pb2
from mlspec.server.app import build_server
from mlspec.server.config import ServerConfig
from mlspec.server.routes import write
from mlspec.store.api import ResourceRecord

METHOD = "mlspec.lifecycle.v1.LifecycleService/ReportStage"
MODES = ("nothing", "one-row")


def _nothing(request: Any, _res: Resources) -> Message:
    return lifecycle_service_pb2.ReportStageResponse(stage_report=request.stage_report)


def _one_row(request: Any, res: Resources) -> Message:
    report = request.stage_report
    report.meta.id = str(uuid.uuid4())
    now = now_micros()
    res._tx.insert(
        ResourceRecord(
            id=report.meta.id,
            workspace=res.scope.workspace,
            kind=reference_pb2.RESOURCE_KIND_STAGE_REPORT,
            scope="",
            name="",
            status=ACTIVE,
            create_time=now,
            update_time=now,
            etag=report.meta.id[:8],
            data=report.SerializeToString(),
            fields=[],
        )
    )
    return lifecycle_service_pb2.ReportStageResponse(stage_report=report)


def main(port: int, store_url: str, mode: str) -> None:
    """Serves until terminated."""
    work = {"nothing": _nothing, "one-row": _one_row}[mode]
    running = build_server(
        ServerConfig(port=port, store_url=store_url, log_level="WARNING"),
        overrides={METHOD: write(work)},
    )
    try:
        threading.Event().wait()
    finally:
        running.stop(0)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
