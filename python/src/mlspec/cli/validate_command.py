"""``mlspec validate FILE...``: check MLSpec YAML or JSON documents offline (or on a server).

Every problem is printed as ``FILE:LINE:COLUMN: message`` (``-o json`` or ``-o yaml``
print them as a list of records instead); the exit code is 1 if there is any. Folders
are searched for ``*.yaml``, ``*.yml`` and ``*.json`` files.
"""

from __future__ import annotations

import json
import pathlib

import click
import yaml

from mlspec.cli.connection import open_client
from mlspec.cli.file_check import FileReport, check_file, document_types
from mlspec.cli.progress import tracked
from mlspec.cli.settings import Settings, pass_settings

__all__ = ["validate"]

SUFFIXES = (".yaml", ".yml", ".json")


@click.command()
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=pathlib.Path),
    metavar="FILE...",
)
@click.option(
    "-m",
    "--message",
    "message_type",
    metavar="NAME",
    help="Message type of files without a '# message: NAME' first line.",
)
@click.option(
    "--remote",
    is_flag=True,
    help="Also have the server (--server) run every rule on each resource or stage "
    "report, storing nothing (validate_only).",
)
@pass_settings
def validate(
    settings: Settings, files: tuple[pathlib.Path, ...], message_type: str | None, remote: bool
) -> int:
    """Check YAML or JSON documents against the message type their first line names.

    The first line of each file is '# message: <full.Name>', for example
    '# message: mlspec.lifecycle.v1.StageReport'. Nothing is sent to a server unless
    --remote asks the server to check, without storing, each resource or stage report
    that passes the offline check.
    """
    paths = _expand(files)
    reports = [check_file(p, message_type) for p in tracked(paths, "validating")]
    if remote:
        reports = _remote(settings, reports, message_type)
    problems = [(r.path, p) for r in reports for p in r.problems]
    if settings.output in {"json", "yaml"}:
        records = [
            {
                "file": path,
                "line": problem.position.line,
                "column": problem.position.column,
                "message": problem.message,
            }
            for path, problem in problems
        ]
        text = (
            json.dumps(records, indent=2)
            if settings.output == "json"
            else yaml.safe_dump(records, sort_keys=False)
        )
        click.echo(text.rstrip("\n"))
    else:
        for path, problem in problems:
            where = f"{path}:{problem.position.line}:{problem.position.column}"
            click.echo(f"{where}: {problem.message}")
        click.echo(_summary(reports, len(problems)))
    return 1 if problems else 0


def _remote(
    settings: Settings, reports: list[FileReport], message_type: str | None
) -> list[FileReport]:
    """Adds the server's problems with the documents of each file that checked clean."""
    from mlspec.cli.remote_check import check_documents

    checked = []
    with open_client(settings) as client:
        for report in reports:
            if not report.problems:
                text = pathlib.Path(report.path).read_text(encoding="utf-8")
                types = document_types(text, message_type)
                report = FileReport(
                    report.path, report.documents, check_documents(client, text, types)
                )
            checked.append(report)
    return checked


def _expand(files: tuple[pathlib.Path, ...]) -> list[pathlib.Path]:
    paths: list[pathlib.Path] = []
    for item in files:
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in SUFFIXES))
        else:
            paths.append(item)
    return paths


def _summary(reports: list[FileReport], problems: int) -> str:
    documents = sum(r.documents for r in reports)
    files = f"{len(reports)} file{'s' if len(reports) != 1 else ''}"
    docs = f"{documents} document{'s' if documents != 1 else ''}"
    if not problems:
        return f"{files}, {docs}: no problems"
    bad = sum(1 for r in reports if r.problems)
    return f"{problems} problem{'s' if problems != 1 else ''} in {bad} of {files} ({docs})"
