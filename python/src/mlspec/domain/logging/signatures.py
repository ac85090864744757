"""Signatures in inference logs: producers' record signatures and signed checkpoints.

A record may carry a producer's signature over its 32-byte ``record_hash`` (Ed25519, or
ECDSA P-256 over SHA-256); it is checked against the keys the service trusts. A
checkpoint (``LogCheckpoint``) is the service's own Ed25519 signature over the
deterministic serialization of the checkpoint without its signature: it vouches for a
stream's head, and through the hash chain for every record before it. Key ids are
``mlspec.signing.key_id``: ``sha256:`` and the hex SHA-256 of the DER public key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mlspec.common.v1 import digest_pb2
from mlspec.domain.common.policy import Policy
from mlspec.logging.v1 import inference_log_pb2
from mlspec.signing import key_id

ED25519 = "ed25519"
ECDSA = "ecdsa-sha256"


def trusted_keys(policy: Policy) -> dict[str, Any]:
    """The public keys whose log signatures the service checks, by key id."""
    keys: dict[str, Any] = dict(policy.trusted_keys)
    if policy.log_signing_key is not None:
        public = policy.log_signing_key.public_key()
        keys[key_id(public)] = public
    return keys


def check(signature: digest_pb2.Signature, signed: bytes, keys: Mapping[str, Any]) -> str:
    """Why ``signature`` over ``signed`` does not verify: '' when it does.

    A key the service does not trust is reported as such (``UNKNOWN_KEY: ...``), so that
    a caller can tell it from a signature that is wrong.
    """
    key = keys.get(signature.key_id)
    if key is None:
        return f"UNKNOWN_KEY: signed by {signature.key_id or '(no key id)'}, which the service does not trust"
    try:
        if isinstance(key, ed25519.Ed25519PublicKey) and signature.algorithm in ("", ED25519):
            key.verify(signature.signature, signed)
        elif isinstance(key, ec.EllipticCurvePublicKey) and signature.algorithm in ("", ECDSA):
            key.verify(signature.signature, signed, ec.ECDSA(hashes.SHA256()))
        else:
            return f"algorithm {signature.algorithm!r} does not fit key {signature.key_id}"
    except InvalidSignature:
        return f"the signature by {signature.key_id} does not verify"
    return ""


def checkpoint_bytes(checkpoint: inference_log_pb2.LogCheckpoint) -> bytes:
    """What a checkpoint's signature covers: the checkpoint without its signature."""
    unsigned = inference_log_pb2.LogCheckpoint()
    unsigned.CopyFrom(checkpoint)
    unsigned.ClearField("signature")
    return unsigned.SerializeToString(deterministic=True)


def sign_checkpoint(
    checkpoint: inference_log_pb2.LogCheckpoint, key: ed25519.Ed25519PrivateKey
) -> None:
    """Signs a checkpoint in place with the service's Ed25519 key."""
    signature = key.sign(checkpoint_bytes(checkpoint))
    checkpoint.signature.CopyFrom(
        digest_pb2.Signature(
            key_id=key_id(key.public_key()),
            algorithm=ED25519,
            signature=signature,
        )
    )
