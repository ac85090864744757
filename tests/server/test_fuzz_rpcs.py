"""Every RPC of the contract, fuzzed with hostile requests built from its descriptors.

For each method of every service the server hosts (the list comes from the service
descriptors, not from this file), hypothesis draws requests with hostile values
(``hostile.py``) and sends their raw bytes. Each answer must be a precise status code,
never INTERNAL or UNKNOWN; a rejected request must leave the store as it was (the audit
trail aside, which records failed mutations by design); the server must stay healthy.
Examples are few and derandomized, so the run is short and the same every time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import sqlalchemy
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec.client import Client, Stage
from mlspec.server.app import SERVICES, RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore
from tests.pg_server import PgServer
from tests.server.hostile import hostile_request

METHODS = [method for service in SERVICES for method in service.methods]
C = grpc.StatusCode
# How long a server stream may stay open before it counts as an accepted, waiting watch.
WATCH_SECONDS = 5

PRECISE = {
    C.OK,
    C.INVALID_ARGUMENT,
    C.NOT_FOUND,
    C.ALREADY_EXISTS,
    C.FAILED_PRECONDITION,
    C.ABORTED,
    C.OUT_OF_RANGE,
}
# The audit trail records failed mutations by design; everything else must stay as it was.
UNTOUCHED_BY_FAILURES_EXCEPT = {"audit_events", "alembic_version"}


@dataclass
class Target:
    running: RunningServer
    engine: sqlalchemy.Engine
    channel: grpc.Channel

    def fingerprint(self) -> str:
        """A digest of every row of every table but the audit trail."""
        digest = hashlib.sha256()
        with self.engine.connect() as conn:
            for table in sorted(sqlalchemy.inspect(conn).get_table_names()):
                if table in UNTOUCHED_BY_FAILURES_EXCEPT:
                    continue
                digest.update(table.encode())
                rows = conn.execute(sqlalchemy.text(f"SELECT * FROM {table}"))
                for row in sorted(repr(tuple(r)) for r in rows):
                    digest.update(row.encode())
        return digest.hexdigest()

    def call(self, method: Any, data: bytes) -> grpc.StatusCode:
        path = f"/{method.containing_service.full_name}/{method.name}"
        try:
            if method.server_streaming:
                stream = self.channel.unary_stream(path)(data, timeout=WATCH_SECONDS)
                for i, _ in enumerate(stream):
                    if i == 2:  # a watch never ends: two answers are enough
                        stream.cancel()
                        break
            else:
                self.channel.unary_unary(path)(data, timeout=60)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            if code == C.CANCELLED:
                return C.OK
            if method.server_streaming and code == C.DEADLINE_EXCEEDED:
                # A watch with nothing to report waits for news: the server accepted the
                # request (a bad one is refused at once, well within the deadline).
                return C.OK
            return code
        return C.OK

    def healthy(self) -> bool:
        answer = health_pb2_grpc.HealthStub(self.channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'store.db'}"
    else:
        pg: PgServer = request.getfixturevalue("pg_server")
        url = pg.create_database("mlspec_fuzz")
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url), store=store)
    (folder / "data.csv").write_text("a\n1\n")
    # Something to list, read and refer to.
    with Client(f"127.0.0.1:{running.port}") as client, client.start_run(experiment="f") as run:
        data = client.create_dataset_version("fuzz-data", folder / "data.csv")
        with run.stage(Stage.DATA_ANALYSIS, inputs=[data]) as analysis:
            analysis.set(dataset=data, statistics=[{"num_examples": 1}])
    engine = sqlalchemy.create_engine(url)
    with grpc.insecure_channel(
        f"127.0.0.1:{running.port}", options=[("grpc.max_send_message_length", 64 << 20)]
    ) as channel:
        yield Target(running, engine, channel)
    engine.dispose()
    running.stop(0)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.containing_service.name}.{m.name}")
@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_requests_get_a_precise_answer_and_change_nothing(
    target: Target, method: Any, data: st.DataObject
) -> None:
    request = data.draw(hostile_request(method.input_type), label="request bytes")
    before = target.fingerprint()
    code = target.call(method, request)
    assert code in PRECISE, f"{method.full_name} answered {code.name}"
    if code != C.OK:
        assert target.fingerprint() == before, f"a rejected {method.name} changed the store"
    assert target.healthy()
