"""Writing and verifying inference-log streams (stage 13): numbered, hash-chained records.

``append`` numbers and chains new records (``inference_log.record_hash``), binds each to
its model version, fills missing provenance from the store (``provenance``), checks
producers' signatures and, when the service has a signing key, stores a signed
checkpoint of the stream's head every ``Policy.log_checkpoint_interval`` records.
``verify`` recomputes a stream's chain and its checkpoints and names the first position
where the stored log is not what was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common import field_behavior
from mlspec.domain.common.resources import Resources
from mlspec.domain.logging import inference_log, provenance, signatures
from mlspec.errors import FieldViolation
from mlspec.logging.v1 import inference_log_pb2
from mlspec.logging.v1 import logging_service_pb2 as pb
from mlspec.store.api import LogRow

MAX_RECORDS = 1000
B = pb.ChainBreakReason
Record = inference_log_pb2.InferenceLogRecord
MODEL_VERSION = reference_pb2.RESOURCE_KIND_MODEL_VERSION
# The records of a stream are read back in pages of this many.
PAGE = 2000


def append(res: Resources, request: Any) -> pb.WriteInferenceLogsResponse:
    """Appends records to a stream, numbering and chaining them, in one transaction.

    ``request`` is a WriteInferenceLogsRequest or a StreamInferenceLogsRequest (the same
    fields). Each record is bound to the model version its ``inference.model`` names; a
    record whose ``sequence_number`` or ``previous_record_hash`` does not continue the
    stream lost a race with another writer (FAILED_PRECONDITION, nothing stored).
    """
    stream = request.log_stream_id
    if not stream:
        raise errors.invalid("log_stream_id", "is required")
    if not request.records:
        raise errors.invalid("records", "holds no records")
    if len(request.records) > MAX_RECORDS:
        raise errors.too_many("records", len(request.records), MAX_RECORDS)
    last = res.last_log(stream)
    sequence, previous = (last[0], bytes.fromhex(last[1])) if last else (0, b"")
    observed = micros_to_timestamp(now_micros())
    keys = signatures.trusted_keys(res.policy)
    rows = []
    models: dict[tuple[str, str, str], str] = {}
    filled: dict[str, inference_log_pb2.Provenance] = {}
    first = sequence + 1
    observed_bytes = observed.SerializeToString()
    for i, record in enumerate(request.records):
        path = f"records[{i}]"
        record.ClearField("record_hash")
        record.ClearField("observed_time")
        if record.log_stream_id and record.log_stream_id != stream:
            raise errors.not_valid(
                f"record {i} is not valid",
                [
                    FieldViolation(
                        f"{path}.log_stream_id", "differs from the request's log_stream_id"
                    )
                ],
                "INVALID_LOG_RECORD",
            )
        record.log_stream_id = stream
        model = record.inference.model
        key = (model.id, model.name, model.version)
        model_id = models.get(key)
        if model_id is None:
            model_id = models[key] = _bind_model(res, record, path)
        if not record.HasField("provenance"):
            found = filled.get(model_id)
            if found is None:
                loaded = res.get(MODEL_VERSION, model_id)
                found = filled[model_id] = provenance.of_model_version(res, loaded)
            record.provenance.CopyFrom(found)
        violations = field_behavior.missing_required(record, path)
        if violations:
            raise errors.not_valid(f"record {i} is not valid", violations, "INVALID_LOG_RECORD")
        sequence += 1
        if record.sequence_number and record.sequence_number != sequence:
            raise errors.FailedPrecondition(
                f"{path}.sequence_number is {record.sequence_number}, but the stream's next "
                f"position is {sequence}; another writer appended first",
                reason="CHAIN_CONFLICT",
            )
        if record.previous_record_hash and record.previous_record_hash != previous:
            raise errors.FailedPrecondition(
                f"{path}.previous_record_hash is not the stream's last record hash; another "
                "writer appended first",
                reason="CHAIN_CONFLICT",
            )
        record.sequence_number = sequence
        record.previous_record_hash = previous
        signature = b""
        if record.HasField("signature"):
            signed = record.signature
            signature = signed.SerializeToString()
            record.ClearField("signature")
        canonical = record.SerializeToString(deterministic=True)
        digest = inference_log.chain_hash(canonical, previous)
        if signature:
            _check_signature(res, signed, digest, keys, f"{path}.signature")
        previous = digest
        rows.append(
            LogRow(
                stream,
                sequence,
                _micros(record.access.time),
                model_id,
                digest.hex(),
                inference_log.stored_form(canonical, digest, observed_bytes, signature),
            )
        )
    res.append_logs(rows)
    _checkpoint(res, stream, sequence, previous, observed)
    return pb.WriteInferenceLogsResponse(
        accepted_count=len(rows),
        first_sequence_number=first,
        last_sequence_number=sequence,
        last_record_hash=previous,
    )


def _micros(stamp: Any) -> int:
    """A Timestamp in microseconds (cheaper than ``ToMicroseconds`` on every record)."""
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000


def _bind_model(res: Resources, record: Record, path: str) -> str:
    """The id of the model version a record names."""
    if not record.inference.model.WhichOneof("target"):
        raise errors.not_valid(
            "record is not valid",
            [FieldViolation(f"{path}.inference.model", "is required")],
            "INVALID_LOG_RECORD",
        )
    target = res.resolve(record.inference.model, f"{path}.inference.model", for_use=False)
    if target.spec.kind != MODEL_VERSION:
        raise errors.invalid(f"{path}.inference.model", "must name a model version")
    return target.record.id


def _check_signature(
    res: Resources, signature: Any, digest: bytes, keys: dict[str, Any], path: str
) -> None:
    problem = signatures.check(signature, digest, keys)
    if problem.startswith("UNKNOWN_KEY"):
        res.scope.warn("UNVERIFIED_SIGNATURE", f"{path}: {problem.split(': ', 1)[1]}")
    elif problem:
        raise errors.invalid(path, problem, reason="BAD_SIGNATURE")


def _checkpoint(res: Resources, stream: str, sequence: int, head: bytes, now: Any) -> None:
    """Signs the stream's head once it is an interval past the last checkpoint."""
    key = res.policy.log_signing_key
    if key is None or sequence - res.last_checkpoint(stream) < res.policy.log_checkpoint_interval:
        return
    checkpoint = inference_log_pb2.LogCheckpoint(
        log_stream_id=stream,
        sequence_number=sequence,
        record_hash=head,
        create_time=now,
        workspace=res.scope.workspace,
    )
    signatures.sign_checkpoint(checkpoint, key)
    res.append_checkpoint(stream, sequence, now.ToMicroseconds(), checkpoint.SerializeToString())


