"""External identities stay unique per kind when two transactions claim one at once.

On PostgreSQL the claim takes an advisory lock (``lock_key``) before it looks, so the
second transaction waits for the first to commit and then sees its row; SQLite
serializes writing transactions anyway. Both backends, real threads, no timing.
"""

from __future__ import annotations

import threading

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.resources import RequestScope, Resources
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import experiment_pb2


def claim(store: SqlStore, name: str, start: threading.Barrier, outcomes: list[str]) -> None:
    experiment = experiment_pb2.Experiment()
    experiment.meta.name = name
    experiment.meta.external_id.system = "mlflow"
    experiment.meta.external_id.id = "same-id"
    start.wait()
    try:
        with store.transaction() as tx:
            Resources(tx, RequestScope()).create(experiment, "experiment")
        outcomes.append("created")
    except errors.AlreadyExists as exc:
        outcomes.append(exc.reason)


def test_one_of_two_concurrent_claims_of_an_external_id_wins(store: SqlStore) -> None:
    outcomes: list[str] = []
    start = threading.Barrier(2)
    threads = [
        threading.Thread(target=claim, args=(store, name, start, outcomes)) for name in ("a", "b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["EXTERNAL_ID_TAKEN", "created"]
    with store.transaction(write=False) as tx:
        found = Resources(tx, RequestScope()).find_by_external_id(
            reference_pb2.RESOURCE_KIND_EXPERIMENT, "mlflow", "same-id"
        )
    assert found is not None and found.meta.name in ("a", "b")
