"""``mlspec export RUN [-f FILE]``: a run's workflow metadata file (SPEC.md section 8).

The file is ``mlspec.client.workflows.describe_run`` as YAML, with the ``# message:``
first line that ``mlspec validate`` and ``mlspec import`` read, or as pure JSON for ``-f
FILE.json`` or ``-o json`` (JSON has no comments; ``mlspec import`` reads a file without
a ``# message:`` line as workflow metadata, and ``mlspec validate --message
mlspec.metadata.v1.WorkflowMetadata`` checks it). ``mlspec import FILE`` on another server
(or in another workspace)
recreates the run's definition from it. A run without a stored file gives what it
records itself; when that leaves required fields empty, a warning names them, and the
file needs them filled in before it imports.
"""

from __future__ import annotations

import json
import pathlib

import click
import yaml
from google.protobuf import json_format

from mlspec import yaml_format
from mlspec.cli.connection import open_client
from mlspec.cli.output import chosen_output, output_option
from mlspec.cli.settings import Settings, pass_settings
from mlspec.client.names import Resolver
from mlspec.client.workflows import describe_run
from mlspec.metadata.v1 import metadata_service_pb2, workflow_metadata_pb2
from mlspec.tracking.v1 import run_pb2

__all__ = ["export", "file_text"]

HEADER = f"# message: {workflow_metadata_pb2.WorkflowMetadata.DESCRIPTOR.full_name}\n"
ERROR = metadata_service_pb2.VIOLATION_SEVERITY_ERROR


@click.command()
@click.argument("run", metavar="RUN")
@click.option(
    "-f",
    "--file",
    "target",
    type=click.Path(dir_okay=False, writable=True, path_type=pathlib.Path),
    default=None,
    help="Write the file there (YAML; pure JSON for a .json name) instead of printing it.",
)
@output_option()
@pass_settings
def export(settings: Settings, run: str, target: pathlib.Path | None, output: str | None) -> None:
    """Export the workflow metadata file of RUN (id, NAME or EXPERIMENT/NAME).

    Import it elsewhere with 'mlspec import FILE' to recreate the run's definition.
    """
    chosen = chosen_output(settings.output, output)
    with open_client(settings) as client:
        found = Resolver(client).get("run", run)
        assert isinstance(found, run_pb2.Run)
        metadata = describe_run(client, found)
        checked = client.metadata.ValidateWorkflowMetadata(
            metadata_service_pb2.ValidateWorkflowMetadataRequest(workflow_metadata=metadata)
        )
    missing = [
        v.field.removeprefix("workflow_metadata.")
        for v in checked.violations
        if v.severity == ERROR
    ]
    if missing:
        click.echo(
            f"warning: run {found.meta.name} does not record {', '.join(missing)}; fill "
            "them in before importing the file",
            err=True,
        )
    if target is None:
        click.echo(file_text(metadata, as_json=chosen == "json"), nl=False)
        return
    target.write_text(file_text(metadata, as_json=target.suffix.lower() == ".json"), "utf-8")
    record = {"file": str(target), "run": found.meta.name, "run_id": found.meta.id}
    if chosen == "json":
        click.echo(json.dumps(record, indent=2))
    elif chosen == "yaml":
        click.echo(yaml.safe_dump(record, sort_keys=False), nl=False)
    else:
        click.echo(
            f"wrote {target}: the workflow metadata of run {found.meta.name} ({found.meta.id})"
        )


def file_text(metadata: workflow_metadata_pb2.WorkflowMetadata, *, as_json: bool) -> str:
    """The file: pure JSON, or YAML after the ``# message:`` line."""
    if as_json:
        body = json.dumps(
            json_format.MessageToDict(metadata, preserving_proto_field_name=True), indent=2
        )
        return f"{body}\n"
    return HEADER + yaml_format.dump(metadata)
