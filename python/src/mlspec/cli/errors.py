"""How every failure of the ``mlspec`` command is told: one line, ``mlspec: <what to do>``.

``describe`` turns any exception into a ``Failure`` (the line and the exit code) through
one table, ``_TABLE``, checked in order. Entries name their exception class as
``"module:Class"`` and are only considered once that module is imported, so that the
table can speak of SQLAlchemy, gRPC or click errors without importing any of them.
Commands raise ``CliError`` for failures they detect themselves, and wrap errors of the
store in ``StoreFailure`` so that the line can say which store it was.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlspec.server.config import mask_url

__all__ = ["CliError", "Failure", "StoreFailure", "describe", "mask_url", "one_line"]

USAGE_EXIT = 2
INTERRUPTED_EXIT = 130


@dataclass(frozen=True)
class Failure:
    """What went wrong, as one line without the ``mlspec:`` prefix, and the exit code."""

    message: str
    exit_code: int = 1


class CliError(Exception):
    """A failure a command detected itself, already worded for the user."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        """Keeps the line to show and the exit code."""
        super().__init__(message)
        self.exit_code = exit_code


class StoreFailure(Exception):
    """Opening or using the store at ``url`` failed (the cause is ``__cause__``)."""

    def __init__(self, url: str) -> None:
        """Remembers which store it was."""
        super().__init__(url)
        self.url = url


def describe(exc: BaseException) -> Failure:
    """The ``Failure`` for ``exc``: the first table entry that claims it, else a bug."""
    for name, explain in _TABLE:
        cls = _resolve(name)
        if cls is not None and isinstance(exc, cls):
            failure = explain(exc)
            if failure is not None:
                return failure
    return Failure(
        f"unexpected error {type(exc).__name__}: {exc}; rerun with --debug for the traceback "
        "and report it"
    )


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined with "; ", blank ones dropped."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _resolve(name: str) -> type[BaseException] | None:
    module_name, _, class_name = name.partition(":")
    module = sys.modules.get(module_name)
    found = getattr(module, class_name, None) if module is not None else None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


# -- the entries -----------------------------------------------------------------------


def _cli_error(exc: Any) -> Failure:
    return Failure(str(exc), exc.exit_code)


def _usage(exc: Any) -> Failure:
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "mlspec"
    command = path.partition(" ")[2]  # the line starts "mlspec: " already
    text = exc.format_message().rstrip(".")
    where = f"{command}: " if command else ""
    return Failure(f"{where}{text} (see '{path} --help')", USAGE_EXIT)


def _click(exc: Any) -> Failure:
    return Failure(exc.format_message(), exc.exit_code)


def _store(exc: Any) -> Failure:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    inner = describe(cause)
    return Failure(f"store {mask_url(exc.url)}: {inner.message}", inner.exit_code)


def _bad_setting(exc: BaseException) -> Failure:
    """A store schema or server settings the operator must change: its own message."""
    return Failure(str(exc), USAGE_EXIT)


def _unreachable_store(exc: Any) -> Failure:
    first = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
    return Failure(
        f"cannot open it: {first}; check that the database is running and that --store-url "
        "(MLSPEC_STORE_URL) is right"
    )


def _database_error(exc: Any) -> Failure:
    first = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
    return Failure(f"the database refused: {first}")


def _unknown_dialect(exc: BaseException) -> Failure:
    return Failure(
        f"not a kind of database this server knows ({exc}); use sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST/DB"
    )


def _bad_url(exc: BaseException) -> Failure:
    return Failure(
        f"not a store URL ({exc}); use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    )


def _missing_module(exc: Any) -> Failure:
    return Failure(f"the Python module {exc.name!r} it needs is not installed")


def _bind(exc: BaseException) -> Failure | None:
    found = re.search(r"Failed to bind to address (\S+?);", str(exc))
    if found is None:
        return None
    address = found.group(1)
    return Failure(
        f"cannot listen on {address}: {_bind_reason(address)}; stop whatever uses it or "
        "choose another --port (MLSPEC_PORT) or --host (MLSPEC_HOST)"
    )


def _bind_reason(address: str) -> str:
    """Why ``address`` cannot be bound, asked of the operating system."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        family = socket.getaddrinfo(host, None)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, int(port)))
    except (OSError, ValueError) as err:
        return getattr(err, "strerror", None) or str(err)
    return "the address is not available"


