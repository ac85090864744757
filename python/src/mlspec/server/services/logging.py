"""mlspec.logging.v1.LoggingService: append-only, hash-chained inference logs.

Writing and verifying streams is ``domain.logging.streams``; the lists and the NCSA
rendering page through the stored records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from google.protobuf.message import Message

from mlspec.domain.common import message_filter
from mlspec.domain.common.resources import Resources
from mlspec.domain.logging import inference_log, model_labels, streams
from mlspec.logging.v1 import inference_log_pb2
from mlspec.logging.v1 import logging_service_pb2 as pb
from mlspec.query import parse_filter
from mlspec.server import paging
from mlspec.server.paging import encode_token
from mlspec.server.routes import read, write, write_each

SERVICE = "mlspec.logging.v1.LoggingService"


def write_inference_logs(request: pb.WriteInferenceLogsRequest, res: Resources) -> Message:
    """Appends records to a stream, numbering and chaining them, in one transaction.

    Also serves each batch of StreamInferenceLogs (its messages have the same fields).
    """
    return streams.append(res, request)


def combine_batches(responses: list[Message]) -> Message:
    """The response of a client stream of batches: each batch's result and the total."""
    batches = [r for r in responses if isinstance(r, pb.WriteInferenceLogsResponse)]
    return pb.StreamInferenceLogsResponse(
        accepted_count=sum(b.accepted_count for b in batches), batches=batches
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
    if request.log_stream_id:
        streams.require_stream(res, request.log_stream_id)

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
    return streams.verify(res, request)


def stream_ncsa(request: pb.StreamNcsaLinesRequest, res: Resources) -> Iterator[Message]:
    """Renders a stream's records as NCSA text lines, in chunks of up to 500 records read."""
    keep = _record_filter(request.filter, "")  # log_stream_id is Required: checked before
    streams.require_stream(res, request.log_stream_id)
    position = (request.log_stream_id, request.after_sequence_number)
    label_of = model_labels.labeller(res)
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
            inference_log.ncsa_line(r, request.format, label_of)
            for r in records
            if keep is None or keep(r)
        ]
        position = rows[-1][0]
        if lines:
            yield pb.StreamNcsaLinesResponse(lines=lines, last_sequence_number=position[1])


# Every RPC of LoggingService and what serves it (server/routes.py says how to read this).
ROUTES = {
    "WriteInferenceLogs": write(write_inference_logs),
    "StreamInferenceLogs": write_each(
        write_inference_logs, combine_batches, pb.WriteInferenceLogsResponse
    ),
    "ListInferenceLogs": read(list_logs),
    "VerifyLogChain": read(verify),
    "StreamNcsaLines": read(stream_ncsa),
}
