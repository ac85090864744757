"""Session-wide test fixtures: the PostgreSQL test server and the --server option."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the contract tests run where the server's dependencies are absent
    from tests.pg_server import PgServer


def pytest_addoption(parser: pytest.Parser) -> None:
    """Registers ``--server HOST:PORT`` (tests/conformance against a running server)."""
    parser.addoption(
        "--server",
        action="store",
        default=None,
        metavar="HOST:PORT",
        help="run tests/conformance against this running MLSpec server instead of local ones",
    )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session, stopped at its end (also on failure)."""
    from tests.pg_server import PgServer, PgServerError

    try:
        server = PgServer().start()
    except PgServerError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # fail (never skip): CI must prove the PostgreSQL backend
        pytest.fail(f"cannot start the PostgreSQL test server: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
