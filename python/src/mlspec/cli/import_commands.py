"""``mlspec import``: bring documents into a server; importers of other formats join it.

``mlspec import FILE...`` imports MLSpec documents (``mlspec.cli.document_import``): a
workflow metadata file recreates its run (a file without a ``# message:`` line is one:
``mlspec export`` writes JSON without it), resource documents are created unless they
exist, request documents are sent. ``import_group`` is a click group: other importers are
its subcommands (``import_group.add_command(kfp_command)`` makes ``mlspec import kfp
FILE``), and a first argument that names no subcommand is a FILE of the default import.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import click
import yaml
from rich.table import Table

from mlspec.cli.connection import open_client
from mlspec.cli.document_import import CREATED, EXISTS, SENT, Outcome, import_document
from mlspec.cli.documents import Document, DocumentError, document_files, read_documents
from mlspec.cli.file_check import HEADER
from mlspec.cli.output import chosen_output, output_option, print_tables
from mlspec.cli.progress import tracked
from mlspec.cli.settings import Settings, pass_settings
from mlspec.client.names import Resolver
from mlspec.metadata.v1 import workflow_metadata_pb2

__all__ = ["DEFAULT_COMMAND", "ImportGroup", "import_files", "import_group"]

DEFAULT_COMMAND = "files"
# The message of a file without a '# message:' line: what 'mlspec export' writes as JSON.
UNNAMED = workflow_metadata_pb2.WorkflowMetadata.DESCRIPTOR.full_name


class ImportGroup(click.Group):
    """A group whose first argument, when it names no subcommand, starts ``FILE...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Puts the default command before a first argument that is no subcommand."""
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """``FILE...`` or a subcommand."""
        formatter.write_usage(ctx.command_path, "FILE... | COMMAND [ARGS]...")


@click.group(
    "import",
    cls=ImportGroup,
    invoke_without_command=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def import_group() -> None:
    """Import MLSpec documents (FILE...), or another format (a COMMAND below).

    FILE... are YAML or JSON files whose '# message:' lines say what they hold: a
    workflow metadata file (mlspec.metadata.v1.WorkflowMetadata, also any file without a
    '# message:' line, such as the JSON of 'mlspec export') recreates the run it describes; resources (datastores, datasets, versions, experiments, runs, models, ...)
    are created unless they exist; requests (for example a SubmitPipelineDraftRequest)
    are sent. Documents name each other by name; importing twice adds nothing.
    Options of the document import come with the files: mlspec import -o json FILE...
    """


@import_group.command(DEFAULT_COMMAND, hidden=True)
@document_files
@output_option()
@pass_settings
def import_files(settings: Settings, files: tuple[pathlib.Path, ...], output: str | None) -> None:
    """Import the documents of FILE..., in order."""
    documents = [document for path in files for document in _read(path)]
    chosen = chosen_output(settings.output, output)
    outcomes: list[Outcome] = []
    try:
        with open_client(settings) as client:
            resolver = Resolver(client)
            for document in tracked(documents, "importing"):
                outcomes.extend(import_document(client, resolver, document))
    finally:
        _print(files, documents, outcomes, chosen)


def _read(path: pathlib.Path) -> list[Document]:
    """The documents of ``path``; one without a ``# message:`` line is workflow metadata."""
    try:
        return read_documents(path, default_type=UNNAMED)
    except DocumentError as exc:
        with open(path, encoding="utf-8", errors="replace") as file:
            named = HEADER.match(file.readline().rstrip("\n")) is not None
        if named:
            raise
        hint = "a file without a '# message:' first line is read as one"
        raise DocumentError(
            exc.path,
            exc.position,
            f"{exc.message} ({hint}; name the message of other documents there)",
        ) from None


def _print(
    files: tuple[pathlib.Path, ...],
    documents: list[Document],
    outcomes: list[Outcome],
    output: str,
) -> None:
    if output in ("json", "yaml"):
        records: list[dict[str, Any]] = [o.record() for o in outcomes]
        _echo_records(records, output)
        return
    if not outcomes:
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    sent = any(o.result == SENT for o in outcomes)
    for column in ("FILE", "DOCUMENTS", "CREATED", "EXISTING", *(["SENT"] if sent else [])):
        table.add_column(column, no_wrap=True)
    for path in dict.fromkeys(str(f) for f in files):
        done = [o for o in outcomes if o.document.path == path]
        if not done:
            continue
        counts = [sum(1 for o in done if o.result == r) for r in (CREATED, EXISTS, SENT)]
        table.add_row(
            path,
            str(sum(1 for d in documents if d.path == path)),
            *map(str, counts if sent else counts[:2]),
        )
    print_tables([table])


def _echo_records(records: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(records, indent=2))
    else:
        click.echo(yaml.safe_dump(records, sort_keys=False).rstrip("\n"))
