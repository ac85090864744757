"""Limits on every input (common/v1/limits.proto) and partial responses, on a real server."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from mlspec.client import Client, InvalidArgument
from mlspec.common.v1 import value_pb2
from mlspec.data.v1 import data_service_pb2 as data_pb
from mlspec.domain.common import limits
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.server.app import RunningServer
from mlspec.tracking.v1 import tracking_service_pb2 as tr
from tests.server.messages import make


@pytest.fixture
def client(running: RunningServer) -> Any:
    with Client(f"127.0.0.1:{running.port}", timeout=30) as c:
        yield c


def nested(depth: int) -> value_pb2.Value:
    """A Value that is an object in an object ... ``depth`` levels in all."""
    value = value_pb2.Value(int_value=1)
    for _ in range(depth - 1):
        outer = value_pb2.Value()
        outer.object_value.fields["a"].CopyFrom(value)
        value = outer
    return value


def refused(call: Any, request: Any) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        call(request)
    assert raised.value.reason == "LIMIT_EXCEEDED"
    return raised.value


def test_huge_lists_and_maps_are_refused_naming_the_field(client: Any) -> None:
    run = make(tr.CreateRunRequest, {"run": {"experiment_id": "x"}})
    for i in range(100_000):
        run.run.params.add(key=f"p{i}").value.int_value = i
    error = refused(client.tracking.CreateRun, run)
    assert error.field_violations == [("run.params", "holds 100,000 items; at most 1,000")]

    report = lc.ReportStageRequest()
    for _ in range(1_001):
        report.stage_report.inputs.add().resource.id = "x"
    error = refused(client.lifecycle.ReportStage, report)
    assert error.field_violations == [("stage_report.inputs", "holds 1,001 items; at most 1,000")]

    labelled = data_pb.CreateDatasetRequest()
    labelled.dataset.meta.name = "labelled"
    for i in range(10_000):
        labelled.dataset.meta.labels[f"k{i}"] = "v"
    error = refused(client.data.CreateDataset, labelled)
    assert error.field_violations == [("dataset.meta.labels", "holds 10,000 entries; at most 64")]
    # An override in the contract: a batch of stage reports holds at most 500.
    batch = lc.BatchReportStagesRequest()
    for _ in range(501):
        batch.stage_reports.add()
    error = refused(client.lifecycle.BatchReportStages, batch)
    assert error.field_violations == [("stage_reports", "holds 501 items; at most 500")]


def test_long_strings_and_bytes_are_refused_naming_the_field(client: Any) -> None:
    request = data_pb.CreateDatasetRequest()
    request.dataset.meta.name = "described"
    request.dataset.meta.description = "d" * 40_000
    error = refused(client.data.CreateDataset, request)
    assert error.field_violations == [
        ("dataset.meta.description", "is 40,000 characters long; at most 32,768")
    ]
    report = lc.ReportStageRequest()
    report.stage_report.error_message = "e" * 70_000
    report.stage_report.properties["k" * 70_000].string_value = "v"
    signed = report.stage_report.model_packaging.signed_manifest.signatures.add()
    signed.signature = b"s" * (2 * 1024 * 1024)
    error = refused(client.lifecycle.ReportStage, report)
    assert sorted(error.field_violations) == [
        ("stage_report.error_message", "is 70,000 characters long; at most 65,536"),
        (
            "stage_report.model_packaging.signed_manifest.signatures[0].signature",
            "is 2,097,152 bytes long; at most 1,048,576",
        ),
        ("stage_report.properties", "has a key of 70,000 characters; at most 65,536"),
    ]


def test_values_nest_at_most_twenty_levels(client: Any) -> None:
    experiment = client.get_or_create_experiment("limits")
    ok = tr.CreateRunRequest()
    ok.run.experiment_id = experiment.meta.id
    ok.run.properties["config"].CopyFrom(nested(limits.MAX_NESTING))
    assert client.tracking.CreateRun(ok).run.properties["config"] == nested(limits.MAX_NESTING)
    deep = tr.CreateRunRequest()
    deep.run.experiment_id = experiment.meta.id
    deep.run.properties["config"].CopyFrom(nested(limits.MAX_NESTING + 1))
    error = refused(client.tracking.CreateRun, deep)
    ((field, description),) = error.field_violations  # the path is clipped past 512 characters
    assert field.startswith("run.properties['config'].object_value.fields['a'].object_value")
    assert description == "nests Value more than 20 levels deep within itself"


def test_a_request_over_four_mib_is_refused_naming_its_largest_field(client: Any) -> None:
    request = tr.CreateRunRequest()
    request.run.experiment_id = "x"
    for i in range(1_000):
        request.run.params.add(key=f"p{i}").value.string_value = "v" * 5_000
    error = refused(client.tracking.CreateRun, request)
    (field, description), *_ = error.field_violations
    assert field == "run"
    assert description.startswith("takes 5,0")
    assert "at most 4,194,304" in error.message


def test_a_committed_create_never_looks_failed_to_a_default_client(
    running: RunningServer,
) -> None:
    """A create just under the request limit echoes more than 4 MiB: the meta comes back."""
    with Client(f"127.0.0.1:{running.port}") as client:
        experiment = client.get_or_create_experiment("big")
    request = tr.CreateRunRequest()
    request.run.experiment_id = experiment.meta.id
    for i in range(69):
        request.run.properties[f"p{i}"].string_value = "x" * 60_000
    last = request.run.properties["pad"]
    while request.ByteSize() < limits.MAX_REQUEST_BYTES - 8:  # the limit, less a few bytes
        last.string_value += "x" * (limits.MAX_REQUEST_BYTES - 8 - request.ByteSize())
    assert request.ByteSize() <= limits.MAX_REQUEST_BYTES
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:  # 4 MiB receive limit
        create = channel.unary_unary(
            "/mlspec.tracking.v1.TrackingService/CreateRun",
            request_serializer=tr.CreateRunRequest.SerializeToString,
            response_deserializer=tr.CreateRunResponse.FromString,
        )
        response = create(request, timeout=30)
    assert response.run.meta.id
    assert not response.run.properties and not response.run.experiment_id
    assert [w.code for w in response.warnings] == ["RESPONSE_TRIMMED"]
    with Client(f"127.0.0.1:{running.port}") as client:  # the SDK reads it whole
        got = client.tracking.GetRun(tr.GetRunRequest(id=response.run.meta.id)).run
    assert len(got.properties) == 70


def test_a_caller_may_ask_for_a_partial_response(running: RunningServer) -> None:
    header = [("x-mlspec-response-fields", "dataset.meta.id, dataset.meta.etag,warnings")]
    with Client(f"127.0.0.1:{running.port}") as client:
        request = make(
            data_pb.CreateDatasetRequest,
            {"dataset": {"meta": {"name": "small", "description": "long text"}}},
        )
        made = client.data.CreateDataset(request, metadata=header).dataset
        assert made.meta.id and made.meta.etag
        assert not made.meta.name and not made.meta.description
        listed = client.data.ListDatasets(
            data_pb.ListDatasetsRequest(),
            metadata=[("x-mlspec-response-fields", "datasets.meta.name")],
        )
        assert [d.meta.name for d in listed.datasets] == ["small"]
        assert not listed.datasets[0].meta.id
        bad = [("x-mlspec-response-fields", "dataset.meta.nope")]
        with pytest.raises(InvalidArgument) as raised:
            client.data.CreateDataset(
                make(data_pb.CreateDatasetRequest, {"dataset": {"meta": {"name": "never"}}}),
                metadata=bad,
            )
        assert raised.value.field_violations[0][0] == "x-mlspec-response-fields"
        # Refused before the call ran: nothing was created.
        names = [
            d.meta.name for d in client.data.ListDatasets(data_pb.ListDatasetsRequest()).datasets
        ]
        assert names == ["small"]


def test_limits_are_read_from_the_contract() -> None:
    from mlspec.common.v1 import object_meta_pb2

    labels = object_meta_pb2.ObjectMeta.DESCRIPTOR.fields_by_name["labels"]
    assert limits.limit_of(labels).max_items == 64
    name = object_meta_pb2.ObjectMeta.DESCRIPTOR.fields_by_name["name"]
    assert limits.limit_of(name).max_length == limits.DEFAULT_STRING_LENGTH
    # A request too small to break any limit is not walked at all.
    assert limits.violations(data_pb.CreateDatasetRequest(), size=0) == []


def test_a_list_page_stays_within_what_a_default_client_accepts(running: RunningServer) -> None:
    with Client(f"127.0.0.1:{running.port}") as client:
        experiment = client.get_or_create_experiment("pages")
        for _ in range(3):  # three runs of about 1.5 MB each
            request = tr.CreateRunRequest()
            request.run.experiment_id = experiment.meta.id
            for i in range(25):
                request.run.properties[f"p{i}"].string_value = "x" * 60_000
            client.tracking.CreateRun(request)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:  # 4 MiB receive limit
        list_runs = channel.unary_unary(
            "/mlspec.tracking.v1.TrackingService/ListRuns",
            request_serializer=tr.ListRunsRequest.SerializeToString,
            response_deserializer=tr.ListRunsResponse.FromString,
        )
        first = list_runs(tr.ListRunsRequest(experiment_ids=[experiment.meta.id], page_size=10))
        assert len(first.runs) == 2 and first.next_page_token
        rest = list_runs(
            tr.ListRunsRequest(
                experiment_ids=[experiment.meta.id], page_size=10, page_token=first.next_page_token
            )
        )
    assert len(rest.runs) == 1 and not rest.next_page_token
    assert len({r.meta.id for r in [*first.runs, *rest.runs]}) == 3
