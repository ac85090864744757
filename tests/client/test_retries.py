"""Retries resend the same request (same request_id): nothing is stored twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlspec.client import Client, RetryPolicy
from mlspec.client.metrics import SENDER_RETRY
from mlspec.tracking.v1 import experiment_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as tr
from tests.client.helpers import all_points
from tests.client.proxy import FlakyProxy

FAST = RetryPolicy(max_attempts=5, initial_backoff=0.01, max_backoff=0.05)


@pytest.fixture
def proxy(target: str) -> Iterator[FlakyProxy]:
    p = FlakyProxy(target, {"CreateExperiment", "LogMetrics", "UpdateRunState"})
    yield p
    p.close()


def _experiment(name: str) -> experiment_pb2.Experiment:
    exp = experiment_pb2.Experiment()
    exp.meta.name = name
    return exp


def _client(proxy: FlakyProxy) -> Client:
    from dataclasses import replace

    return Client(
        f"127.0.0.1:{proxy.port}",
        workspace="team-a",
        token="s3cret",
        timeout=20,
        retry=FAST,
        metrics_retry=replace(SENDER_RETRY, initial_backoff=0.01, max_backoff=0.05),
    )


def test_a_retried_create_is_not_duplicated(proxy: FlakyProxy, client: Client) -> None:
    with _client(proxy) as flaky:
        exp = flaky.tracking.CreateExperiment(
            tr.CreateExperimentRequest(experiment=_experiment("once"))
        ).experiment
    creates = [body for method, body in proxy.requests if method.endswith("/CreateExperiment")]
    assert len(creates) == 2 and creates[0] == creates[1]  # the same bytes, same request_id
    assert tr.CreateExperimentRequest.FromString(creates[0]).request_id
    # The server stored one experiment, in the header's workspace.
    with Client(client.target, workspace="team-a") as reader:
        listed = reader.tracking.ListExperiments(tr.ListExperimentsRequest())
    assert [e.meta.id for e in listed.experiments] == [exp.meta.id]
    assert not client.tracking.ListExperiments(tr.ListExperimentsRequest()).experiments


def test_headers_reach_the_server(proxy: FlakyProxy) -> None:
    with _client(proxy) as flaky:
        flaky.tracking.ListExperiments(tr.ListExperimentsRequest())
    assert proxy.headers[-1]["x-mlspec-workspace"] == "team-a"
    assert proxy.headers[-1]["authorization"] == "Bearer s3cret"


def test_a_caller_request_id_is_kept(proxy: FlakyProxy) -> None:
    request = tr.CreateExperimentRequest(experiment=_experiment("mine"), request_id="r-1")
    with _client(proxy) as flaky:
        flaky.tracking.CreateExperiment(request)
        again = flaky.tracking.CreateExperiment(request)  # a retry by the caller itself
    assert again.experiment.meta.name == "mine"
    ids = {
        tr.CreateExperimentRequest.FromString(b).request_id
        for m, b in proxy.requests
        if m.endswith("/CreateExperiment")
    }
    assert ids == {"r-1"}


def test_metric_batches_retried_after_commit_are_stored_once(
    proxy: FlakyProxy, client: Client
) -> None:
    with _client(proxy) as flaky, flaky.start_run(experiment="e", name="r") as run:
        for step in range(2500):
            run.log_metric("loss", step / 10, step=step)
    logs = [b for m, b in proxy.requests if m.endswith("/LogMetrics")]
    assert len(logs) >= 4  # three or more batches, the first one sent twice
    assert logs[0] == logs[1]
    with Client(client.target, workspace="team-a") as reader:
        points = all_points(reader, run.id, "loss")
    assert sorted(p.step for p in points) == list(range(2500))
    assert run.run.state == 3  # SUCCEEDED, though the first UpdateRunState answer was lost
