"""Inference logs through a real server: paging over streams, filters, order, NCSA export."""

from __future__ import annotations

import re
from typing import Any

import grpc
import pytest

from mlspec.logging.v1 import inference_log_pb2, logging_service_pb2_grpc
from mlspec.logging.v1 import logging_service_pb2 as pb

from .conftest import Stubs
from .test_monitoring import model_version

DIGEST = {"digests": {"sha256": "ab" * 32}}


def record(stream: str, model_id: str, i: int, *, status: int, app: str) -> dict[str, Any]:
    return {
        "log_stream_id": stream,
        "request_id": f"req-{i}",
        "access": {
            "remote_host": "10.0.0.1",
            "time": f"2026-11-27T10:00:{i:02d}Z",
            "request_line": {"method": "POST", "path": "/predict", "protocol": "HTTP/1.1"},
            "status": status,
            "bytes_sent": 100 + i,
        },
        "inference": {
            "application_id": app,
            "model": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": model_id},
            "explanation": {"age": 0.5},
        },
        "provenance": {
            "pipeline_version_digest": DIGEST,
            "feature_set_digest": DIGEST,
            "training_data": [{"role": "train", "digest": DIGEST}],
            "model_digest": DIGEST,
        },
    }


@pytest.fixture
def logs(channel: grpc.Channel, stubs: Stubs) -> logging_service_pb2_grpc.LoggingServiceStub:
    """A logging stub over a store holding streams a (5 records) and b (3 records)."""
    from .messages import make

    stub = logging_service_pb2_grpc.LoggingServiceStub(channel)
    model_id = model_version(stubs, 1)
    for stream, count in (("a", 5), ("b", 3)):
        stub.WriteInferenceLogs(
            make(
                pb.WriteInferenceLogsRequest,
                {
                    "log_stream_id": stream,
                    "records": [
                        record(
                            stream, model_id, i, status=500 if i % 2 else 200, app=f"app-{stream}"
                        )
                        for i in range(1, count + 1)
                    ],
                },
            )
        )
    return stub


def every_page(stub: Any, request: pb.ListInferenceLogsRequest) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    pages = 0
    while True:
        response = stub.ListInferenceLogs(request)
        seen += [(r.log_stream_id, r.sequence_number) for r in response.records]
        pages += 1
        assert pages < 50, "paging does not end"
        if not response.next_page_token:
            return seen
        request.page_token = response.next_page_token


def test_paging_over_every_stream_returns_each_record_once(logs: Any) -> None:
    seen = every_page(logs, pb.ListInferenceLogsRequest(page_size=2))
    assert seen == [("a", 1), ("a", 2), ("a", 3), ("a", 4), ("a", 5), ("b", 1), ("b", 2), ("b", 3)]


def test_descending_order_reverses_the_pages(logs: Any) -> None:
    seen = every_page(
        logs, pb.ListInferenceLogsRequest(page_size=3, order_by="sequence_number desc")
    )
    assert seen == [("b", 3), ("b", 2), ("b", 1), ("a", 5), ("a", 4), ("a", 3), ("a", 2), ("a", 1)]
    one = every_page(
        logs, pb.ListInferenceLogsRequest(log_stream_id="a", order_by="sequence_number")
    )
    assert one == [("a", q) for q in range(1, 6)]


def test_filter_on_record_fields(logs: Any) -> None:
    failing_a = every_page(
        logs,
        pb.ListInferenceLogsRequest(
            page_size=1, filter='inference.application_id = "app-a" AND access.status >= 500'
        ),
    )
    assert failing_a == [("a", 1), ("a", 3), ("a", 5)]
    recent = every_page(
        logs,
        pb.ListInferenceLogsRequest(
            filter='access.time > "2026-11-27T10:00:03Z" OR request_id = "req-1"'
        ),
    )
    assert recent == [("a", 1), ("a", 4), ("a", 5), ("b", 1)]
    explained = every_page(
        logs,
        pb.ListInferenceLogsRequest(filter="inference.explanation:age AND NOT access.status = 200"),
    )
    assert [s for s, _ in explained] == ["a", "a", "a", "b", "b"]
    by_request = every_page(logs, pb.ListInferenceLogsRequest(request_id="req-2", page_size=1))
    assert by_request == [("a", 2), ("b", 2)]


