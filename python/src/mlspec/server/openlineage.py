"""OpenLineage events for every stored stage report (``mlspec serve --openlineage-url``).

When configured, each ReportStage and BatchReportStages call, once its transaction has
committed, hands its reports to ``LineageEmitter``, which turns each into a START and an
end RunEvent (``mlspec.interop.openlineage_events``) and sends them through the
``openlineage-python`` client, to an HTTP endpoint (``--openlineage-url``,
``MLSPEC_OPENLINEAGE_URL``: the client posts to ``<url>/api/v1/lineage``) or appended to a
file as JSON lines (``--openlineage-file``, ``MLSPEC_OPENLINEAGE_FILE``). Sending happens on
one background thread in report order, so calls never wait for the lineage backend; a
failure to send is logged and does not undo the report. ``close`` sends what is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.protobuf.message import Message

from mlspec.domain.common.resources import Resources
from mlspec.lifecycle.v1 import stage_report_pb2
from mlspec.server.routes import Route, Streaming, Unary

log = logging.getLogger("mlspec.server.openlineage")

__all__ = ["LineageEmitter", "emitting"]


class LineageEmitter:
    """Builds OpenLineage events from stage reports and sends them in the background."""

    def __init__(
        self, *, url: str = "", file: str = "", namespace: str = "mlspec", version: str = ""
    ) -> None:
        """``url`` (an HTTP endpoint) or ``file`` (JSON lines) says where events go."""
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport.file import FileConfig, FileTransport
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        transport: Any
        if url:
            transport = HttpTransport(HttpConfig(url=url))
        else:
            transport = FileTransport(FileConfig(log_file_path=file, append=True))
        self.client = OpenLineageClient(transport=transport)
        self.namespace = namespace
        self.version = version
        self.target = url or file
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlspec-openlineage")

    def events_of(
        self, report: stage_report_pb2.StageReport, resources: Mapping[str, Message]
    ) -> list[Any]:
        """The RunEvents of one stored report."""
        from mlspec.interop import openlineage_events

        return openlineage_events.run_events(
            report, resources, namespace=self.namespace, version=self.version
        )

    def send(self, events: list[Any]) -> None:
        """Queues events for sending (in order, on the background thread)."""
        self._sender.submit(self._emit, events)

    def _emit(self, events: list[Any]) -> None:
        for event in events:
            try:
                self.client.emit(event)
            except Exception:  # a lineage backend that is down must not fail reporting
                log.exception("could not send an OpenLineage event to %s", self.target)

    def close(self) -> None:
        """Sends everything queued, then stops the background thread."""
        self._sender.shutdown(wait=True)


def _report_events(
    emitter: LineageEmitter, res: Resources, reports: list[stage_report_pb2.StageReport]
) -> list[Any]:
    events: list[Any] = []
    for report in reports:
        ids = [e.resource.id for e in (*report.inputs, *report.outputs) if e.resource.id]
        res.prefetch(ids)
        resources: dict[str, Message] = {}
        for endpoint in (*report.inputs, *report.outputs):
            if endpoint.resource.id:
                resources[endpoint.resource.id] = res.get(
                    endpoint.resource.kind, endpoint.resource.id
                ).message
        events += emitter.events_of(report, resources)
    return events


def emitting(route: Route, emitter: LineageEmitter, serve: Unary | Streaming) -> Route:
    """``route`` (ReportStage or BatchReportStages) that also emits its reports' events.

    The events are built inside the call's transaction (the endpoints are read there) and
    sent only after it commits (``RequestScope.after_commit``); a replayed retry sends none.
    """
    assert route.writes, "only writing routes store reports"

    def handler(request: Any, res: Resources) -> Message:
        response = serve(request, res)
        assert isinstance(response, Message)
        reports = [m for m in _reports_in(response) if isinstance(m, stage_report_pb2.StageReport)]
        events = _report_events(emitter, res, reports)
        res.scope.after_commit.append(lambda: emitter.send(events))
        return response

    return Route(writes=route.writes, handler=handler)


def _reports_in(response: Message) -> list[Message]:
    found: list[Message] = []
    for field, value in response.ListFields():
        if field.message_type is not None and field.message_type.full_name == (
            "mlspec.lifecycle.v1.StageReport"
        ):
            found += list(value) if field.is_repeated else [value]
    return found
