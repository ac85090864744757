"""Every failed call becomes the MLSpecError subclass of its status, with decoded details."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from mlspec.client import (
    AlreadyExists,
    Client,
    FailedPrecondition,
    InvalidArgument,
    MLSpecError,
    NotFound,
    Unavailable,
    error_class,
)
from mlspec.client import errors as client_errors
from mlspec.common.v1 import run_state_pb2
from mlspec.data.v1 import data_service_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as tr


def test_not_found(client: Client) -> None:
    with pytest.raises(NotFound) as caught:
        client.tracking.GetExperiment(tr.GetExperimentRequest(name="nope"))
    err = caught.value
    assert err.code == grpc.StatusCode.NOT_FOUND
    assert err.reason  # the stable ErrorInfo reason
    assert err.detail(error_details_pb2.ErrorInfo) is not None
    assert isinstance(err, MLSpecError)
    assert isinstance(err.__cause__, grpc.RpcError)


def test_already_exists(client: Client) -> None:
    request = data_service_pb2.CreateDatasetRequest()
    request.dataset.meta.name = "churn"
    client.data.CreateDataset(request)
    with pytest.raises(AlreadyExists) as caught:
        client.data.CreateDataset(request)  # a new request_id: a second create, refused
    assert caught.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert caught.value.reason


def test_invalid_argument_with_field_violations(client: Client) -> None:
    request = data_service_pb2.CreateDatasetRequest()
    request.dataset.meta.name = "-bad name"
    with pytest.raises(InvalidArgument) as caught:
        client.data.CreateDataset(request)
    err = caught.value
    assert err.field_violations
    fields = [field for field, _ in err.field_violations]
    assert any("name" in field for field in fields), fields
    assert err.detail(error_details_pb2.BadRequest) is not None
    assert "INVALID_ARGUMENT" in str(err)


def test_failed_precondition(client: Client) -> None:
    with client.start_run(experiment="e", name="done") as run:
        pass
    request = tr.UpdateRunStateRequest(run_id=run.id, state=run_state_pb2.RUN_STATE_RUNNING)
    with pytest.raises(FailedPrecondition):
        client.tracking.UpdateRunState(request)


def test_unavailable_after_retries() -> None:
    from mlspec.client import RetryPolicy

    with (
        Client(
            "127.0.0.1:1", timeout=5, retry=RetryPolicy(max_attempts=2, initial_backoff=0.01)
        ) as c,
        pytest.raises(Unavailable),
    ):
        c.tracking.GetExperiment(tr.GetExperimentRequest(name="x"))


@pytest.mark.parametrize("code", list(grpc.StatusCode))
def test_every_code_has_its_class(code: grpc.StatusCode) -> None:
    if code == grpc.StatusCode.OK:
        return
    cls = error_class(code)
    assert cls.code == code
    assert cls.__name__.lower().replace("_", "") == code.name.lower().replace("_", "")


def test_named_classes_exist() -> None:
    for name in (
        "NotFound",
        "AlreadyExists",
        "InvalidArgument",
        "FailedPrecondition",
        "Aborted",
        "PermissionDenied",
        "Unauthenticated",
        "Unavailable",
        "DeadlineExceeded",
        "ResourceExhausted",
        "Internal",
    ):
        assert issubclass(getattr(client_errors, name), MLSpecError)
