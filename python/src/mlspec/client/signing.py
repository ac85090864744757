"""Sign a model folder and verify it, in the OpenSSF model-signing format (key-based).

``sign_model`` signs with an elliptic-curve private key (offline, no transparency log)
and returns the envelope to put in the packaging report, so that the service can check
the signature before the model is served::

    from mlspec.client.signing import sign_model

    signed = sign_model("model/", "signing-key.pem")        # writes model.sig beside it
    stage.set(package_format="onnx", package_uri="s3://models/churn/7",
              package_digest={"digests": {"sha256": signed.digest}},
              signed_manifest=signed.envelope)

``verify_model`` checks a folder against its bundle and a public key; a changed, added
or removed file, or another key, raises ``ModelNotVerified``. Needs the ``signing``
extra (``pip install 'mlspec-contract[signing]'``).
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass
from typing import Any

from mlspec.common.v1 import digest_pb2
from mlspec.signing import (
    envelope_from_bundle,
    key_id,
    load_private_key,
    load_public_key,
    require_public_key,
    verify_envelope,
)

__all__ = [
    "ModelNotVerified",
    "SignedModel",
    "default_signature_path",
    "sign_model",
    "verify_model",
]

EXTRA = "model signing needs the signing extra: pip install 'mlspec-contract[signing]'"


class ModelNotVerified(ValueError):
    """A model folder does not match its signature (or was signed by another key)."""


@dataclass(frozen=True)
class SignedModel:
    """A signed model: its bundle file, the signer's key id, the digest and the envelope."""

    bundle_path: pathlib.Path
    key_id: str
    digest: str  # sha256 of the model, as the signed statement's subject
    envelope: digest_pb2.SignedEnvelope


def default_signature_path(model: str | pathlib.Path) -> pathlib.Path:
    """Where the bundle goes by default: ``<model>.sig`` beside the folder or file."""
    path = pathlib.Path(model).resolve()
    return path.with_name(path.name + ".sig")


def sign_model(
    model: str | pathlib.Path,
    private_key: str | pathlib.Path,
    signature: str | pathlib.Path | None = None,
) -> SignedModel:
    """Signs ``model`` (a folder or a file) with a PEM elliptic-curve private key.

    Raises ``SignatureProblem`` when ``private_key`` is not one (a public key, another
    kind of key, not PEM), before anything is written.
    """
    signing = _library().signing
    bundle_path = pathlib.Path(signature) if signature else default_signature_path(model)
    public = load_private_key(pathlib.Path(private_key).read_bytes()).public_key()
    signing.Config().use_elliptic_key_signer(private_key=str(private_key)).sign(
        str(model), str(bundle_path)
    )
    envelope = envelope_from_bundle(bundle_path.read_bytes(), public)
    statement = verify_envelope(envelope, {key_id(public): public})
    digest = next(iter(statement.subjects.values()), {}).get("sha256", "")
    return SignedModel(bundle_path, key_id(public), digest, envelope)


def verify_model(
    model: str | pathlib.Path,
    public_key: str | pathlib.Path,
    signature: str | pathlib.Path | None = None,
) -> str:
    """Checks ``model`` against its bundle and the signer's public key; returns the key id.

    Raises ``SignatureProblem`` when ``public_key`` is not one (a private key, another
    kind of key, not PEM), and ``ModelNotVerified`` when the model does not verify.
    """
    require_public_key(pathlib.Path(public_key).read_bytes())
    verifying = _library().verifying
    bundle_path = pathlib.Path(signature) if signature else default_signature_path(model)
    if not bundle_path.is_file():
        raise ModelNotVerified(f"no signature at {bundle_path} (sign with 'mlspec sign')")
    try:
        verifying.Config().use_elliptic_key_verifier(public_key=str(public_key)).verify(
            str(model), str(bundle_path)
        )
    except ValueError as exc:
        text = str(exc)
        if text.startswith("Key mismatch"):
            raise ModelNotVerified("signed by another key than the one given") from exc
        if text.startswith("Signature mismatch"):
            raise ModelNotVerified(_differences(model, bundle_path, public_key)) from exc
        raise ModelNotVerified(" ".join(text.split())[:300]) from exc
    return key_id(load_public_key(pathlib.Path(public_key).read_bytes()))


def _differences(
    model: str | pathlib.Path, bundle_path: pathlib.Path, public_key: str | pathlib.Path
) -> str:
    """Every file changed, added and missing since signing, in one line.

    The signed list of files (the statement's ``predicate.resources``) is compared with
    the folder hashed the way it was signed (``predicate.serialization``).
    """
    public = load_public_key(pathlib.Path(public_key).read_bytes())
    envelope = envelope_from_bundle(bundle_path.read_bytes(), public)
    predicate = json.loads(envelope.payload)["predicate"]
    signed = {str(r["name"]): str(r["digest"]) for r in predicate["resources"]}
    hashed = _hashing_config(predicate["serialization"], model).hash(pathlib.Path(model))
    now = {str(r.identifier): r.digest.digest_hex for r in hashed.resource_descriptors()}
    found = [
        ("changed", sorted(n for n in signed.keys() & now.keys() if signed[n] != now[n])),
        ("added", sorted(now.keys() - signed.keys())),
        ("missing", sorted(signed.keys() - now.keys())),
    ]
    parts = [f"{word}: {', '.join(names)}" for word, names in found if names]
    if not parts:  # the library saw a difference this comparison does not
        return "the files do not match the signed manifest"
    head, _, names = parts[0].partition(": ")
    return "; ".join([f"{head} since it was signed: {names}", *parts[1:]])


def _hashing_config(serialization: dict[str, Any], model: str | pathlib.Path) -> Any:
    """The model-signing hashing configuration a signed manifest was made with."""
    hashing = _library().hashing
    common = {
        "hashing_algorithm": serialization["hash_type"],
        "allow_symlinks": serialization.get("allow_symlinks", False),
        "ignore_paths": serialization.get("ignore_paths", ()),
    }
    if serialization.get("method") == "shards":
        config = hashing.Config().use_shard_serialization(
            shard_size=serialization["shard_size"], **common
        )
    else:
        config = hashing.Config().use_file_serialization(**common)
    config.add_ignored_paths(model_path=model, paths=common["ignore_paths"])  # as verify does
    return config


def _library() -> Any:
    try:
        import model_signing.hashing
        import model_signing.signing
        import model_signing.verifying
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(EXTRA) from exc
    return model_signing
