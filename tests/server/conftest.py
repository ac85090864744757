"""A real server on port 0 over a real SQLite file, and stubs for each service."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import grpc
import pytest

from mlspec.common.v1 import resource_service_pb2_grpc
from mlspec.data.v1 import data_service_pb2_grpc
from mlspec.lifecycle.v1 import lifecycle_service_pb2_grpc
from mlspec.models.v1 import models_service_pb2_grpc
from mlspec.pipelines.v1 import pipelines_service_pb2_grpc
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import tracking_service_pb2_grpc


@pytest.fixture
def running(tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    server = build_server(ServerConfig(port=0, store_url=url), store=store)
    yield server
    server.stop(0)


@pytest.fixture
def channel(running: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
        yield ch


class Stubs:
    """One stub per service on a channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.resources = resource_service_pb2_grpc.ResourceServiceStub(channel)
        self.data = data_service_pb2_grpc.DataServiceStub(channel)
        self.pipelines = pipelines_service_pb2_grpc.PipelinesServiceStub(channel)
        self.tracking = tracking_service_pb2_grpc.TrackingServiceStub(channel)
        self.models = models_service_pb2_grpc.ModelsServiceStub(channel)
        self.lifecycle = lifecycle_service_pb2_grpc.LifecycleServiceStub(channel)


@pytest.fixture
def stubs(channel: grpc.Channel) -> Stubs:
    return Stubs(channel)