@pytest.mark.parametrize(
    ("field", "value", "mentions"),
    [
        ("filter", "access.nope = 1", "nope"),
        ("filter", "access.status = lots", "lots"),
        ("filter", 'access.time < "yesterday"', "yesterday"),
        ("filter", "access.status.code = 1", "status"),
        ("filter", "inference.prediction = 3", "presence"),
        ("order_by", "access.time", "sequence_number"),
    ],
)
def test_bad_filter_or_order_is_invalid_argument(
    logs: Any, field: str, value: str, mentions: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        logs.ListInferenceLogs(pb.ListInferenceLogsRequest(**{field: value}))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert mentions in (caught.value.details() or "")


def test_a_page_token_only_serves_its_own_query(logs: Any) -> None:
    first = logs.ListInferenceLogs(pb.ListInferenceLogsRequest(page_size=2))
    assert first.next_page_token
    for other in (
        pb.ListInferenceLogsRequest(page_size=2, filter="access.status = 200"),
        pb.ListInferenceLogsRequest(page_size=2, order_by="sequence_number desc"),
        pb.ListInferenceLogsRequest(page_size=2, log_stream_id="b"),
    ):
        other.page_token = first.next_page_token
        with pytest.raises(grpc.RpcError) as caught:
            logs.ListInferenceLogs(other)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A different page size is the same query.
    again = logs.ListInferenceLogs(
        pb.ListInferenceLogsRequest(page_size=5, page_token=first.next_page_token)
    )
    assert (again.records[0].log_stream_id, again.records[0].sequence_number) == ("a", 3)


def test_ncsa_export_filters_and_resumes(logs: Any) -> None:
    chunks = list(
        logs.StreamNcsaLines(
            pb.StreamNcsaLinesRequest(log_stream_id="a", filter="access.status = 500")
        )
    )
    lines = [line for chunk in chunks for line in chunk.lines]
    assert len(lines) == 3 and all(" 500 " in line for line in lines)
    resumed = list(
        logs.StreamNcsaLines(pb.StreamNcsaLinesRequest(log_stream_id="a", after_sequence_number=4))
    )
    assert [c.last_sequence_number for c in resumed] == [5]
    with pytest.raises(grpc.RpcError) as caught:
        list(logs.StreamNcsaLines(pb.StreamNcsaLinesRequest()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_combined_ml_lines_name_the_model_and_its_version(logs: Any) -> None:
    """The records name their model version by id; the line shows `"m1:1.0.0"`."""
    chunks = logs.StreamNcsaLines(
        pb.StreamNcsaLinesRequest(
            log_stream_id="b", format=inference_log_pb2.NCSA_FORMAT_COMBINED_ML
        )
    )
    lines = [line for chunk in chunks for line in chunk.lines]
    assert len(lines) == 3
    for i, line in enumerate(lines, start=1):
        # Combined, then "request_id" "model_name:model_version" latency record_hash.
        tail = re.search(r' "([^"]*)" "([^"]*)" (\S+) ([0-9a-f]{64})$', line)
        assert tail is not None, line
        assert tail.groups()[:3] == (f"req-{i}", "m1:1.0.0", "-")


def test_chain_verifies(logs: Any) -> None:
    verified = logs.VerifyLogChain(pb.VerifyLogChainRequest(log_stream_id="a"))
    assert verified.ok and verified.verified_count == 5


def test_a_long_export_arrives_in_chunks_of_500(logs: Any, stubs: Stubs) -> None:
    from .messages import make

    model_id = model_version(stubs, 2)
    for start in (1, 701):
        logs.WriteInferenceLogs(
            make(
                pb.WriteInferenceLogsRequest,
                {
                    "log_stream_id": "big",
                    "records": [
                        record("big", model_id, i % 60, status=200, app="x")
                        for i in range(start, start + 700)
                    ],
                },
            )
        )
    chunks = list(logs.StreamNcsaLines(pb.StreamNcsaLinesRequest(log_stream_id="big")))
    assert [len(c.lines) for c in chunks] == [500, 500, 400]
    assert [c.last_sequence_number for c in chunks] == [500, 1000, 1400]
