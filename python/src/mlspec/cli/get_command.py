"""``mlspec get KIND REF``: one resource, by id or by name.

KIND is any resource kind of the contract as ``mlspec list``'s ``--help`` spells it
(``dataset``, ``dataset-version``, ``model-version``, ``stage-report``, ``run``, ...); REF
is an id, a NAME, a PARENT/NAME (a run within its experiment: ``churn/train-7``) or a
NAME@VERSION (``churn-xgb@7.0.0``; a model version also as NAME:VERSION). The table shows
every field that is set.
"""

from __future__ import annotations

import click

from mlspec.cli.connection import open_client
from mlspec.cli.model_versions import MODEL_VERSION, canonical
from mlspec.cli.output import chosen_output, detail_table, output_option, print_tables, render
from mlspec.cli.settings import Settings, pass_settings
from mlspec.client.kinds import kind_names, parse_kind
from mlspec.client.names import Resolver

__all__ = ["get"]


@click.command(epilog=f"Kinds: {', '.join(kind_names())}.")
@click.argument("kind", metavar="KIND")
@click.argument("ref", metavar="REF")
@output_option()
@pass_settings
def get(settings: Settings, kind: str, ref: str, output: str | None) -> None:
    """Print one resource: KIND is its kind, REF its id, NAME, PARENT/NAME or NAME@VERSION.

    Examples: 'mlspec get dataset churn', 'mlspec get run churn/train-7',
    'mlspec get model-version churn-xgb@7.0.0', 'mlspec get stage-report ID'.
    """
    target = parse_kind(kind)
    if target.name == MODEL_VERSION:
        ref = canonical(ref)  # NAME:VERSION as NAME@VERSION
    with open_client(settings) as client:
        found = Resolver(client).get(target, ref)
    chosen = chosen_output(settings.output, output)
    if chosen == "table":
        print_tables([detail_table(found)])
    else:
        render(found, chosen)
