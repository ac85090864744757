"""Inference-log ingestion over gRPC into the SQLite default, and chain verification.

A client streams batches of 1,000 records (StreamInferenceLogs, request bytes prepared up
front) into `mlspec serve` on a fresh SQLite file, with a log signing key so that every
batch also gets a signed checkpoint; the server numbers, hash-chains and stores each
batch in one transaction. The reference is inserting the very rows the server stored
(read back from its file) straight into a fresh SQLite file with the same schema and
pragmas, in transactions of 1,000, in the same run. Then VerifyLogChain recomputes the
whole chain and every checkpoint. Prints records/s, the ratio, the server's CPU time per
record, and the verification time.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sqlite3
import subprocess
import tempfile

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf import json_format

from bench.common import PYTHON, cpu_seconds, free_port, median, now, peak_rss_mb, wait_ready
from mlspec.logging.v1 import inference_log_pb2, logging_service_pb2, logging_service_pb2_grpc
from mlspec.models.v1 import models_service_pb2, models_service_pb2_grpc
from mlspec.store.sql import SqlStore

BATCH = 1000
DIGEST = {"digests": {"sha256": "9f" * 32}}


def record(model_id: str, i: int) -> inference_log_pb2.InferenceLogRecord:
    """One realistic record: access fields, a few features, a prediction, provenance."""
    message = json_format.ParseDict(
        {
            "request_id": f"req-{i:08d}",
            "trace_id": f"{i:032x}",
            "access": {
                "remote_host": "10.1.2.3",
                "auth_user": "svc-crm",
                "time": "2026-11-27T10:00:00Z",
                "request_line": {
                    "method": "POST",
                    "path": "/v1/models/churn:predict",
                    "protocol": "HTTP/1.1",
                },
                "status": 200,
                "bytes_sent": 512,
                "user_agent": "crm-client/2.3",
            },
            "inference": {
                "application_id": "crm",
                "model": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": model_id},
                "inference_latency": "0.004s",
                "input_features": {
                    "age": {"double_value": 42.0},
                    "plan": {"string_value": "gold"},
                    "tenure_months": {"int_value": "17"},
                },
                "prediction": {"double_value": 0.83},
            },
            "provenance": {
                "pipeline_version_digest": DIGEST,
                "feature_set_digest": DIGEST,
                "training_data": [{"role": "train", "digest": DIGEST}],
                "model_digest": DIGEST,
            },
        },
        inference_log_pb2.InferenceLogRecord(),
    )
    message.access.time.seconds += i // 1000
    return message


def start_server(store_url: str, port: int, key: pathlib.Path) -> subprocess.Popen[bytes]:
    """`mlspec serve` with a log signing key, HTTP endpoints off."""
    env = dict(os.environ, MLSPEC_LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "mlspec.cli",
            "serve",
            "--port",
            str(port),
            "--http-port",
            "0",
            "--store-url",
            store_url,
            "--log-signing-key",
            str(key),
        ],
        env=env,
    )
    wait_ready(port)
    return proc


def model_version(channel: grpc.Channel) -> str:
    stub = models_service_pb2_grpc.ModelsServiceStub(channel)
    model = stub.CreateModel(
        json_format.ParseDict(
            {"model": {"meta": {"name": "churn"}}}, models_service_pb2.CreateModelRequest()
        )
    ).model
    created = stub.CreateModelVersion(
        json_format.ParseDict(
            {
                "model_version": {
                    "model_id": model.meta.id,
                    "version": {"major": 1},
                    "artifact": {"uri": "s3://models/churn/1", "digest": DIGEST},
                }
            },
            models_service_pb2.CreateModelVersionRequest(),
        )
    ).model_version
    return str(created.meta.id)


def raw_insert_rate(rows: list[tuple[object, ...]], folder: pathlib.Path, name: str) -> float:
    """Records/s of inserting ``rows`` straight into a fresh store file, 1,000 a transaction."""
    url = f"sqlite:///{folder / name}"
    store = SqlStore(url)
    store.upgrade()
    store.dispose()
    db = sqlite3.connect(folder / name, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA wal_autocheckpoint=10000")
    start = now()
    for at in range(0, len(rows), BATCH):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO inference_logs (workspace, stream_id, sequence, time, model_version_id,"
            " record_hash, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows[at : at + BATCH],
        )
        db.execute("COMMIT")
    elapsed = now() - start
    db.close()
    return len(rows) / elapsed


def main() -> None:
    """Runs the ingestion rounds, the reference inserts and the verification."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000, help="records per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batches = max(1, args.records // BATCH)
    with tempfile.TemporaryDirectory(prefix="mlspec-log-bench-") as tmp:
        folder = pathlib.Path(tmp)
        key = folder / "log.key"
        key.write_bytes(
            ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        grpc_rates, raw_rates, cpu_per_record = [], [], []
        verify_times, verify_cpu = [], []
        for round_number in range(args.rounds):
            store_file = folder / f"server-{round_number}.db"
            url = f"sqlite:///{store_file}"
            store = SqlStore(url)
            store.upgrade()
            store.dispose()
            port = free_port()
            server = start_server(url, port, key)
            try:
                with grpc.insecure_channel(
                    f"127.0.0.1:{port}",
                    options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
                ) as channel:
                    model_id = model_version(channel)
                    payload = logging_service_pb2.StreamInferenceLogsRequest(
                        log_stream_id="scorer-0",
                        records=[record(model_id, i) for i in range(BATCH)],
                    ).SerializeToString()
                    stream = channel.stream_unary(
                        "/mlspec.logging.v1.LoggingService/StreamInferenceLogs",
                        request_serializer=lambda b: b,
                        response_deserializer=(
                            logging_service_pb2.StreamInferenceLogsResponse.FromString
                        ),
                    )
                    cpu_before = cpu_seconds(server.pid)
                    start = now()
                    written = stream(iter([payload] * batches), timeout=3600)
                    elapsed = now() - start
                    cpu = cpu_seconds(server.pid) - cpu_before
                    assert written.accepted_count == batches * BATCH
                    grpc_rates.append(written.accepted_count / elapsed)
                    cpu_per_record.append(cpu / written.accepted_count * 1e6)
                    logs = logging_service_pb2_grpc.LoggingServiceStub(channel)
                    cpu_before = cpu_seconds(server.pid)
                    start = now()
                    verified = logs.VerifyLogChain(
                        logging_service_pb2.VerifyLogChainRequest(log_stream_id="scorer-0"),
                        timeout=3600,
                    )
                    verify_times.append(now() - start)
                    verify_cpu.append(cpu_seconds(server.pid) - cpu_before)
                    assert verified.ok and verified.verified_count == batches * BATCH, verified
                rss = peak_rss_mb(server.pid)
            finally:
                server.terminate()
                server.wait(timeout=60)
            with sqlite3.connect(store_file) as db:
                rows = db.execute(
                    "SELECT workspace, stream_id, sequence, time, model_version_id, record_hash,"
                    " data FROM inference_logs ORDER BY sequence"
                ).fetchall()
            raw_rates.append(raw_insert_rate(rows, folder, f"raw-{round_number}.db"))
            print(
                f"round {round_number + 1}: gRPC {grpc_rates[-1]:,.0f} records/s, "
                f"straight SQLite {raw_rates[-1]:,.0f} records/s, "
                f"ratio {grpc_rates[-1] / raw_rates[-1]:.2f}, "
                f"server CPU {cpu_per_record[-1]:.1f} us/record, "
                f"verify {verify_times[-1]:.2f} s ({verify_cpu[-1]:.2f} s server CPU), "
                f"peak RSS {rss:.0f} MiB",
                flush=True,
            )
        ratios = [g / r for g, r in zip(grpc_rates, raw_rates, strict=True)]
        print(
            f"ingestion over gRPC (batches of {BATCH:,}, hash chain, signed checkpoints): "
            f"median {median(grpc_rates):,.0f} records/s (target >= 100,000)"
        )
        print(
            f"straight SQLite inserts of the same rows: median {median(raw_rates):,.0f} "
            f"records/s; ratio median {median(ratios):.2f} (target >= 0.30)"
        )
        print(f"server CPU per record: median {median(cpu_per_record):.1f} us")
        print(
            f"VerifyLogChain of {batches * BATCH:,} records: median {median(verify_times):.2f} s, "
            f"{median(verify_cpu):.2f} s of server CPU (target <= 10 s)"
        )


if __name__ == "__main__":
    main()
