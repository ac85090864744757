"""``mlspec import kfp | mlflow | openlineage``: bring another system's records into MLSpec.

Each command reads its source, talks to the metadata service through the SDK (the global
``--server`` and ``--workspace``, ``MLSPEC_TOKEN``) and prints what it created and what
was already there; a second run over the same source creates nothing.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from mlspec.cli.connection import open_client
from mlspec.cli.errors import CliError
from mlspec.cli.settings import Settings, pass_settings
from mlspec.client import Client
from mlspec.interop.external import ImportCounts

__all__ = ["kfp", "mlflow", "openlineage"]


def _client(settings: Settings) -> Client:
    return open_client(settings)


def _report(settings: Settings, title: str, counts: ImportCounts, notes: list[str]) -> None:
    """Prints the counts (a table, or JSON/YAML for -o json/yaml) and what was not mapped."""
    if settings.output != "table":
        import json

        import yaml

        data = {
            "source": title,
            "created": counts.created,
            "existing": counts.existing,
            "not_mapped": notes,
        }
        click.echo(
            json.dumps(data, indent=2) if settings.output == "json" else yaml.safe_dump(data)
        )
        return
    click.echo(title)
    table = Table()
    table.add_column("kind")
    table.add_column("created", justify="right")
    table.add_column("already there", justify="right")
    for kind, created, existing in counts.rows():
        table.add_row(kind, str(created), str(existing))
    Console(width=120).print(table)
    for note in notes:
        click.echo(f"not mapped: {note}")


@click.command("kfp")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def kfp(settings: Settings, file: Path) -> None:
    """Import a compiled Kubeflow Pipelines v2 pipeline (the IR YAML) as modules and a pipeline."""
    from mlspec.interop import kfp as kfp_import

    try:
        ir = kfp_import.load(file.read_text(encoding="utf-8"))
    except (kfp_import.KfpFormatError, UnicodeDecodeError) as exc:
        raise CliError(f"{file}: {exc}") from None
    with _client(settings) as client:
        try:
            result = kfp_import.import_pipeline(client, ir, str(file))
        except kfp_import.KfpFormatError as exc:
            raise CliError(f"{file}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:  # an IR that loads but is malformed
            raise CliError(
                f"{file}: not a valid KFP pipeline IR: {type(exc).__name__} {exc}"
            ) from None
    pipeline = result.pipeline
    _report(
        settings,
        f"{file}: pipeline {pipeline.meta.name} version {pipeline.version} ({pipeline.meta.id})",
        result.counts,
        result.plan.notes,
    )


@click.command("mlflow")
@click.option(
    "--tracking-uri",
    required=True,
    envvar="MLFLOW_TRACKING_URI",
    help="The MLflow store: sqlite:///mlflow.db, postgresql://..., a folder, or http(s)://host (MLFLOW_TRACKING_URI).",
)
@click.option(
    "--registry-uri",
    default=None,
    envvar="MLFLOW_REGISTRY_URI",
    help="The model registry, when it is not the tracking store (MLFLOW_REGISTRY_URI).",
)
@pass_settings
def mlflow(settings: Settings, tracking_uri: str, registry_uri: str | None) -> None:
    """Copy experiments, runs (params, metrics, tags, artifacts) and registered models from MLflow."""
    try:
        from mlspec.interop import mlflow as mlflow_import
    except ModuleNotFoundError as exc:  # pragma: no cover - the extra is part of dev
        raise CliError(
            "import mlflow needs the mlflow extra: pip install 'mlspec-contract[mlflow]'"
        ) from exc
    _check_store(tracking_uri)
    with _client(settings) as client:
        result = mlflow_import.import_store(client, tracking_uri, registry_uri)
    _report(
        settings,
        f"{tracking_uri}: {result.metric_points} metric points",
        result.counts,
        result.notes,
    )


def _check_store(uri: str) -> None:
    """A local store that does not exist is an error (MLflow would create an empty one)."""
    for prefix in ("sqlite:///", "file://"):
        if uri.startswith(prefix):
            path = Path(uri.removeprefix(prefix))
            if uri.startswith("sqlite:///") and not path.is_file():
                raise CliError(
                    f"no MLflow store at {path}; point --tracking-uri at an existing one"
                )
            if prefix == "file://" and not path.is_dir():
                raise CliError(
                    f"no MLflow store at {path}; point --tracking-uri at an existing one"
                )


@click.command("openlineage")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_settings
def openlineage(settings: Settings, file: Path) -> None:
    """Import OpenLineage RunEvents (JSON lines, a JSON array or one object): jobs, runs, datasets."""
    from mlspec.interop import openlineage as openlineage_import

    try:
        events = openlineage_import.parse(file.read_text(encoding="utf-8"))
    except (openlineage_import.EventFormatError, UnicodeDecodeError) as exc:
        raise CliError(f"{file}: {exc}") from None
    with _client(settings) as client:
        try:
            result = openlineage_import.import_events(client, events, str(file))
        except openlineage_import.EventFormatError as exc:
            raise CliError(f"{file}: {exc}") from None
    _report(settings, f"{file}: {result.events} events", result.counts, result.notes)
