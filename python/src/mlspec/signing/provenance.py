"""Provenance attestations of model versions, and their offline check.

An attestation is an in-toto statement in a DSSE envelope; ``mlspec provenance verify``
checks both without the server.

The statement (in-toto Statement v1) has the model version's artifact as its subject
(``name@version`` and its SHA-256) and the predicate ``https://mlspec.io/provenance/v1``:

- ``modelVersion``: the model version's id; ``exportTime``; ``serviceKeyId``;
- ``records``: each stored record of the lineage (the model version, the stage reports
  upstream of it and every record they reference), as ``kind``, ``type`` (the message's
  full name), ``id``, ``name``, ``recordDigest`` (``records.record_digest``), the
  ``contentDigest`` the record gives for its content (data, code, model), and ``record``,
  the stored message in base64 protobuf;
- ``edges``: the lineage edges between those records (``from``, ``to``, ``kind``).

``verify_attestation`` needs only the file and the service's public key. It checks the
envelope's signature, then every record: each stage report against the service's
signature over its digest, and each record a report references against the digest the
report took of it when it was stored; every mismatch is named.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

import mlspec
from mlspec.common.v1 import digest_pb2
from mlspec.signing.envelopes import ALGORITHM, IN_TOTO, PublicKey, key_id, pae
from mlspec.signing.records import record_digest, signature_problem

__all__ = [
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "AttestedRecord",
    "Verification",
    "envelope_from_json",
    "envelope_to_json",
    "sign_statement",
    "statement",
    "verify_attestation",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://mlspec.io/provenance/v1"
_REPORT = "mlspec.lifecycle.v1.StageReport"


@dataclass(frozen=True)
class AttestedRecord:
    """One stored record to put in an attestation."""

    kind: str  # ResourceKind name, for example RESOURCE_KIND_DATASET_VERSION
    message: Message
    content_digest: Mapping[str, str] = field(default_factory=dict)


def _describe(message: Message) -> str:
    meta = message.meta  # type: ignore[attr-defined]
    name = f" ({meta.name})" if meta.name else ""
    return f"{message.DESCRIPTOR.name} {meta.id}{name}"


def statement(
    subject: str,
    sha256: str,
    model_version_id: str,
    records: list[AttestedRecord],
    edges: list[tuple[str, str, str]],
    service_key_id: str,
    export_time: str,
) -> dict[str, Any]:
    """The in-toto statement of a model version's provenance."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject, "digest": {"sha256": sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "modelVersion": model_version_id,
            "exportTime": export_time,
            "serviceKeyId": service_key_id,
            "records": [_entry(r) for r in records],
            "edges": [{"from": a, "to": b, "kind": kind} for a, b, kind in edges],
        },
    }


def _entry(record: AttestedRecord) -> dict[str, Any]:
    meta = record.message.meta  # type: ignore[attr-defined]
    entry: dict[str, Any] = {
        "kind": record.kind,
        "type": record.message.DESCRIPTOR.full_name,
        "id": meta.id,
        "name": meta.name,
        "recordDigest": {"sha256": record_digest(record.message)},
    }
    if record.content_digest:
        entry["contentDigest"] = dict(record.content_digest)
    entry["record"] = base64.b64encode(record.message.SerializeToString()).decode()
    return entry


def sign_statement(
    document: dict[str, Any], key: ec.EllipticCurvePrivateKey
) -> digest_pb2.SignedEnvelope:
    """A DSSE envelope over the statement, signed with ``key`` (ECDSA P-256, SHA-256)."""
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    signature = key.sign(pae(IN_TOTO, payload), ec.ECDSA(hashes.SHA256()))
    envelope = digest_pb2.SignedEnvelope(payload_type=IN_TOTO, payload=payload)
    envelope.signatures.add(
        key_id=key_id(key.public_key()), algorithm=ALGORITHM, signature=signature
    )
    return envelope


