"""`mlspec serve` and `mlspec db` as a user runs them: real processes, real signals."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlspec.data.v1 import data_service_pb2, data_service_pb2_grpc

from .messages import make

MLSPEC = [sys.executable, "-m", "mlspec.cli"]


def test_serve_refuses_an_out_of_date_store_and_says_how_to_fix_it(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    done = subprocess.run(
        [*MLSPEC, "serve", "--port", "0", "--store-url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"mlspec db upgrade --store-url {url}" in done.stderr


def test_db_upgrade_then_serve_then_stop_gracefully(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'store.db'}"
    upgraded = subprocess.run(
        [*MLSPEC, "db", "upgrade", "--store-url", url], capture_output=True, text=True, timeout=60
    )
    assert upgraded.returncode == 0
    assert re.search(r"schema revision (\w+) \(newest: \1\)", upgraded.stdout), upgraded.stdout
    env = dict(os.environ, MLSPEC_STORE_URL=url, MLSPEC_PORT="0", MLSPEC_LOG_LEVEL="INFO")
    server = subprocess.Popen([*MLSPEC, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        port = 0
        deadline = time.monotonic() + 30
        while not port and time.monotonic() < deadline:
            line = server.stderr.readline()
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else 0
        assert port, "the server never said where it listens"
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
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        if server.stderr is not None:
            server.stderr.close()
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
