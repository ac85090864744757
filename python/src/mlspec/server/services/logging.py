"""mlspec.logging.v1.LoggingService: append-only, hash-chained inference logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from google.protobuf.message import Message

from mlspec import errors
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common import field_behavior, message_filter
from mlspec.domain.common.resources import Resources
from mlspec.domain.logging import inference_log
from mlspec.errors import FieldViolation
from mlspec.logging.v1 import inference_log_pb2
from mlspec.logging.v1 import logging_service_pb2 as pb
from mlspec.query import parse_filter
from mlspec.server import paging
from mlspec.server.paging import encode_token
from mlspec.server.routes import read, write
from mlspec.store.api import LogRow

SERVICE = "mlspec.logging.v1.LoggingService"
MAX_RECORDS = 1000
B = pb.ChainBreakReason


def write_inference_logs(request: pb.WriteInferenceLogsRequest, res: Resources) -> Message:
    """Appends records to a stream, numbering and chaining them, in one transaction."""
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


def list_logs(request: pb.ListInferenceLogsRequest, res: Resources) -> Message:
    """Pages through records by (stream, sequence), filtered by the typed fields and `filter`."""
    descending = paging.sort_descending(request.order_by, "sequence_number", default=False)
    keep = _record_filter(request.filter, request.request_id)
    size = paging.page_size(request.page_size, 100)
    fingerprint = paging.query_fingerprint(request)
    after = None
    if request.page_token:
        token = paging.token_fields(request.page_token, q=fingerprint)
        after = (paging.token_str(token, "stream"), paging.token_int(token, "s"))
    model_id = ""
    if request.HasField("model_version"):
        model_id = res.resolve(request.model_version, "model_version", for_use=False).record.id

    def fetch(position: tuple[str, int] | None, limit: int) -> list[tuple[tuple[str, int], Any]]:
        rows = res.log_page(
            request.log_stream_id,
            position,
            limit,
            descending=descending,
            start_time=_micros(request, "start_time"),
            end_time=_micros(request, "end_time"),
            model_version_id=model_id,
        )
        return [(p, inference_log_pb2.InferenceLogRecord.FromString(d)) for p, d in rows]

    records, position = paging.scan_page(fetch, after, size, keep)
    response = pb.ListInferenceLogsResponse(records=records)
    if position is not None:
        response.next_page_token = encode_token(
            {"q": fingerprint, "stream": position[0], "s": position[1]}
        )
    return response


def _record_filter(text: str, request_id: str) -> Callable[[Any], bool] | None:
    """The predicate of a `filter` over log records, and of the `request_id` field."""
    matches = message_filter.compile_filter(
        parse_filter(text), inference_log_pb2.InferenceLogRecord.DESCRIPTOR
    )
    if not request_id:
        return matches
    if matches is None:
        return lambda record: bool(record.request_id == request_id)
    return lambda record: record.request_id == request_id and matches(record)


def _micros(request: Message, name: str) -> int | None:
    if not request.HasField(name):
        return None
    stamp = getattr(request, name)
    return int(stamp.ToMicroseconds())


def verify(request: pb.VerifyLogChainRequest, res: Resources) -> Message:
    """Recomputes the chain of a stream and reports the first break."""
    if not request.log_stream_id:
        raise errors.invalid("log_stream_id", "is required")
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


def stream_ncsa(request: pb.StreamNcsaLinesRequest, res: Resources) -> Iterator[Message]:
    """Renders a stream's records as NCSA text lines, in chunks of up to 500 records read."""
    if not request.log_stream_id:
        raise errors.invalid("log_stream_id", "is required")
    keep = _record_filter(request.filter, "")
    position = (request.log_stream_id, request.after_sequence_number)
    while True:
        rows = res.log_page(
            request.log_stream_id,
            position,
            500,
            start_time=_micros(request, "start_time"),
            end_time=_micros(request, "end_time"),
        )
        if not rows:
            return
        records = (inference_log_pb2.InferenceLogRecord.FromString(d) for _, d in rows)
        lines = [
            inference_log.ncsa_line(r, request.format) for r in records if keep is None or keep(r)
        ]
        position = rows[-1][0]
        if lines:
            yield pb.StreamNcsaLinesResponse(lines=lines, last_sequence_number=position[1])


# Every RPC of LoggingService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "WriteInferenceLogs": write(write_inference_logs),
    "ListInferenceLogs": read(list_logs),
    "VerifyLogChain": read(verify),
    "StreamNcsaLines": read(stream_ncsa),
}
