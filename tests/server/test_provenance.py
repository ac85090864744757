"""Provenance end to end: sealed stage reports, the signed attestation of a model version,
its offline check, and a record changed in the SQLite file being named by that check."""

from __future__ import annotations

import base64
import json
import pathlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlspec.cli.root import cli
from mlspec.client import Client, FailedPrecondition, Stage
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import dataset_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.lifecycle.v1 import stage_report_pb2
from mlspec.pipelines.v1 import module_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pipelines_pb
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.signing import key_id
from mlspec.signing.provenance import envelope_from_json, verify_attestation
from mlspec.signing.records import record_digest
from mlspec.store.sql import SqlStore
from tests.server.messages import make

K = reference_pb2.ResourceKind


@dataclass
class Lineage:
    running: RunningServer
    db: pathlib.Path
    public_key: pathlib.Path
    trusted: dict[str, ec.EllipticCurvePublicKey]
    model_version_id: str
    model_ref: str  # MODEL@VERSION


def _write_key(
    folder: pathlib.Path,
) -> tuple[pathlib.Path, pathlib.Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "service.pem", folder / "service.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public, key


@pytest.fixture
def lineage(tmp_path: pathlib.Path) -> Iterator[Lineage]:
    """raw data -> splitting report -> train data + code -> training report -> model."""
    db = tmp_path / "store.db"
    store = SqlStore(f"sqlite:///{db}")
    store.upgrade()
    private, public, key = _write_key(tmp_path)
    config = ServerConfig(port=0, store_url=f"sqlite:///{db}", signing_key=str(private))
    running = build_server(config, store=store)
    (tmp_path / "raw.csv").write_text("a,b\n1,2\n")
    (tmp_path / "train.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "model.onnx").write_bytes(b"weights")
    with Client(f"127.0.0.1:{running.port}") as client:
        module = client.get_or_create_module("trainer")
        code = client.pipelines.CreateModuleVersion(
            pipelines_pb.CreateModuleVersionRequest(
                module_version=make(
                    module_pb2.ModuleVersion,
                    {
                        "module_id": module.meta.id,
                        "version": "1.0.0",
                        "snapshot": {
                            "git": {
                                "repository_uri": "https://git.example/trainer",
                                "commit_sha": "c" * 40,
                            },
                            "digest": {"digests": {"sha256": "c" * 64}},
                        },
                        "interface": {
                            "inputs": [{"name": "train", "artifact_type": {"schema_title": "x"}}]
                        },
                        "executor": {"command": ["python", "-m", "trainer"]},
                    },
                )
            )
        ).module_version
        with client.start_run(experiment="churn") as run:
            raw = client.create_dataset_version("raw", tmp_path / "raw.csv")
            train = client.create_dataset_version("train", tmp_path / "train.csv")
            with run.stage(Stage.DATA_SPLITTING, inputs=[raw]) as split:
                split.set(
                    source_dataset=raw,
                    splits=[
                        {
                            "name": "train",
                            "role": "SPLIT_ROLE_TRAIN",
                            "method": "SPLIT_METHOD_RANDOM",
                            "output_dataset": train,
                            "digest": train.content_digest,
                        }
                    ],
                )
                split.output(train, role="train")
            with run.stage(Stage.MODEL_TRAINING, inputs=[train, code]) as stage:
                model = client.register_model_version(
                    "churn-model", "1.0.0", tmp_path / "model.onnx"
                )
                stage.set(model_format="onnx")
                stage.output(model, role="model")
    yield Lineage(
        running,
        db,
        public,
        {key_id(key.public_key()): key.public_key()},
        model.meta.id,
        "churn-model@1.0.0",
    )
    running.stop(0)


def _export(lineage: Lineage, out: pathlib.Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--server",
            f"127.0.0.1:{lineage.running.port}",
            "provenance",
            lineage.model_ref,
            "--file",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output


def _verify(lineage: Lineage, path: pathlib.Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["provenance", "verify", str(path), "--key", str(lineage.public_key)]
    )
    return result.exit_code, result.output


def test_stored_reports_are_sealed_and_signed(lineage: Lineage) -> None:
    with Client(f"127.0.0.1:{lineage.running.port}") as client:
        reports = client.lifecycle.ListStageReports(lc.ListStageReportsRequest()).stage_reports
    assert len(reports) == 2
    for report in reports:
        ids = {e.resource.id for e in [*report.inputs, *report.outputs]} | {report.run_id}
        assert set(report.record_digests) == ids
        assert report.service_signature.key_id in lineage.trusted


def test_the_attestation_verifies_offline_and_says_what_it_holds(
    lineage: Lineage, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "churn.provenance.json"
    _export(lineage, out)
    code, output = _verify(lineage, out)
    assert code == 0, output
    assert output.startswith(f"verified {out}: churn-model@1.0.0 sha256:")
    statement = json.loads(base64.b64decode(json.loads(out.read_text())["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://mlspec.io/provenance/v1"
    assert statement["subject"][0]["name"] == "churn-model@1.0.0"
    kinds = sorted(r["kind"] for r in statement["predicate"]["records"])
    assert kinds == [
        "RESOURCE_KIND_DATASET_VERSION",
        "RESOURCE_KIND_DATASET_VERSION",
        "RESOURCE_KIND_MODEL_VERSION",
        "RESOURCE_KIND_MODULE_VERSION",
        "RESOURCE_KIND_RUN",
        "RESOURCE_KIND_STAGE_REPORT",
        "RESOURCE_KIND_STAGE_REPORT",
    ]
    code_entry = next(
        r for r in statement["predicate"]["records"] if r["kind"] == "RESOURCE_KIND_MODULE_VERSION"
    )
    assert code_entry["contentDigest"] == {"sha256": "c" * 64}  # the code snapshot's digest
    # Changing a byte of the file breaks the service's signature.
    tampered = tmp_path / "tampered.json"
    document = json.loads(out.read_text())
    document["payload"] = base64.b64encode(
        base64.b64decode(document["payload"]).replace(b"churn-model@1.0.0", b"churn-model@9.0.0")
    ).decode()
    tampered.write_text(json.dumps(document))
    code, output = _verify(lineage, tampered)
    assert code == 1 and "was changed after the service signed it" in output


def _stored(db: pathlib.Path) -> dict[str, tuple[int, bytes]]:
    with sqlite3.connect(db) as conn:
        return {
            row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, kind, data FROM resources")
        }


def _rewrite(db: pathlib.Path, resource_id: str, data: bytes) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE resources SET data = ? WHERE id = ?", (data, resource_id))


def test_any_one_changed_record_is_named_by_the_check(
    lineage: Lineage, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "before.json"
    _export(lineage, out)
    envelope = envelope_from_json(out.read_bytes())
    statement = json.loads(envelope.payload)
    ids = [r["id"] for r in statement["predicate"]["records"]]
    stored = _stored(lineage.db)
    from mlspec.domain.common.kinds import BY_KIND

    for resource_id in ids:
        kind, original = stored[resource_id]
        message = BY_KIND[kind].message.FromString(original)
        # A change the service would never make: the record's creation time moves a second.
        message.meta.create_time.seconds += 1  # type: ignore[attr-defined]
        _rewrite(lineage.db, resource_id, message.SerializeToString())
        try:
            changed = tmp_path / f"after-{resource_id}.json"
            _export(lineage, changed)
            code, output = _verify(lineage, changed)
        finally:
            _rewrite(lineage.db, resource_id, original)
        assert code == 1, f"changing {resource_id} went unnoticed"
        assert resource_id in output, output


def test_the_content_of_the_training_data_cannot_be_swapped_unnoticed(
    lineage: Lineage, tmp_path: pathlib.Path
) -> None:
    stored = _stored(lineage.db)
    versions = [
        (i, dataset_pb2.DatasetVersion.FromString(data))
        for i, (kind, data) in stored.items()
        if kind == K.RESOURCE_KIND_DATASET_VERSION
    ]
    reports = [
        stage_report_pb2.StageReport.FromString(data)
        for kind, data in stored.values()
        if kind == K.RESOURCE_KIND_STAGE_REPORT
    ]
    training = next(r for r in reports if r.HasField("model_training"))
    train_id, train = next((i, v) for i, v in versions if i in training.record_digests)
    assert training.record_digests[train_id].digests["sha256"] == record_digest(train)
    train.content_digest.digests["sha256"] = "0" * 64
    _rewrite(lineage.db, train_id, train.SerializeToString())
    out = tmp_path / "swapped.json"
    _export(lineage, out)
    result = verify_attestation(envelope_from_json(out.read_bytes()), lineage.trusted)
    assert [p for p in result.problems if train_id in p] == [
        p for p in result.problems if "was changed after" in p
    ]
    assert any(
        f"DatasetVersion {train_id}" in p and "was changed after" in p for p in result.problems
    )


def test_without_a_signing_key_there_is_nothing_to_attest(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url), store=store)
    try:
        (tmp_path / "model.onnx").write_bytes(b"weights")
        with Client(f"127.0.0.1:{running.port}") as client:
            model = client.register_model_version("m", "1.0.0", tmp_path / "model.onnx")
            request = lc.ExportProvenanceRequest()
            request.model_version.kind = K.RESOURCE_KIND_MODEL_VERSION
            request.model_version.id = model.meta.id
            with pytest.raises(FailedPrecondition) as raised:
                client.lifecycle.ExportProvenance(request)
        assert raised.value.reason == "NO_SIGNING_KEY"
    finally:
        running.stop(0)


def test_renaming_and_archiving_do_not_break_the_seals(
    lineage: Lineage, tmp_path: pathlib.Path
) -> None:
    from mlspec.common.v1 import resource_service_pb2 as rs

    kinds = {resource_id: kind for resource_id, (kind, _) in _stored(lineage.db).items()}
    with Client(f"127.0.0.1:{lineage.running.port}") as client:
        reports = client.lifecycle.ListStageReports(lc.ListStageReportsRequest()).stage_reports
        rename = rs.RenameResourceRequest(new_name="renamed-report")
        rename.resource.kind = K.RESOURCE_KIND_STAGE_REPORT
        rename.resource.id = reports[0].meta.id
        client.resources.RenameResource(rename)
        archived: set[str] = set()
        for report in reports:  # every report, and everything they reference, archived
            for resource_id in {report.meta.id, *report.record_digests} - archived:
                request = rs.ArchiveResourceRequest()
                request.resource.kind = kinds[resource_id]  # type: ignore[assignment]
                request.resource.id = resource_id
                client.resources.ArchiveResource(request)
                archived.add(resource_id)
    out = tmp_path / "archived.json"
    _export(lineage, out)
    code, output = _verify(lineage, out)
    assert code == 0, output
