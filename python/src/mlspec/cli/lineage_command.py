"""``mlspec lineage [KIND] REF``: what a resource came from, or what was made from it.

The tree is ``LineageGraph.tree()`` of the SDK (``mlspec.client.lineage``); ``-o dot``
prints Graphviz DOT (``mlspec lineage ... -o dot | dot -Tsvg > lineage.svg``), ``-o json``
and ``-o yaml`` the ``mlspec.lifecycle.v1.LineageGraph`` the server returned. Without
KIND, REF must be an id; its kind is looked up.
"""

from __future__ import annotations

import click

from mlspec.cli.connection import open_client
from mlspec.cli.errors import USAGE_EXIT, CliError
from mlspec.cli.model_versions import MODEL_VERSION, canonical
from mlspec.cli.output import DOT, chosen_output, output_option, render
from mlspec.cli.settings import Settings, pass_settings
from mlspec.client import Client, LineageGraph, NotFound
from mlspec.client.kinds import KINDS, Kind, kind_names, parse_kind
from mlspec.client.names import Resolver, is_id
from mlspec.common.v1 import reference_pb2, resource_service_pb2

__all__ = ["lineage"]

DIRECTIONS = {"up": "upstream", "down": "downstream", "both": "both"}
MAX_DEPTH = 100
# The kinds an id most often belongs to, asked first when the kind is not given.
_LIKELY = ("model-version", "dataset-version", "artifact", "stage-report", "run")


@click.command(epilog=f"Kinds: {', '.join(kind_names())}.")
@click.argument("words", nargs=-1, required=True, metavar="[KIND] REF")
@click.option(
    "-d",
    "--direction",
    type=click.Choice([*DIRECTIONS, *DIRECTIONS.values()], case_sensitive=False),
    default="up",
    show_default=True,
    help="up: what it came from; down: what was made from it; both.",
)
@click.option(
    "--depth",
    type=click.IntRange(1, MAX_DEPTH),
    default=20,
    show_default=True,
    help="How many edges to follow.",
)
@output_option(dot=True)
@pass_settings
def lineage(
    settings: Settings, words: tuple[str, ...], direction: str, depth: int, output: str | None
) -> None:
    """Print the lineage of a resource as a tree (or DOT, JSON, YAML).

    Examples: 'mlspec lineage model-version churn-xgb@7.0.0',
    'mlspec lineage dataset-version customer-snapshot@1 --direction down -o dot'.
    """
    if len(words) > 2:
        raise CliError("lineage takes [KIND] REF: at most two words", USAGE_EXIT)
    chosen = chosen_output(settings.output, output)
    with open_client(settings) as client:
        start = _start(client, words)
        graph = client.lineage(
            start, direction=DIRECTIONS.get(direction.lower(), direction.lower()), depth=depth
        )
    if chosen == "table":
        # Edges in a stable order (the server's is its storage's): by kind, role, label.
        graph.edges.sort(key=lambda e: (e.kind, e.role, _label(graph, e.source), e.source))
        click.echo(graph.tree())
        if graph.truncated:
            click.echo(f"(cut at depth {depth}: --depth N goes further)", err=True)
    elif chosen == DOT:
        click.echo(graph.to_dot(), nl=False)
    else:
        render(graph.message, chosen)


def _label(graph: LineageGraph, node_id: str) -> str:
    node = graph.by_id.get(node_id)
    return node.label if node is not None else ""


def _start(client: Client, words: tuple[str, ...]) -> reference_pb2.ResourceRef:
    resolver = Resolver(client)
    if len(words) == 2:
        kind = parse_kind(words[0])
        ref = canonical(words[1]) if kind.name == MODEL_VERSION else words[1]
        return reference_pb2.ResourceRef(
            kind=kind.number,  # type: ignore[arg-type]
            id=resolver.resolve_id(kind, ref),
        )
    ref = words[0]
    if not is_id(ref):
        raise CliError(
            f"{ref!r} is not an id: give the kind too, for example 'mlspec lineage "
            f"model-version {ref}'",
            USAGE_EXIT,
        )
    return reference_pb2.ResourceRef(kind=_kind_of_id(client, ref).number, id=ref)  # type: ignore[arg-type]


def _kind_of_id(client: Client, resource_id: str) -> Kind:
    """The kind of the resource with this id (NOT_FOUND when there is none)."""
    order = sorted(
        KINDS,
        key=lambda k: (k.name not in _LIKELY, _LIKELY.index(k.name) if k.name in _LIKELY else 0),
    )
    for kind in order:
        try:
            client.resources.ResolveResource(
                resource_service_pb2.ResolveResourceRequest(
                    resource=reference_pb2.ResourceRef(kind=kind.number, id=resource_id)  # type: ignore[arg-type]
                )
            )
        except NotFound:
            continue
        return kind
    raise NotFound(f"no resource has the id {resource_id!r}")
