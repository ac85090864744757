"""The ``mlspec`` command: run the metadata service and manage its store.

    mlspec serve [--host H] [--port P] [--store-url URL] [--log-level LEVEL]
    mlspec db upgrade [--store-url URL]
    mlspec db current [--store-url URL]

Every flag has an environment variable: MLSPEC_HOST, MLSPEC_PORT, MLSPEC_STORE_URL,
MLSPEC_LOG_LEVEL. The default store is an SQLite file at
~/.local/share/mlspec/mlspec.db.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mlspec.server.config import ServerConfig


def _parser() -> argparse.ArgumentParser:
    defaults = ServerConfig.from_env()
    parser = argparse.ArgumentParser(prog="mlspec", description="MLSpec reference metadata service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC metadata service")
    serve.add_argument("--host", default=defaults.host, help="address to listen on (MLSPEC_HOST)")
    serve.add_argument(
        "--port", type=int, default=defaults.port, help="port, 0 for any (MLSPEC_PORT)"
    )
    serve.add_argument(
        "--store-url",
        default=defaults.store_url,
        help="SQLAlchemy URL of the store (MLSPEC_STORE_URL)",
    )
    serve.add_argument(
        "--log-level",
        default=defaults.log_level,
        help="DEBUG, INFO, WARNING, ... (MLSPEC_LOG_LEVEL)",
    )

    db = commands.add_parser("db", help="manage the store schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    for name, text in (
        ("upgrade", "migrate the schema to the newest revision"),
        ("current", "print the schema revision"),
    ):
        sub = db_commands.add_parser(name, help=text)
        sub.add_argument(
            "--store-url",
            default=defaults.store_url,
            help="SQLAlchemy URL of the store (MLSPEC_STORE_URL)",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return _db(args)


def _serve(args: argparse.Namespace) -> int:
    from mlspec.server.app import serve
    from mlspec.store.sql import SchemaOutOfDate

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ServerConfig(
        host=args.host, port=args.port, store_url=args.store_url, log_level=args.log_level
    )
    try:
        serve(config)
    except SchemaOutOfDate as exc:
        print(f"mlspec: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mlspec: {exc}", file=sys.stderr)
        return 1
    return 0


def _db(args: argparse.Namespace) -> int:
    from mlspec.server.app import ensure_sqlite_folder
    from mlspec.store.sql import SqlStore

    ensure_sqlite_folder(args.store_url)
    store = SqlStore(args.store_url)
    try:
        if args.db_command == "upgrade":
            store.upgrade()
        current, head = store.schema_revisions()
        print(f"store {args.store_url}: schema revision {current or 'none'} (newest: {head})")
    finally:
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
