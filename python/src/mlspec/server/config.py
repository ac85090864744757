"""Server settings from command-line flags and environment variables."""

from __future__ import annotations

import os
import pathlib
import re
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
# The HTTP side port of /ok, /varz and /metrics (`mlspec serve --http-port`, 0 turns it off).
DEFAULT_HTTP_PORT = 50052
DEFAULT_STORE_PATH = pathlib.Path.home() / ".local" / "share" / "mlspec" / "mlspec.db"


def default_store_url() -> str:
    """The embedded SQLite store: $MLSPEC_STORE_URL, else ~/.local/share/mlspec/mlspec.db."""
    return os.environ.get("MLSPEC_STORE_URL") or f"sqlite:///{DEFAULT_STORE_PATH}"


@dataclass
class ServerConfig:
    """Where to listen, which store to use, how much to log."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # The HTTP endpoints' port: None serves none; 0 picks a free port (tests). The CLI
    # maps `--http-port 0` to None.
    http_port: int | None = None
    store_url: str = ""
    log_level: str = "INFO"
    workers: int = 8
    max_message_bytes: int = 16 * 1024 * 1024
    grace_seconds: float = 5.0

    def public(self) -> dict[str, object]:
        """The settings without secrets (the store URL's password masked), for /varz."""
        return {
            "host": self.host,
            "port": self.port,
            "http_port": self.http_port if self.http_port is not None else 0,
            "store_url": mask_url(self.store_url),
            "log_level": self.log_level,
            "workers": self.workers,
            "max_message_bytes": self.max_message_bytes,
            "grace_seconds": self.grace_seconds,
        }

    @classmethod
    def from_env(cls) -> ServerConfig:
        """Settings from the MLSPEC_* variables (HOST, PORT, HTTP_PORT, STORE_URL, LOG_LEVEL)."""
        http_port = int(os.environ.get("MLSPEC_HTTP_PORT", str(DEFAULT_HTTP_PORT)))
        return cls(
            host=os.environ.get("MLSPEC_HOST", DEFAULT_HOST),
            port=int(os.environ.get("MLSPEC_PORT", str(DEFAULT_PORT))),
            http_port=http_port or None,
            store_url=default_store_url(),
            log_level=os.environ.get("MLSPEC_LOG_LEVEL", "INFO"),
        )


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)
