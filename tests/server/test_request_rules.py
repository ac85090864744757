"""Rules every request meets before any handler runs, and the run state machine.

Out-of-type values (enum numbers, Timestamps, Durations) are INVALID_ARGUMENT naming the
field; over-long input never turns into RESOURCE_EXHAUSTED; batches over their limits
are INVALID_ARGUMENT; list and get requests name existing parents.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.data.v1 import data_service_pb2 as data
from mlspec.domain.common import well_formed
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lifecycle
from mlspec.server.app import SERVICES
from mlspec.tracking.v1 import tracking_service_pb2 as tracking
from tests.conformance.payloads import minimal_payload
from tests.contract.message_strategies import messages

from .conftest import Stubs
from .messages import make


def fails(call: Any, request: Any, code: grpc.StatusCode) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    assert caught.value.code() == code, caught.value.details()
    return caught.value


def violated_fields(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [v.field for v in bad.field_violations]
    return found


@pytest.fixture
def run_id(stubs: Stubs) -> str:
    experiment = stubs.tracking.CreateExperiment(
        make(tracking.CreateExperimentRequest, {"experiment": {"meta": {"name": "e"}}})
    ).experiment
    created = stubs.tracking.CreateRun(
        make(tracking.CreateRunRequest, {"run": {"experiment_id": experiment.meta.id}})
    ).run
    return str(created.meta.id)


def report(run_id: str, **changes: Any) -> lifecycle.ReportStageRequest:
    request = make(
        lifecycle.ReportStageRequest,
        {
            "stage_report": {
                "stage": "LIFECYCLE_STAGE_CODIFY_OBJECTIVES",
                "run_id": run_id,
                "start_time": "2026-11-27T10:00:00Z",
                "status": "STAGE_REPORT_STATUS_SUCCEEDED",
                "codified_objectives": minimal_payload("codified_objectives"),
            }
        },
    )
    for name, value in changes.items():
        setattr(request.stage_report, name, value)
    return request


def test_enum_numbers_outside_their_enum_are_invalid(stubs: Stubs, run_id: str) -> None:
    error = fails(
        stubs.lifecycle.ReportStage, report(run_id, status=77), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert violated_fields(error) == ["stage_report.status"]
    fails(
        stubs.lifecycle.ListStageReports,
        lifecycle.ListStageReportsRequest(stage=999),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    fails(
        stubs.tracking.UpdateRunState,
        tracking.UpdateRunStateRequest(run_id=run_id, state=99),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


def test_times_outside_the_calendar_are_invalid(stubs: Stubs, run_id: str) -> None:
    late = report(run_id)
    late.stage_report.end_time.seconds = 10**15
    error = fails(stubs.lifecycle.ReportStage, late, grpc.StatusCode.INVALID_ARGUMENT)
    assert violated_fields(error) == ["stage_report.end_time"]
    metric = make(
        tracking.LogMetricsRequest,
        {"run_id": run_id, "metrics": [{"key": "loss", "value": {"double_value": 1.0}}]},
    )
    metric.metrics[0].timestamp.seconds = 10**15
    error = fails(stubs.tracking.LogMetrics, metric, grpc.StatusCode.INVALID_ARGUMENT)
    assert violated_fields(error) == ["metrics[0].timestamp"]


def test_huge_input_is_answered_with_a_clipped_error(stubs: Stubs) -> None:
    error = fails(
        stubs.data.GetDataset, data.GetDatasetRequest(id="x" * 20_000), grpc.StatusCode.NOT_FOUND
    )
    assert len(error.details() or "") < 1_000


def test_a_forged_page_token_is_invalid_not_internal(stubs: Stubs) -> None:
    for name in ("a", "b", "c"):
        stubs.data.CreateDataset(
            make(data.CreateDatasetRequest, {"dataset": {"meta": {"name": name}}})
        )
    first = stubs.data.ListDatasets(data.ListDatasetsRequest(page_size=1, order_by="name"))
    token = json.loads(base64.urlsafe_b64decode(first.next_page_token))
    for forged in ({**token, "v": None}, {**token, "v": 5}, {**token, "s": "x"}):
        request = data.ListDatasetsRequest(
            page_size=1,
            order_by="name",
            page_token=base64.urlsafe_b64encode(json.dumps(forged).encode()).decode(),
        )
        fails(stubs.data.ListDatasets, request, grpc.StatusCode.INVALID_ARGUMENT)


def test_a_run_executes_once(stubs: Stubs, run_id: str) -> None:
    move = tracking.UpdateRunStateRequest
    stubs.tracking.UpdateRunState(move(run_id=run_id, state="RUN_STATE_RUNNING"))
    fails(
        stubs.tracking.UpdateRunState,
        move(run_id=run_id, state="RUN_STATE_RUNNING"),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    stubs.tracking.UpdateRunState(move(run_id=run_id, state="RUN_STATE_SUCCEEDED"))
    for again in ("RUN_STATE_SUCCEEDED", "RUN_STATE_FAILED", "RUN_STATE_RUNNING"):
        fails(
            stubs.tracking.UpdateRunState,
            move(run_id=run_id, state=again),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
    run = stubs.tracking.GetRun(tracking.GetRunRequest(id=run_id)).run
    assert [h.to_state for h in run.state_history][-1] == run.state


def test_a_new_run_is_pending_or_running(stubs: Stubs, run_id: str) -> None:
    experiment_id = stubs.tracking.GetRun(tracking.GetRunRequest(id=run_id)).run.experiment_id
    request = make(
        tracking.CreateRunRequest,
        {"run": {"experiment_id": experiment_id, "state": "RUN_STATE_SUCCEEDED"}},
    )
    fails(stubs.tracking.CreateRun, request, grpc.StatusCode.INVALID_ARGUMENT)


def test_batches_over_their_limit_are_invalid(stubs: Stubs, run_id: str) -> None:
    one = report(run_id).stage_report
    request = lifecycle.BatchReportStagesRequest(stage_reports=[one] * 501)
    error = fails(stubs.lifecycle.BatchReportStages, request, grpc.StatusCode.INVALID_ARGUMENT)
    assert violated_fields(error) == ["stage_reports"]
    params = make(
        tracking.LogParamsRequest,
        {
            "run_id": run_id,
            "params": [{"key": f"p{i}", "value": {"int_value": i}} for i in range(101)],
        },
    )
    fails(stubs.tracking.LogParams, params, grpc.StatusCode.INVALID_ARGUMENT)


def test_params_and_metric_keys(stubs: Stubs, run_id: str) -> None:
    twice = make(
        tracking.LogParamsRequest,
        {
            "run_id": run_id,
            "params": [
                {"key": "lr", "value": {"double_value": 0.1}},
                {"key": "lr", "value": {"double_value": 0.1}},
            ],
        },
    )
    error = fails(stubs.tracking.LogParams, twice, grpc.StatusCode.INVALID_ARGUMENT)
    assert violated_fields(error) == ["params[1].key"]
    for key in ("bad key!", "x" * 251, ""):
        metric = make(
            tracking.LogMetricsRequest,
            {"run_id": run_id, "metrics": [{"key": key, "value": {"double_value": 1.0}}]},
        )
        fails(stubs.tracking.LogMetrics, metric, grpc.StatusCode.INVALID_ARGUMENT)
    fine = make(
        tracking.LogMetricsRequest,
        {"run_id": run_id, "metrics": [{"key": "loss/train 2", "value": {"double_value": 1.0}}]},
    )
    assert stubs.tracking.LogMetrics(fine).recorded_count == 1


def test_lists_and_gets_name_existing_parents(stubs: Stubs) -> None:
    fails(
        stubs.data.ListDatasetVersions,
        data.ListDatasetVersionsRequest(),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    fails(
        stubs.data.ListDatasetVersions,
        data.ListDatasetVersionsRequest(dataset_id="nope"),
        grpc.StatusCode.NOT_FOUND,
    )
    fails(
        stubs.tracking.ListRuns,
        tracking.ListRunsRequest(experiment_ids=["nope"]),
        grpc.StatusCode.NOT_FOUND,
    )
    fails(
        stubs.tracking.GetRun, tracking.GetRunRequest(name="r1"), grpc.StatusCode.INVALID_ARGUMENT
    )


# -- the checker itself ------------------------------------------------------------------

REQUESTS: list[descriptor.Descriptor] = sorted(
    {m.input_type for s in SERVICES for m in s.methods}, key=lambda d: d.full_name
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_well_formed_requests_pass(data: st.DataObject) -> None:
    desc = data.draw(st.sampled_from(REQUESTS))
    assert well_formed.violations(data.draw(messages(desc))) == []


def test_stage_reports_by_name_status_time_and_newest_first(stubs: Stubs, run_id: str) -> None:
    failed = report(run_id, status=3)  # STAGE_REPORT_STATUS_FAILED
    failed.stage_report.meta.name = "objectives-v1"
    stubs.lifecycle.ReportStage(failed)
    stubs.lifecycle.ReportStage(report(run_id))
    got = stubs.lifecycle.GetStageReport(lifecycle.GetStageReportRequest(name="Objectives-V1"))
    assert got.stage_report.status == 3
    listed = stubs.lifecycle.ListStageReports(
        lifecycle.ListStageReportsRequest(filter='status = "STAGE_REPORT_STATUS_FAILED"')
    )
    assert [r.meta.name for r in listed.stage_reports] == ["objectives-v1"]
    everything = stubs.lifecycle.ListStageReports(
        lifecycle.ListStageReportsRequest(filter="meta.status = ACTIVE")
    )
    newest, oldest = (r.meta.name for r in everything.stage_reports)
    assert newest.startswith("codify-objectives-") and oldest == "objectives-v1"
    empty_range = make(
        lifecycle.ListStageReportsRequest,
        {"start_time_after": "2026-11-28T00:00:00Z", "start_time_before": "2026-11-27T00:00:00Z"},
    )
    fails(stubs.lifecycle.ListStageReports, empty_range, grpc.StatusCode.INVALID_ARGUMENT)
    # The same name under another run makes the name alone ambiguous.
    experiment_id = stubs.tracking.GetRun(tracking.GetRunRequest(id=run_id)).run.experiment_id
    other_run = stubs.tracking.CreateRun(
        make(tracking.CreateRunRequest, {"run": {"experiment_id": experiment_id}})
    ).run.meta.id
    twin = report(other_run)
    twin.stage_report.meta.name = "objectives-v1"
    stubs.lifecycle.ReportStage(twin)
    fails(
        stubs.lifecycle.GetStageReport,
        lifecycle.GetStageReportRequest(name="objectives-v1"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
