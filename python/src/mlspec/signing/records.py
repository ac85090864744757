"""Record digests and the service's signatures over them (``StageReport.record_digests``).

A record's digest covers the fields of a stored resource that never change once it
exists: ``meta.id``, ``meta.workspace``, ``meta.create_time``, ``meta.creator`` and the
fields the contract marks IMMUTABLE. A stage report is written once, so its digest
covers every field but the other common object fields (name, description, labels,
status, times, etag, which archiving or renaming change) and its own
``service_signature``. The digest is the SHA-256 of the deterministic protobuf
serialization of that part. The service stores, in each stage report, the digests of
the records the report references, and signs the report's own digest with its key; a
record changed afterwards no longer matches, which ``mlspec provenance verify`` reports.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from google.api import field_behavior_pb2
from google.protobuf.message import Message

from mlspec.common.v1 import digest_pb2
from mlspec.signing.envelopes import ALGORITHM, PublicKey, key_id, pae

__all__ = [
    "RECORD_DIGEST_TYPE",
    "WRITE_ONCE",
    "record_digest",
    "sign_record",
    "signature_problem",
]

RECORD_DIGEST_TYPE = "application/vnd.mlspec.record-digest"
# Kinds whose records never change after they are written, but for their common fields.
WRITE_ONCE = frozenset(
    {"mlspec.lifecycle.v1.StageReport", "mlspec.metadata.v1.WorkflowMetadataRecord"}
)
_KEPT_META = ("id", "workspace", "create_time", "creator")
_SIGNATURE_FIELD = "service_signature"


@cache
def _frozen_fields(desc: Any) -> frozenset[str]:
    """The top-level fields (besides ``meta``) a record's digest covers."""
    if desc.full_name in WRITE_ONCE:
        return frozenset(f.name for f in desc.fields) - {"meta", _SIGNATURE_FIELD}
    return frozenset(
        f.name
        for f in desc.fields
        if field_behavior_pb2.IMMUTABLE
        in f.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    )


def record_digest(message: Message) -> str:
    """The hex SHA-256 of the part of a stored resource that never changes."""
    covered = _frozen_fields(message.DESCRIPTOR)
    frozen = type(message)()
    for field, value in message.ListFields():
        if field.name == "meta":
            meta = frozen.meta  # type: ignore[attr-defined]
            for name in _KEPT_META:
                if name == "create_time":
                    if value.HasField(name):
                        meta.create_time.CopyFrom(value.create_time)
                else:
                    setattr(meta, name, getattr(value, name))
        elif field.name in covered:
            _copy(value, frozen, field)
    return hashlib.sha256(frozen.SerializeToString(deterministic=True)).hexdigest()


def _copy(value: Any, target: Message, field: Any) -> None:
    held = getattr(target, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        for key, item in value.items():
            if isinstance(item, Message):
                held[key].CopyFrom(item)
            else:
                held[key] = item
    elif field.is_repeated:
        held.extend(value)
    elif field.message_type is not None:
        held.CopyFrom(value)
    else:
        setattr(target, field.name, value)


def _signed_bytes(digest: str) -> bytes:
    return pae(RECORD_DIGEST_TYPE, f"sha256:{digest}".encode())


def sign_record(key: ec.EllipticCurvePrivateKey, message: Message) -> digest_pb2.Signature:
    """The service's signature over a record's digest."""
    signature = key.sign(_signed_bytes(record_digest(message)), ec.ECDSA(hashes.SHA256()))
    return digest_pb2.Signature(
        key_id=key_id(key.public_key()), algorithm=ALGORITHM, signature=signature
    )


def signature_problem(
    message: Message, signature: digest_pb2.Signature, trusted: dict[str, PublicKey]
) -> str:
    """Why ``signature`` does not prove ``message`` unchanged (empty when it does)."""
    if not signature.signature:
        return "carries no service signature (stored before the service had a signing key)"
    key = trusted.get(signature.key_id)
    if key is None:
        return f"is signed by {signature.key_id}, which is not a trusted key"
    try:
        key.verify(
            signature.signature,
            _signed_bytes(record_digest(message)),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        return "was changed after it was stored: the service's signature does not match it"
    return ""
