"""Server settings from command-line flags and environment variables."""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
DEFAULT_STORE_PATH = pathlib.Path.home() / ".local" / "share" / "mlspec" / "mlspec.db"


def default_store_url() -> str:
    """The embedded SQLite store: $MLSPEC_STORE_URL, else ~/.local/share/mlspec/mlspec.db."""
    return os.environ.get("MLSPEC_STORE_URL") or f"sqlite:///{DEFAULT_STORE_PATH}"


@dataclass
class ServerConfig:
    """Where to listen, which store to use, how much to log."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    store_url: str = ""
    log_level: str = "INFO"
    workers: int = 8
    max_message_bytes: int = 16 * 1024 * 1024
    grace_seconds: float = 5.0

    @classmethod
    def from_env(cls) -> ServerConfig:
        """Settings from MLSPEC_HOST, MLSPEC_PORT, MLSPEC_STORE_URL and MLSPEC_LOG_LEVEL."""
        return cls(
            host=os.environ.get("MLSPEC_HOST", DEFAULT_HOST),
            port=int(os.environ.get("MLSPEC_PORT", str(DEFAULT_PORT))),
            store_url=default_store_url(),
            log_level=os.environ.get("MLSPEC_LOG_LEVEL", "INFO"),
        )
