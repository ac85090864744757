"""``mlspec list KIND [PARENT]``: resources of a kind, a page or all of them.

PARENT narrows the list to the children of one resource, and is required where the
contract requires it: the dataset of dataset versions, the model of model versions, the
module of module versions, the dataset version of profiles and checkpoints, the pipeline
run of step runs; it narrows runs to an experiment and artifacts and stage reports to a
run. ``--filter`` and ``--order-by`` are passed to the server as they are (AIP-160
filters over the resource's fields, for example ``meta.labels.team = "risk"``).
"""

from __future__ import annotations

from collections.abc import Iterator

import click
from google.protobuf.message import Message

from mlspec.cli.connection import open_client
from mlspec.cli.errors import USAGE_EXIT, CliError
from mlspec.cli.output import chosen_output, output_option, render
from mlspec.cli.progress import counting
from mlspec.cli.settings import Settings, pass_settings
from mlspec.client import Client
from mlspec.client.kinds import Kind, by_number, kind_names, parse_kind
from mlspec.client.names import Resolver

__all__ = ["list_resources"]

MAX_PAGE_SIZE = 1000


@click.command("list", epilog=f"Kinds: {', '.join(kind_names())}.")
@click.argument("kind", metavar="KIND")
@click.argument("parent", metavar="[PARENT]", required=False)
@click.option("--filter", "filter_", metavar="EXPR", default="", help="AIP-160 filter.")
@click.option(
    "--order-by", metavar="FIELDS", default="", help="For example 'meta.create_time desc'."
)
@click.option(
    "--page-size",
    type=click.IntRange(1, MAX_PAGE_SIZE),
    default=None,
    help="Results per page (server default 50).",
)
@click.option("--page-token", metavar="TOKEN", default="", help="Continue where a page ended.")
@click.option("--all", "all_pages", is_flag=True, help="Every page, not only the first.")
@click.option("--deprecated", is_flag=True, help="Include deprecated resources.")
@click.option("--archived", is_flag=True, help="Include archived resources.")
@output_option()
@pass_settings
def list_resources(
    settings: Settings,
    kind: str,
    parent: str | None,
    filter_: str,
    order_by: str,
    page_size: int | None,
    page_token: str,
    all_pages: bool,
    deprecated: bool,
    archived: bool,
    output: str | None,
) -> None:
    """List resources of KIND (of one PARENT, for kinds that have one).

    Examples: 'mlspec list datasets', 'mlspec list dataset-versions churn',
    'mlspec list runs churn --filter "state = RUN_STATE_RUNNING" --all'.
    """
    target = parse_kind(kind)
    request = target.list_request()
    for name, value in (
        ("filter", filter_),
        ("order_by", order_by),
        ("page_token", page_token),
        ("show_deprecated", deprecated),
        ("show_archived", archived),
    ):
        if value:
            setattr(request, name, value)
    if page_size:
        request.page_size = page_size  # type: ignore[attr-defined]
    with open_client(settings) as client:
        if parent is not None:
            _narrow(client, target, request, parent)
        else:
            _check_parent_not_needed(target)
        items, next_token = _collect(client, target, request, all_pages)
    chosen = chosen_output(settings.output, output)
    if items or chosen != "table":
        render(items, chosen)
    else:
        click.echo(f"(no {target.plural})", err=True)
    if next_token:
        click.echo(f"(more: --all, or --page-token {next_token})", err=True)


def _narrow(client: Client, kind: Kind, request: Message, parent: str) -> None:
    field = kind.main_list_parent
    if field is None:
        raise CliError(
            f"a {kind.name} list has no parent; narrow it with --filter instead", USAGE_EXIT
        )
    parent_id = Resolver(client).resolve_id(field.kind, parent)
    if field.repeated:
        getattr(request, field.field).append(parent_id)
    else:
        setattr(request, field.field, parent_id)


def _check_parent_not_needed(kind: Kind) -> None:
    field = kind.main_list_parent
    if field is not None and field.required:
        parent = by_number(field.kind).name
        raise CliError(
            f"list {kind.plural} needs the {parent} they belong to: "
            f"mlspec list {kind.name} {parent.upper().replace('-', '_')}",
            USAGE_EXIT,
        )


def _collect(
    client: Client, kind: Kind, request: Message, all_pages: bool
) -> tuple[list[Message], str]:
    """The resources of one page (or of every page) and the token of the next page."""
    items: list[Message] = []
    if not all_pages:
        response = _call(client, kind, request)
        items.extend(getattr(response, kind.list_field))
        return items, str(getattr(response, "next_page_token"))  # noqa: B009
    with counting(f"listing {kind.plural}") as advance:
        for page in _pages(client, kind, request):
            items.extend(page)
            advance(len(page))
    return items, ""


def _pages(client: Client, kind: Kind, request: Message) -> Iterator[list[Message]]:
    while True:
        response = _call(client, kind, request)
        yield list(getattr(response, kind.list_field))
        token = str(getattr(response, "next_page_token"))  # noqa: B009
        if not token:
            return
        request.page_token = token  # type: ignore[attr-defined]


def _call(client: Client, kind: Kind, request: Message) -> Message:
    stub = getattr(client, kind.service)
    response: Message = getattr(stub, kind.list.name)(request)
    return response
