"""Inference logs an auditor can verify, through a real server on a real SQLite file.

Client-streamed batches, provenance filled from the store, signed checkpoints, and
VerifyLogChain naming the first bad position after the stored log is tampered with
(straight in the database file, as an attacker with file access would).
"""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mlspec.domain.logging import inference_log, signatures
from mlspec.logging.v1 import inference_log_pb2, logging_service_pb2_grpc
from mlspec.logging.v1 import logging_service_pb2 as pb
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.signing import key_id
from mlspec.store.sql import SqlStore

from .conftest import Stubs
from .messages import make
from .test_logging import record
from .test_monitoring import model_version

B = pb.ChainBreakReason
INTERVAL = 4


def pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def producer_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def signed_server(
    tmp_path: pathlib.Path, producer_key: ec.EllipticCurvePrivateKey
) -> Iterator[RunningServer]:
    """A server that signs a checkpoint every 4 records and trusts one producer key."""
    key_file = tmp_path / "log.key"
    key_file.write_bytes(pem(ed25519.Ed25519PrivateKey.generate()))
    trusted = tmp_path / "producer.pub"
    trusted.write_bytes(
        producer_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    config = ServerConfig(
        port=0,
        store_url=url,
        log_signing_key=str(key_file),
        log_checkpoint_interval=INTERVAL,
        trusted_keys=(str(trusted),),
    )
    server = build_server(config, store=store)
    yield server
    server.stop(0)


@pytest.fixture
def logs(signed_server: RunningServer) -> Iterator[logging_service_pb2_grpc.LoggingServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{signed_server.port}") as channel:
        yield logging_service_pb2_grpc.LoggingServiceStub(channel)


@pytest.fixture
def model_id(signed_server: RunningServer) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{signed_server.port}") as channel:
        return model_version(Stubs(channel), 1)


def batch(stream: str, model: str, first: int, count: int, request_id: str = "") -> Any:
    """A batch of StreamInferenceLogs (WriteInferenceLogs takes its bytes too)."""
    return make(
        pb.StreamInferenceLogsRequest,
        {
            "log_stream_id": stream,
            "records": [
                record(stream, model, i % 60, status=200, app="a")
                for i in range(first, first + count)
            ],
            "request_id": request_id,
        },
    )


def test_a_client_stream_commits_each_batch_and_resumes_by_request_id(
    logs: Any, model_id: str
) -> None:
    written = logs.StreamInferenceLogs(
        iter([batch("s", model_id, 1 + 5 * b, 5, f"b{b}") for b in range(3)])
    )
    assert written.accepted_count == 15
    assert [(r.first_sequence_number, r.last_sequence_number) for r in written.batches] == [
        (1, 5),
        (6, 10),
        (11, 15),
    ]
    bad = batch("s", model_id, 100, 2, "b4")
    bad.records[1].ClearField("access")
    with pytest.raises(grpc.RpcError) as caught:
        logs.StreamInferenceLogs(iter([batch("s", model_id, 16, 2, "b3"), bad]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("batch 1:")
    # The batch before the failing one is stored; sending the stream again with the same
    # request ids answers it from the store instead of appending it twice.
    bad.records[1].CopyFrom(batch("s", model_id, 101, 1).records[0])
    again = logs.StreamInferenceLogs(iter([batch("s", model_id, 16, 2, "b3"), bad]))
    assert [(r.first_sequence_number, r.last_sequence_number) for r in again.batches] == [
        (16, 17),
        (18, 19),
    ]
    verified = logs.VerifyLogChain(pb.VerifyLogChainRequest(log_stream_id="s"))
    assert verified.ok and verified.verified_count == 19
    # Checkpoints every 4 records: after the writes ending at 5, 10, 15 and 19.
    assert verified.verified_checkpoint_count == 4 and verified.last_verified_checkpoint == 19
    with pytest.raises(grpc.RpcError) as empty:
        logs.StreamInferenceLogs(iter([]))
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_sequence_number_that_does_not_continue_the_stream_is_refused(
    logs: Any, model_id: str
) -> None:
    logs.WriteInferenceLogs(batch("s", model_id, 1, 3))
    late = batch("s", model_id, 4, 1)
    late.records[0].sequence_number = 3
    with pytest.raises(grpc.RpcError) as caught:
        logs.WriteInferenceLogs(late)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    late.records[0].sequence_number = 4
    assert logs.WriteInferenceLogs(late).last_sequence_number == 4


def test_an_inverted_range_is_invalid(logs: Any, model_id: str) -> None:
    logs.WriteInferenceLogs(batch("s", model_id, 1, 3))
    with pytest.raises(grpc.RpcError) as caught:
        logs.VerifyLogChain(
            pb.VerifyLogChainRequest(
                log_stream_id="s", start_sequence_number=3, end_sequence_number=2
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    part = logs.VerifyLogChain(
        pb.VerifyLogChainRequest(log_stream_id="s", start_sequence_number=2, end_sequence_number=3)
    )
    assert part.ok and part.verified_count == 2


def test_unknown_streams_are_not_found(logs: Any) -> None:
    for call in (
        lambda: logs.VerifyLogChain(pb.VerifyLogChainRequest(log_stream_id="nope")),
        lambda: logs.ListInferenceLogs(pb.ListInferenceLogsRequest(log_stream_id="nope")),
        lambda: list(logs.StreamNcsaLines(pb.StreamNcsaLinesRequest(log_stream_id="nope"))),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# -- tampering with the stored log ------------------------------------------------------


def _db(server: RunningServer) -> sqlite3.Connection:
    return sqlite3.connect(server.store.url.removeprefix("sqlite:///"))


def _read(db: sqlite3.Connection, sequence: int) -> inference_log_pb2.InferenceLogRecord:
    (data,) = db.execute(
        "SELECT data FROM inference_logs WHERE stream_id = 's' AND sequence = ?", (sequence,)
    ).fetchone()
    return inference_log_pb2.InferenceLogRecord.FromString(data)


def _write(db: sqlite3.Connection, sequence: int, record: Any) -> None:
    db.execute(
        "UPDATE inference_logs SET data = ? WHERE stream_id = 's' AND sequence = ?",
        (record.SerializeToString(), sequence),
    )


def flip_a_byte(db: sqlite3.Connection) -> None:
    (data,) = db.execute(
        "SELECT data FROM inference_logs WHERE stream_id = 's' AND sequence = 6"
    ).fetchone()
    at = bytes(data).index(b"10.0.0.1")  # inside access.remote_host
    changed = bytes(data[:at]) + b"9" + bytes(data[at + 1 :])
    db.execute(
        "UPDATE inference_logs SET data = ? WHERE stream_id = 's' AND sequence = 6", (changed,)
    )


def delete_one(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM inference_logs WHERE stream_id = 's' AND sequence = 6")


def swap_two(db: sqlite3.Connection) -> None:
    six, nine = _read(db, 6), _read(db, 9)
    _write(db, 6, nine)
    _write(db, 9, six)


def insert_one(db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE inference_logs SET sequence = -sequence - 1 WHERE stream_id = 's' AND sequence >= 6"
    )
    db.execute(
        "UPDATE inference_logs SET sequence = -sequence WHERE stream_id = 's' AND sequence < 0"
    )
    forged = _read(db, 5)
    forged.access.status = 201
    db.execute(
        "INSERT INTO inference_logs SELECT workspace, stream_id, 6, time, model_version_id,"
        " record_hash, ? FROM inference_logs WHERE stream_id = 's' AND sequence = 5",
        (forged.SerializeToString(),),
    )


def rewrite_and_rehash(db: sqlite3.Connection) -> None:
    """Changes record 6 and recomputes every hash after it: only a checkpoint can tell."""
    previous = _read(db, 5).record_hash
    for sequence in range(6, 13):
        changed = _read(db, sequence)
        if sequence == 6:
            changed.access.status = 404
        changed.previous_record_hash = previous
        changed.record_hash = inference_log.record_hash(changed)
        previous = changed.record_hash
        _write(db, sequence, changed)


def truncate(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM inference_logs WHERE stream_id = 's' AND sequence >= 11")


def resign_checkpoint(db: sqlite3.Connection) -> None:
    (data,) = db.execute(
        "SELECT data FROM log_checkpoints WHERE stream_id = 's' AND sequence = 8"
    ).fetchone()
    checkpoint = inference_log_pb2.LogCheckpoint.FromString(data)
    signatures.sign_checkpoint(checkpoint, ed25519.Ed25519PrivateKey.generate())
    db.execute(
        "UPDATE log_checkpoints SET data = ? WHERE stream_id = 's' AND sequence = 8",
        (checkpoint.SerializeToString(),),
    )


@pytest.mark.parametrize(
    ("tamper", "position", "reason"),
    [
        (flip_a_byte, 6, B.CHAIN_BREAK_REASON_RECORD_HASH_MISMATCH),
        (delete_one, 6, B.CHAIN_BREAK_REASON_SEQUENCE_GAP),
        (swap_two, 6, B.CHAIN_BREAK_REASON_SEQUENCE_MISMATCH),
        (insert_one, 6, B.CHAIN_BREAK_REASON_SEQUENCE_MISMATCH),
        (rewrite_and_rehash, 8, B.CHAIN_BREAK_REASON_CHECKPOINT_MISMATCH),
        (truncate, 11, B.CHAIN_BREAK_REASON_RECORDS_MISSING),
        (resign_checkpoint, 8, B.CHAIN_BREAK_REASON_CHECKPOINT_SIGNATURE_INVALID),
    ],
)
def test_tampering_is_caught_at_the_first_bad_position(
    logs: Any,
    model_id: str,
    signed_server: RunningServer,
    tamper: Callable[[sqlite3.Connection], None],
    position: int,
    reason: int,
) -> None:
    logs.StreamInferenceLogs(iter([batch("s", model_id, 1 + 4 * b, 4) for b in range(3)]))
    before = logs.VerifyLogChain(pb.VerifyLogChainRequest(log_stream_id="s"))
    assert before.ok and before.verified_checkpoint_count == 3
    with _db(signed_server) as db:
        tamper(db)
    after = logs.VerifyLogChain(pb.VerifyLogChainRequest(log_stream_id="s"))
    assert not after.ok
    assert (after.first_broken_sequence_number, B.Name(after.reason)) == (position, B.Name(reason))
    assert after.verified_count == position - 1


def test_record_signatures_are_checked_on_write_and_on_verify(
    logs: Any, model_id: str, producer_key: ec.EllipticCurvePrivateKey
) -> None:
    first = logs.WriteInferenceLogs(batch("s", model_id, 1, 1))
    signed = batch("s", model_id, 2, 1)
    head = signed.records[0]
    head.sequence_number = 2
    head.previous_record_hash = first.last_record_hash
    head.log_stream_id = "s"
    probe = inference_log_pb2.InferenceLogRecord()
    probe.CopyFrom(head)
    # The hash the server computes covers the provenance it fills in: take it from the
    # model version's, as written for record 1.
    listed = logs.ListInferenceLogs(pb.ListInferenceLogsRequest(log_stream_id="s"))
    probe.provenance.CopyFrom(listed.records[0].provenance)
    head.provenance.CopyFrom(probe.provenance)
    digest = inference_log.record_hash(probe)
    public_id = key_id(producer_key.public_key())
    head.signature.key_id = public_id
    head.signature.algorithm = "ecdsa-sha256"
    head.signature.signature = producer_key.sign(digest, ec.ECDSA(hashes.SHA256()))
    wrong = pb.WriteInferenceLogsRequest.FromString(signed.SerializeToString())
    wrong.records[0].signature.signature = producer_key.sign(b"other", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(grpc.RpcError) as caught:
        logs.WriteInferenceLogs(wrong)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    logs.WriteInferenceLogs(pb.WriteInferenceLogsRequest.FromString(signed.SerializeToString()))
    stranger = batch("s", model_id, 3, 1)
    stranger.records[0].signature.key_id = "sha256:" + "0" * 64
    stranger.records[0].signature.algorithm = "ecdsa-sha256"
    stranger.records[0].signature.signature = b"x"
    warned = logs.WriteInferenceLogs(stranger)
    assert [w.code for w in warned.warnings] == ["UNVERIFIED_SIGNATURE"]
    plain = logs.VerifyLogChain(pb.VerifyLogChainRequest(log_stream_id="s"))
    assert plain.ok and plain.verified_count == 3
    strict = logs.VerifyLogChain(
        pb.VerifyLogChainRequest(log_stream_id="s", require_signatures=True)
    )
    assert (strict.first_broken_sequence_number, strict.reason) == (
        1,
        B.CHAIN_BREAK_REASON_SIGNATURE_MISSING,
    )
    from_two = logs.VerifyLogChain(
        pb.VerifyLogChainRequest(
            log_stream_id="s", start_sequence_number=2, require_signatures=True
        )
    )
    assert (from_two.first_broken_sequence_number, from_two.reason) == (
        3,
        B.CHAIN_BREAK_REASON_SIGNATURE_INVALID,
    )


# -- provenance from the store -------------------------------------------------------


def test_provenance_is_filled_from_the_model_versions_lineage(
    signed_server: RunningServer, logs: Any
) -> None:
    import hashlib

    from mlspec.data.v1 import data_service_pb2 as data
    from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
    from mlspec.models.v1 import models_service_pb2 as models
    from mlspec.pipelines.v1 import pipeline_pb2
    from mlspec.pipelines.v1 import pipelines_service_pb2 as pl
    from mlspec.tracking.v1 import tracking_service_pb2 as tr

    from .test_pipelines import graph, module

    with grpc.insecure_channel(f"127.0.0.1:{signed_server.port}") as channel:
        stubs = Stubs(channel)
        ingest = module(stubs, "ingest", [], ["rows"])
        train = module(
            stubs,
            "train",
            [{"name": "examples", "artifact_type": {"schema_title": "system.Dataset"}}],
            ["model"],
            [{"name": "lr", "type": "VALUE_TYPE_DOUBLE"}],
        )
        draft = stubs.pipelines.CreatePipelineDraft(
            pl.CreatePipelineDraftRequest(
                pipeline_draft=make(
                    pipeline_pb2.PipelineDraft,
                    {"meta": {"name": "p"}, "graph": graph(ingest, train)},
                )
            )
        ).pipeline_draft
        pipeline = stubs.pipelines.PublishPipelineDraft(
            pl.PublishPipelineDraftRequest(draft_id=draft.meta.id)
        ).pipeline
        stubs.data.CreateDatastore(
            make(
                data.CreateDatastoreRequest,
                {"datastore": {"meta": {"name": "lake"}, "type": "DATASTORE_TYPE_S3"}},
            )
        )
        dataset = stubs.data.CreateDataset(
            make(data.CreateDatasetRequest, {"dataset": {"meta": {"name": "rows"}}})
        ).dataset
        rows = stubs.data.CreateDatasetVersion(
            make(
                data.CreateDatasetVersionRequest,
                {
                    "dataset_version": {
                        "dataset_id": dataset.meta.id,
                        "definition": {
                            "data_path": {
                                "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                                "path": {"relative_path": "rows/"},
                            }
                        },
                        "content_digest": {"digests": {"sha256": "c" * 64}},
                    }
                },
            )
        ).dataset_version
        model = stubs.models.CreateModel(
            make(models.CreateModelRequest, {"model": {"meta": {"name": "churn"}}})
        ).model
        signature = {
            "inputs": [{"name": "age", "datatype": "TENSOR_DATA_TYPE_FP32"}],
            "outputs": [{"name": "churn", "datatype": "TENSOR_DATA_TYPE_FP32"}],
        }
        served = stubs.models.CreateModelVersion(
            make(
                models.CreateModelVersionRequest,
                {
                    "model_version": {
                        "model_id": model.meta.id,
                        "version": {"major": 1},
                        "artifact": {
                            "uri": "s3://m/1",
                            "digest": {"digests": {"sha256": "d" * 64}},
                        },
                        "signature": signature,
                        "lineage": {"pipeline_id": pipeline.meta.id},
                    }
                },
            )
        ).model_version
        bare = model_version(stubs, 9)
        experiment = stubs.tracking.CreateExperiment(
            make(tr.CreateExperimentRequest, {"experiment": {"meta": {"name": "churn"}}})
        ).experiment
        run = stubs.tracking.CreateRun(
            make(tr.CreateRunRequest, {"run": {"experiment_id": experiment.meta.id}})
        ).run
        stubs.lifecycle.ReportStage(
            make(
                lc.ReportStageRequest,
                {
                    "stage_report": {
                        "stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
                        "run_id": run.meta.id,
                        "start_time": "2026-11-27T09:00:00Z",
                        "status": "STAGE_REPORT_STATUS_SUCCEEDED",
                        "inputs": [
                            {
                                "resource": {
                                    "kind": "RESOURCE_KIND_DATASET_VERSION",
                                    "id": rows.meta.id,
                                },
                                "role": "train",
                            }
                        ],
                        "outputs": [
                            {
                                "resource": {
                                    "kind": "RESOURCE_KIND_MODEL_VERSION",
                                    "id": served.meta.id,
                                }
                            }
                        ],
                        "model_training": {
                            "model_format": "onnx",
                            "output_model": {
                                "kind": "RESOURCE_KIND_MODEL_VERSION",
                                "id": served.meta.id,
                            },
                        },
                    }
                },
            )
        )
    unproven = batch("p", served.meta.id, 1, 2)
    for r in unproven.records:
        r.ClearField("provenance")
    logs.StreamInferenceLogs(iter([unproven]))
    stored = logs.ListInferenceLogs(pb.ListInferenceLogsRequest(log_stream_id="p")).records
    found = stored[0].provenance
    assert found == stored[1].provenance
    assert found.model_digest.digests["sha256"] == "d" * 64
    assert [(d.dataset.id, d.role, d.digest.digests["sha256"]) for d in found.training_data] == [
        (rows.meta.id, "train", "c" * 64)
    ]
    assert found.pipeline.id == pipeline.meta.id
    assert found.pipeline_version_digest == pipeline.graph_digest
    expected = hashlib.sha256(
        served.signature.SerializeToString(deterministic=True)
        + bytes.fromhex(pipeline.graph_digest.digests["sha256"])
    ).hexdigest()
    assert found.feature_set_digest.digests["sha256"] == expected
    # A model version whose lineage the store does not know cannot vouch for its records.
    unknown = batch("q", bare, 1, 1)
    unknown.records[0].ClearField("provenance")
    with pytest.raises(grpc.RpcError) as caught:
        logs.StreamInferenceLogs(iter([unknown]))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "trained on" in (caught.value.details() or "")
