"""Stage reports from a ``with`` block: ``run.stage(Stage.MODEL_TRAINING, ...)``.

The block is timed (start and end time), and on exit one ``ReportStage`` call records
the report: the run id (and step run id when given), the inputs, the outputs the block
added, and the stage's typed payload. An exception in the block records a FAILED report
with the error message, then propagates.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from google.protobuf import message as protobuf_message
from google.protobuf import timestamp_pb2

from mlspec.client.fields import enum_number, fill
from mlspec.client.refs import to_endpoint, to_ref
from mlspec.client.values import to_value
from mlspec.common.v1 import reference_pb2
from mlspec.common.v1.reference_pb2 import ResourceKind
from mlspec.lifecycle.v1 import (
    evaluation_pb2,
    lifecycle_service_pb2,
    stage_pb2,
    stage_report_pb2,
    validation_pb2,
)

if TYPE_CHECKING:
    from mlspec.client.client import Client

log = logging.getLogger("mlspec.client")


_MODEL_KINDS = (
    reference_pb2.RESOURCE_KIND_MODEL_VERSION,
    reference_pb2.RESOURCE_KIND_ARTIFACT,
)


def _name_output_model(report: stage_report_pb2.StageReport) -> None:
    """Fills ``model_training.output_model`` (Required) from the outputs when it is unset.

    The output with role ``model`` wins, else the first model version or artifact.
    """
    training = report.model_training
    if training.HasField("output_model"):
        return
    candidates = [e for e in report.outputs if e.resource.kind in _MODEL_KINDS]
    chosen = next((e for e in candidates if e.role == "model"), None) or next(
        iter(candidates), None
    )
    if chosen is not None:
        training.output_model.CopyFrom(chosen.resource)


def _time_ingestion(report: stage_report_pb2.StageReport) -> None:
    """Fills ``data_ingestion.start_time`` and ``end_time`` (Required) from the report's.

    The block that reports an ingestion times the read; a payload that says when the
    read itself started or ended keeps its own times.
    """
    ingestion = report.data_ingestion
    if not ingestion.HasField("start_time"):
        ingestion.start_time.CopyFrom(report.start_time)
    if not ingestion.HasField("end_time"):
        ingestion.end_time.CopyFrom(report.end_time)


class Stage(enum.IntEnum):
    """The lifecycle stages (``mlspec.lifecycle.v1.LifecycleStage`` without its prefix).

    Example:
        >>> int(Stage.MODEL_TRAINING)
        7
    """

    CODIFY_OBJECTIVES = stage_pb2.LIFECYCLE_STAGE_CODIFY_OBJECTIVES
    DATA_INGESTION = stage_pb2.LIFECYCLE_STAGE_DATA_INGESTION
    DATA_ANALYSIS = stage_pb2.LIFECYCLE_STAGE_DATA_ANALYSIS
    DATA_TRANSFORMATION = stage_pb2.LIFECYCLE_STAGE_DATA_TRANSFORMATION
    DATA_VALIDATION = stage_pb2.LIFECYCLE_STAGE_DATA_VALIDATION
    DATA_SPLITTING = stage_pb2.LIFECYCLE_STAGE_DATA_SPLITTING
    MODEL_TRAINING = stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING
    MODEL_EVALUATION = stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION
    MODEL_TEST = stage_pb2.LIFECYCLE_STAGE_MODEL_TEST
    MODEL_PACKAGING = stage_pb2.LIFECYCLE_STAGE_MODEL_PACKAGING
    MODEL_SERVING = stage_pb2.LIFECYCLE_STAGE_MODEL_SERVING
    MONITORING = stage_pb2.LIFECYCLE_STAGE_MONITORING
    INFERENCE_LOGGING = stage_pb2.LIFECYCLE_STAGE_INFERENCE_LOGGING


PAYLOAD_FIELDS: dict[int, str] = {
    Stage.CODIFY_OBJECTIVES: "codified_objectives",
    Stage.DATA_INGESTION: "data_ingestion",
    Stage.DATA_ANALYSIS: "data_analysis",
    Stage.DATA_TRANSFORMATION: "data_transformation",
    Stage.DATA_VALIDATION: "data_validation",
    Stage.DATA_SPLITTING: "data_splitting",
    Stage.MODEL_TRAINING: "model_training",
    Stage.MODEL_EVALUATION: "model_evaluation",
    Stage.MODEL_TEST: "model_test",
    Stage.MODEL_PACKAGING: "model_packaging",
    Stage.MODEL_SERVING: "model_serving",
}
"""The ``StageReport.payload`` member of each stage that is reported with a StageReport."""


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.timezone.utc))
    return stamp


class StageContext:
    """One stage being carried out; ``with`` it to time and report it.

    Attributes:
        inputs: what the stage consumed (the ``inputs`` given, then :meth:`input`);
            resource messages, ``ResourceRef`` or ``LineageEndpoint``.
        outputs: what the stage produced (the ``outputs`` given); append resource
            messages, ``ResourceRef`` or ``LineageEndpoint`` (or call :meth:`output` to
            give a role).
        status: the report status to send on success: ``"SUCCEEDED"`` unless changed
            (for example to ``"WARNED"``) or unless the payload's own verdict says
            otherwise (see :func:`verdict`): a BLOCK or REJECTED decision sends FAILED
            and the block then raises ``StageFailed``, a WARN or APPROVED_WITH_WARNINGS
            decision sends WARNED.
        error_message: sent with the report (filled from the exception on failure).
        report: the recorded ``StageReport`` once the block has ended.
        model_version: the model version the report is about. For stages 7 to 11 it
            defaults to the one model version among the outputs (training), or else
            among the inputs (evaluation, test, packaging, serving).

    Example:
        >>> with run.stage(Stage.MODEL_TRAINING, inputs=[train]) as stage:  # doctest: +SKIP
        ...     model = fit(train)
        ...     stage.set(model_format="onnx", hyperparameters={"lr": 0.1})
        ...     stage.output(artifact, role="model")
    """

    def __init__(
        self,
        client: Client,
        stage: int | str,
        *,
        run_id: str = "",
        step_run_id: str = "",
        pipeline_run_id: str = "",
        inputs: Iterable[Any] = (),
        outputs: Iterable[Any] = (),
        model_version: Any = None,
        name: str = "",
        producer: stage_report_pb2.StageProducer | None = None,
        payload: protobuf_message.Message | None = None,
        properties: dict[str, Any] | None = None,
        request_id: str = "",
        **payload_fields: Any,
    ) -> None:
        number = (
            enum_number(stage_pb2.LifecycleStage.DESCRIPTOR, stage)
            if isinstance(stage, str)
            else int(stage)
        )
        if number not in PAYLOAD_FIELDS:
            raise ValueError(f"stage {stage!r} is not reported with a StageReport (1 to 11)")
        self._client = client
        self.stage = Stage(number)
        self.report_message = stage_report_pb2.StageReport(
            stage=number,  # type: ignore[arg-type]
            run_id=run_id,
            step_run_id=step_run_id,
            pipeline_run_id=pipeline_run_id,
        )
        if name:
            self.report_message.meta.name = name
        if model_version is not None:
            self.report_message.model_version.CopyFrom(to_ref(model_version))
        if producer is not None:
            self.report_message.producer.CopyFrom(producer)
        for key, value in (properties or {}).items():
            self.report_message.properties[key].CopyFrom(to_value(value))
        self.inputs: list[Any] = list(inputs)
        self.outputs: list[Any] = list(outputs)
        self._status: str | int = "SUCCEEDED"
        self._status_set = False
        self.error_message = ""
        self.request_id = request_id
        self.report: stage_report_pb2.StageReport | None = None
        self.payload(payload, **payload_fields)

    @property
    def recorded(self) -> stage_report_pb2.StageReport:
        """The recorded report; ``RuntimeError`` before the block has ended (or ``send``)."""
        if self.report is None:
            raise RuntimeError(f"the {self.stage.name} report has not been sent yet")
        return self.report

    @property
    def status(self) -> str | int:
        """The status sent when the block ends without an exception (see the class)."""
        return self._status

    @status.setter
    def status(self, value: str | int) -> None:
        self._status = value
        self._status_set = True

    @property
    def model_version(self) -> Any:
        """The model version the report is about (a ``ResourceRef``), or None.

        Set it to a model version (message or reference) once the block knows it, for
        example after registering the model it trained.
        """
        if not self.report_message.HasField("model_version"):
            return None
        return self.report_message.model_version

    @model_version.setter
    def model_version(self, resource: Any) -> None:
        self.report_message.model_version.CopyFrom(to_ref(resource))

    @property
    def payload_message(self) -> protobuf_message.Message:
        """The stage's payload message (for example the ``ModelTraining``), to edit."""
        return getattr(self.report_message, PAYLOAD_FIELDS[self.stage])  # type: ignore[no-any-return]

    def payload(
        self, message: protobuf_message.Message | None = None, **fields: Any
    ) -> protobuf_message.Message:
        """Sets the typed payload from a message and/or keyword arguments; returns it.

        Keyword arguments are fields of the stage's payload message, converted as in
        ``mlspec.client.fields.fill`` (plain values for ``Value`` maps, resources for
        references, dicts for submessages).

        Example:
            >>> stage.payload(model_format="xgboost-json")  # doctest: +SKIP
        """
        target = self.payload_message
        target.SetInParent()
        if message is not None:
            target.MergeFrom(message)
        fill(target, **fields)
        return target

    set = payload

    def approve(
        self, approver: str | Mapping[str, Any], reason: str = "", *, override: bool = False
    ) -> None:
        """Records a person's approval of a packaging (10) or serving (11) report.

        The deployment gate needs it when the launch criteria require human approval;
        with ``override=True`` (and a reason) it records the report although the gate
        does not pass, and the failures overridden are kept on the report and shown in
        lineage. ``approver`` is a name or a ``Person``'s fields.

        Example:
            >>> stage.approve("Lena Vogt", "product sign-off CHURN-88")  # doctest: +SKIP
        """
        person = {"name": approver} if isinstance(approver, str) else dict(approver)
        approval = self.report_message.deployment_approval
        approval.Clear()
        fill(approval, approver=person, reason=reason, override=override)

    def input(self, resource: Any, *, role: str = "", uri: str = "") -> None:
        """Adds an input with a role (for example ``training_data``)."""
        self.inputs.append(to_endpoint(resource, role=role, uri=uri))

    def output(self, resource: Any, *, role: str = "", uri: str = "") -> None:
        """Adds an output with a role (for example ``model``)."""
        self.outputs.append(to_endpoint(resource, role=role, uri=uri))

    def __enter__(self) -> StageContext:
        self.report_message.start_time.CopyFrom(_now())
        return self

    def build(self, failure: BaseException | None = None) -> stage_report_pb2.StageReport:
        """The report as it would be sent now (end time, status, endpoints)."""
        report = stage_report_pb2.StageReport()
        report.CopyFrom(self.report_message)
        if not report.HasField("start_time"):
            report.start_time.CopyFrom(_now())
        report.end_time.CopyFrom(_now())
        if failure is not None:
            report.status = stage_report_pb2.STAGE_REPORT_STATUS_FAILED
            report.error_message = (self.error_message or f"{type(failure).__name__}: {failure}")[
                :8000
            ]
        else:
            report.status = stage_report_pb2.StageReportStatus.ValueType(
                enum_number(stage_report_pb2.StageReportStatus.DESCRIPTOR, self._status)
                if isinstance(self._status, str)
                else int(self._status)
            )
            if self.error_message:
                report.error_message = self.error_message
            judged, reason = verdict(report)
            if judged is not None and not self._status_set:
                report.status = judged
                report.error_message = report.error_message or reason[:8000]
        report.inputs.extend(to_endpoint(item) for item in self.inputs)
        report.outputs.extend(to_endpoint(item) for item in self.outputs)
        if not report.HasField("model_version") and self.stage in MODEL_STAGES:
            model = _only_model_version(report)
            if model is not None:
                report.model_version.CopyFrom(model)
        if report.HasField("model_training"):
            _name_output_model(report)
        if report.HasField("data_ingestion"):
            _time_ingestion(report)
        return report

    def send(self, failure: BaseException | None = None) -> stage_report_pb2.StageReport:
        """Sends the report now (``__exit__`` does this); returns the recorded report."""
        request = lifecycle_service_pb2.ReportStageRequest(
            stage_report=self.build(failure), request_id=self.request_id
        )
        response: lifecycle_service_pb2.ReportStageResponse = self._client.lifecycle.ReportStage(
            request
        )
        self.report = response.stage_report
        return response.stage_report

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            report = self.send()
            failed = report.status == stage_report_pb2.STAGE_REPORT_STATUS_FAILED
            if failed and not self._status_set:  # its own verdict, not the caller's word
                raise StageFailed(report)
            return
        try:
            self.send(exc)
        except Exception as report_error:  # the block's own error matters more
            log.warning(
                "mlspec: the FAILED report of %s was not recorded: %s", self.stage, report_error
            )


