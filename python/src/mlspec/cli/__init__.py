"""The ``mlspec`` command line: run the metadata service, manage its store, check documents.

    mlspec [-o table|json|yaml|dot] [--server HOST:PORT] [--workspace NAME] [--debug] COMMAND

Commands: ``serve``, ``db upgrade|current``, ``health``, ``validate FILE...``, ``get KIND
REF``, ``list KIND``, ``report FILE...``, ``lineage [KIND] REF``, ``export RUN``, ``import
FILE...`` (and the importers that join ``import``); ``mlspec COMMAND --help`` tells more. Every failure is one line on stderr, ``mlspec: ...``, and a
non-zero exit code (``--debug`` adds the traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" not in args:
        # gRPC's C core logs its own errors (such as a port that is taken) straight to
        # stderr; the CLI says them in its one line instead. Read when grpc is imported.
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    from mlspec.cli.root import cli

    return cli.main(args, prog_name="mlspec", standalone_mode=False)
