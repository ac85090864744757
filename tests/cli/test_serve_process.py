"""`mlspec serve` and `mlspec db` as a user runs them: real processes, real signals.

Failures are one stderr line starting ``mlspec:`` and a non-zero exit code, never a
traceback.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlspec.data.v1 import data_service_pb2, data_service_pb2_grpc
from tests.cli.serving import ServeProcess
from tests.server.messages import make

from .conftest import MLSPEC, invoke, one_error_line, run

UNREACHABLE_POSTGRES = "postgresql+psycopg://nobody@127.0.0.1:1/x"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_refuses_an_out_of_date_store_and_says_how_to_fix_it(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    done = run("serve", "--port", "0", "--store-url", url)
    assert done.returncode == 2
    assert f"mlspec db upgrade --store-url {url}" in one_error_line(done)


def test_db_upgrade_then_serve_then_stop_gracefully(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'store.db'}"
    upgraded = run("db", "upgrade", "--store-url", url)
    assert upgraded.returncode == 0
    assert re.search(r"schema revision (\w+) \(newest: \1\)", upgraded.stdout), upgraded.stdout
    http_port = free_port()
    env = dict(
        os.environ,
        MLSPEC_STORE_URL=url,
        MLSPEC_PORT="0",
        MLSPEC_HTTP_PORT=str(http_port),
        MLSPEC_LOG_LEVEL="INFO",
    )
    server = ServeProcess([MLSPEC, "serve"], env=env)
    try:
        said = server.find(
            {"port": r"listening on 127\.0\.0\.1:(\d+)", "http": r"/ok /varz /metrics on (\S+)"}
        )
        assert "port" in said, "the server never said where it listens"
        port = int(said["port"])
        assert said.get("http") == f"http://127.0.0.1:{http_port}"
        with urllib.request.urlopen(f"{said['http']}/ok", timeout=10) as answer:
            assert answer.status == 200 and json.load(answer)["status"] == "SERVING"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert (
                health.Check(health_pb2.HealthCheckRequest()).status
                == health_pb2.HealthCheckResponse.SERVING
            )
            data = data_service_pb2_grpc.DataServiceStub(channel)
            data.CreateDataset(
                make(data_service_pb2.CreateDatasetRequest, {"dataset": {"meta": {"name": "kept"}}})
            )
        assert server.terminate() == 0
    finally:
        server.close()
    # Nothing is lost: a new server over the same file still has the dataset.
    from mlspec.server.app import build_server
    from mlspec.server.config import ServerConfig

    again = build_server(ServerConfig(port=0, store_url=url))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{again.port}") as channel:
            data = data_service_pb2_grpc.DataServiceStub(channel)
            assert (
                data.GetDataset(data_service_pb2.GetDatasetRequest(name="KEPT")).dataset.meta.name
                == "kept"
            )
    finally:
        again.stop(0)


def test_workspaces_do_not_see_each_other(channel: grpc.Channel) -> None:
    data = data_service_pb2_grpc.DataServiceStub(channel)
    mine = [("x-mlspec-workspace", "team-a")]
    theirs = [("x-mlspec-workspace", "team-b")]
    created = data.CreateDataset(
        make(data_service_pb2.CreateDatasetRequest, {"dataset": {"meta": {"name": "same"}}}),
        metadata=mine,
    ).dataset
    data.CreateDataset(
        make(data_service_pb2.CreateDatasetRequest, {"dataset": {"meta": {"name": "same"}}}),
        metadata=theirs,
    )
    assert [
        d.meta.id
        for d in data.ListDatasets(data_service_pb2.ListDatasetsRequest(), metadata=mine).datasets
    ] == [created.meta.id]
    try:
        data.GetDataset(data_service_pb2.GetDatasetRequest(id=created.meta.id), metadata=theirs)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
    else:
        raise AssertionError("another workspace read the dataset")


def test_an_old_schema_is_one_line_with_the_upgrade_command(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()  # a file, but no schema in it
    done = run("serve", "--port", "0", "--store-url", url)
    assert done.returncode == 2
    line = one_error_line(done)
    assert "schema is at revision none" in line
    assert f"run: mlspec db upgrade --store-url {url}" in line


def test_a_port_in_use_is_one_line(store_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("serve", "--port", str(port), "--store-url", store_url)
    line = one_error_line(done)
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line
    assert "--port" in line


def test_a_taken_http_port_is_one_line(store_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("serve", "--port", "0", "--http-port", str(port), "--store-url", store_url)
    line = one_error_line(done)
    assert f"cannot serve HTTP on 127.0.0.1:{port}" in line and "--http-port" in line


def test_an_unreachable_postgresql_store_is_one_line() -> None:
    done = run("serve", "--port", "0", "--store-url", UNREACHABLE_POSTGRES)
    line = one_error_line(done)
    assert line.startswith(f"mlspec: store {UNREACHABLE_POSTGRES}: cannot open it:")
    assert "Connection refused" in line


def test_a_bad_log_level_is_one_line_also_from_the_environment(store_url: str) -> None:
    flag = run("serve", "--port", "0", "--store-url", store_url, "--log-level", "chatty")
    assert flag.returncode == 2
    assert "Invalid value for '--log-level': 'chatty' is not one of" in one_error_line(flag)
    env = dict(os.environ, MLSPEC_LOG_LEVEL="chatty", MLSPEC_STORE_URL=store_url)
    from_env = run("serve", "--port", "0", env=env)
    assert "'chatty' is not one of" in one_error_line(from_env)


def test_log_levels_are_case_insensitive(store_url: str) -> None:
    # A valid level passes the option check; the taken port then stops the server at once.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = run("serve", "--port", port, "--store-url", store_url, "--log-level", "warning")
    assert "cannot listen on" in one_error_line(done)


def test_db_current_on_a_missing_store_creates_nothing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "absent" / "store.db"
    url = f"sqlite:///{path}"
    done = run("db", "current", "--store-url", url)
    assert done.returncode == 2
    assert one_error_line(done) == (
        f"mlspec: no store at {path}; run mlspec db upgrade --store-url {url}"
    )
    assert not path.parent.exists()


def test_db_current_after_upgrade_prints_the_revision(store_url: str) -> None:
    done = run("db", "current", "--store-url", store_url)
    assert done.returncode == 0, done.stderr
    assert re.search(r"schema revision (\w+) \(newest: \1\)", done.stdout)


def test_debug_adds_the_traceback_before_the_line() -> None:
    done = run("--debug", "db", "current", "--store-url", UNREACHABLE_POSTGRES)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1].startswith(f"mlspec: store {UNREACHABLE_POSTGRES}")


def test_plaintext_off_loopback_is_refused_in_one_line(store_url: str) -> None:
    done = run("serve", "--host", "0.0.0.0", "--port", "0", "--store-url", store_url)
    assert done.returncode == 2
    line = one_error_line(done)
    assert "refusing to serve plaintext on 0.0.0.0" in line and "--tls-cert" in line


def test_serve_with_tls_says_so_and_answers_a_client_that_trusts_it(
    store_url: str, tmp_path: pathlib.Path
) -> None:
    from mlspec.client import TLS, Client
    from mlspec.tracking.v1 import tracking_service_pb2 as tr
    from tests.tls_certs import Authority

    ca = Authority.create(tmp_path, "cli")
    pair = ca.issue("server", server=True)
    command = [MLSPEC, "serve", "--port", "0", "--http-port", "0", "--store-url", store_url]
    command += ["--tls-cert", pair.cert, "--tls-key", pair.key]
    server = ServeProcess(command)
    try:
        said = server.find(
            {"port": r"listening on 127\.0\.0\.1:(\d+)", "transport": r"transport: (.*)$"}
        )
        assert "port" in said and said.get("transport") == "TLS"
        with Client(f"localhost:{said['port']}", tls=TLS(ca=ca.cert), timeout=10) as client:
            client.tracking.ListExperiments(tr.ListExperimentsRequest())
        assert server.terminate() == 0
    finally:
        server.close()


def _tls_files(folder: pathlib.Path) -> dict[str, str]:
    from tests.tls_certs import Authority

    ca = Authority.create(folder, "files")
    pair, other = ca.issue("server", server=True), ca.issue("other", server=True)
    junk = folder / "junk.pem"
    junk.write_text("not a certificate\n")
    return {"cert": pair.cert, "key": pair.key, "other_key": other.key, "junk": str(junk)}


@pytest.mark.parametrize(
    ("cert", "key", "expected"),
    [
        ("junk", "junk", "--tls-cert {junk}: not a PEM certificate (no BEGIN CERTIFICATE block)"),
        (
            "key",
            "key",
            "--tls-cert {key}: holds a private key, not a certificate; give the "
            "certificate to --tls-cert and its key to --tls-key",
        ),
        ("cert", "junk", "--tls-key {junk}: not a PEM private key"),
        ("cert", "cert", "--tls-key {cert}: holds a certificate, not a private key"),
        (
            "cert",
            "other_key",
            "--tls-key {other_key}: does not match the certificate of "
            "--tls-cert {cert} (another key pair)",
        ),
    ],
)
def test_bad_tls_files_are_named_before_the_port_is_bound(
    store_url: str, tmp_path: pathlib.Path, cert: str, key: str, expected: str
) -> None:
    files = _tls_files(tmp_path)
    done = invoke(
        "serve",
        "--port",
        "0",
        "--store-url",
        store_url,
        "--tls-cert",
        files[cert],
        "--tls-key",
        files[key],
    )
    assert one_error_line(done) == "mlspec: " + expected.format(**files)
    assert done.exit_code == 2
