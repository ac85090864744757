"""Transport security of the service: TLS, mutual TLS, and plaintext on loopback only.

``server_credentials(config)`` reads the certificate files named in the configuration:
a certificate and key give TLS; a client CA as well gives mutual TLS, where every client
must present a certificate that CA signed. Without TLS the service listens only on a
loopback address unless the operator says ``insecure`` (``--insecure``), because a
plaintext port elsewhere would carry tokens and data in the clear.
"""

from __future__ import annotations

import ipaddress
import pathlib

import grpc

from mlspec.server.config import ConfigError, ServerConfig

__all__ = ["is_loopback", "server_credentials", "transport_summary"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and every loopback address (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read(path: str, flag: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {flag} {path}: {exc.strerror or exc}") from exc


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """The TLS credentials of ``config``, or None for plaintext (checked to be allowed).

    Raises ``ConfigError`` for half a key pair, a client CA without TLS, an unreadable
    file, or plaintext on a non-loopback address without ``insecure``.
    """
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("TLS needs both --tls-cert and --tls-key (MLSPEC_TLS_CERT/KEY)")
    if not config.tls_cert:
        if config.tls_client_ca:
            raise ConfigError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
        if not is_loopback(config.host) and not config.insecure:
            raise ConfigError(
                f"refusing to serve plaintext on {config.host}: give --tls-cert and "
                "--tls-key, or --insecure (MLSPEC_INSECURE=1) to accept an unencrypted port"
            )
        return None
    pair = (_read(config.tls_key, "--tls-key"), _read(config.tls_cert, "--tls-cert"))
    client_ca = _read(config.tls_client_ca, "--tls-client-ca") if config.tls_client_ca else None
    try:
        return grpc.ssl_server_credentials(
            [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
        )
    except Exception as exc:  # gRPC reports a bad PEM only as a generic error
        raise ConfigError(f"the TLS files are not a usable PEM key pair: {exc}") from exc


def transport_summary(config: ServerConfig) -> str:
    """How calls are protected, for the start-up log line."""
    if config.tls_client_ca:
        return "mutual TLS (clients need a certificate signed by --tls-client-ca)"
    if config.tls_cert:
        return "TLS"
    if is_loopback(config.host):
        return "plaintext, loopback only (give --tls-cert and --tls-key to serve elsewhere)"
    return "plaintext on a non-loopback address (--insecure)"
