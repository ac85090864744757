"""Durability and scale-out with real ``mlspec serve`` processes.

- One process under a sustained write load is SIGKILLed and started again, on SQLite and
  on PostgreSQL: every write it acknowledged is there afterwards, and retries with the
  same request_id through the restart stored nothing twice.
- Two stateless processes on one PostgreSQL database, with the SDK spreading calls over
  both (round robin): names stay unique, request_id retries stay duplicate-free, etags
  keep one winner, and a SIGKILL of one process under load loses nothing acknowledged.
"""

from __future__ import annotations

import pathlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlspec.client import AlreadyExists, Client, MLSpecError, RetryPolicy
from mlspec.client.transport import NO_RETRY
from mlspec.data.v1 import data_service_pb2 as data_pb
from mlspec.monitoring.v1 import component_service_pb2 as component_pb
from tests.pg_server import PgServer
from tests.server.processes import ServerProcess, upgrade

# Retries that outlast a restart: a write is retried with its request_id until it lands.
THROUGH_A_RESTART = RetryPolicy(
    max_attempts=10_000, initial_backoff=0.02, max_backoff=0.3, give_up_after=90
)


def _dataset(name: str, request_id: str | None = None) -> data_pb.CreateDatasetRequest:
    """A create whose request_id is the name (unless given; the SDK fills an empty one)."""
    request = data_pb.CreateDatasetRequest(request_id=name if request_id is None else request_id)
    request.dataset.meta.name = name
    return request


@dataclass
class Load:
    """Writers creating datasets until told to stop; what the server acknowledged."""

    target: str
    writers: int = 4
    acknowledged: dict[str, str] = field(default_factory=dict)  # name -> id
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for w in range(self.writers):
            thread = threading.Thread(target=self._write, args=(w,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _write(self, writer: int) -> None:
        with Client(self.target, retry=THROUGH_A_RESTART, timeout=120) as client:
            i = 0
            while not self.stop.is_set():
                name = f"w{writer}-{i}"
                try:
                    made = client.data.CreateDataset(_dataset(name)).dataset
                except MLSpecError as exc:  # pragma: no cover - the assertion reports it
                    self.failures.append(f"{name}: {exc}")
                    return
                with self._lock:
                    self.acknowledged[name] = made.meta.id
                i += 1

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=150)

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)


def _wait_for(load: Load, more: int) -> None:
    goal = load.count() + more
    deadline = time.monotonic() + 60
    while load.count() < goal and time.monotonic() < deadline and not load.failures:
        time.sleep(0.05)


def _stored(target: str) -> dict[str, list[str]]:
    """Every stored dataset: name -> ids (more than one id would be a duplicate)."""
    found: dict[str, list[str]] = {}
    with Client(target, timeout=60) as client:
        token = ""
        while True:
            page = client.data.ListDatasets(
                data_pb.ListDatasetsRequest(page_size=1000, page_token=token)
            )
            for dataset in page.datasets:
                found.setdefault(dataset.meta.name, []).append(dataset.meta.id)
            token = page.next_page_token
            if not token:
                return found


def _lost(load: Load, stored: dict[str, list[str]]) -> list[str]:
    return [n for n, i in load.acknowledged.items() if stored.get(n) != [i]]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        pg: PgServer = request.getfixturevalue("pg_server")
        url = pg.create_database(f"mlspec_kill_{uuid.uuid4().hex[:12]}")
    upgrade(url)
    return url


def test_sigkill_under_load_then_restart_loses_no_acknowledged_write(
    store_url: str, tmp_path: pathlib.Path
) -> None:
    server = ServerProcess(store_url, tmp_path / "server.log").start()
    load = Load(server.target).start()
    try:
        _wait_for(load, 300)  # sustained load
        acknowledged_before_kill = load.count()
        server.kill()
        time.sleep(0.3)  # writers are retrying against a dead port
        server.start()
        _wait_for(load, 100)  # the load goes on after the restart
    finally:
        load.finish()
    try:
        stored = _stored(server.target)
    finally:
        server.stop()
    assert not load.failures, load.failures[:3]
    assert acknowledged_before_kill >= 300
    lost = _lost(load, stored)
    assert lost == [], f"{len(lost)} of {len(load.acknowledged)} acknowledged writes lost"
    # Every call was retried with its request_id until acknowledged: nothing else is stored.
    assert sorted(stored) == sorted(load.acknowledged)


