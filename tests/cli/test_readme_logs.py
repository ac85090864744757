"""The README's logs-and-monitoring section runs as written: its console lines and snippet."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf import json_format

from mlspec.logging.v1 import inference_log_pb2, logging_service_pb2_grpc
from mlspec.logging.v1 import logging_service_pb2 as pb
from mlspec.models.v1 import models_service_pb2 as models
from mlspec.models.v1 import models_service_pb2_grpc
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig

from .conftest import invoke

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
DIGEST = {"digests": {"sha256": "9f" * 32}}


def _section() -> str:
    return (
        README.read_text().split("## Inference logs and live monitoring", 1)[1].split("\n## ", 1)[0]
    )


@pytest.fixture
def signing(store_url: str, tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    """A server with a log signing key, holding stream scorer-0 of 1,000 records."""
    key = tmp_path / "log-signing.key"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = build_server(ServerConfig(port=0, store_url=store_url, log_signing_key=str(key)))
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        registry = models_service_pb2_grpc.ModelsServiceStub(channel)
        model = registry.CreateModel(
            json_format.ParseDict(
                {"model": {"meta": {"name": "churn"}}}, models.CreateModelRequest()
            )
        ).model
        version = registry.CreateModelVersion(
            json_format.ParseDict(
                {
                    "model_version": {
                        "model_id": model.meta.id,
                        "version": {"major": 1},
                        "artifact": {"uri": "s3://models/churn/1", "digest": DIGEST},
                    }
                },
                models.CreateModelVersionRequest(),
            )
        ).model_version
        records = []
        for i in range(1000):
            record = json_format.ParseDict(
                {
                    "request_id": f"r{i}",
                    "access": {
                        "remote_host": "10.1.2.3",
                        "auth_user": "svc-crm",
                        "time": "2026-11-27T10:00:00Z",
                        "request_line": {
                            "method": "POST",
                            "path": "/v1/models/churn:predict",
                            "protocol": "HTTP/1.1",
                        },
                        "status": 503 if i == 0 else 200,
                        "bytes_sent": 0 if i == 0 else 512,
                    },
                    "inference": {
                        "application_id": "crm",
                        "model": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": version.meta.id},
                    },
                    "provenance": {
                        "pipeline_version_digest": DIGEST,
                        "feature_set_digest": DIGEST,
                        "training_data": [{"digest": DIGEST}],
                        "model_digest": DIGEST,
                    },
                },
                inference_log_pb2.InferenceLogRecord(),
            )
            records.append(record)
        logging_service_pb2_grpc.LoggingServiceStub(channel).WriteInferenceLogs(
            pb.WriteInferenceLogsRequest(log_stream_id="scorer-0", records=records)
        )
    yield server
    server.stop(0)


def test_the_console_lines_print_what_the_readme_says(signing: RunningServer) -> None:
    (block,) = re.findall(r"```console\n(.*?)```", _section(), re.S)
    commands = re.findall(r"^\$ mlspec (.*)\n((?:[^$].*\n)*)", block, re.M)
    assert len(commands) == 2
    for arguments, expected in commands:
        done = invoke("--server", f"127.0.0.1:{signing.port}", *arguments.split())
        assert done.stdout == expected, done.stderr


def test_the_resolve_snippet_runs(signing: RunningServer) -> None:
    (snippet,) = re.findall(r"```python\n(.*?)```", _section(), re.S)
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MLSPEC_TARGET": f"127.0.0.1:{signing.port}"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    model_id, rolled_back, _ = done.stdout.split(" ", 2)
    assert rolled_back == "False" and len(model_id) == 36
