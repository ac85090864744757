"""Bearer tokens on a real server, on both backends: who may call, in which workspace, what."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from mlspec.client import (
    Client,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from mlspec.data.v1 import data_service_pb2 as data_pb
from mlspec.data.v1 import dataset_pb2
from mlspec.domain.access.tokens import create_token
from mlspec.domain.clock import now_micros
from mlspec.monitoring.v1 import component_service_pb2 as component_pb
from mlspec.server import auth
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ConfigError, ServerConfig
from mlspec.store.sql import SqlStore
from tests.pg_server import PgServer


@dataclass
class Tokened:
    running: RunningServer
    store: SqlStore
    tokens: dict[str, str]  # "<role>@<workspace>" -> token text

    def client(self, who: str | None, workspace: str | None = None) -> Client:
        token = self.tokens[who] if who else ""
        return Client(
            f"127.0.0.1:{self.running.port}", token=token, workspace=workspace or "", timeout=10
        )

    def new_token(self, role: str, workspace: str) -> str:
        with self.store.transaction() as tx:
            return create_token(tx, workspace, role, name=f"{role}-test").text


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tokened(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tokened]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('auth') / 'store.db'}"
    else:
        pg: PgServer = request.getfixturevalue("pg_server")
        url = pg.create_database("mlspec_auth")
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url, auth="token"), store=store)
    server = Tokened(running, store, {})
    for role, workspace in [("writer", "team-a"), ("reader", "team-a"), ("writer", "team-b")]:
        server.tokens[f"{role}@{workspace}"] = server.new_token(role, workspace)
    try:
        yield server
    finally:
        running.stop(0)


def _dataset(name: str) -> data_pb.CreateDatasetRequest:
    dataset = dataset_pb2.Dataset()
    dataset.meta.name = name
    return data_pb.CreateDatasetRequest(dataset=dataset)


def test_no_token_or_a_bad_one_is_unauthenticated(tokened: Tokened) -> None:
    with tokened.client(None) as anonymous:
        with pytest.raises(Unauthenticated) as raised:
            anonymous.data.ListDatasets(data_pb.ListDatasetsRequest())
        assert raised.value.reason == "TOKEN_MISSING"
        with pytest.raises(Unauthenticated):
            anonymous.data.CreateDataset(_dataset("x"))
    port = tokened.running.port
    for text in ["not-a-token", "mlspec_0123456789abcdef_" + "A" * 43]:
        with Client(f"127.0.0.1:{port}", token=text) as forged, pytest.raises(Unauthenticated):
            forged.data.ListDatasets(data_pb.ListDatasetsRequest())


def test_a_reader_reads_but_may_not_write(tokened: Tokened) -> None:
    with tokened.client("writer@team-a") as writer:
        made = writer.data.CreateDataset(_dataset("readable")).dataset
        assert made.meta.creator.startswith("token ")  # who created it is recorded
    with tokened.client("reader@team-a") as reader:
        got = reader.data.GetDataset(data_pb.GetDatasetRequest(id=made.meta.id)).dataset
        assert got.meta.name == "readable"
        with pytest.raises(PermissionDenied) as raised:
            reader.data.CreateDataset(_dataset("nope"))
        assert raised.value.reason == "READ_ONLY_TOKEN"


def test_another_workspace_is_not_found_and_cannot_be_chosen_by_header(tokened: Tokened) -> None:
    with tokened.client("writer@team-a") as a:
        secret = a.data.CreateDataset(_dataset("team-a-only")).dataset
    with tokened.client("writer@team-b") as b:
        with pytest.raises(NotFound):
            b.data.GetDataset(data_pb.GetDatasetRequest(id=secret.meta.id))
        with pytest.raises(NotFound):
            b.data.GetDataset(data_pb.GetDatasetRequest(name="team-a-only"))
        listed = b.data.ListDatasets(data_pb.ListDatasetsRequest()).datasets
        assert secret.meta.id not in {d.meta.id for d in listed}
    with tokened.client("writer@team-b", workspace="team-a") as b_in_a:
        with pytest.raises(PermissionDenied) as raised:
            b_in_a.data.GetDataset(data_pb.GetDatasetRequest(id=secret.meta.id))
        assert raised.value.reason == "WRONG_WORKSPACE"
    with tokened.client("writer@team-a", workspace="team-a") as same:  # a matching header is fine
        same.data.GetDataset(data_pb.GetDatasetRequest(id=secret.meta.id))


def test_a_revoked_token_stops_working(tokened: Tokened, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "CACHE_SECONDS", 0.0)
    text = tokened.new_token("writer", "team-a")
    with Client(f"127.0.0.1:{tokened.running.port}", token=text) as client:
        client.data.ListDatasets(data_pb.ListDatasetsRequest())
        with tokened.store.transaction() as tx:
            assert tx.revoke_token(text.split("_")[1], now_micros())
        with pytest.raises(Unauthenticated):
            client.data.ListDatasets(data_pb.ListDatasetsRequest())


def test_component_endpoints_and_health_stay_open(tokened: Tokened) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with tokened.client(None) as anonymous:
        ok = anonymous.component.Ok(component_pb.OkRequest())
        assert ok.message == "ok"
    with grpc.insecure_channel(f"127.0.0.1:{tokened.running.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest()).status == 1  # SERVING


@pytest.fixture
def open_server(tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url), store=store)
    yield running
    running.stop(0)


# (gRPC clients cannot send non-ASCII header values; the domain test covers those.)
@pytest.mark.parametrize("workspace", ["Team-A", "team_a", "../etc", "a.b", "-a", "a-", "a" * 64])
def test_workspace_names_follow_one_pattern(open_server: RunningServer, workspace: str) -> None:
    with (
        Client(f"127.0.0.1:{open_server.port}", workspace=workspace) as client,
        pytest.raises(InvalidArgument) as raised,
    ):
        client.data.ListDatasets(data_pb.ListDatasetsRequest())
    assert raised.value.reason == "INVALID_WORKSPACE"


def test_without_tokens_the_header_picks_the_workspace(open_server: RunningServer) -> None:
    target = f"127.0.0.1:{open_server.port}"
    with Client(target, workspace="a" * 63) as long_name:
        long_name.data.CreateDataset(_dataset("kept"))
    with Client(target, workspace="team-b") as other, pytest.raises(NotFound):
        other.data.GetDataset(data_pb.GetDatasetRequest(name="kept"))


def test_no_authentication_off_loopback_is_refused(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with pytest.raises(ConfigError, match="use --auth token"):
        build_server(ServerConfig(host="0.0.0.0", insecure=True, port=0, store_url=url))


def _every_method() -> list[tuple[str, bool]]:
    """Every RPC of the area services and whether it writes, from the routing tables."""
    from mlspec.server.services import area_routes

    return sorted((name, route.writes) for name, route in area_routes().items())


def test_every_method_refuses_a_stranger_and_every_writing_one_a_reader(tokened: Tokened) -> None:
    """Driven by the routing tables: no RPC is open by mistake, no write slips past a reader."""
    port = tokened.running.port
    reader = ("authorization", f"Bearer {tokened.tokens['reader@team-a']}")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        for name, writes in _every_method():
            method = channel.unary_unary(f"/{name}")
            with pytest.raises(grpc.RpcError) as stranger:
                method(b"", timeout=10)
            assert stranger.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
            if name.endswith("/StreamNcsaLines"):
                continue  # a server stream: it only reads, as its route says
            try:
                method(b"", timeout=10, metadata=[reader])
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
            if writes:
                assert code == grpc.StatusCode.PERMISSION_DENIED, name
            else:  # a reader may call it (an empty request may still be invalid)
                assert code != grpc.StatusCode.PERMISSION_DENIED or name.endswith(
                    "/ListAuditEvents"
                ), name


def test_another_workspaces_token_cannot_change_what_it_cannot_see(tokened: Tokened) -> None:
    from mlspec.common.v1 import reference_pb2
    from mlspec.common.v1 import resource_service_pb2 as rs

    with tokened.client("writer@team-a") as a:
        mine = a.data.CreateDataset(_dataset("team-a-guarded")).dataset
    with tokened.client("writer@team-b") as b:
        archive = rs.ArchiveResourceRequest()
        archive.resource.kind = reference_pb2.RESOURCE_KIND_DATASET
        archive.resource.id = mine.meta.id
        with pytest.raises(NotFound):
            b.resources.ArchiveResource(archive)
        update = data_pb.UpdateDatasetRequest()
        update.dataset.CopyFrom(mine)
        update.dataset.meta.description = "defaced"
        with pytest.raises(NotFound):
            b.data.UpdateDataset(update)
    with tokened.client("reader@team-a") as a:
        again = a.data.GetDataset(data_pb.GetDatasetRequest(id=mine.meta.id)).dataset
    assert again == mine  # untouched: same etag, same status, same description
