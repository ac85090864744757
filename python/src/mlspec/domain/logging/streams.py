"""Writing and verifying inference-log streams (stage 13): numbered, hash-chained records.

``append`` numbers and chains new records (``inference_log.record_hash``); ``verify``
recomputes a stream's chain and names the first break.
"""

from __future__ import annotations

from mlspec import errors
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common import field_behavior
from mlspec.domain.common.resources import Resources
from mlspec.domain.logging import inference_log
from mlspec.errors import FieldViolation
from mlspec.logging.v1 import inference_log_pb2
from mlspec.logging.v1 import logging_service_pb2 as pb
from mlspec.store.api import LogRow

MAX_RECORDS = 1000
B = pb.ChainBreakReason


def append(res: Resources, request: pb.WriteInferenceLogsRequest) -> pb.WriteInferenceLogsResponse:
    """Appends records to a stream, numbering and chaining them, in one transaction.

    Each record is bound to the model version its ``inference.model`` names; a record
    whose ``previous_record_hash`` is not the stream's last hash lost a race with
    another writer (FAILED_PRECONDITION, nothing stored).
    """
    if not request.log_stream_id:
        raise errors.invalid("log_stream_id", "is required")
    if not request.records:
        raise errors.invalid("records", "holds no records")
    if len(request.records) > MAX_RECORDS:
        raise errors.too_many("records", len(request.records), MAX_RECORDS)
    last = res.last_log(request.log_stream_id)
    sequence, previous = (last[0], bytes.fromhex(last[1])) if last else (0, b"")
    observed = micros_to_timestamp(now_micros())
    rows = []
    models: dict[str, str] = {}
    first = sequence + 1
    for i, incoming in enumerate(request.records):
        record = inference_log_pb2.InferenceLogRecord()
        record.CopyFrom(incoming)
        field_behavior.clear_output_only(record)
        path = f"records[{i}]"
        violations = field_behavior.missing_required(record, path)
        if record.log_stream_id and record.log_stream_id != request.log_stream_id:
            violations.append(
                FieldViolation(f"{path}.log_stream_id", "differs from the request's log_stream_id")
            )
        if violations:
            raise errors.not_valid(f"record {i} is not valid", violations, "INVALID_LOG_RECORD")
        if record.sequence_number and record.sequence_number != sequence + 1:
            raise errors.FailedPrecondition(
                f"records[{i}].sequence_number is {record.sequence_number}, but the stream's "
                f"next position is {sequence + 1}; another writer appended first",
                reason="CHAIN_CONFLICT",
                violations=[
                    FieldViolation(f"{path}.sequence_number", "does not continue the stream")
                ],
            )
        if record.previous_record_hash and record.previous_record_hash != previous:
            raise errors.FailedPrecondition(
                f"records[{i}].previous_record_hash is not the stream's last record hash; another writer appended first",
                reason="CHAIN_CONFLICT",
            )
        model = record.inference.model
        key = (model.id, model.name, model.version)
        if str(key) not in models:
            target = res.resolve(model, f"{path}.inference.model", for_use=False)
            models[str(key)] = target.record.id
        sequence += 1
        record.log_stream_id = request.log_stream_id
        record.sequence_number = sequence
        record.previous_record_hash = previous
        record.record_hash = inference_log.record_hash(record)
        record.observed_time.CopyFrom(observed)
        previous = record.record_hash
        time_us = record.access.time.ToMicroseconds()
        rows.append(
            LogRow(
                request.log_stream_id,
                sequence,
                time_us,
                models[str(key)],
                record.record_hash.hex(),
                record.SerializeToString(),
            )
        )
    res.append_logs(rows)
    return pb.WriteInferenceLogsResponse(
        accepted_count=len(rows),
        first_sequence_number=first,
        last_sequence_number=sequence,
        last_record_hash=previous,
    )


def require_stream(res: Resources, stream_id: str, path: str = "log_stream_id") -> None:
    """NOT_FOUND for a stream that holds no record (streams exist once written to)."""
    if res.last_log(stream_id) is None:
        raise errors.NotFound(
            f"no log stream {stream_id!r} in this workspace",
            reason="LOG_STREAM_NOT_FOUND",
            resource_name=stream_id,
            violations=[FieldViolation(path, "no such log stream")],
        )


def verify(res: Resources, request: pb.VerifyLogChainRequest) -> pb.VerifyLogChainResponse:
    """Recomputes the chain of a stream and reports the first break."""
    if not request.log_stream_id:
        raise errors.invalid("log_stream_id", "is required")
    if request.end_sequence_number and request.end_sequence_number < request.start_sequence_number:
        raise errors.invalid(
            "end_sequence_number", "is before start_sequence_number; the range is empty"
        )
    require_stream(res, request.log_stream_id)
    start = max(request.start_sequence_number, 1)
    previous = b""
    if start > 1:
        before = res.logs(request.log_stream_id, start - 2, 1)
        if before:
            previous = inference_log_pb2.InferenceLogRecord.FromString(before[0][1]).record_hash
    expected = start
    verified = 0
    response = pb.VerifyLogChainResponse(ok=True)
    after = start - 1
    end = request.end_sequence_number or None
    while True:
        rows = res.logs(request.log_stream_id, after, 1000, until_sequence=end)
        if not rows:
            break
        for sequence, data in rows:
            record = inference_log_pb2.InferenceLogRecord.FromString(data)
            reason, detail = _check(
                record, sequence, expected, previous, request.require_signatures
            )
            if reason:
                response.ok = False
                response.first_broken_sequence_number = sequence
                response.reason = reason  # type: ignore[assignment]
                response.detail = detail
                response.verified_count = verified
                return response
            previous = record.record_hash
            expected += 1
            verified += 1
            after = sequence
            response.last_verified_record_hash = previous
    response.verified_count = verified
    return response


def _check(
    record: inference_log_pb2.InferenceLogRecord,
    sequence: int,
    expected: int,
    previous: bytes,
    signatures: bool,
) -> tuple[int, str]:
    if sequence != expected or record.sequence_number != sequence:
        return B.CHAIN_BREAK_REASON_SEQUENCE_GAP, f"expected sequence {expected}, found {sequence}"
    if record.previous_record_hash != previous:
        return (
            B.CHAIN_BREAK_REASON_PREVIOUS_HASH_MISMATCH,
            "previous_record_hash does not match the record before",
        )
    if inference_log.record_hash(record) != record.record_hash:
        return (
            B.CHAIN_BREAK_REASON_RECORD_HASH_MISMATCH,
            "the stored record does not hash to its record_hash",
        )
    if signatures and not record.HasField("signature"):
        return B.CHAIN_BREAK_REASON_SIGNATURE_MISSING, "the record carries no signature"
    return 0, ""