MODEL_STAGES = frozenset(
    {
        Stage.MODEL_TRAINING,
        Stage.MODEL_EVALUATION,
        Stage.MODEL_TEST,
        Stage.MODEL_PACKAGING,
        Stage.MODEL_SERVING,
    }
)
"""The stages whose reports are about one model version (``StageReport.model_version``)."""


def _only_model_version(report: stage_report_pb2.StageReport) -> Any:
    """The one model version among the outputs, else among the inputs (None if not one)."""
    for endpoints in (report.outputs, report.inputs):
        found = {
            (e.resource.id, e.resource.name, e.resource.version): e.resource
            for e in endpoints
            if e.resource.kind == ResourceKind.RESOURCE_KIND_MODEL_VERSION
        }
        if len(found) == 1:
            return next(iter(found.values()))
        if found:
            return None
    return None


class StageFailed(RuntimeError):
    """A stage ended without an exception but its report is FAILED (its own verdict).

    Raised when a ``with run.stage(...)`` block ends and the report it sent is FAILED by
    the verdict of its payload (a BLOCK validation decision, a REJECTED gate decision), so
    that the stages after it do not run; a status the block set itself is not raised.
    ``report`` is the recorded report.
    """

    def __init__(self, report: stage_report_pb2.StageReport) -> None:
        stage = stage_pb2.LifecycleStage.Name(report.stage).removeprefix("LIFECYCLE_STAGE_")
        super().__init__(f"stage {stage} failed: {report.error_message or 'no reason given'}")
        self.report = report


