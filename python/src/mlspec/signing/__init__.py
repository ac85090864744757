"""Signed model packages: DSSE envelopes, key identities, and OpenSSF model-signing bundles.

``mlspec sign`` signs a model folder with the ``model-signing`` package (the OpenSSF
format, key-based, offline); ``envelope_from_bundle`` carries the resulting bundle in the
contract's ``SignedEnvelope`` (``ModelPackaging.signed_manifest``), and
``verify_envelope`` checks such an envelope against trusted public keys, as the service
does before a package may be served. This package depends only on the contract and
``cryptography``, so the server and the client both use it.
"""

from __future__ import annotations

from mlspec.signing.envelopes import (
    SignatureProblem,
    VerifiedStatement,
    envelope_from_bundle,
    key_id,
    load_private_key,
    load_public_key,
    pae,
    require_public_key,
    verify_envelope,
)

__all__ = [
    "SignatureProblem",
    "VerifiedStatement",
    "envelope_from_bundle",
    "key_id",
    "load_private_key",
    "load_public_key",
    "pae",
    "require_public_key",
    "verify_envelope",
]
