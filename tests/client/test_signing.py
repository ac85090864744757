"""Model signing end to end: mlspec sign / verify on a folder, and the service's check
before a signed package is served (a tampered envelope, another key, an unsigned one)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlspec.cli.root import cli
from mlspec.client import Client, FailedPrecondition, InvalidArgument, Stage
from mlspec.client.signing import ModelNotVerified, sign_model, verify_model
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.signing import SignatureProblem, key_id, load_public_key
from mlspec.store.sql import SqlStore


@dataclass(frozen=True)
class Keys:
    private: pathlib.Path
    public: pathlib.Path


def _keys(folder: pathlib.Path, name: str) -> Keys:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
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
    return Keys(private, public)


@pytest.fixture
def model(tmp_path: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (folder / "config.json").write_text('{"layers": 3}')
    return folder


def test_sign_then_verify_and_every_kind_of_tampering_is_caught(
    model: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    keys, other = _keys(tmp_path, "release"), _keys(tmp_path, "other")
    signed = sign_model(model, keys.private)
    assert signed.bundle_path == tmp_path / "model.sig"
    assert signed.key_id == key_id(load_public_key(keys.public.read_bytes()))
    assert len(signed.digest) == 64 and signed.envelope.signatures[0].key_id == signed.key_id
    assert verify_model(model, keys.public) == signed.key_id

    with pytest.raises(ModelNotVerified, match="signed by another key"):
        verify_model(model, other.public)
    (model / "weights.bin").write_bytes(b"\x00\x02" * 1000)
    with pytest.raises(ModelNotVerified, match=r"changed since it was signed: weights\.bin"):
        verify_model(model, keys.public)
    (model / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    verify_model(model, keys.public)
    (model / "extra.txt").write_text("slipped in")
    with pytest.raises(ModelNotVerified, match=r"^added since it was signed: extra\.txt$"):
        verify_model(model, keys.public)


def test_every_difference_is_named_at_once(model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    keys = _keys(tmp_path, "release")
    sign_model(model, keys.private)
    (model / "weights.bin").write_bytes(b"\x00\x02" * 1000)
    (model / "extra.txt").write_text("slipped in")
    (model / "late, b.txt").write_text("another")
    (model / "config.json").unlink()
    with pytest.raises(ModelNotVerified) as caught:
        verify_model(model, keys.public)
    assert str(caught.value) == (
        "changed since it was signed: weights.bin; added: extra.txt, late, b.txt; "
        "missing: config.json"
    )
    done = CliRunner().invoke(cli, ["verify", str(model), "--key", str(keys.public)])
    assert done.exit_code == 1
    assert done.stderr == f"mlspec: {model} does not verify: {caught.value}\n"


def test_a_public_key_given_to_sign_is_a_usage_error(
    model: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    keys = _keys(tmp_path, "release")
    done = CliRunner().invoke(cli, ["sign", str(model), "--key", str(keys.public)])
    assert done.exit_code == 2
    assert done.stderr == (
        f"mlspec: --key {keys.public}: holds a public key; signing needs the private key\n"
    )
    with pytest.raises(SignatureProblem, match="holds a public key"):
        sign_model(model, keys.public)
    assert not (tmp_path / "model.sig").exists()


def test_a_private_key_given_to_verify_is_a_usage_error(
    model: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    keys = _keys(tmp_path, "release")
    sign_model(model, keys.private)
    done = CliRunner().invoke(cli, ["verify", str(model), "--key", str(keys.private)])
    assert done.exit_code == 2
    assert done.stderr == (
        f"mlspec: --key {keys.private}: holds a private key; verifying needs the signer's "
        "public key\n"
    )
    with pytest.raises(SignatureProblem, match="holds a private key"):
        verify_model(model, keys.private)


def test_the_cli_signs_and_verifies_in_one_line_each(
    model: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    keys = _keys(tmp_path, "release")
    runner = CliRunner()
    signed = runner.invoke(cli, ["sign", str(model), "--key", str(keys.private)])
    assert signed.exit_code == 0 and signed.stdout.startswith(f"signed {model}: key sha256:")
    as_json = runner.invoke(
        cli,
        [
            "-o",
            "json",
            "sign",
            str(model),
            "--key",
            str(keys.private),
            "--signature",
            str(tmp_path / "b.sig"),
        ],
    )
    assert '"payloadType": "application/vnd.in-toto+json"' in as_json.stdout
    ok = runner.invoke(cli, ["verify", str(model), "--key", str(keys.public)])
    assert ok.exit_code == 0 and "verified" in ok.stdout
    (model / "config.json").write_text('{"layers": 4}')
    bad = runner.invoke(cli, ["verify", str(model), "--key", str(keys.public)])
    assert bad.exit_code == 1
    assert bad.stderr.strip() == (
        f"mlspec: {model} does not verify: changed since it was signed: config.json"
    )


@dataclass
class Served:
    running: RunningServer
    keys: Keys

    def client(self) -> Client:
        return Client(f"127.0.0.1:{self.running.port}", timeout=20)


@pytest.fixture
def served(tmp_path: pathlib.Path) -> Iterator[Served]:
    keys = _keys(tmp_path, "trusted")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    config = ServerConfig(
        port=0, store_url=url, trusted_keys=(str(keys.public),), require_signed_packages=True
    )
    running = build_server(config, store=store)
    yield Served(running, keys)
    running.stop(0)


# The model has no evaluation: these reports pass the deployment gate by an override, so
# that what is tested here is the signature check alone.
APPROVER, REASON = "Release manager", "signing tests"


def _package_then_serve(client: Client, model: pathlib.Path, envelope: object, digest: str) -> None:
    with client.start_run(experiment="signing") as run:
        version = client.register_model_version("signed-model", "1.0.0", model / "weights.bin")
        with run.stage(Stage.MODEL_PACKAGING, inputs=[version]) as packaging:
            fields: dict[str, Any] = {
                "model": version,
                "package_format": "folder",
                "package_uri": f"file://{model}",
                "package_digest": {"digests": {"sha256": digest}},
            }
            if envelope is not None:
                fields["signed_manifest"] = envelope
            packaging.set(**fields)
            packaging.approve(APPROVER, REASON, override=True)
        assert packaging.report is not None
        with run.stage(Stage.MODEL_SERVING, inputs=[version]) as serving:
            serving.set(
                packaging_report_id=packaging.report.meta.id,
                endpoint={
                    "name": "churn",
                    "uri": "https://serve.example.com/churn",
                    "protocol": "SERVING_PROTOCOL_REST",
                },
                model_name="churn",
                model=version,
                rollout_strategy="ROLLOUT_STRATEGY_ALL_AT_ONCE",
                transition_status="SERVING_TRANSITION_STATUS_UP_TO_DATE",
                rollout_result="ROLLOUT_RESULT_SUCCEEDED",
            )
            serving.approve(APPROVER, REASON, override=True)


def test_a_package_signed_by_a_trusted_key_is_served(served: Served, model: pathlib.Path) -> None:
    signed = sign_model(model, served.keys.private)
    with served.client() as client:
        _package_then_serve(client, model, signed.envelope, signed.digest)


def test_a_tampered_envelope_is_refused_when_packaged(served: Served, model: pathlib.Path) -> None:
    signed = sign_model(model, served.keys.private)
    signed.envelope.payload = signed.envelope.payload.replace(b"weights.bin", b"weights.bim")
    with served.client() as client, pytest.raises(InvalidArgument) as raised:
        _package_then_serve(client, model, signed.envelope, signed.digest)
    assert raised.value.reason == "BAD_SIGNATURE"


def test_a_signature_over_another_digest_is_refused(served: Served, model: pathlib.Path) -> None:
    signed = sign_model(model, served.keys.private)
    with served.client() as client, pytest.raises(InvalidArgument) as raised:
        _package_then_serve(client, model, signed.envelope, "ab" * 32)
    assert raised.value.reason == "SIGNED_DIGEST_MISMATCH"


def test_unknown_keys_and_unsigned_packages_are_not_served(
    served: Served, model: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    stranger = _keys(tmp_path, "stranger")
    signed = sign_model(model, stranger.private)
    with served.client() as client:
        with pytest.raises(FailedPrecondition) as raised:
            _package_then_serve(client, model, signed.envelope, signed.digest)
        assert raised.value.reason == "UNKNOWN_SIGNING_KEY"
        assert "does not trust" in str(raised.value)
        with pytest.raises(FailedPrecondition) as unsigned:
            _package_then_serve(client, model, None, signed.digest)
        assert unsigned.value.reason == "UNSIGNED_PACKAGE"