def require_stream(res: Resources, stream_id: str, path: str = "log_stream_id") -> tuple[int, str]:
    """The stream's last (sequence number, record hash).

    NOT_FOUND for a stream without records (streams exist once written to).
    """
    head = res.last_log(stream_id)
    if head is None:
        raise errors.NotFound(
            f"no log stream {stream_id!r} in this workspace",
            reason="LOG_STREAM_NOT_FOUND",
            resource_name=stream_id,
            violations=[FieldViolation(path, "no such log stream")],
        )
    return head


def verify(res: Resources, request: pb.VerifyLogChainRequest) -> pb.VerifyLogChainResponse:
    """Recomputes the chain and the checkpoints of a stream and reports the first break."""
    stream = request.log_stream_id
    if not stream:
        raise errors.invalid("log_stream_id", "is required")
    if request.start_sequence_number < 0 or request.end_sequence_number < 0:
        raise errors.invalid("start_sequence_number", "must not be negative")
    if request.end_sequence_number and request.end_sequence_number < request.start_sequence_number:
        raise errors.invalid(
            "end_sequence_number", "is before start_sequence_number; the range is empty"
        )
    require_stream(res, stream)
    start = max(request.start_sequence_number, 1)
    end = request.end_sequence_number or None
    previous = b""
    if start > 1:
        before = res.logs(stream, start - 2, 1)
        if before:
            previous = Record.FromString(before[0][1]).record_hash
    keys = signatures.trusted_keys(res.policy)
    checker = _Checker(stream, request.require_signatures, keys)
    response = pb.VerifyLogChainResponse(ok=True)
    pending = _checkpoints(res, stream, start - 1, end)
    checkpoint = next(pending, None)
    expected = start
    for sequence, data in _records(res, stream, start - 1, end):
        reason, detail = checker.record(sequence, data, expected, previous)
        if not reason:
            record_hash = checker.last_hash
            while checkpoint is not None and checkpoint[0] <= sequence:
                reason, detail = _check_checkpoint(checkpoint, sequence, record_hash, keys)
                if reason:
                    break
                response.verified_checkpoint_count += 1
                response.last_verified_checkpoint = checkpoint[0]
                checkpoint = next(pending, None)
        if reason:
            at = expected if reason == B.CHAIN_BREAK_REASON_SEQUENCE_GAP else sequence
            return _broken(response, at, reason, detail)
        previous = checker.last_hash
        expected += 1
        response.verified_count += 1
        response.last_verified_record_hash = previous
    if checkpoint is not None:
        return _broken(
            response,
            expected,
            B.CHAIN_BREAK_REASON_RECORDS_MISSING,
            f"a signed checkpoint covers position {checkpoint[0]}, but the stream ends at "
            f"{expected - 1}: records at its end were removed",
        )
    return response


