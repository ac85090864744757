"""``mlspec sign`` and ``mlspec verify``: OpenSSF model signing of a model folder.

``sign`` writes the bundle (``<model>.sig`` beside the model unless ``--signature``) and
prints the key id and the model's digest; with ``--output json|yaml`` it prints the
``SignedEnvelope`` to put in the packaging report's ``model_packaging.signed_manifest``.
``verify`` checks the folder against the bundle and the public key: exit 0 when it
matches; when it does not, one line naming every file changed, added and missing since
signing (or another key), and exit 1.
"""

from __future__ import annotations

import pathlib

import click

from mlspec.cli.errors import USAGE_EXIT, CliError
from mlspec.cli.output import render
from mlspec.cli.settings import Settings, pass_settings

__all__ = ["sign", "verify"]

_MODEL = click.Path(exists=True, path_type=pathlib.Path)
_KEY = click.Path(exists=True, dir_okay=False, path_type=pathlib.Path)


@click.command()
@click.argument("model", type=_MODEL)
@click.option("--key", "key", type=_KEY, required=True, help="PEM elliptic-curve private key.")
@click.option(
    "--signature",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="Where to write the bundle (default: <model>.sig beside it).",
)
@pass_settings
def sign(
    settings: Settings, model: pathlib.Path, key: pathlib.Path, signature: pathlib.Path | None
) -> None:
    """Sign a model folder (or file) with a private key."""
    from mlspec.client.signing import sign_model
    from mlspec.signing import SignatureProblem

    try:
        signed = sign_model(model, key, signature)
    except SignatureProblem as exc:  # --key is not a private key it can sign with
        raise CliError(f"--key {key}: {exc}", USAGE_EXIT) from exc
    if settings.output == "table":
        click.echo(
            f"signed {model}: key {signed.key_id}, sha256 {signed.digest}, bundle "
            f"{signed.bundle_path}"
        )
    else:
        render(signed.envelope, settings.output)


@click.command()
@click.argument("model", type=_MODEL)
@click.option("--key", "key", type=_KEY, required=True, help="PEM public key of the signer.")
@click.option(
    "--signature",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="The bundle to check (default: <model>.sig beside it).",
)
def verify(model: pathlib.Path, key: pathlib.Path, signature: pathlib.Path | None) -> None:
    """Check a model folder against its signature and the signer's public key."""
    from mlspec.client.signing import ModelNotVerified, verify_model
    from mlspec.signing import SignatureProblem

    try:
        signer = verify_model(model, key, signature)
    except SignatureProblem as exc:  # --key is not a public key it can verify with
        raise CliError(f"--key {key}: {exc}", USAGE_EXIT) from exc
    except ModelNotVerified as exc:
        raise CliError(f"{model} does not verify: {exc}", exit_code=1) from exc
    click.echo(f"verified {model}: signed by {signer}")