_BLOCKING: dict[str, tuple[set[int], set[int]]] = {
    "data_validation": (
        {validation_pb2.VALIDATION_DECISION_BLOCK},
        {validation_pb2.VALIDATION_DECISION_WARN},
    ),
    "model_evaluation": (
        {evaluation_pb2.MODEL_GATE_DECISION_REJECTED},
        {evaluation_pb2.MODEL_GATE_DECISION_APPROVED_WITH_WARNINGS},
    ),
    "model_test": (
        {evaluation_pb2.MODEL_GATE_DECISION_REJECTED},
        {evaluation_pb2.MODEL_GATE_DECISION_APPROVED_WITH_WARNINGS},
    ),
}


def verdict(
    report: stage_report_pb2.StageReport,
) -> tuple[stage_report_pb2.StageReportStatus.ValueType | None, str]:
    """The status a report's payload calls for by its own decision, with the reason.

    A data validation that decided BLOCK, or an evaluation or hold-back test that
    decided REJECTED, is FAILED: downstream stages must not proceed. WARN and
    APPROVED_WITH_WARNINGS are WARNED. Other payloads (and other decisions) call for
    nothing: (None, "").

    Example:
        >>> from mlspec.lifecycle.v1 import stage_report_pb2 as sr
        >>> report = sr.StageReport(model_evaluation={"decision": "MODEL_GATE_DECISION_REJECTED"})
        >>> verdict(report)[0] == sr.STAGE_REPORT_STATUS_FAILED
        True
    """
    member = report.WhichOneof("payload")
    if member not in _BLOCKING:
        return None, ""
    payload = getattr(report, member)
    failing, warning = _BLOCKING[member]
    if payload.decision in failing:
        return stage_report_pb2.STAGE_REPORT_STATUS_FAILED, payload.decision_reason
    if payload.decision in warning:
        return stage_report_pb2.STAGE_REPORT_STATUS_WARNED, payload.decision_reason
    return None, ""