def _broken(
    response: pb.VerifyLogChainResponse, sequence: int, reason: int, detail: str
) -> pb.VerifyLogChainResponse:
    response.ok = False
    response.first_broken_sequence_number = sequence
    response.reason = reason  # type: ignore[assignment]
    response.detail = detail
    return response


def _records(
    res: Resources, stream: str, after: int, end: int | None
) -> Iterator[tuple[int, bytes]]:
    while True:
        rows = res.logs(stream, after, PAGE, until_sequence=end)
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def _checkpoints(
    res: Resources, stream: str, after: int, end: int | None
) -> Iterator[tuple[int, bytes]]:
    while True:
        rows = res.checkpoints(stream, after, PAGE)
        for row in rows:
            if end is not None and row[0] > end:
                return
            yield row
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


class _Checker:
    """Checks one record after another; keeps the last record's hash."""

    def __init__(self, stream: str, require_signatures: bool, keys: dict[str, Any]) -> None:
        self.stream = stream
        self.require_signatures = require_signatures
        self.keys = keys
        self.last_hash = b""

    def record(self, sequence: int, data: bytes, expected: int, previous: bytes) -> tuple[int, str]:
        """(reason, detail) of the first problem of the record at ``sequence``; (0, '')."""
        if sequence != expected:
            return (
                B.CHAIN_BREAK_REASON_SEQUENCE_GAP,
                f"expected sequence {expected}, found {sequence}",
            )
        quick = inference_log.split_stored(data)
        if (
            quick is not None
            and not quick[2]
            and not self.require_signatures
            and inference_log.chains_to(
                quick[1], inference_log.record_head(self.stream, sequence), previous, quick[0]
            )
        ):
            self.last_hash = quick[0]
            return 0, ""
        try:
            record = Record.FromString(data)
        except Exception:  # any decoding failure: the stored bytes were altered
            return B.CHAIN_BREAK_REASON_RECORD_HASH_MISMATCH, "the stored record cannot be decoded"
        stored = record.record_hash
        if record.sequence_number != sequence:
            return (
                B.CHAIN_BREAK_REASON_SEQUENCE_MISMATCH,
                f"the record stored at {sequence} names sequence {record.sequence_number}",
            )
        if record.previous_record_hash != previous:
            return (
                B.CHAIN_BREAK_REASON_PREVIOUS_HASH_MISMATCH,
                "previous_record_hash does not match the record before",
            )
        if inference_log.record_hash(record) != stored:
            return (
                B.CHAIN_BREAK_REASON_RECORD_HASH_MISMATCH,
                "the stored record does not hash to its record_hash",
            )
        if record.HasField("signature"):
            problem = signatures.check(record.signature, stored, self.keys)
            if problem and (self.require_signatures or not problem.startswith("UNKNOWN_KEY")):
                return B.CHAIN_BREAK_REASON_SIGNATURE_INVALID, problem.removeprefix("UNKNOWN_KEY: ")
        elif self.require_signatures:
            return B.CHAIN_BREAK_REASON_SIGNATURE_MISSING, "the record carries no signature"
        self.last_hash = stored
        return 0, ""


def _check_checkpoint(
    checkpoint: tuple[int, bytes], sequence: int, record_hash: bytes, keys: dict[str, Any]
) -> tuple[int, str]:
    try:
        signed = inference_log_pb2.LogCheckpoint.FromString(checkpoint[1])
    except Exception:  # altered bytes
        return B.CHAIN_BREAK_REASON_CHECKPOINT_SIGNATURE_INVALID, "the checkpoint cannot be decoded"
    if checkpoint[0] != sequence or signed.sequence_number != sequence:
        return (
            B.CHAIN_BREAK_REASON_CHECKPOINT_MISMATCH,
            f"the checkpoint stored at {checkpoint[0]} names sequence {signed.sequence_number}",
        )
    problem = signatures.check(signed.signature, signatures.checkpoint_bytes(signed), keys)
    if problem:
        return (
            B.CHAIN_BREAK_REASON_CHECKPOINT_SIGNATURE_INVALID,
            f"checkpoint at {sequence}: {problem.removeprefix('UNKNOWN_KEY: ')}",
        )
    if signed.record_hash != record_hash:
        return (
            B.CHAIN_BREAK_REASON_CHECKPOINT_MISMATCH,
            f"the checkpoint at {sequence} signed hash {signed.record_hash.hex()}, but the chain "
            f"reaches {record_hash.hex()} there: the records up to it were rewritten",
        )
    return 0, ""
