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
# Seconds between rounds of scheduled monitoring (`mlspec serve --monitor-interval`).
DEFAULT_MONITOR_INTERVAL = 300
DEFAULT_STORE_PATH = pathlib.Path.home() / ".local" / "share" / "mlspec" / "mlspec.db"


class ConfigError(ValueError):
    """Settings that cannot work together, or a file they name that cannot be read."""


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
    # TLS: PEM certificate chain and key; with a client CA, mutual TLS (server/tls.py).
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    # Plaintext on a non-loopback address is refused unless this is set.
    insecure: bool = False
    # "none" (loopback development: the workspace header decides) or "token" (server/auth.py).
    auth: str = "none"
    # PEM public keys trusted to sign model packages; and whether serving needs a signature.
    trusted_keys: tuple[str, ...] = ()
    require_signed_packages: bool = False
    # The service's PEM EC private key: it seals stage reports and signs provenance.
    signing_key: str = ""
    # PEM Ed25519 private key that signs inference-log checkpoints (none: no checkpoints),
    # and how many records a stream grows between two checkpoints.
    log_signing_key: str = ""
    log_checkpoint_interval: int = 1000
    # Seconds between two rounds of scheduled monitoring (server/monitor.py); 0: none.
    monitor_interval: float = 0.0
    workers: int = 8
    max_message_bytes: int = 16 * 1024 * 1024
    grace_seconds: float = 5.0
    # OpenLineage events of stage reports: an HTTP endpoint or a JSON-lines file (or neither).
    openlineage_url: str = ""
    openlineage_file: str = ""
    openlineage_namespace: str = "mlspec"

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
            "tls": bool(self.tls_cert),
            "mutual_tls": bool(self.tls_client_ca),
            "auth": self.auth,
            "trusted_keys": len(self.trusted_keys),
            "require_signed_packages": self.require_signed_packages,
            "signing_key": bool(self.signing_key),
            "log_signing": bool(self.log_signing_key),
            "log_checkpoint_interval": self.log_checkpoint_interval,
            "monitor_interval": self.monitor_interval,
            "openlineage": mask_url(self.openlineage_url) or self.openlineage_file,
        }


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)
