"""The TLS files of ``mlspec serve``, checked before the port is bound.

gRPC reads a certificate and key it cannot use only when the port is bound, and then says
no more than that the address could not be bound. ``check_tls_files`` loads them first
with ``cryptography`` and names the file and what is wrong with it: not PEM, not a
certificate, not a private key, an encrypted key, or a key that is not the certificate's.
"""

from __future__ import annotations

import pathlib
from typing import Any

from mlspec.cli.errors import USAGE_EXIT, CliError

__all__ = ["check_tls_files"]

_PRIVATE_KEY = b"PRIVATE KEY-----"
_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def check_tls_files(cert: str, key: str, client_ca: str = "") -> None:
    """Raises ``CliError`` (a usage error) naming the first unusable TLS file.

    Nothing is checked unless both ``cert`` and ``key`` are given (the server's own
    configuration check says what half a key pair lacks).
    """
    if not (cert and key):
        return
    certificate = _certificates(cert, "--tls-cert")[0]
    private = _private_key(key)
    if _public_der(certificate.public_key()) != _public_der(private.public_key()):
        raise _bad(
            "--tls-key",
            key,
            f"does not match the certificate of --tls-cert {cert} (another key pair)",
        )
    if client_ca:
        _certificates(client_ca, "--tls-client-ca")


def _read(path: str, flag: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise _bad(flag, path, f"cannot read it: {exc.strerror or exc}") from exc


def _certificates(path: str, flag: str) -> list[Any]:
    from cryptography import x509

    data = _read(path, flag)
    if _CERTIFICATE not in data:
        if _PRIVATE_KEY in data:
            raise _bad(
                flag,
                path,
                "holds a private key, not a certificate; give the certificate to --tls-cert "
                "and its key to --tls-key",
            )
        raise _bad(flag, path, "not a PEM certificate (no BEGIN CERTIFICATE block)")
    try:
        return list(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise _bad(flag, path, f"not a readable PEM certificate: {exc}") from exc


def _private_key(path: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    data = _read(path, "--tls-key")
    if _PRIVATE_KEY not in data:
        if _CERTIFICATE in data:
            raise _bad("--tls-key", path, "holds a certificate, not a private key")
        if b"PUBLIC KEY-----" in data:
            raise _bad("--tls-key", path, "holds a public key; give the private key")
        raise _bad("--tls-key", path, "not a PEM private key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # a password is needed
        raise _bad(
            "--tls-key", path, "is encrypted; the server needs the key without a passphrase"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _bad("--tls-key", path, f"not a readable PEM private key: {exc}") from exc


def _public_der(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _bad(flag: str, path: str, what: str) -> CliError:
    return CliError(f"{flag} {path}: {what}", USAGE_EXIT)