def envelope_to_json(envelope: digest_pb2.SignedEnvelope) -> str:
    """The envelope in the DSSE JSON form (payloadType, payload, signatures)."""
    document = {
        "payloadType": envelope.payload_type,
        "payload": base64.b64encode(envelope.payload).decode(),
        "signatures": [
            {"keyid": s.key_id, "sig": base64.b64encode(s.signature).decode()}
            for s in envelope.signatures
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def envelope_from_json(text: str | bytes) -> digest_pb2.SignedEnvelope:
    """A DSSE envelope read from its JSON form; ValueError when it is not one."""
    try:
        document = json.loads(text)
        envelope = digest_pb2.SignedEnvelope(
            payload_type=str(document["payloadType"]),
            payload=base64.b64decode(document["payload"], validate=True),
        )
        for s in document["signatures"]:
            envelope.signatures.add(
                key_id=str(s.get("keyid", "")),
                algorithm=ALGORITHM,
                signature=base64.b64decode(s["sig"], validate=True),
            )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError(f"not a DSSE envelope in JSON: {exc}") from exc
    return envelope


@dataclass
class Verification:
    """What checking an attestation found: its subject, signer, and every problem."""

    subject: str = ""
    sha256: str = ""
    key_id: str = ""
    records: int = 0
    reports: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def verify_attestation(
    envelope: digest_pb2.SignedEnvelope, trusted: Mapping[str, PublicKey]
) -> Verification:
    """Checks an attestation offline against the service's trusted public keys."""
    result = Verification()
    result.key_id = _check_envelope(envelope, trusted, result.problems)
    try:
        document = json.loads(envelope.payload)
        predicate = document["predicate"]
        subject = document["subject"][0]
        result.subject = str(subject["name"])
        result.sha256 = str(subject["digest"]["sha256"])
        entries = list(predicate["records"])
        model_version_id = str(predicate["modelVersion"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        result.problems.append(f"the attestation's statement is unreadable: {exc}")
        return result
    if document.get("_type") != STATEMENT_TYPE or document.get("predicateType") != PREDICATE_TYPE:
        result.problems.append(
            f"the statement is not an in-toto {STATEMENT_TYPE} with predicate {PREDICATE_TYPE}"
        )
    records = _decode(entries, result.problems)
    result.records = len(records)
    reports = [m for m in records.values() if m.DESCRIPTOR.full_name == _REPORT]
    result.reports = len(reports)
    recorded: set[str] = set()
    for report in reports:
        _check_report(report, records, trusted, result.problems)
        recorded.update(report.record_digests)  # type: ignore[attr-defined]
    model = records.get(model_version_id)
    if model is None:
        result.problems.append(
            f"the attestation holds no record of its model version {model_version_id}"
        )
    else:
        signed = model.artifact.digest.digests.get("sha256", "")  # type: ignore[attr-defined]
        if signed.lower() != result.sha256.lower():
            result.problems.append(
                f"{_describe(model)} records artifact sha256 {signed or '(none)'}, not the "
                f"subject's {result.sha256}"
            )
        if model_version_id not in recorded:
            result.problems.append(
                f"no stage report records {_describe(model)}: nothing proves how it was made"
            )
    return result


def _check_envelope(
    envelope: digest_pb2.SignedEnvelope, trusted: Mapping[str, PublicKey], problems: list[str]
) -> str:
    if envelope.payload_type != IN_TOTO:
        problems.append(
            f"the attestation's payload type is {envelope.payload_type!r}, not {IN_TOTO}"
        )
    signed = pae(envelope.payload_type, envelope.payload)
    for signature in envelope.signatures:
        key = trusted.get(signature.key_id)
        if key is None:
            continue
        try:
            key.verify(signature.signature, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            problems.append(
                f"the attestation's signature by {signature.key_id} does not verify: the file "
                "was changed after the service signed it"
            )
            return signature.key_id
        return signature.key_id
    ids = ", ".join(s.key_id for s in envelope.signatures) or "nobody"
    problems.append(f"the attestation is signed by {ids}, not by a trusted key")
    return ""


@cache
def _load_contract() -> None:
    """Imports every generated module, so that every record type can be decoded."""
    for package in pkgutil.iter_modules(mlspec.__path__):
        try:
            versions = importlib.import_module(f"mlspec.{package.name}.v1")
        except ModuleNotFoundError:
            continue
        for module in pkgutil.iter_modules(versions.__path__):
            if module.name.endswith("_pb2"):
                importlib.import_module(f"{versions.__name__}.{module.name}")


def _decode(entries: list[Any], problems: list[str]) -> dict[str, Message]:
    _load_contract()
    pool = descriptor_pool.Default()
    found: dict[str, Message] = {}
    for i, entry in enumerate(entries):
        try:
            cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(str(entry["type"])))
            message = cls.FromString(base64.b64decode(entry["record"], validate=True))
            given = str(entry["recordDigest"]["sha256"])
        except (KeyError, TypeError, ValueError, DecodeError, binascii.Error) as exc:
            problems.append(f"record {i} of the attestation is unreadable: {exc}")
            continue
        if record_digest(message) != given:
            problems.append(
                f"{_describe(message)} does not match the record digest the attestation gives"
            )
        found[message.meta.id] = message  # type: ignore[attr-defined]
    return found


def _check_report(
    report: Any,
    records: Mapping[str, Message],
    trusted: Mapping[str, PublicKey],
    problems: list[str],
) -> None:
    problem = signature_problem(report, report.service_signature, dict(trusted))
    if problem:
        problems.append(f"{_describe(report)} {problem}")
    if not report.record_digests:
        problems.append(
            f"{_describe(report)} records no digests of the records it references (it was "
            "stored by an older service)"
        )
    for resource_id, digests in sorted(report.record_digests.items()):
        target = records.get(resource_id)
        if target is None:
            problems.append(
                f"{_describe(report)} references {resource_id}, which the attestation does not hold"
            )
            continue
        then = digests.digests.get("sha256", "")
        now = record_digest(target)
        if then != now:
            problems.append(
                f"{_describe(target)} was changed after {_describe(report)} recorded it "
                f"(recorded sha256 {then[:16]}..., now {now[:16]}...)"
            )