@dataclass
class Pair:
    a: ServerProcess
    b: ServerProcess

    @property
    def both(self) -> str:
        """One target naming both processes; the SDK spreads calls over them (round robin)."""
        return f"ipv4:127.0.0.1:{self.a.port},127.0.0.1:{self.b.port}"


@pytest.fixture
def pair(pg_server: PgServer, tmp_path: pathlib.Path) -> Iterator[Pair]:
    url = pg_server.create_database(f"mlspec_pair_{uuid.uuid4().hex[:12]}")
    upgrade(url)
    servers = Pair(
        ServerProcess(url, tmp_path / "a.log").start(),
        ServerProcess(url, tmp_path / "b.log").start(),
    )
    yield servers
    servers.a.stop()
    servers.b.stop()


def _race(targets: list[str], call: Callable[[Client], Any]) -> list[Any]:
    """Runs ``call`` at once from one client per target; returns results or errors."""
    clients = [Client(t, retry=NO_RETRY, timeout=60) for t in targets]
    barrier = threading.Barrier(len(clients))

    def run(client: Client) -> Any:
        barrier.wait()
        try:
            return call(client)
        except MLSpecError as exc:
            return exc

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            return list(pool.map(run, clients))
    finally:
        for client in clients:
            client.close()


def test_two_processes_on_one_postgresql_keep_every_promise(
    pair: Pair, tmp_path: pathlib.Path
) -> None:
    targets = [pair.a.target, pair.b.target] * 4  # eight callers, half on each process
    for round_ in range(3):
        # One name, eight creators: exactly one wins.
        def contested(c: Client, name: str = f"contested-{round_}") -> Any:
            return c.data.CreateDataset(_dataset(name, "")).dataset

        results = _race(targets, contested)
        assert sum(not isinstance(r, MLSpecError) for r in results) == 1
        assert all(isinstance(r, AlreadyExists) for r in results if isinstance(r, MLSpecError))

        # One request_id, eight first calls: all get the first response, one is stored.
        def retried(c: Client, name: str = f"retried-{round_}") -> Any:
            return c.data.CreateDataset(_dataset(name)).dataset.meta.id

        results = _race(targets, retried)
        assert len(set(results)) == 1 and isinstance(results[0], str), results
        # One etag, eight updates: one winner, the others ABORTED.
        with Client(pair.a.target) as client:
            made = client.data.CreateDataset(_dataset(f"updated-{round_}")).dataset

        def update(c: Client, made: Any = made) -> Any:
            changed = data_pb.UpdateDatasetRequest()
            changed.dataset.CopyFrom(made)
            changed.dataset.meta.description = "changed"
            changed.update_mask.paths.append("meta.description")
            return c.data.UpdateDataset(changed).dataset

        results = _race(targets, update)
        winners = [r for r in results if not isinstance(r, MLSpecError)]
        assert len(winners) == 1, results
        assert {type(r).__name__ for r in results if isinstance(r, MLSpecError)} == {"Aborted"}
    stored = _stored(pair.a.target)
    assert all(len(ids) == 1 for ids in stored.values())
    assert {f"retried-{r}" for r in range(3)} <= stored.keys()

    # Load over both processes; one of them is SIGKILLed in the middle of it.
    before = {server.port: _calls(server.target) for server in (pair.a, pair.b)}
    load = Load(pair.both).start()
    try:
        _wait_for(load, 200)
        spread = {server.port: _calls(server.target) for server in (pair.a, pair.b)}
        pair.a.kill()
        _wait_for(load, 200)  # the survivor takes the whole load
    finally:
        load.finish()
    assert not load.failures, load.failures[:3]
    # Both processes served the load (each answered far more than the counting calls).
    assert all(spread[port] - before[port] > 20 for port in before), (before, spread)
    stored = _stored(pair.b.target)
    lost = _lost(load, stored)
    assert lost == [], f"{len(lost)} of {len(load.acknowledged)} acknowledged writes lost"
    assert all(len(ids) == 1 for ids in stored.values())


def _calls(target: str) -> int:
    """How many calls one process has answered (its /varz counter)."""
    with Client(target) as client:
        variables = client.component.Varz(component_pb.VarzRequest()).variables
    return int(variables["counters.rpc_calls"].int_value)
