"""Tracking runs: metric history paging, immutable params, inputs and outputs as lineage."""

from __future__ import annotations

import grpc
import pytest

from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import data_service_pb2 as data
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.tracking.v1 import metric_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as pb

from .conftest import Stubs
from .messages import make
from .test_request_rules import violated_fields


def test_metrics_params_and_links(stubs: Stubs) -> None:
    experiment = stubs.tracking.CreateExperiment(
        make(pb.CreateExperimentRequest, {"experiment": {"meta": {"name": "e"}}})
    ).experiment
    run = stubs.tracking.CreateRun(
        make(pb.CreateRunRequest, {"run": {"experiment_id": experiment.meta.id}})
    ).run
    points = [
        {"key": "loss", "value": {"double_value": 1.0 / (step + 1)}, "step": step}
        for step in range(25)
    ]
    points.append(
        {
            "key": "confusion",
            "value": {"array_value": {"values": [{"int_value": 5}, {"int_value": 1}]}},
        }
    )
    assert (
        stubs.tracking.LogMetrics(
            make(pb.LogMetricsRequest, {"run_id": run.meta.id, "metrics": points})
        ).recorded_count
        == 26
    )
    steps: list[int] = []
    token = ""
    while True:
        page = stubs.tracking.GetMetricHistory(
            pb.GetMetricHistoryRequest(
                run_id=run.meta.id, key="loss", page_size=10, page_token=token
            )
        )
        steps += [p.step for p in page.history.points]
        token = page.next_page_token
        if not token:
            break
    assert steps == list(range(25))
    summary = {
        s.key: s for s in stubs.tracking.GetRun(pb.GetRunRequest(id=run.meta.id)).run.latest_metrics
    }
    assert (
        summary["loss"].count == 25
        and summary["loss"].min == pytest.approx(1 / 25)
        and summary["loss"].max == 1.0
    )

    params = {"run_id": run.meta.id, "params": [{"key": "lr", "value": {"double_value": 0.1}}]}
    stubs.tracking.LogParams(make(pb.LogParamsRequest, params))
    assert (
        stubs.tracking.LogParams(make(pb.LogParamsRequest, params)).recorded_count == 0
    )  # same value: a no-op
    with pytest.raises(grpc.RpcError) as err:
        stubs.tracking.LogParams(
            make(
                pb.LogParamsRequest,
                {"run_id": run.meta.id, "params": [{"key": "lr", "value": {"double_value": 0.2}}]},
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    dataset = stubs.data.CreateDataset(
        make(data.CreateDatasetRequest, {"dataset": {"meta": {"name": "d"}}})
    ).dataset
    ref = {"kind": "RESOURCE_KIND_DATASET", "id": dataset.meta.id}
    stubs.tracking.LogRunInputs(
        make(pb.LogRunInputsRequest, {"run_id": run.meta.id, "inputs": [{"resource": ref}]})
    )
    graph = stubs.lifecycle.GetLineage(
        make(
            lc.GetLineageRequest,
            {
                "start": {"kind": "RESOURCE_KIND_RUN", "id": run.meta.id},
                "direction": "LINEAGE_DIRECTION_UPSTREAM",
            },
        )
    ).graph
    assert dataset.meta.id in {n.resource.id for n in graph.nodes}
    stubs.tracking.UpdateRunState(
        pb.UpdateRunStateRequest(run_id=run.meta.id, state=3)
    )  # SUCCEEDED
    with pytest.raises(grpc.RpcError) as err:
        stubs.tracking.LogRunOutputs(
            make(pb.LogRunOutputsRequest, {"run_id": run.meta.id, "outputs": [{"resource": ref}]})
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reference_pb2.RESOURCE_KIND_RUN


def test_tampered_page_tokens_are_invalid_argument(stubs: Stubs) -> None:
    import base64
    import json

    experiment = stubs.tracking.CreateExperiment(
        make(pb.CreateExperimentRequest, {"experiment": {"meta": {"name": "t"}}})
    ).experiment
    run = stubs.tracking.CreateRun(
        make(pb.CreateRunRequest, {"run": {"experiment_id": experiment.meta.id}})
    ).run
    for bad in ({"k": "loss", "s": "x"}, {"k": "loss", "s": 1e308}, {"k": "other", "s": 1}):
        token = base64.urlsafe_b64encode(json.dumps(bad).encode()).decode()
        with pytest.raises(grpc.RpcError) as err:
            stubs.tracking.GetMetricHistory(
                pb.GetMetricHistoryRequest(run_id=run.meta.id, key="loss", page_token=token)
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _new_run(stubs: Stubs, name: str) -> str:
    experiment = stubs.tracking.CreateExperiment(
        make(pb.CreateExperimentRequest, {"experiment": {"meta": {"name": name}}})
    ).experiment
    run = stubs.tracking.CreateRun(
        make(pb.CreateRunRequest, {"run": {"experiment_id": experiment.meta.id}})
    ).run
    return str(run.meta.id)


def _history(stubs: Stubs, run_id: str, key: str) -> list[metric_pb2.Metric]:
    page = stubs.tracking.GetMetricHistory(
        pb.GetMetricHistoryRequest(run_id=run_id, key=key, page_size=100)
    )
    return list(page.history.points)


def test_columns_are_recorded_as_the_metrics_they_stand_for(stubs: Stubs) -> None:
    run_id = _new_run(stubs, "columns")
    nan = float("nan")
    columns = metric_pb2.MetricColumns(
        keys=["loss", "acc"],
        key_indexes=[0, 1, 0, 0],
        double_values=[0.5, 0.75, nan, 0.25],
        steps=[1, 1, 2, 3],
        time_micros=[1_795_000_000_000_001, 1_795_000_000_000_002, -5, 253_402_300_799_999_999],
    )
    classic = metric_pb2.Metric(key="loss", step=0)
    classic.value.double_value = 2.0
    recorded = stubs.tracking.LogMetrics(
        pb.LogMetricsRequest(run_id=run_id, metrics=[classic], columns=columns)
    ).recorded_count
    assert recorded == 5
    expected = []
    for i in (0, 2, 3):
        point = metric_pb2.Metric(key="loss", step=columns.steps[i])
        point.value.double_value = columns.double_values[i]
        point.timestamp.FromMicroseconds(columns.time_micros[i])
        expected.append(point)
    loss = _history(stubs, run_id, "loss")
    assert loss[0].value.double_value == 2.0  # the metrics come first, then the columns
    assert [p.SerializeToString() for p in loss[1:]] == [p.SerializeToString() for p in expected]
    [acc] = _history(stubs, run_id, "acc")
    assert (acc.step, acc.value.double_value, acc.timestamp.ToMicroseconds()) == (
        1,
        0.75,
        1_795_000_000_000_002,
    )
    run = stubs.tracking.GetRun(pb.GetRunRequest(id=run_id)).run
    summary = {s.key: s for s in run.latest_metrics}
    assert (summary["loss"].count, summary["loss"].min, summary["loss"].max) == (4, 0.25, 2.0)
    assert summary["loss"].latest == expected[-1]
    assert (summary["acc"].count, summary["acc"].min, summary["acc"].latest) == (1, 0.75, acc)


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        (
            {
                "keys": ["a"],
                "key_indexes": [0],
                "double_values": [],
                "steps": [0],
                "time_micros": [1],
            },
            "columns.double_values",
        ),
        (
            {
                "keys": ["a"],
                "key_indexes": [0],
                "double_values": [1],
                "steps": [0],
                "time_micros": [],
            },
            "columns.time_micros",
        ),
        (
            {
                "keys": ["a"],
                "key_indexes": [1],
                "double_values": [1],
                "steps": [0],
                "time_micros": [1],
            },
            "columns.key_indexes",
        ),
        (
            {
                "keys": ["a", "b!"],
                "key_indexes": [0],
                "double_values": [1],
                "steps": [0],
                "time_micros": [1],
            },
            "columns.keys[1]",
        ),
        (
            {
                "keys": ["a"],
                "key_indexes": [0],
                "double_values": [1],
                "steps": [0],
                "time_micros": [2**62],
            },
            "columns.time_micros",
        ),
        (
            {
                "keys": ["a"],
                "key_indexes": [0] * 1001,
                "double_values": [1] * 1001,
                "steps": [0] * 1001,
                "time_micros": [1] * 1001,
            },
            "columns.double_values",  # over the 1,000 points a batch may hold (limits.proto)
        ),
        ({}, "columns.keys"),  # columns sent, but none of its Required columns
        (None, "metrics"),  # no point at all
    ],
)
def test_bad_columns_are_invalid_arguments_and_store_nothing(
    stubs: Stubs, columns: dict[str, list[object]] | None, field: str
) -> None:
    run_id = _new_run(stubs, f"bad-columns-{abs(hash(field)) % 10**8}-{len(columns or ())}")
    request = pb.LogMetricsRequest(run_id=run_id)
    if columns is not None:
        request.columns.CopyFrom(metric_pb2.MetricColumns(**columns))
    with pytest.raises(grpc.RpcError) as err:
        stubs.tracking.LogMetrics(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violated_fields(err.value)
    assert _history(stubs, run_id, "a") == []