def _rpc(exc: Any) -> Failure:
    code = exc.code()
    name = code.name if code is not None else "UNKNOWN"
    text = f"{name}: {exc.details() or 'no details'}"
    violations = _violations(exc)
    if violations:
        text += f" ({violations})"
    if name in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}:
        text += "; is the server running? point --server (MLSPEC_TARGET) at it"
    return Failure(text)


def _client_error(exc: Any) -> Failure:
    """A failed call of the SDK (``mlspec.client.MLSpecError``), worded as ``_rpc`` words it."""
    name = exc.code.name if exc.code is not None else "UNKNOWN"
    text = f"{name}: {exc.message or 'no details'}"
    violations = "; ".join(
        f"{v.field}: {v.description}"
        for detail in exc.details
        for v in getattr(detail, "field_violations", ())
        if v.field not in exc.message  # already said
    )
    if violations:
        text += f" ({violations})"
    if name in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}:
        text += "; is the server running? point --server (MLSPEC_TARGET) at it"
    return Failure(text)


def _mlflow(exc: BaseException) -> Failure:
    """MLflow refused (a tracking server not reachable, a store it cannot read)."""
    return Failure(f"MLflow: {' '.join(str(exc).split())[:300]}")


def _message(exc: BaseException) -> Failure:
    """An error whose text is already the line to show (references that name nothing)."""
    return Failure(str(exc))


def _bad_word(exc: BaseException) -> Failure:
    """A kind or reference on the command line that cannot be one: a usage error."""
    return Failure(str(exc), USAGE_EXIT)


def _violations(exc: Any) -> str:
    """The google.rpc BadRequest field violations of a call error, as "field: text; ..."."""
    from google.rpc import error_details_pb2, status_pb2

    metadata = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in metadata or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        found: list[str] = []
        for detail in status.details:
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(bad):
                found.extend(f"{v.field}: {v.description}" for v in bad.field_violations)
        return "; ".join(found)
    return ""


def _parse_error(exc: Any) -> Failure:
    return Failure(str(exc))


def _os_error(exc: Any) -> Failure:
    if exc.filename is not None:
        return Failure(f"{exc.filename}: {exc.strerror or exc}")
    return Failure(str(exc))


def _interrupted(_exc: BaseException) -> Failure:
    return Failure("interrupted", INTERRUPTED_EXIT)


_TABLE: list[tuple[str, Callable[[Any], Failure | None]]] = [
    ("mlspec.cli.errors:CliError", _cli_error),
    ("mlspec.cli.errors:StoreFailure", _store),
    ("click.exceptions:UsageError", _usage),
    ("click.exceptions:Abort", _interrupted),
    ("click.exceptions:ClickException", _click),
    ("mlspec.store.sql:SchemaOutOfDate", _bad_setting),
    ("mlspec.server.config:ConfigError", _bad_setting),
    ("mlspec.client.transport:TLSSettingsError", _bad_setting),
    ("mlflow.exceptions:MlflowException", _mlflow),
    ("sqlalchemy.exc:OperationalError", _unreachable_store),
    ("sqlalchemy.exc:DBAPIError", _database_error),
    ("sqlalchemy.exc:NoSuchModuleError", _unknown_dialect),
    ("sqlalchemy.exc:ArgumentError", _bad_url),
    ("grpc:RpcError", _rpc),
    ("mlspec.client.errors:MLSpecError", _client_error),
    ("mlspec.client.kinds:UnknownKind", _bad_word),
    ("mlspec.client.names:BadReference", _bad_word),
    ("mlspec.client.names:UnresolvedReference", _message),
    ("mlspec.cli.documents:DocumentError", _message),
    ("mlspec.yaml_format:ParseError", _parse_error),
    ("builtins:ModuleNotFoundError", _missing_module),
    ("builtins:RuntimeError", _bind),
    ("builtins:OSError", _os_error),
    ("builtins:KeyboardInterrupt", _interrupted),
]
