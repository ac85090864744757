"""``mlspec report FILE...``: send stage reports (YAML or JSON) to the server.

Every document of every file is read and checked first (``# message:`` lines and ``---``
as ``mlspec validate`` reads them; documents without a type are StageReports), so a bad
file sends nothing. The reports then go one at a time, in order, so a report may name one
sent before it. Before each is sent, what the server would not find by itself is
resolved to ids (``mlspec.client.names``): ``*_id`` fields written as names or
``PARENT/NAME`` (``run_id: churn/train-7``) and references by name to kinds named within
a parent (artifacts, runs, stage reports, ...). A failure stops there, with the file,
line and column of the field the server (or the lookup) named.
"""

from __future__ import annotations

import pathlib

import click
from google.protobuf.message import Message
from rich.table import Table

from mlspec.cli.connection import open_client
from mlspec.cli.documents import Document, document_files, failure_at, read_documents
from mlspec.cli.errors import CliError
from mlspec.cli.output import chosen_output, output_option, print_tables, render
from mlspec.cli.progress import tracked
from mlspec.cli.settings import Settings, pass_settings
from mlspec.client import Client, MLSpecError
from mlspec.client.names import Resolver, UnresolvedReference
from mlspec.lifecycle.v1 import lifecycle_service_pb2, stage_pb2, stage_report_pb2

__all__ = ["report", "send_report"]

STAGE_REPORT = stage_report_pb2.StageReport.DESCRIPTOR.full_name


@click.command()
@document_files
@output_option()
@pass_settings
def report(settings: Settings, files: tuple[pathlib.Path, ...], output: str | None) -> None:
    """Send the stage reports of FILE... (YAML or JSON, '---' between documents).

    Names are resolved to ids where the server would not resolve them; reports go in
    order, so one may name a report sent before it.
    """
    documents = [
        document
        for path in files
        for document in read_documents(
            path, default_type=STAGE_REPORT, accepted=frozenset({STAGE_REPORT})
        )
    ]
    chosen = chosen_output(settings.output, output)
    stored: list[stage_report_pb2.StageReport] = []
    try:
        with open_client(settings) as client:
            resolver = Resolver(client)
            for document in tracked(documents, "reporting"):
                stored.append(send_report(client, resolver, document))
    finally:
        if stored:
            _print(stored, chosen)


def send_report(
    client: Client, resolver: Resolver, document: Document
) -> stage_report_pb2.StageReport:
    """Resolves the names of one report document and sends it; ``CliError`` with its place."""
    sent = stage_report_pb2.StageReport()
    sent.MergeFromString(document.message.SerializeToString())
    try:
        resolver.resolve_references(sent)
        response = client.lifecycle.ReportStage(
            lifecycle_service_pb2.ReportStageRequest(stage_report=sent)
        )
    except UnresolvedReference as exc:
        raise CliError(f"{document.where(exc.path)}: {exc}") from exc
    except MLSpecError as exc:
        raise CliError(failure_at(document, exc)) from exc
    for warning in response.warnings:
        click.echo(f"warning: {document.where()}: {warning.code}: {warning.message}", err=True)
    stored: stage_report_pb2.StageReport = response.stage_report
    return stored


def _print(stored: list[stage_report_pb2.StageReport], output: str) -> None:
    if output != "table":
        messages: list[Message] = list(stored)
        render(messages, output)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("STAGE", "NAME", "STATUS", "ID"):
        table.add_column(column, no_wrap=True)
    for item in stored:
        table.add_row(
            stage_pb2.LifecycleStage.Name(item.stage).removeprefix("LIFECYCLE_STAGE_"),
            item.meta.name,
            stage_report_pb2.StageReportStatus.Name(item.status).removeprefix(
                "STAGE_REPORT_STATUS_"
            ),
            item.meta.id,
        )
    print_tables([table])
