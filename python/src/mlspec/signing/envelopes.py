"""DSSE envelopes over in-toto statements, as OpenSSF model signing writes them.

A model-signing bundle (sigstore bundle format, key-based) holds a DSSE envelope whose
payload is an in-toto statement: its subject is the model with one SHA-256 digest over
the digests of all its files, its predicate lists each file. The contract carries the
envelope as ``mlspec.common.v1.SignedEnvelope`` with one ``Signature`` per signer, whose
``key_id`` is ``sha256:`` and the hex SHA-256 of the public key's DER
SubjectPublicKeyInfo (``key_id``), and whose ``algorithm`` is ``ecdsa-sha256`` (the DER
ECDSA signature over the DSSE pre-authentication encoding, ``pae``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mlspec.common.v1 import digest_pb2

__all__ = [
    "ALGORITHM",
    "IN_TOTO",
    "SignatureProblem",
    "VerifiedStatement",
    "envelope_from_bundle",
    "key_id",
    "load_private_key",
    "load_public_key",
    "pae",
    "verify_envelope",
]

ALGORITHM = "ecdsa-sha256"
IN_TOTO = "application/vnd.in-toto+json"
PublicKey = ec.EllipticCurvePublicKey


class SignatureProblem(ValueError):
    """Why an envelope does not verify; ``reason`` is stable, ``str()`` is for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedStatement:
    """What a verified envelope says: who signed it and the statement's subjects."""

    key_id: str
    subjects: dict[str, dict[str, str]]  # subject name -> {algorithm: hex digest}
    statement: dict[str, Any]


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE pre-authentication encoding that the signatures cover."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_id(public_key: PublicKey | ed25519.Ed25519PublicKey) -> str:
    """``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def load_public_key(pem: bytes) -> PublicKey:
    """An elliptic-curve public key from PEM (a private key's public half is taken too)."""
    try:
        key: Any = serialization.load_pem_public_key(pem)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(pem, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise SignatureProblem("BAD_KEY", "not a PEM elliptic-curve key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureProblem("BAD_KEY", "not an elliptic-curve key (model signing uses ECDSA)")
    return key


def require_public_key(pem: bytes) -> PublicKey:
    """An elliptic-curve public key from PEM, where only a public key is right.

    Raises ``SignatureProblem``: ``PRIVATE_KEY`` for a private key given where the
    signer's public key is needed (checking a signature never needs the secret),
    ``BAD_KEY`` for anything else that is not such a key.
    """
    try:
        key: Any = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        try:
            serialization.load_pem_private_key(pem, password=None)
        except (TypeError, ValueError):
            raise SignatureProblem("BAD_KEY", "not a PEM elliptic-curve public key") from exc
        raise SignatureProblem(
            "PRIVATE_KEY", "holds a private key; verifying needs the signer's public key"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureProblem("BAD_KEY", "not an elliptic-curve key (model signing uses ECDSA)")
    return key


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """An elliptic-curve private key from PEM (unencrypted), as model signing needs.

    Raises ``SignatureProblem``: ``PUBLIC_KEY`` for a public key given where the private
    one is needed, ``BAD_KEY`` for anything else that is not such a key.
    """
    try:
        key: Any = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:  # it needs a password
        raise SignatureProblem("BAD_KEY", "an encrypted key; give it without a passphrase") from exc
    except ValueError as exc:
        try:
            serialization.load_pem_public_key(pem)
        except ValueError:
            raise SignatureProblem("BAD_KEY", "not a PEM elliptic-curve private key") from exc
        raise SignatureProblem(
            "PUBLIC_KEY", "holds a public key; signing needs the private key"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SignatureProblem("BAD_KEY", "not an elliptic-curve key (model signing uses ECDSA)")
    return key


def envelope_from_bundle(bundle: bytes, public_key: PublicKey) -> digest_pb2.SignedEnvelope:
    """The DSSE envelope of a model-signing bundle, its signature named by ``public_key``."""
    try:
        document = json.loads(bundle)
        dsse = document["dsseEnvelope"]
        payload = base64.b64decode(dsse["payload"], validate=True)
        signatures = [base64.b64decode(s["sig"], validate=True) for s in dsse["signatures"]]
        payload_type = str(dsse["payloadType"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SignatureProblem("BAD_BUNDLE", f"not a model-signing bundle: {exc}") from exc
    envelope = digest_pb2.SignedEnvelope(payload_type=payload_type, payload=payload)
    for signature in signatures:
        envelope.signatures.add(key_id=key_id(public_key), algorithm=ALGORITHM, signature=signature)
    return envelope


def verify_envelope(
    envelope: digest_pb2.SignedEnvelope, trusted: Mapping[str, PublicKey]
) -> VerifiedStatement:
    """Checks that a trusted key signed the envelope; returns what the statement says.

    Raises ``SignatureProblem`` with reason ``UNSIGNED``, ``UNKNOWN_SIGNING_KEY``,
    ``BAD_SIGNATURE`` or ``BAD_STATEMENT``.
    """
    if not envelope.signatures:
        raise SignatureProblem("UNSIGNED", "the envelope has no signature")
    message = pae(envelope.payload_type, envelope.payload)
    known = [s for s in envelope.signatures if s.key_id in trusted]
    if not known:
        ids = ", ".join(sorted({s.key_id or "(none)" for s in envelope.signatures}))
        raise SignatureProblem(
            "UNKNOWN_SIGNING_KEY",
            f"signed by {ids}, which this server does not trust (add the public key with "
            "mlspec serve --trusted-key)",
        )
    for signature in known:
        if signature.algorithm not in ("", ALGORITHM):
            continue
        try:
            trusted[signature.key_id].verify(
                signature.signature, message, ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            continue
        return VerifiedStatement(signature.key_id, *_statement(envelope))
    raise SignatureProblem(
        "BAD_SIGNATURE",
        f"the signature by {known[0].key_id} does not verify: the signed manifest was changed "
        "after signing",
    )


def _statement(envelope: digest_pb2.SignedEnvelope) -> tuple[dict[str, dict[str, str]], Any]:
    if envelope.payload_type != IN_TOTO:
        return {}, {}
    try:
        statement = json.loads(envelope.payload)
        subjects = {
            str(s["name"]): {str(k): str(v) for k, v in s["digest"].items()}
            for s in statement["subject"]
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignatureProblem(
            "BAD_STATEMENT", f"the signed statement is unreadable: {exc}"
        ) from exc
    return subjects, statement
