"""The global options of ``mlspec``, as every command receives them."""

from __future__ import annotations

from dataclasses import dataclass

import click

__all__ = ["DEFAULT_TARGET", "DEFAULT_WORKSPACE", "Settings", "pass_settings"]

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True)
class Settings:
    """How to print results, which server and workspace to call, whether to debug."""

    output: str = "table"
    target: str = DEFAULT_TARGET
    # None: no workspace header (the token's workspace, or the server's default one).
    workspace: str | None = None
    debug: bool = False


pass_settings = click.make_pass_decorator(Settings, ensure=True)
