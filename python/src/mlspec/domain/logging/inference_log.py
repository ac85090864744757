"""Inference log records (SPEC.md section 7 and stage 13): the hash chain and NCSA lines.

Each record of a log stream is chained to the one before it:
``record_hash = SHA-256(S(R) || previous_record_hash)`` where R is the record with
``record_hash``, ``signature`` and ``observed_time`` cleared and S is the deterministic
protobuf serialization. Removing, reordering or editing any stored record breaks the
chain, which ``verify`` detects.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from mlspec.common.v1 import reference_pb2
from mlspec.logging.v1 import inference_log_pb2

F = inference_log_pb2.NcsaFormat


def record_hash(record: inference_log_pb2.InferenceLogRecord) -> bytes:
    """The chain hash of a record (over its canonical form and its previous hash)."""
    canonical = inference_log_pb2.InferenceLogRecord()
    canonical.CopyFrom(record)
    canonical.ClearField("record_hash")
    canonical.ClearField("signature")
    canonical.ClearField("observed_time")
    return chain_hash(canonical.SerializeToString(deterministic=True), record.previous_record_hash)


def chain_hash(canonical: bytes, previous: bytes) -> bytes:
    """``SHA-256(S(R) || previous_record_hash)`` from the canonical bytes ``S(R)``."""
    return hashlib.sha256(canonical + previous).digest()


# How the service stores a record: its output fields first, in this order, then the
# canonical bytes S(R) the hash covers (protobuf merges the concatenation into the whole
# record). Verifying a stored record then needs no decoding: split, hash, compare.
_HASH_TAG = b"\x7a\x20"  # field 15 (record_hash), 32 bytes
_OBSERVED_TAG = 0x3A  # field 7 (observed_time)
_SIGNATURE_TAG = b"\x82\x01"  # field 16 (signature)


def stored_form(canonical: bytes, digest: bytes, observed: bytes, signature: bytes = b"") -> bytes:
    """The bytes stored for a record: ``record_hash``, ``observed_time``, ``signature``, S(R).

    ``observed`` and ``signature`` are the serialized Timestamp and Signature.
    """
    parts = [_HASH_TAG, digest, bytes((_OBSERVED_TAG, len(observed))), observed]
    if signature:
        parts += [_SIGNATURE_TAG, _varint(len(signature)), signature]
    parts.append(canonical)
    return b"".join(parts)


def split_stored(data: bytes) -> tuple[bytes, bytes, bool] | None:
    """(record_hash, S(R), has a signature) of bytes in ``stored_form``; None otherwise."""
    try:
        return _split(data)
    except IndexError:  # cut short: not the stored form
        return None


def _split(data: bytes) -> tuple[bytes, bytes, bool] | None:
    if data[:2] != _HASH_TAG or len(data) < 36:
        return None
    at = 34
    if data[at] == _OBSERVED_TAG:
        at += 2 + data[at + 1]
    signed = data[at : at + 2] == _SIGNATURE_TAG
    if signed:
        at += 2
        length, at = _read_varint(data, at)
        at += length
    return data[2:34], data[at:], signed


def chains_to(canonical: bytes, head: bytes, previous: bytes, stored_hash: bytes) -> bool:
    """Whether stored S(R) is the expected record, chained to ``previous``, hashing right.

    The quick check of a stored record without decoding it: S(R) starts with ``head``
    (its stream and sequence number, ``record_head``), ends with its
    ``previous_record_hash`` (field 14, the last field of a record without attributes)
    equal to ``previous``, and hashes to ``stored_hash``. A record it does not vouch for
    is decoded and checked field by field.
    """
    return (
        bool(previous)
        and canonical.startswith(head)
        and canonical.endswith(_PREVIOUS_TAG + previous)
        and chain_hash(canonical, previous) == stored_hash
    )


def record_head(stream: str, sequence: int) -> bytes:
    """How S(R) of record ``sequence`` of ``stream`` starts: fields 1 and 2, in order."""
    name = stream.encode()
    return b"\x0a" + _varint(len(name)) + name + b"\x10" + _varint(sequence)


_PREVIOUS_TAG = b"\x72\x20"  # field 14 (previous_record_hash), 32 bytes


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while at < len(data):
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return value, at


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# How Apache httpd writes a byte of a logged value (ap_escape_logitem): the quote and the
# backslash with a backslash, the C control escapes, any other byte outside printable
# ASCII as \xhh.
_ESCAPES = {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\b"): "\\b",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\v"): "\\v",
}
_BYTE = tuple(_ESCAPES.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in range(256))
_OFFSET = re.compile(r"[+-](?:[01][0-9]|2[0-3])[0-5][0-9]")


def _escape(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(_BYTE[b] for b in text.encode("utf-8", "surrogatepass"))


def _quote(text: str) -> str:
    return f'"{_escape(text)}"' if text else '"-"'


def _dash(text: str) -> str:
    return _escape(text) if text else "-"


def ncsa_time(seconds: int, offset: str) -> str:
    """``%t`` of Apache: ``[dd/Mon/yyyy:HH:MM:SS +hhmm]`` in the zone of ``offset``."""
    if not _OFFSET.fullmatch(offset):
        offset = "+0000"
    sign = -1 if offset[0] == "-" else 1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])) * sign
    when = datetime.fromtimestamp(seconds, tz=timezone.utc).astimezone(timezone(delta))
    return (
        f"[{when.day:02d}/{_MONTHS[when.month - 1]}/{when.year:04d}:"
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {offset}]"
    )


def model_label(model: reference_pb2.ResourceRef) -> str:
    """``model_name:model_version`` of a reference that names both, else ``""`` (unknown)."""
    return f"{model.name}:{model.version}" if model.name and model.version else ""


def ncsa_line(
    record: inference_log_pb2.InferenceLogRecord,
    fmt: int = F.NCSA_FORMAT_COMBINED,
    label_of: Callable[[reference_pb2.ResourceRef], str] = model_label,
) -> str:
    """Renders a record as one NCSA Common, Combined or Combined-ML log line.

    The fields are written as Apache httpd writes ``%h %l %u %t "%r" %>s %b`` (and
    ``"%{Referer}i" "%{User-agent}i"`` for Combined): ``-`` for an unknown value, quoted
    fields and user names escaped as ``ap_escape_logitem`` escapes them. Combined-ML's
    ``"model_name:model_version"`` comes from ``label_of`` the record's model reference
    (a reference by id alone needs a look-up: see ``logging/model_labels.py``).
    """
    access = record.access
    line = access.request_line
    request_line = " ".join(p for p in (line.method, line.path, line.protocol) if p)
    parts = [
        _dash(access.remote_host),
        _dash(access.ident),
        _dash(access.auth_user),
        ncsa_time(access.time.seconds, access.utc_offset or "+0000"),
        _quote(request_line),
        str(access.status) if access.status else "-",
        str(access.bytes_sent) if access.bytes_sent else "-",
    ]
    if fmt in (F.NCSA_FORMAT_UNSPECIFIED, F.NCSA_FORMAT_COMBINED, F.NCSA_FORMAT_COMBINED_ML):
        parts += [_quote(access.referer), _quote(access.user_agent)]
    if fmt == F.NCSA_FORMAT_COMBINED_ML:
        label = label_of(record.inference.model)
        latency = record.inference.inference_latency
        millis = (
            str(latency.seconds * 1000 + latency.nanos // 1_000_000) if latency.ByteSize() else "-"
        )
        parts += [_quote(record.request_id), _quote(label), millis, record.record_hash.hex() or "-"]
    return " ".join(parts)
