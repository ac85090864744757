"""The ``mlspec`` group: global options, the commands, and the one place errors end.

``MlspecGroup.main`` runs every command; whatever escapes one (a usage error, a store that
cannot be opened, a failed call) is described by ``errors.describe`` and printed as one
line on stderr, ``mlspec: ...``, with a non-zero exit code. ``--debug`` adds the
traceback before that line.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from mlspec.cli import (
    errors,
    export_command,
    get_command,
    health_command,
    import_commands,
    interop_commands,
    lineage_command,
    list_command,
    log_commands,
    objective_commands,
    provenance_commands,
    report_command,
    serve_commands,
    signing_commands,
    token_commands,
    validate_command,
)
from mlspec.cli.output import ALL_OUTPUTS, check_output
from mlspec.cli.settings import DEFAULT_TARGET, DEFAULT_WORKSPACE, Settings

__all__ = ["DISTRIBUTION", "MlspecGroup", "cli"]

# click 8.2 raises this for a group called without a command (older ones print help).
_NO_ARGS_IS_HELP: tuple[type[click.UsageError], ...] = tuple(
    getattr(click.exceptions, name)
    for name in ["NoArgsIsHelpError"]
    if hasattr(click.exceptions, name)
)


class MlspecGroup(click.Group):
    """A click group that turns every failure into one ``mlspec: ...`` line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        """Runs the command; with ``--debug`` prints the traceback of what escapes it."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception:
            if ctx.params.get("debug"):
                traceback.print_exc()
            raise

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        """Runs the command line and returns (or, standalone, exits with) its exit code."""
        try:
            result = super().main(
                args, prog_name or "mlspec", complete_var, standalone_mode=False, **extra
            )
            code = result if isinstance(result, int) else 0
        except _NO_ARGS_IS_HELP as exc:  # `mlspec` or `mlspec db` alone: help, not an error
            assert exc.ctx is not None
            click.echo(exc.ctx.get_help())
            code = 0
        except (Exception, KeyboardInterrupt) as exc:
            failure = errors.describe(exc)
            click.echo(f"mlspec: {errors.one_line(failure.message)}", err=True)
            code = failure.exit_code
        if standalone_mode:
            sys.exit(code)
        return code


# The distribution that installs the ``mlspec`` package and command (python/pyproject.toml).
DISTRIBUTION = "mlspec-contract"


@click.group(cls=MlspecGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-o",
    "--output",
    type=click.Choice(ALL_OUTPUTS, case_sensitive=False),
    default="table",
    show_default=True,
    help="How to print results (dot: for lineage only).",
)
@click.option(
    "--server",
    "target",
    envvar="MLSPEC_TARGET",
    default=DEFAULT_TARGET,
    show_default=True,
    metavar="HOST:PORT",
    help="The metadata service to call (MLSPEC_TARGET).",
)
@click.option(
    "--workspace",
    envvar="MLSPEC_WORKSPACE",
    default=None,
    help="The workspace calls act in (MLSPEC_WORKSPACE); when unset, the token's "
    f"workspace, or {DEFAULT_WORKSPACE!r} on a server without authentication.",
)
@click.option("--debug", is_flag=True, help="Print tracebacks of errors.")
@click.version_option(
    None,
    "--version",
    package_name=DISTRIBUTION,  # read when asked, from the installed distribution's metadata
    prog_name="mlspec",
    message="%(prog)s %(version)s",
)
@click.pass_context
def cli(ctx: click.Context, output: str, target: str, workspace: str | None, debug: bool) -> None:
    """MLSpec: the metadata service, its store, and checks of MLSpec documents."""
    check_output(output.lower(), ctx.invoked_subcommand)
    ctx.obj = Settings(output=output.lower(), target=target, workspace=workspace, debug=debug)


cli.add_command(serve_commands.serve)
cli.add_command(serve_commands.db)
cli.add_command(health_command.health)
cli.add_command(validate_command.validate)
cli.add_command(token_commands.token)
cli.add_command(signing_commands.sign)
cli.add_command(signing_commands.verify)
cli.add_command(objective_commands.objectives)
cli.add_command(objective_commands.gate)
cli.add_command(provenance_commands.provenance)
cli.add_command(get_command.get)
cli.add_command(list_command.list_resources)
cli.add_command(report_command.report)
cli.add_command(lineage_command.lineage)
cli.add_command(import_commands.import_group)
# `mlspec import kfp|mlflow|openlineage ...` beside `mlspec import FILE...`.
import_commands.import_group.add_command(interop_commands.kfp)
import_commands.import_group.add_command(interop_commands.mlflow)
import_commands.import_group.add_command(interop_commands.openlineage)
cli.add_command(export_command.export)
cli.add_command(log_commands.logs)
