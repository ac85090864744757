"""Tracking runs: metric history paging, immutable params, inputs and outputs as lineage."""

from __future__ import annotations

import grpc
import pytest

from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import data_service_pb2 as data
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.tracking.v1 import tracking_service_pb2 as pb

from .conftest import Stubs
from .messages import make


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
