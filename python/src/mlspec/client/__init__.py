"""The MLSpec Python SDK: a typed client over the generated gRPC stubs.

A training step that reports itself::

    from mlspec.client import Client, Stage

    with Client() as client, client.start_run(experiment="churn") as run:
        train = client.create_dataset_version("churn-train", "data/train.csv")
        run.log_params({"lr": 0.1})
        with run.stage(Stage.MODEL_TRAINING, inputs=[train]) as stage:
            for epoch in range(3):
                run.log_metric("loss", 1 / (epoch + 1), step=epoch)
            stage.set(model_format="onnx", hyperparameters={"lr": 0.1})
            stage.output(client.log_artifact(run, "model.onnx", type="MODEL"), role="model")

Public API: ``Client``, ``ActiveRun``, ``StageContext``, ``Stage``, ``StageFailed``, ``LineageGraph``,
``RetryPolicy``, the exceptions (``MLSpecError`` and one subclass per status code),
``to_value`` / ``from_value``, ``to_ref`` / ``to_endpoint``, ``file_digest`` /
``folder_digest``. This package never imports the server or the store.
"""

from __future__ import annotations

from mlspec.client.client import Client, semantic_version
from mlspec.client.digests import file_digest, folder_digest, path_digest
from mlspec.client.errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    MLSpecError,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
    error_class,
    from_rpc_error,
)
from mlspec.client.fields import build, fill
from mlspec.client.lineage import Edge, LineageGraph, Node
from mlspec.client.metrics import MetricSender
from mlspec.client.refs import to_endpoint, to_ref
from mlspec.client.runs import ActiveRun
from mlspec.client.stages import Stage, StageContext, StageFailed
from mlspec.client.transport import NO_RETRY, TLS, RetryPolicy
from mlspec.client.values import from_value, to_value

__all__ = [
    "NO_RETRY",
    "TLS",
    "Aborted",
    "ActiveRun",
    "AlreadyExists",
    "Cancelled",
    "Client",
    "DataLoss",
    "DeadlineExceeded",
    "Edge",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "LineageGraph",
    "MLSpecError",
    "MetricSender",
    "Node",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "RetryPolicy",
    "Stage",
    "StageContext",
    "StageFailed",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "build",
    "error_class",
    "file_digest",
    "fill",
    "folder_digest",
    "from_rpc_error",
    "from_value",
    "path_digest",
    "semantic_version",
    "to_endpoint",
    "to_ref",
    "to_value",
]
