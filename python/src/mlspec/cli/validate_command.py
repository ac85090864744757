"""``mlspec validate FILE...``: check MLSpec YAML or JSON documents offline.

Every problem is printed as ``FILE:LINE:COLUMN: message`` (``-o json`` or ``-o yaml``
print them as a list of records instead); the exit code is 1 if there is any. Folders
are searched for ``*.yaml``, ``*.yml`` and ``*.json`` files.
"""

from __future__ import annotations

import json
import pathlib

import click
import yaml

from mlspec.cli.file_check import FileReport, check_file
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
@pass_settings
def validate(settings: Settings, files: tuple[pathlib.Path, ...], message_type: str | None) -> int:
    """Check YAML or JSON documents against the message type their first line names.

    The first line of each file is '# message: <full.Name>', for example
    '# message: mlspec.lifecycle.v1.StageReport'. Nothing is sent to a server.
    """
    paths = _expand(files)
    reports = [check_file(p, message_type) for p in tracked(paths, "validating")]
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
