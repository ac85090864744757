"""The HTTP side port of a real server: /ok, /varz and /metrics, as curl and Prometheus see them."""

from __future__ import annotations

import json
import pathlib
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlspec.data.v1 import data_service_pb2 as data_pb
from mlspec.data.v1 import data_service_pb2_grpc
from mlspec.logging.v1 import logging_service_pb2 as log_pb
from mlspec.logging.v1 import logging_service_pb2_grpc
from mlspec.monitoring.v1 import component_service_pb2 as pb
from mlspec.monitoring.v1 import component_service_pb2_grpc
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.api import UnitOfWork
from mlspec.store.sql import SqlStore

from .conftest import Stubs
from .messages import make
from .test_logging import record
from .test_monitoring import model_version


class SwitchableStore:
    """A real SQLite store that can be made to fail, as a store that went away does."""

    def __init__(self, url: str) -> None:
        self.inner = SqlStore(url)
        self.inner.upgrade()
        self.url = url
        self.down = False

    def transaction(self, *, write: bool = True) -> AbstractContextManager[UnitOfWork]:
        if self.down:
            raise ConnectionError("connection refused by the database")
        return self.inner.transaction(write=write)

    def size_bytes(self) -> int:
        if self.down:
            raise ConnectionError("connection refused by the database")
        return self.inner.size_bytes()

    def check_schema(self) -> None:
        self.inner.check_schema()

    def dispose(self) -> None:
        self.inner.dispose()


@dataclass
class Http:
    running: RunningServer
    store: SwitchableStore
    base: str

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.base + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, body
        return json.loads(body)

    def families(self) -> dict[str, Any]:
        status, headers, body = self.get("/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        return {f.name: f for f in text_string_to_metric_families(body.decode())}


@pytest.fixture
def http(tmp_path: pathlib.Path) -> Iterator[Http]:
    store = SwitchableStore(f"sqlite:///{tmp_path / 'store.db'}")
    running = build_server(ServerConfig(port=0, http_port=0, store_url=store.url), store=store)
    assert running.http is not None
    yield Http(running, store, running.http.url)
    running.stop(0)


@pytest.fixture
def grpc_channel(http: Http) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{http.running.port}") as channel:
        yield channel


def test_ok_follows_the_store(http: Http) -> None:
    status, headers, body = http.get("/ok")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == "SERVING"
    http.store.down = True
    status, _, body = http.get("/ok")
    answer = json.loads(body)
    assert status == 503 and answer["status"] == "NOT_SERVING"
    assert "connection refused by the database" in answer["message"]
    http.store.down = False
    assert http.get("/ok")[0] == 200


def test_head_unknown_paths_and_other_methods(http: Http) -> None:
    status, _, body = http.get("/ok", method="HEAD")
    assert status == 200 and body == b""
    status, _, body = http.get("/healthz")
    assert status == 404 and "/ok, /varz, /metrics" in json.loads(body)["error"]
    status, headers, _ = http.get("/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_metrics_parse_and_count_calls_by_method_and_code(
    http: Http, grpc_channel: grpc.Channel
) -> None:
    data = data_service_pb2_grpc.DataServiceStub(grpc_channel)
    data.CreateDataset(make(data_pb.CreateDatasetRequest, {"dataset": {"meta": {"name": "d"}}}))
    with pytest.raises(grpc.RpcError):
        data.GetDataset(data_pb.GetDatasetRequest(id="missing"))
    families = http.families()

    calls = {
        (s.labels["method"].rsplit("/", 1)[-1], s.labels["code"]): s.value
        for s in families["mlspec_rpc_calls"].samples
        if s.name == "mlspec_rpc_calls_total"
    }
    assert calls[("CreateDataset", "OK")] == 1 and calls[("GetDataset", "NOT_FOUND")] == 1
    latency = families["mlspec_rpc_duration_seconds"]
    counts = {
        (s.labels["method"].rsplit("/", 1)[-1], s.labels["code"]): s.value
        for s in latency.samples
        if s.name.endswith("_count")
    }
    assert counts[("GetDataset", "NOT_FOUND")] == 1
    [size] = families["mlspec_store_size_bytes"].samples
    assert size.value > 0


def test_log_records_and_streams_are_counted(http: Http, grpc_channel: grpc.Channel) -> None:
    logs = logging_service_pb2_grpc.LoggingServiceStub(grpc_channel)
    model_id = model_version(Stubs(grpc_channel), 1)
    records = [record("s", model_id, i, status=200, app="app") for i in range(1, 8)]
    logs.WriteInferenceLogs(
        make(log_pb.WriteInferenceLogsRequest, {"log_stream_id": "s", "records": records})
    )
    lines = list(logs.StreamNcsaLines(log_pb.StreamNcsaLinesRequest(log_stream_id="s")))
    assert lines
    families = http.families()
    [written] = [
        s
        for s in families["mlspec_inference_log_records_written"].samples
        if s.name.endswith("_total")
    ]
    assert written.value == 7
    streamed = [
        s
        for s in families["mlspec_rpc_calls"].samples
        if s.labels.get("method", "").endswith("/StreamNcsaLines")
    ]
    assert [(s.labels["code"], s.value) for s in streamed] == [("OK", 1.0)]
    assert all(s.value == 0 for s in families["mlspec_open_streams"].samples)
    assert http.json("/varz")["variables"]["counters.inference_log_records_written"] == 7


def test_an_unreachable_store_leaves_metrics_up_without_its_size(http: Http) -> None:
    http.store.down = True
    families = http.families()
    assert "mlspec_store_size_bytes" not in families and "mlspec_rpc_calls" in families


def test_varz_and_the_grpc_varz_tell_the_same(http: Http, grpc_channel: grpc.Channel) -> None:
    varz = http.json("/varz")
    assert varz["name"] == "mlspec-metadata-service" and varz["uptime_seconds"] >= 0
    variables = varz["variables"]
    assert variables["config.port"] == http.running.port
    assert variables["config.http_port"] == http.running.http.port  # type: ignore[union-attr]
    assert variables["config.store_backend"] == "sqlite"
    assert variables["config.store_url"] == http.store.url

    component = component_service_pb2_grpc.ComponentServiceStub(grpc_channel)
    answer = component.Varz(pb.VarzRequest())
    assert answer.info.name == varz["name"] and answer.info.version == varz["version"]
    assert set(answer.variables) == set(variables)
    for key, value in variables.items():
        if not key.startswith("counters."):  # the gRPC call itself moved the counters
            typed = answer.variables[key]
            assert getattr(typed, typed.WhichOneof("kind")) == value, key
    only = component.Varz(pb.VarzRequest(names=["config.port"]))
    assert set(only.variables) == {"config.port"}


def test_the_configuration_shown_has_no_secrets() -> None:
    config = ServerConfig(store_url="postgresql+psycopg://ml:s3cret@db:5432/mlspec")
    shown = config.public()
    assert shown["store_url"] == "postgresql+psycopg://ml:***@db:5432/mlspec"
    assert "s3cret" not in json.dumps(shown)


def test_a_taken_http_port_is_one_clear_error(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"sqlite:///{tmp_path / 'store.db'}"
        store = SqlStore(url)
        store.upgrade()
        with pytest.raises(OSError, match=f"cannot serve HTTP on 127.0.0.1:{port}"):
            build_server(ServerConfig(port=0, http_port=port, store_url=url), store=store)
