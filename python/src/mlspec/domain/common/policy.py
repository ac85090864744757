"""Server settings that rules depend on (``Resources.policy``).

The composition root (``server/app.py``) builds one ``Policy`` from the configuration;
rules read it and never the configuration itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec, ed25519


@dataclass(frozen=True)
class Policy:
    """What the operator decided: whom to trust, what to require, what to sign with."""

    # Public keys trusted to sign model packages, by key id (``mlspec.signing.key_id``).
    trusted_keys: Mapping[str, ec.EllipticCurvePublicKey] = field(default_factory=dict)
    # When set, a model is served only from a signed package a trusted key verifies.
    require_signed_packages: bool = False
    # The service's own key: it signs every stage report as it is stored and the
    # provenance attestations of model versions (``mlspec serve --signing-key``).
    service_key: ec.EllipticCurvePrivateKey | None = None
    # The service's Ed25519 key that signs inference-log checkpoints; None signs none.
    log_signing_key: ed25519.Ed25519PrivateKey | None = None
    # A checkpoint is stored once a stream is this many records past its last one.
    log_checkpoint_interval: int = 1000


OPEN = Policy()
