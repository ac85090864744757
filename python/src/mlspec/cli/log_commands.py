"""``mlspec logs``: the inference log as Apache-style lines or JSON, and ``mlspec logs verify``.

``mlspec logs`` pages through ``ListInferenceLogs`` and prints each record as an NCSA
Common or Combined line exactly as Apache httpd writes one (the renderer is the
service's own, ``domain.logging.inference_log.ncsa_line``), or as one JSON document per
line; filters by stream, model version, time and status travel to the server.
``mlspec logs verify STREAM`` asks the service to recompute the stream's hash chain and
signed checkpoints and prints the first bad position (exit 1) or what verified (exit 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timezone

import click
from google.protobuf import json_format, timestamp_pb2

from mlspec.cli.connection import open_client
from mlspec.cli.errors import CliError
from mlspec.cli.model_versions import METAVAR, model_version_ref
from mlspec.cli.output import chosen_output, output_option, render
from mlspec.cli.settings import Settings, pass_settings
from mlspec.client import Client
from mlspec.client.errors import NotFound
from mlspec.common.v1 import reference_pb2
from mlspec.domain.logging.inference_log import model_label, ncsa_line
from mlspec.domain.models.versions import canonical_version
from mlspec.logging.v1 import inference_log_pb2, logging_service_pb2, logging_service_pb2_grpc
from mlspec.models.v1 import models_service_pb2

__all__ = ["logs"]

F = inference_log_pb2.NcsaFormat
FORMATS = {
    "common": F.NCSA_FORMAT_COMMON,
    "combined": F.NCSA_FORMAT_COMBINED,
    "combined-ml": F.NCSA_FORMAT_COMBINED_ML,
}
_STATUS = re.compile(r"([1-5])xx|([1-5][0-9][0-9])")


def _labeller(client: Client) -> Callable[[reference_pb2.ResourceRef], str]:
    """``model_name:model_version`` of a record's model, as the server's own lines show it.

    A reference by id is looked up once (model version, then its model); ``""`` (shown
    as ``-``) when it cannot be.
    """
    found: dict[str, str] = {}

    def label_of(ref: reference_pb2.ResourceRef) -> str:
        named = model_label(ref)
        if named or not ref.id:
            return named
        if ref.id not in found:
            try:
                version = client.models.GetModelVersion(
                    models_service_pb2.GetModelVersionRequest(id=ref.id)
                ).model_version
                model = client.models.GetModel(
                    models_service_pb2.GetModelRequest(id=version.model_id)
                ).model
                found[ref.id] = f"{model.meta.name}:{canonical_version(version.version)}"
            except NotFound:
                found[ref.id] = ""
        return found[ref.id]

    return label_of


def _timestamp(text: str, option: str) -> timestamp_pb2.Timestamp:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{option} {text!r} is not a time; write it as RFC 3339, e.g. 2026-11-27T10:00:00Z",
            exit_code=2,
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def status_filter(text: str) -> str:
    """The AIP-160 filter of ``--status``: a code (``404``) or a class (``5xx``)."""
    match = _STATUS.fullmatch(text.strip().lower())
    if match is None:
        raise CliError(f"--status {text!r}: give a code such as 404 or a class such as 5xx", 2)
    if match.group(1):
        low = int(match.group(1)) * 100
        return f"access.status >= {low} AND access.status < {low + 100}"
    return f"access.status = {int(match.group(2))}"


@click.group(invoke_without_command=True)
@click.option("--stream", default="", metavar="ID", help="Only this log stream (default: all).")
@click.option(
    "--format",
    "line_format",
    type=click.Choice([*FORMATS, "json"], case_sensitive=False),
    default="combined",
    show_default=True,
    help="Apache Common or Combined lines, Combined plus the ML fields, or JSON lines "
    "(also with -o json).",
)
@click.option(
    "--model-version",
    default="",
    metavar=METAVAR,
    help="Only records served by this model version (NAME:VERSION works too).",
)
@click.option("--since", default="", metavar="TIME", help="Only records at or after (RFC 3339).")
@click.option("--until", default="", metavar="TIME", help="Only records before (RFC 3339).")
@click.option("--status", default="", metavar="CODE", help="Only this status: 404, or 5xx.")
@click.option("--filter", "expression", default="", metavar="EXPR", help="An AIP-160 filter.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=0,
    help="Print at most this many records (default: all).",
)
@output_option()
@click.pass_context
def logs(
    ctx: click.Context,
    stream: str,
    line_format: str,
    model_version: str,
    since: str,
    until: str,
    status: str,
    expression: str,
    limit: int,
    output: str | None,
) -> None:
    """Print inference-log records as Apache Common or Combined lines, or JSON lines."""
    settings = ctx.find_object(Settings) or Settings()
    if output is not None:  # `logs -o json` as `mlspec -o json logs`, for the subcommands too
        settings = replace(settings, output=chosen_output(settings.output, output))
        ctx.obj = settings
    if ctx.invoked_subcommand is not None:
        return
    request = logging_service_pb2.ListInferenceLogsRequest(log_stream_id=stream, page_size=1000)
    filters = [f"({expression})"] if expression else []
    if status:
        filters.append(status_filter(status))
    request.filter = " AND ".join(filters)
    if model_version:
        request.model_version.CopyFrom(model_version_ref(model_version))
    if since:
        request.start_time.CopyFrom(_timestamp(since, "--since"))
    if until:
        request.end_time.CopyFrom(_timestamp(until, "--until"))
    as_json = line_format.lower() == "json" or settings.output == "json"
    fmt = FORMATS.get(line_format.lower(), F.NCSA_FORMAT_COMBINED)
    with open_client(settings) as client:
        label_of = _labeller(client)
        for count, record in enumerate(_records(client.logging, request), start=1):
            if as_json:
                click.echo(json_format.MessageToJson(record, indent=None, sort_keys=True))
            else:
                click.echo(ncsa_line(record, fmt, label_of))
            if limit and count >= limit:
                break


def _records(
    stub: logging_service_pb2_grpc.LoggingServiceStub,
    request: logging_service_pb2.ListInferenceLogsRequest,
) -> Iterator[inference_log_pb2.InferenceLogRecord]:
    while True:
        page = stub.ListInferenceLogs(request, timeout=60)
        yield from page.records
        if not page.next_page_token:
            return
        request.page_token = page.next_page_token


@logs.command()
@click.argument("stream")
@click.option("--start", type=click.IntRange(min=0), default=0, help="First sequence number.")
@click.option("--end", type=click.IntRange(min=0), default=0, help="Last sequence number.")
@click.option(
    "--require-signatures", is_flag=True, help="Report a record without a signature as broken."
)
@output_option()
@pass_settings
def verify(
    settings: Settings,
    stream: str,
    start: int,
    end: int,
    require_signatures: bool,
    output: str | None,
) -> int:
    """Check a log stream's hash chain and signed checkpoints; exit 1 at the first break."""
    settings = replace(settings, output=chosen_output(settings.output, output))
    with open_client(settings) as client:
        response = client.logging.VerifyLogChain(
            logging_service_pb2.VerifyLogChainRequest(
                log_stream_id=stream,
                start_sequence_number=start,
                end_sequence_number=end,
                require_signatures=require_signatures,
            ),
            timeout=600,
        )
    if settings.output != "table":
        render(response, settings.output)
    elif response.ok:
        checkpoints = response.verified_checkpoint_count
        click.echo(
            f"stream {stream}: {response.verified_count} records verified, "
            f"{checkpoints} signed checkpoint{'' if checkpoints == 1 else 's'}"
            + (
                f" (the last at record {response.last_verified_checkpoint})"
                if response.verified_checkpoint_count
                else ""
            )
        )
    else:
        reason = logging_service_pb2.ChainBreakReason.Name(response.reason)
        click.echo(
            f"stream {stream}: broken at record {response.first_broken_sequence_number}: "
            f"{reason.removeprefix('CHAIN_BREAK_REASON_')}: {response.detail} "
            f"({response.verified_count} records verified before it)"
        )
    return 0 if response.ok else 1
