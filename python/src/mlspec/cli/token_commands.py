"""``mlspec token create|list|revoke``: the bearer tokens of ``mlspec serve --auth token``.

The commands work on the store itself (``--store-url``, like ``mlspec db``), so the first
admin token can be made before anyone can call the service. A token's text is printed
once, by ``create``; the store keeps only a hash of its secret. A revoked token stops
working within a few seconds (servers remember a verified token briefly).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from mlspec.cli.errors import CliError
from mlspec.cli.serve_commands import (
    require_store_file,
    store_errors,
    store_tools,
    store_url_option,
)
from mlspec.cli.settings import Settings, pass_settings

__all__ = ["token"]

ROLES = ("reader", "writer", "admin")


@click.group()
def token() -> None:
    """Create, list and revoke the bearer tokens of the service."""


@contextmanager
def _store(url: str) -> Iterator[Any]:
    store_class, _ = store_tools()
    with store_errors(url):
        require_store_file(url)
        store = store_class(url)
        try:
            store.check_schema()
            yield store
        finally:
            store.dispose()


@token.command()
@click.option("--workspace", required=True, help="The workspace the token acts in.")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="writer",
    show_default=True,
    help="reader: read only; writer: read and write; admin: also the audit trail.",
)
@click.option("--name", default="", help="What the token is for, e.g. 'nightly-pipeline'.")
@store_url_option
def create(workspace: str, role: str, name: str, store_url: str) -> None:
    """Make a token and print it (it is shown only this once)."""
    from mlspec import errors
    from mlspec.domain.access.tokens import create_token

    with _store(store_url) as store:
        try:
            with store.transaction() as tx:
                issued = create_token(tx, workspace, role, name)
        except errors.InvalidArgument as exc:
            raise CliError(exc.message) from exc
    click.echo(issued.text)
    click.echo(
        f"token {issued.token_id} ({role} of workspace {workspace}); store it now: it is "
        "not shown again. Clients send it as MLSPEC_TOKEN.",
        err=True,
    )


@token.command("list")
@click.option("--workspace", default=None, help="Only the tokens of this workspace.")
@store_url_option
@pass_settings
def list_(settings: Settings, workspace: str | None, store_url: str) -> None:
    """List the tokens (never their secrets)."""
    with _store(store_url) as store, store.transaction(write=False) as tx:
        rows = tx.list_tokens(workspace)
    found = [
        {
            "id": r.token_id,
            "name": r.name,
            "workspace": r.workspace,
            "role": r.role,
            "created": _time(r.create_time),
            "revoked": _time(r.revoke_time) if r.revoke_time else "",
        }
        for r in rows
    ]
    if settings.output == "json":
        click.echo(json.dumps(found, indent=2))
    elif settings.output == "yaml":
        click.echo(yaml.safe_dump(found, sort_keys=False), nl=False)
    else:
        table = Table("ID", "NAME", "WORKSPACE", "ROLE", "CREATED", "REVOKED")
        for row in found:
            table.add_row(*row.values())
        Console().print(table)


@token.command()
@click.argument("token_id")
@store_url_option
def revoke(token_id: str, store_url: str) -> None:
    """Revoke a token by its id (the 16 hex characters after 'mlspec_')."""
    from mlspec.domain.clock import now_micros

    with _store(store_url) as store:
        with store.transaction() as tx:
            done = tx.revoke_token(token_id, now_micros())
        if not done:
            with store.transaction(write=False) as tx:
                known = tx.find_token(token_id) is not None
            raise CliError(
                f"token {token_id} is already revoked"
                if known
                else f"no token {token_id}; 'mlspec token list' shows them"
            )
    click.echo(f"revoked token {token_id}")


def _time(micros: int) -> str:
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
