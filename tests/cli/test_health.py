"""``mlspec health`` asks grpc.health.v1 of a real server started on port 0."""

from __future__ import annotations

import json
import os
import pathlib

import pytest
from grpc_health.v1 import health_pb2

from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig

from .conftest import invoke, one_error_line, run


def test_a_running_server_is_serving(target: str) -> None:
    result = invoke("--server", target, "health")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "SERVING\n"


def test_a_client_certificate_without_its_key_is_one_line(tmp_path: pathlib.Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("not read: the settings are refused first\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSPEC_TLS_")}
    done = run("--server", "127.0.0.1:1", "health", env=dict(env, MLSPEC_TLS_CERT=str(cert)))
    line = one_error_line(done)
    assert "MLSPEC_TLS_CERT and MLSPEC_TLS_KEY" in line and "unexpected" not in line


def test_the_target_comes_from_the_environment(target: str) -> None:
    done = run("health", env=dict(os.environ, MLSPEC_TARGET=target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "SERVING\n"
    assert done.stderr == ""


def test_a_service_can_be_asked_about_and_printed_as_json(target: str) -> None:
    result = invoke(
        "-o", "json", "--server", target, "health", "--service", "mlspec.data.v1.DataService"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "SERVING"}


def test_not_serving_exits_1(running: RunningServer, target: str) -> None:
    running.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    result = invoke("--server", target, "health")
    assert result.exit_code == 1
    assert result.stdout == "NOT_SERVING\n"


def test_an_unknown_service_is_not_found(target: str) -> None:
    result = invoke("--server", target, "health", "--service", "no.Such")
    assert result.exit_code == 1
    assert result.stderr.startswith("mlspec: NOT_FOUND: ")


def test_health_reads_the_tls_settings_like_every_command(
    store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.tls_certs import Authority

    ca = Authority.create(tmp_path, "health")
    pair = ca.issue("server", server=True)
    server = build_server(
        ServerConfig(port=0, store_url=store_url, tls_cert=pair.cert, tls_key=pair.key)
    )
    try:
        monkeypatch.setenv("MLSPEC_TLS_CA", ca.cert)
        target = f"localhost:{server.port}"
        listed = invoke("--server", target, "list", "experiments")
        assert listed.exit_code == 0, listed.stderr
        result = invoke("--server", target, "health")
        assert result.exit_code == 0, result.stderr
        assert result.stdout == "SERVING\n"
    finally:
        server.stop(0)
