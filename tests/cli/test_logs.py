"""``mlspec logs`` and ``mlspec logs verify`` against a real server.

The lines are parsed back with ``apachelogs``, an Apache access-log parser from PyPI that
knows nothing of MLSpec, so "exactly as Apache writes them" is checked by an outsider.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any

import apachelogs  # type: ignore[import-untyped]
import grpc
import pytest
from google.protobuf import json_format

from mlspec.logging.v1 import inference_log_pb2, logging_service_pb2_grpc
from mlspec.logging.v1 import logging_service_pb2 as pb
from mlspec.models.v1 import models_service_pb2 as models
from mlspec.models.v1 import models_service_pb2_grpc
from mlspec.server.app import RunningServer

from .conftest import invoke, one_error_line

DIGEST = {"sha256": "ab" * 32}

# (remote host, user, method path, status, bytes, referer, user agent, offset, seconds)
ROWS: list[tuple[str, str, str, int, int, str, str, str, int]] = [
    ("10.1.2.3", "svc-crm", "/v1/churn:predict", 200, 512, "", "curl/8.5", "+0000", 1_772_366_400),
    ("", "", '/v1/a"b\\c', 503, 0, 'https://x.example/?q="1"', "agent é\n", "-0700", 1_772_370_000),
    ("::1", 'o"neil', "/v1/é", 404, 7, "-", "", "+0530", 1_772_373_600),
]


def _record(model_id: str, i: int, row: tuple[Any, ...]) -> Any:
    host, user, path, status, size, referer, agent, offset, seconds = row
    record = json_format.ParseDict(
        {
            "request_id": f"r{i}",
            "access": {
                "remote_host": host,
                "auth_user": user,
                "utc_offset": offset,
                "request_line": {"method": "POST", "path": path, "protocol": "HTTP/1.1"},
                "status": status,
                "bytes_sent": size,
                "referer": referer,
                "user_agent": agent,
            },
            "inference": {
                "application_id": "crm",
                "model": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": model_id},
            },
            "provenance": {
                "pipeline_version_digest": {"digests": DIGEST},
                "feature_set_digest": {"digests": DIGEST},
                "training_data": [{"digest": {"digests": DIGEST}}],
                "model_digest": {"digests": DIGEST},
            },
        },
        inference_log_pb2.InferenceLogRecord(),
    )
    record.access.time.seconds = seconds
    return record


@pytest.fixture
def logged(running: RunningServer) -> tuple[str, str]:
    """A stream of three awkward records; returns (--server value, model version id)."""
    target = f"127.0.0.1:{running.port}"
    with grpc.insecure_channel(target) as channel:
        registry = models_service_pb2_grpc.ModelsServiceStub(channel)
        model = registry.CreateModel(
            json_format.ParseDict(
                {"model": {"meta": {"name": "churn"}}}, models.CreateModelRequest()
            )
        )
        version = registry.CreateModelVersion(
            json_format.ParseDict(
                {
                    "model_version": {
                        "model_id": model.model.meta.id,
                        "version": {"major": 1, "minor": 4},
                        "artifact": {"uri": "s3://m", "digest": {"digests": DIGEST}},
                    }
                },
                models.CreateModelVersionRequest(),
            )
        ).model_version
        logs = logging_service_pb2_grpc.LoggingServiceStub(channel)
        logs.WriteInferenceLogs(
            pb.WriteInferenceLogsRequest(
                log_stream_id="scorer",
                records=[_record(version.meta.id, i, row) for i, row in enumerate(ROWS)],
            )
        )
    return target, version.meta.id


def _text(value: str | None) -> str:
    """A parsed field back as the original text (apachelogs decodes \\xhh as bytes)."""
    return "" if value is None else value.encode("latin-1").decode("utf-8")


@pytest.mark.parametrize("fmt", ["common", "combined"])
def test_lines_are_what_apache_writes(logged: tuple[str, str], fmt: str) -> None:
    target, _ = logged
    done = invoke("--server", target, "logs", "--format", fmt)
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.splitlines()
    parser = apachelogs.LogParser(apachelogs.COMMON if fmt == "common" else apachelogs.COMBINED)
    entries = [parser.parse(line) for line in lines]
    assert len(entries) == len(ROWS)
    for entry, row in zip(entries, ROWS, strict=True):
        host, user, path, status, size, referer, agent, offset, seconds = row
        assert _text(entry.remote_host) == (host or "-")
        assert entry.remote_logname is None
        assert _text(entry.remote_user) == user
        assert entry.request_line == f"POST {path} HTTP/1.1".encode().decode("latin-1")
        assert entry.final_status == status
        assert entry.bytes_sent == (size or None)
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
        assert entry.request_time == datetime.fromtimestamp(seconds, tz=zone)
        assert entry.request_time.utcoffset() == zone.utcoffset(None)
        if fmt == "combined":
            # An empty header, like Apache's missing one, is "-" (a literal "-" too).
            assert _text(entry.headers_in["Referer"]) == ("" if referer in ("", "-") else referer)
            assert _text(entry.headers_in["User-Agent"]) == agent
    assert lines[0] == (
        '10.1.2.3 - svc-crm [01/Mar/2026:12:00:00 +0000] "POST /v1/churn:predict HTTP/1.1" 200 512'
        + (' "-" "curl/8.5"' if fmt == "combined" else "")
    )


def test_combined_ml_lines_add_the_request_model_latency_and_hash(
    logged: tuple[str, str],
) -> None:
    target, _ = logged
    done = invoke("--server", target, "logs", "--format", "combined-ml")
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.splitlines()
    parser = apachelogs.LogParser(apachelogs.COMBINED)
    for i, line in enumerate(lines):
        # The Combined part parses as Apache's; the four MLSpec fields follow it.
        head, request_id, model, latency, record_hash = line.rsplit(" ", 4)
        assert parser.parse(head).final_status == ROWS[i][3]
        assert (request_id, model, latency) == (f'"r{i}"', '"churn:1.4.0"', "-")
        assert len(record_hash) == 64
    assert len(lines) == len(ROWS)


def test_filters_and_json_lines(logged: tuple[str, str]) -> None:
    target, model_id = logged
    failing = invoke("--server", target, "logs", "--status", "5xx", "--format", "json")
    assert failing.exit_code == 0, failing.stderr
    documents = [json.loads(line) for line in failing.stdout.splitlines()]
    assert [d["requestId"] for d in documents] == ["r1"]
    by_name = invoke("--server", target, "-o", "json", "logs", "--model-version", "churn:1.4.0")
    assert [json.loads(line)["requestId"] for line in by_name.stdout.splitlines()] == [
        "r0",
        "r1",
        "r2",
    ]
    canonical = invoke("--server", target, "-o", "json", "logs", "--model-version", "churn@1.4.0")
    assert canonical.exit_code == 0, canonical.stderr
    assert canonical.stdout == by_name.stdout
    by_id = invoke("--server", target, "logs", "--model-version", model_id, "--status", "404")
    assert len(by_id.stdout.splitlines()) == 1 and " 404 7 " in by_id.stdout
    recent = invoke("--server", target, "logs", "--since", "2026-03-01T13:30:00Z", "--limit", "5")
    assert len(recent.stdout.splitlines()) == 1
    assert '"POST /v1/\\xc3\\xa9 HTTP/1.1"' in recent.stdout
    bad = invoke("--server", target, "logs", "--status", "2x")
    assert "--status" in one_error_line(bad) and bad.exit_code == 2


def test_output_after_logs_and_after_its_subcommand(logged: tuple[str, str]) -> None:
    target, _ = logged
    before = invoke("--server", target, "-o", "json", "logs", "--status", "5xx")
    after = invoke("--server", target, "logs", "--status", "5xx", "-o", "json")
    assert after.exit_code == 0, after.stderr
    assert after.stdout == before.stdout
    assert [json.loads(line)["requestId"] for line in after.stdout.splitlines()] == ["r1"]
    verified = invoke("--server", target, "logs", "verify", "scorer", "-o", "json")
    assert verified.exit_code == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    from_group = invoke("--server", target, "logs", "-o", "json", "verify", "scorer")
    assert from_group.stdout == verified.stdout


def test_verify_names_the_first_bad_record(logged: tuple[str, str], running: RunningServer) -> None:
    target, _ = logged
    fine = invoke("--server", target, "logs", "verify", "scorer")
    assert fine.exit_code == 0 and fine.stdout.startswith("stream scorer: 3 records verified")
    with sqlite3.connect(running.store.url.removeprefix("sqlite:///")) as db:
        db.execute("DELETE FROM inference_logs WHERE sequence = 2")
    broken = invoke("--server", target, "logs", "verify", "scorer")
    assert broken.exit_code == 1
    assert broken.stdout.startswith("stream scorer: broken at record 2: SEQUENCE_GAP")
    unknown = invoke("--server", target, "logs", "verify", "nope")
    assert "NOT_FOUND" in one_error_line(unknown)
