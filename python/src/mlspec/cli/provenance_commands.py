"""``mlspec provenance ID|NAME@VERSION`` and ``mlspec provenance verify FILE``.

The first asks the service (``LifecycleService.ExportProvenance``) for the signed in-toto
attestation of a model version's upstream lineage and writes it in the DSSE JSON form
(to ``--file``, or standard output). The second checks such a file offline with the
service's public key (``mlspec.signing.provenance``): exit 0 and one line when every
record matches; otherwise one line per problem, each naming the record, and exit 1.
A model version is named by its id, or as ``NAME@VERSION`` (``churn-model@1.4.0``; ``NAME:VERSION``
works too: ``model_versions``).
"""

from __future__ import annotations

import pathlib

import click

from mlspec.cli.connection import open_client
from mlspec.cli.errors import CliError
from mlspec.cli.model_versions import METAVAR, model_version_ref
from mlspec.cli.settings import Settings, pass_settings

__all__ = ["provenance"]

_KEY = click.Path(exists=True, dir_okay=False, path_type=pathlib.Path)


class _ExportByDefault(click.Group):
    """A group whose first argument, when it is no subcommand, is a model version."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """``verify`` is a subcommand; anything else is exported."""
        if args and args[0] not in self.commands:
            return "export", self.commands["export"], args
        return super().resolve_command(ctx, args)


@click.group(cls=_ExportByDefault)
def provenance() -> None:
    """Export a model version's provenance (ID|NAME@VERSION), or verify an export (verify FILE)."""


@provenance.command(name="export", hidden=True)
@click.argument("model_version", metavar=METAVAR)
@click.option(
    "--file",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=pathlib.Path),
    default=None,
    help="Where to write the attestation (default: standard output).",
)
@pass_settings
def export(settings: Settings, model_version: str, out: pathlib.Path | None) -> None:
    """Write the signed attestation of a model version (its id, or NAME@VERSION)."""
    from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
    from mlspec.signing.provenance import envelope_to_json

    request = lc.ExportProvenanceRequest(model_version=model_version_ref(model_version))
    with open_client(settings) as client:
        response = client.lifecycle.ExportProvenance(request)
    text = envelope_to_json(response.attestation)
    for warning in response.warnings:
        click.echo(f"warning: {warning.message}", err=True)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote the provenance of {model_version} to {out}", err=True)


@provenance.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option(
    "--key",
    "keys",
    type=_KEY,
    multiple=True,
    required=True,
    help="The service's PEM public key (its --signing-key's public half); repeatable.",
)
def verify(file: pathlib.Path, keys: tuple[pathlib.Path, ...]) -> int:
    """Check an exported attestation offline: signature, every record, every digest."""
    from mlspec.signing import SignatureProblem, key_id, load_public_key
    from mlspec.signing.provenance import envelope_from_json, verify_attestation

    trusted = {}
    for path in keys:
        try:
            key = load_public_key(path.read_bytes())
        except SignatureProblem as exc:
            raise CliError(f"{path}: {exc}") from exc
        trusted[key_id(key)] = key
    try:
        envelope = envelope_from_json(file.read_bytes())
    except ValueError as exc:
        raise CliError(f"{file}: {exc}") from exc
    result = verify_attestation(envelope, trusted)
    if result.ok:
        click.echo(
            f"verified {file}: {result.subject} sha256:{result.sha256}, {result.records} "
            f"records ({result.reports} stage reports), signed by {result.key_id}"
        )
        return 0
    for problem in result.problems:
        click.echo(f"{file}: {problem}")
    click.echo(
        f"{file} does not verify: {len(result.problems)} problem"
        f"{'' if len(result.problems) == 1 else 's'}",
        err=True,
    )
    return 1
