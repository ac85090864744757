"""The audit trail through a real server: every mutation, who made it, how it ended."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator

import pytest

from mlspec.client import AlreadyExists, Client, PermissionDenied
from mlspec.common.v1 import audit_pb2
from mlspec.common.v1 import resource_service_pb2 as rs
from mlspec.data.v1 import data_service_pb2 as data_pb
from mlspec.data.v1 import dataset_pb2
from mlspec.domain.access.tokens import create_token
from mlspec.server.app import SERVICES, RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore

CREATE = "/mlspec.data.v1.DataService/CreateDataset"


def _create(name: str, request_id: str = "") -> data_pb.CreateDatasetRequest:
    dataset = dataset_pb2.Dataset()
    dataset.meta.name = name
    return data_pb.CreateDatasetRequest(dataset=dataset, request_id=request_id)


def _trail(client: Client, **query: object) -> list[audit_pb2.AuditEvent]:
    found: list[audit_pb2.AuditEvent] = []
    request = rs.ListAuditEventsRequest(**query)
    while True:
        page = client.resources.ListAuditEvents(request)
        found += page.audit_events
        if not page.next_page_token:
            return found
        request.page_token = page.next_page_token


@pytest.fixture
def store_url(tmp_path: pathlib.Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    store.dispose()
    return url


@pytest.fixture
def open_server(store_url: str) -> Iterator[RunningServer]:
    running = build_server(ServerConfig(port=0, store_url=store_url))
    yield running
    running.stop(0)


def test_each_mutation_leaves_one_entry_and_reads_none(open_server: RunningServer) -> None:
    request_id = str(uuid.uuid4())
    with Client(f"127.0.0.1:{open_server.port}", workspace="team-a") as client:
        made = client.data.CreateDataset(_create("audited", request_id)).dataset
        client.data.CreateDataset(_create("audited", request_id))  # a retry: no change
        with pytest.raises(AlreadyExists):
            client.data.CreateDataset(_create("AUDITED"))
        client.data.GetDataset(data_pb.GetDatasetRequest(id=made.meta.id))
        client.data.ListDatasets(data_pb.ListDatasetsRequest())
        client.resources.ArchiveResource(
            rs.ArchiveResourceRequest(
                resource={"kind": "RESOURCE_KIND_DATASET", "id": made.meta.id}
            )
        )
        trail = _trail(client, page_size=1)  # one entry a page: paging too
        assert [(e.method.rsplit("/", 1)[-1], e.code) for e in trail] == [
            ("CreateDataset", "OK"),
            ("CreateDataset", "ALREADY_EXISTS"),
            ("ArchiveResource", "OK"),
        ]
        first, failed, archived = trail
        assert first.resource_id == made.meta.id and first.request_id == request_id
        assert first.principal == "anonymous"
        assert "AUDITED" in failed.message or "name" in failed.message
        assert archived.resource_id == made.meta.id
        assert [e.sequence_number for e in trail] == sorted(e.sequence_number for e in trail)

        only_archive = _trail(client, method="/mlspec.common.v1.ResourceService/ArchiveResource")
        assert len(only_archive) == 1
        assert len(_trail(client, resource_id=made.meta.id)) == 2
    with Client(f"127.0.0.1:{open_server.port}", workspace="team-b") as other:
        assert _trail(other) == []


def test_with_tokens_only_admins_read_the_trail_and_callers_are_named(store_url: str) -> None:
    store = SqlStore(store_url)
    with store.transaction() as tx:
        writer = create_token(tx, "team-a", "writer", name="pipeline")
        admin = create_token(tx, "team-a", "admin", name="auditor")
    store.dispose()
    running = build_server(ServerConfig(port=0, store_url=store_url, auth="token"))
    target = f"127.0.0.1:{running.port}"
    try:
        with Client(target, token=writer.text) as client:
            client.data.CreateDataset(_create("by-token"))
            with pytest.raises(PermissionDenied) as raised:
                client.resources.ListAuditEvents(rs.ListAuditEventsRequest())
            assert raised.value.reason == "ADMIN_ONLY"
        with Client(target, token=admin.text) as auditor:
            [entry] = _trail(auditor)
        assert entry.principal == f"token {writer.token_id} (pipeline)"
        assert entry.method == CREATE
    finally:
        running.stop(0)


def test_no_method_of_the_contract_changes_the_trail() -> None:
    audit_methods = [m.name for service in SERVICES for m in service.methods if "Audit" in m.name]
    assert audit_methods == ["ListAuditEvents"]
