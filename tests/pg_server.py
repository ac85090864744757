"""A throwaway PostgreSQL server for tests and benchmarks.

``PgServer`` runs ``initdb`` into a fresh temporary directory, starts the server with
``pg_ctl`` on a free loopback port (trust authentication, no TCP outside 127.0.0.1) and
stops it and deletes the directory again. When the process runs as root the PostgreSQL
tools run as the ``postgres`` user (``initdb`` refuses root), through ``runuser``.

Usage::

    with PgServer() as server:
        url = server.create_database("t1")  # postgresql+psycopg://postgres@127.0.0.1:PORT/t1
        server.reset_database("t1")  # empty again, for the next test

A missing PostgreSQL installation raises ``PgServerError`` with what to install: suites
that must prove the PostgreSQL backend fail instead of silently skipping.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from types import FrameType, TracebackType

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
# Durability is pointless for a server that lives as long as one test session.
_FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PgServerError(RuntimeError):
    """The test server could not be found, initialized or started."""


_live: set[PgServer] = set()


def _stop_live_servers_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (``timeout``, CI cancellation) skips atexit: stop our servers, then die."""
    for server in list(_live):
        server.stop()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _watch_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _stop_live_servers_on_sigterm)


def find_pg_bin() -> pathlib.Path:
    """Returns the directory holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's)."""
    on_path = shutil.which("initdb")
    if on_path is not None and shutil.which("pg_ctl") is not None:
        return pathlib.Path(os.path.realpath(on_path)).parent
    candidates = sorted(
        pathlib.Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    raise PgServerError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under "
        "/usr/lib/postgresql/*/bin; install PostgreSQL 15 (Debian: apt-get install "
        "postgresql-15) so the PostgreSQL storage suite can run"
    )


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster in a temporary directory, started and stopped by its owner."""

    def __init__(self, *, bin_dir: pathlib.Path | None = None) -> None:
        """Prepares (but does not start) a server; ``start()`` or ``with`` starts it."""
        self.bin_dir = bin_dir or find_pg_bin()
        missing = [t for t in ("initdb", "pg_ctl") if not (self.bin_dir / t).is_file()]
        if missing:
            raise PgServerError(f"{', '.join(missing)} not found in {self.bin_dir}")
        self.run_as = SUPERUSER if os.geteuid() == 0 else None
        if self.run_as is not None:
            # initdb refuses root; the cluster belongs to the postgres account instead.
            if shutil.which("runuser") is None:
                raise PgServerError(
                    "running as root needs runuser (util-linux) to drop to postgres"
                )
            try:
                pwd.getpwnam(self.run_as)
            except KeyError as exc:
                raise PgServerError(
                    f"running as root needs a {self.run_as!r} account to own the test cluster"
                ) from exc
        self.root: pathlib.Path | None = None
        self.port = 0
        self.running = False

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> PgServer:
        """Runs initdb and starts the server on a free port; returns self."""
        # Not under pytest's basetemp: its 0700 parents are closed to the postgres user.
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="mlspec-pg-"))
        atexit.register(self.stop)
        _live.add(self)
        _watch_sigterm()
        self.socket_dir.mkdir()
        if self.run_as is not None:
            account = pwd.getpwnam(self.run_as)
            for path in (self.root, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            # The C collation: string order is code point order, as in SQLite and Python.
            "--locale=C",
            "--no-sync",
        )
        last_error: PgServerError | None = None
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            options = [
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c listen_addresses=127.0.0.1",
                *(f"-c {s}" for s in _FAST_SETTINGS),
            ]
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    " ".join(options),
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
            except PgServerError as exc:
                last_error = exc
                continue
            self.running = True
            return self
        self.stop()
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stops the server (fast shutdown) and deletes its directory; safe to call twice."""
        if self.running:
            self.running = False
            with contextlib.suppress(PgServerError):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        atexit.unregister(self.stop)
        _live.discard(self)

    def __enter__(self) -> PgServer:
        """Starts the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stops the server."""
        self.stop()

    # -- databases ----------------------------------------------------------------------

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, database: str) -> str:
        """Creates an empty database and returns its SQLAlchemy URL."""
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return self.url(database)

    def drop_database(self, database: str) -> None:
        """Drops a database, closing any connection still open to it."""
        self._admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )

    def reset_database(self, database: str) -> str:
        """Empties a database (drops and recreates its ``public`` schema); returns its URL.

        Much cheaper than a new database (CREATE DATABASE copies a template and takes
        about half a second on a small machine). Connections still open to it are closed.
        """
        self._admin(
            sql.SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = {} AND pid <> pg_backend_pid()"
            ).format(sql.Literal(database))
        )
        self._admin(sql.SQL("DROP SCHEMA public CASCADE; CREATE SCHEMA public"), database=database)
        return self.url(database)

    def _admin(self, statement: sql.SQL | sql.Composed, *, database: str = "postgres") -> None:
        if not self.running:
            raise PgServerError("the PostgreSQL test server is not running")
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, autocommit=True
        ) as conn:
            conn.execute(statement)

    # -- helpers ------------------------------------------------------------------------

    @property
    def data_dir(self) -> pathlib.Path:
        """The cluster's data directory."""
        assert self.root is not None, "the server was not started"
        return self.root / "data"

    @property
    def socket_dir(self) -> pathlib.Path:
        """The directory of the server's Unix socket."""
        assert self.root is not None, "the server was not started"
        return self.root / "socket"

    @property
    def log_file(self) -> pathlib.Path:
        """The server log (pg_ctl -l)."""
        assert self.root is not None, "the server was not started"
        return self.root / "server.log"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        # Output goes to a file, not a pipe: the server that pg_ctl forks would inherit
        # a pipe and keep it open.
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
            if result.returncode != 0:
                output.seek(0)
                text = output.read().decode(errors="replace")
                log = ""
                if tool == "pg_ctl" and self.root is not None and self.log_file.exists():
                    log = "\nserver log:\n" + self.log_file.read_text(errors="replace")[-4000:]
                raise PgServerError(
                    f"{' '.join(command)} failed with exit code {result.returncode}:\n{text}{log}"
                )
