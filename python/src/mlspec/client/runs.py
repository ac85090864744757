"""``with client.start_run(...) as run:``: a tracking run whose state follows the block.

The run is created in state RUNNING; leaving the block drains the metric buffer, then
moves the run to SUCCEEDED, or to FAILED with the error (message, type, stack trace) when
the block raised, or to CANCELLED on ``KeyboardInterrupt``. The exception propagates.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mlspec.client.metrics import MetricSender
from mlspec.client.refs import digest_of, to_ref
from mlspec.client.stages import StageContext
from mlspec.common.v1 import run_state_pb2
from mlspec.tracking.v1 import run_pb2, tracking_service_pb2

if TYPE_CHECKING:
    from mlspec.client.client import Client

log = logging.getLogger("mlspec.client")

_time_ns = time.time_ns


class ActiveRun:
    """A started tracking run: log metrics and params, report stages, end it.

    Attributes:
        run: the ``mlspec.tracking.v1.Run`` as last returned by the server.
        sender: the background ``MetricSender`` of the run's metrics and params.

    Example:
        >>> with client.start_run(experiment="churn", name="nightly") as run:  # doctest: +SKIP
        ...     run.log_params({"lr": 0.1, "depth": 6})
        ...     for epoch in range(10):
        ...         run.log_metric("loss", 1 / (epoch + 1), step=epoch)
    """

    def __init__(self, client: Client, run: run_pb2.Run, sender: MetricSender) -> None:
        self.client = client
        self.run = run
        self.sender = sender
        self._append = sender.append
        self._ended = False

    @property
    def id(self) -> str:
        """The run id."""
        return self.run.meta.id

    # -- metrics and params (non-blocking) -------------------------------------------

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Queues one metric point; returns at once (the sender thread sends it).

        The value is a number or any plain value (``mlspec.client.values``); the time is
        taken now.
        """
        self._append((key, value, step, _time_ns()))

    def _refuse(self, point: tuple[str, Any, int | None, int]) -> None:
        raise RuntimeError(f"run {self.id} has ended; its metrics are frozen")

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Queues several metric points of the same step and time."""
        now = _time_ns()
        append = self._append
        for key, value in metrics.items():
            append((key, value, step, now))

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Queues hyperparameters (typed values; a key once logged never changes)."""
        self.sender.add_params(params)

    def flush(self, timeout: float | None = None) -> None:
        """Waits until every queued point and param is stored; raises sender errors."""
        self.sender.flush(timeout)

    # -- blocking helpers -------------------------------------------------------------

    def set_tags(self, tags: Mapping[str, str], remove: Iterable[str] = ()) -> dict[str, str]:
        """Sets and removes tags (allowed on ended runs too); returns the run's tags."""
        response = self.client.tracking.SetRunTags(
            tracking_service_pb2.SetRunTagsRequest(
                run_id=self.id, tags=dict(tags), remove_keys=list(remove)
            )
        )
        return dict(response.tags)

    def log_inputs(self, inputs: Iterable[Any], role: str | int = 0) -> None:
        """Records resources the run read (``LogRunInputs``), with digests when known."""
        from mlspec.client.fields import enum_number
        from mlspec.tracking.v1 import metric_pb2

        number = (
            enum_number(metric_pb2.DatasetRole.DESCRIPTOR, role) if isinstance(role, str) else role
        )
        items = []
        for resource in inputs:
            item = run_pb2.RunInput(resource=to_ref(resource), role=number)  # type: ignore[arg-type]
            digest = digest_of(resource)
            if digest is not None:
                item.digest.CopyFrom(digest)
            items.append(item)
        self.client.tracking.LogRunInputs(
            tracking_service_pb2.LogRunInputsRequest(run_id=self.id, inputs=items)
        )

    def log_outputs(self, outputs: Iterable[Any], role: str = "") -> None:
        """Declares resources the run produced (``LogRunOutputs``)."""
        items = []
        for resource in outputs:
            item = run_pb2.RunOutput(resource=to_ref(resource), role=role)
            digest = digest_of(resource)
            if digest is not None:
                item.digest.CopyFrom(digest)
            items.append(item)
        self.client.tracking.LogRunOutputs(
            tracking_service_pb2.LogRunOutputsRequest(run_id=self.id, outputs=items)
        )

    def stage(self, stage: int | str, **kwargs: Any) -> StageContext:
        """A stage of this run, to use as ``with run.stage(Stage.X, inputs=[...]):``.

        Takes the keyword arguments of ``StageContext`` (``inputs``, ``outputs``,
        ``step_run_id``, ``model_version``, ``name``, ``producer``, ``payload`` and payload
        fields).
        """
        kwargs.setdefault("run_id", self.id)
        if self.run.step_run_id:
            kwargs.setdefault("step_run_id", self.run.step_run_id)
        return StageContext(self.client, stage, **kwargs)

    def artifact(self, path: str, **kwargs: Any) -> Any:
        """Registers a local file or folder as an artifact of this run (see Client)."""
        return self.client.log_artifact(self, path, **kwargs)

    def refresh(self) -> run_pb2.Run:
        """Reads the run again from the server."""
        self.run = self.client.tracking.GetRun(tracking_service_pb2.GetRunRequest(id=self.id)).run
        return self.run

    # -- the end ------------------------------------------------------------------------

    def end(
        self, state: int = run_state_pb2.RUN_STATE_SUCCEEDED, error: BaseException | None = None
    ) -> run_pb2.Run:
        """Drains the buffer, then moves the run to ``state`` (FAILED needs ``error``)."""
        if self._ended:
            return self.run
        self._ended = True
        self._append = self._refuse  # a point logged after the end would never be sent
        with contextlib.suppress(ValueError):
            self.client._runs.remove(self)
        drain_error: BaseException | None = None
        try:
            self.sender.close()
        except Exception as exc:
            drain_error = exc
            if error is None:
                state, error = run_state_pb2.RUN_STATE_FAILED, exc
        request = tracking_service_pb2.UpdateRunStateRequest(run_id=self.id, state=state)  # type: ignore[arg-type]
        if error is not None:
            request.reason = type(error).__name__
            if state == run_state_pb2.RUN_STATE_FAILED:
                request.error.message = (str(error) or type(error).__name__)[:8000]
                request.error.type = type(error).__name__
                request.error.stack_trace = "".join(
                    traceback.format_exception(type(error), error, error.__traceback__)
                )[-32000:]
                request.error.programming_language = "python"
        self.run = self.client.tracking.UpdateRunState(request).run
        if drain_error is not None and error is drain_error:
            raise drain_error
        return self.run

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end()
            return
        state = (
            run_state_pb2.RUN_STATE_CANCELLED
            if isinstance(exc, KeyboardInterrupt)
            else run_state_pb2.RUN_STATE_FAILED
        )
        try:
            self.end(state, exc)
        except Exception as end_error:  # the block's own error matters more
            log.warning("mlspec: run %s did not record its failure: %s", self.id, end_error)
