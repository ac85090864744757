"""Inference log records (SPEC.md section 7 and stage 13): the hash chain and NCSA lines.

Each record of a log stream is chained to the one before it:
``record_hash = SHA-256(S(R) || previous_record_hash)`` where R is the record with
``record_hash``, ``signature`` and ``observed_time`` cleared and S is the deterministic
protobuf serialization. Removing, reordering or editing any stored record breaks the
chain, which ``verify`` detects.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from mlspec.logging.v1 import inference_log_pb2

F = inference_log_pb2.NcsaFormat


def record_hash(record: inference_log_pb2.InferenceLogRecord) -> bytes:
    """The chain hash of a record (over its canonical form and its previous hash)."""
    canonical = inference_log_pb2.InferenceLogRecord()
    canonical.CopyFrom(record)
    canonical.ClearField("record_hash")
    canonical.ClearField("signature")
    canonical.ClearField("observed_time")
    return hashlib.sha256(
        canonical.SerializeToString(deterministic=True) + record.previous_record_hash
    ).digest()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"' if text else '"-"'


def _dash(text: str) -> str:
    return text if text else "-"


def ncsa_line(
    record: inference_log_pb2.InferenceLogRecord, fmt: int = F.NCSA_FORMAT_COMBINED
) -> str:
    """Renders a record as one NCSA Common, Combined or Combined-ML log line."""
    access = record.access
    offset = access.utc_offset or "+0000"
    sign = -1 if offset.startswith("-") else 1
    try:
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])) * sign
    except ValueError:
        delta, offset = timedelta(0), "+0000"
    when = datetime.fromtimestamp(access.time.seconds, tz=timezone.utc).astimezone(timezone(delta))
    request_line = " ".join(
        p
        for p in (
            access.request_line.method,
            access.request_line.path,
            access.request_line.protocol,
        )
        if p
    )
    parts = [
        _dash(access.remote_host),
        _dash(access.ident),
        _dash(access.auth_user),
        when.strftime("[%d/%b/%Y:%H:%M:%S ") + offset + "]",
        _quote(request_line),
        str(access.status) if access.status else "-",
        str(access.bytes_sent) if access.bytes_sent else "-",
    ]
    if fmt in (F.NCSA_FORMAT_UNSPECIFIED, F.NCSA_FORMAT_COMBINED, F.NCSA_FORMAT_COMBINED_ML):
        parts += [_quote(access.referer), _quote(access.user_agent)]
    if fmt == F.NCSA_FORMAT_COMBINED_ML:
        model = record.inference.model
        label = f"{model.name or model.id}:{model.version}" if (model.name or model.id) else ""
        latency = record.inference.inference_latency
        millis = (
            str(latency.seconds * 1000 + latency.nanos // 1_000_000) if latency.ByteSize() else "-"
        )
        parts += [_quote(record.request_id), _quote(label), millis, record.record_hash.hex() or "-"]
    return " ".join(parts)
