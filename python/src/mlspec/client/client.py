"""``Client``: the typed entry point of the MLSpec Python SDK."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf import message as protobuf_message

from mlspec.client import objectives, validation
from mlspec.client.digests import path_digest
from mlspec.client.errors import AlreadyExists, NotFound
from mlspec.client.fields import build, enum_number
from mlspec.client.lineage import LineageGraph
from mlspec.client.metrics import SENDER_RETRY, MetricSender
from mlspec.client.refs import to_ref
from mlspec.client.runs import ActiveRun
from mlspec.client.transport import (
    AUTHORIZATION_HEADER,
    TLS,
    WORKSPACE_HEADER,
    CallPolicy,
    RetryPolicy,
    open_channel,
)
from mlspec.common.v1 import reference_pb2, resource_service_pb2_grpc, run_state_pb2
from mlspec.data.v1 import (
    artifact_pb2,
    data_service_pb2,
    data_service_pb2_grpc,
    dataset_pb2,
    datastore_pb2,
)
from mlspec.lifecycle.v1 import (
    lifecycle_service_pb2,
    lifecycle_service_pb2_grpc,
    lineage_pb2,
    stage_pb2,
    stage_report_pb2,
)
from mlspec.logging.v1 import logging_service_pb2_grpc
from mlspec.metadata.v1 import metadata_service_pb2_grpc
from mlspec.models.v1 import (
    model_pb2,
    model_version_pb2,
    models_service_pb2,
    models_service_pb2_grpc,
)
from mlspec.monitoring.v1 import component_service_pb2_grpc, monitoring_service_pb2_grpc
from mlspec.pipelines.v1 import module_pb2, pipelines_service_pb2, pipelines_service_pb2_grpc
from mlspec.tracking.v1 import (
    experiment_pb2,
    run_pb2,
    tracking_service_pb2,
    tracking_service_pb2_grpc,
)

M = TypeVar("M", bound=protobuf_message.Message)

DEFAULT_TARGET = "127.0.0.1:50051"
LOCAL_DATASTORE = "local"
"""Name of the datastore the client creates for local files when none is given."""

_SEMVER = re.compile(
    r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$"
)


class Client:
    """A connection to an MLSpec metadata service, with typed helpers.

    Args:
        target: ``host:port`` of the server; defaults to ``$MLSPEC_TARGET`` or
            ``127.0.0.1:50051``.
        workspace: sent as the ``x-mlspec-workspace`` header; defaults to
            ``$MLSPEC_WORKSPACE`` (the server's ``default`` workspace when unset).
        token: sent as ``authorization: Bearer <token>``; defaults to ``$MLSPEC_TOKEN``.
        tls: ``True`` (system roots), a PEM CA bundle path, a ``TLS`` (with a client
            certificate for mutual TLS), or ``grpc.ChannelCredentials``; ``False`` for
            plaintext; None reads ``$MLSPEC_TLS_CA`` / ``_CERT`` / ``_KEY`` (plaintext
            when none is set).
        timeout: default deadline of each call in seconds, retries included (a call's
            own ``timeout=`` overrides it).
        retry: retry policy of calls (UNAVAILABLE and ABORTED by default).
        metrics_retry: retry policy of the background metric sender; its
            ``give_up_after`` is how long points are kept while the server is away.

    The raw generated stubs are attributes (``data``, ``tracking``, ``lifecycle``,
    ``models``, ``pipelines``, ``monitoring``, ``component``, ``logging``, ``metadata``,
    ``resources``; the call headers are ``call_metadata``); every method of theirs gets the headers, deadline, request id,
    retries and error mapping of the client.

    Example:
        >>> from mlspec.client import Client
        >>> from mlspec.tracking.v1 import tracking_service_pb2 as tr
        >>> with Client("127.0.0.1:50051") as client:  # doctest: +SKIP
        ...     exp = client.get_or_create_experiment("churn")
        ...     runs = client.tracking.ListRuns(tr.ListRunsRequest(experiment_ids=[exp.meta.id]))
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        workspace: str | None = None,
        token: str | None = None,
        tls: bool | str | TLS | grpc.ChannelCredentials | None = None,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        metrics_retry: RetryPolicy | None = None,
    ) -> None:
        self.target = target or os.environ.get("MLSPEC_TARGET") or DEFAULT_TARGET
        self.workspace = workspace if workspace is not None else os.environ.get("MLSPEC_WORKSPACE")
        token = token if token is not None else os.environ.get("MLSPEC_TOKEN")
        metadata: list[tuple[str, str]] = []
        if self.workspace:
            metadata.append((WORKSPACE_HEADER, self.workspace))
        if token:
            metadata.append((AUTHORIZATION_HEADER, f"Bearer {token}"))
        self.call_metadata = tuple(metadata)
        self.metrics_retry = metrics_retry or SENDER_RETRY
        self.policy = CallPolicy(self.call_metadata, timeout, retry or RetryPolicy())
        self.raw_channel = open_channel(self.target, tls)
        self.channel = grpc.intercept_channel(self.raw_channel, self.policy)
        ch = self.channel
        self.resources = resource_service_pb2_grpc.ResourceServiceStub(ch)
        self.data = data_service_pb2_grpc.DataServiceStub(ch)
        self.pipelines = pipelines_service_pb2_grpc.PipelinesServiceStub(ch)
        self.tracking = tracking_service_pb2_grpc.TrackingServiceStub(ch)
        self.models = models_service_pb2_grpc.ModelsServiceStub(ch)
        self.lifecycle = lifecycle_service_pb2_grpc.LifecycleServiceStub(ch)
        self.logging = logging_service_pb2_grpc.LoggingServiceStub(ch)
        self.monitoring = monitoring_service_pb2_grpc.MonitoringServiceStub(ch)
        self.component = component_service_pb2_grpc.ComponentServiceStub(ch)
        self.metadata = metadata_service_pb2_grpc.MetadataServiceStub(ch)
        self._runs: list[ActiveRun] = []

    # -- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Drains the metric buffers of open runs, then closes the channel."""
        for run in self._runs:
            with contextlib.suppress(Exception):  # the sender logged it already
                run.sender.close()
        self._runs.clear()
        self.raw_channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- checking without storing --------------------------------------------------------

    def validate(self, message: Any, *, timeout: float | None = None) -> Any:
        """What the server would store for a resource or stage report, storing nothing.

        The request goes to the method that creates ``message`` with ``validate_only``
        (AIP-163): every rule runs, and an ``InvalidArgument`` lists every violation.

        Example:
            >>> from mlspec.data.v1 import dataset_pb2
            >>> client.validate(dataset_pb2.Dataset(meta={"name": "churn"}))  # doctest: +SKIP
        """
        return validation.validate(self, message, timeout=timeout)

    # -- get-or-create by name ----------------------------------------------------------

    def _get_or_create(
        self,
        cls: type[M],
        name: str,
        message: M | None,
        fields: Mapping[str, Any],
        create: Callable[[M], M],
        get: Callable[[str], M],
    ) -> M:
        resource = build(cls, message, **fields)
        if name:
            resource.meta.name = name  # type: ignore[attr-defined]
        if not resource.meta.name:  # type: ignore[attr-defined]
            raise ValueError(f"a {cls.DESCRIPTOR.name} needs a name to be got or created")
        try:
            return create(resource)
        except AlreadyExists:
            return get(resource.meta.name)  # type: ignore[attr-defined]

    def get_or_create_datastore(
        self, name: str = "", message: datastore_pb2.Datastore | None = None, **fields: Any
    ) -> datastore_pb2.Datastore:
        """The datastore of that name, created from ``message``/``fields`` if missing.

        Example:
            >>> client.get_or_create_datastore("lake", type="S3")  # doctest: +SKIP
        """
        return self._get_or_create(
            datastore_pb2.Datastore,
            name,
            message,
            fields,
            lambda m: (
                self.data.CreateDatastore(
                    data_service_pb2.CreateDatastoreRequest(datastore=m)
                ).datastore
            ),
            lambda n: (
                self.data.GetDatastore(data_service_pb2.GetDatastoreRequest(name=n)).datastore
            ),
        )

    def get_or_create_dataset(
        self, name: str = "", message: dataset_pb2.Dataset | None = None, **fields: Any
    ) -> dataset_pb2.Dataset:
        """The dataset of that name, created from ``message``/``fields`` if missing."""
        return self._get_or_create(
            dataset_pb2.Dataset,
            name,
            message,
            fields,
            lambda m: (
                self.data.CreateDataset(data_service_pb2.CreateDatasetRequest(dataset=m)).dataset
            ),
            lambda n: self.data.GetDataset(data_service_pb2.GetDatasetRequest(name=n)).dataset,
        )

    def get_or_create_experiment(
        self, name: str = "", message: experiment_pb2.Experiment | None = None, **fields: Any
    ) -> experiment_pb2.Experiment:
        """The experiment of that name, created from ``message``/``fields`` if missing."""
        return self._get_or_create(
            experiment_pb2.Experiment,
            name,
            message,
            fields,
            lambda m: (
                self.tracking.CreateExperiment(
                    tracking_service_pb2.CreateExperimentRequest(experiment=m)
                ).experiment
            ),
            lambda n: (
                self.tracking.GetExperiment(
                    tracking_service_pb2.GetExperimentRequest(name=n)
                ).experiment
            ),
        )

    def get_or_create_module(
        self, name: str = "", message: module_pb2.Module | None = None, **fields: Any
    ) -> module_pb2.Module:
        """The module of that name, created if missing (``kind`` defaults to PRIMITIVE)."""
        fields = dict(fields)
        if message is None or not message.kind:
            fields.setdefault("kind", module_pb2.MODULE_KIND_PRIMITIVE)
        return self._get_or_create(
            module_pb2.Module,
            name,
            message,
            fields,
            lambda m: (
                self.pipelines.CreateModule(
                    pipelines_service_pb2.CreateModuleRequest(module=m)
                ).module
            ),
            lambda n: (
                self.pipelines.GetModule(pipelines_service_pb2.GetModuleRequest(name=n)).module
            ),
        )

    def get_or_create_model(
        self, name: str = "", message: model_pb2.Model | None = None, **fields: Any
    ) -> model_pb2.Model:
        """The model of that name, created from ``message``/``fields`` if missing."""
        return self._get_or_create(
            model_pb2.Model,
            name,
            message,
            fields,
            lambda m: self.models.CreateModel(models_service_pb2.CreateModelRequest(model=m)).model,
            lambda n: self.models.GetModel(models_service_pb2.GetModelRequest(name=n)).model,
        )

    # -- runs -----------------------------------------------------------------------------

    def start_run(
        self,
        experiment: str | experiment_pb2.Experiment,
        name: str = "",
        *,
        run: run_pb2.Run | None = None,
        params: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> ActiveRun:
        """Creates a RUNNING run in the experiment (got or created by name).

        Use it as a context manager: the run ends SUCCEEDED when the block ends, FAILED
        (with the error) when it raises. ``run`` and ``fields`` set any other field of
        the ``Run`` (``tags``, ``kind``, ``parent_run_id``, ``source``, ...). A run of the
        same name that is still PENDING or RUNNING is resumed instead of created.

        Example:
            >>> with client.start_run(experiment="churn", name="train-1") as run:  # doctest: +SKIP
            ...     run.log_metric("loss", 0.3, step=1)
        """
        exp = (
            experiment
            if isinstance(experiment, experiment_pb2.Experiment)
            else self.get_or_create_experiment(experiment)
        )
        message = build(run_pb2.Run, run, **fields)
        message.experiment_id = exp.meta.id
        if name:
            message.meta.name = name
        message.state = run_state_pb2.RUN_STATE_RUNNING
        if params:
            message.params.extend(
                build(
                    run_pb2.Run, params=[{"key": k, "value": v} for k, v in params.items()]
                ).params
            )
        try:
            created = self.tracking.CreateRun(
                tracking_service_pb2.CreateRunRequest(run=message)
            ).run
        except AlreadyExists:
            created = self.tracking.GetRun(
                tracking_service_pb2.GetRunRequest(
                    name=message.meta.name, experiment_id=exp.meta.id
                )
            ).run
            if created.state not in (
                run_state_pb2.RUN_STATE_PENDING,
                run_state_pb2.RUN_STATE_RUNNING,
            ):
                raise
            if created.state == run_state_pb2.RUN_STATE_PENDING:
                created = self.tracking.UpdateRunState(
                    tracking_service_pb2.UpdateRunStateRequest(
                        run_id=created.meta.id, state=run_state_pb2.RUN_STATE_RUNNING
                    )
                ).run
        sender = MetricSender(
            self.raw_channel, created.meta.id, self.call_metadata, retry=self.metrics_retry
        )
        active = ActiveRun(self, created, sender)
        self._runs.append(active)
        return active

    # -- data, artifacts and models from local files ----------------------------------

    def _local_datastore(self) -> datastore_pb2.Datastore:
        return self.get_or_create_datastore(
            LOCAL_DATASTORE,
            type=datastore_pb2.DATASTORE_TYPE_LOCAL_FILESYSTEM,
            root_uri="file:///",
            local_filesystem={"root_path": "/"},
        )

    def create_dataset_version(
        self,
        dataset: str | dataset_pb2.Dataset,
        path: str | os.PathLike[str] | None = None,
        *,
        datastore: str | datastore_pb2.Datastore | None = None,
        relative_path: str = "",
        message: dataset_pb2.DatasetVersion | None = None,
        **fields: Any,
    ) -> dataset_pb2.DatasetVersion:
        """Registers a new version of a dataset (got or created by name).

        With ``path`` (a local file or folder) the version's ``content_digest`` (sha256,
        see ``mlspec.client.digests`` for the folder definition) and ``size_bytes`` are
        computed by streaming, and the definition points at it through ``datastore``
        (default: a ``local`` filesystem datastore rooted at ``/``) and
        ``relative_path`` (default: the path below the datastore's root).

        Example:
            >>> client.create_dataset_version("transactions", "data/2026-11/")  # doctest: +SKIP
        """
        ds = (
            dataset
            if isinstance(dataset, dataset_pb2.Dataset)
            else self.get_or_create_dataset(dataset)
        )
        version = build(dataset_pb2.DatasetVersion, message, **fields)
        version.dataset_id = ds.meta.id
        if path is not None:
            store = (
                datastore
                if isinstance(datastore, datastore_pb2.Datastore)
                else self._local_datastore()
                if datastore is None
                else self.data.GetDatastore(
                    data_service_pb2.GetDatastoreRequest(name=datastore)
                ).datastore
            )
            absolute = Path(path).resolve()
            hexdigest, size = path_digest(absolute)
            version.content_digest.digests["sha256"] = hexdigest
            version.size_bytes = size
            if not relative_path:
                root = store.local_filesystem.root_path or "/"
                relative_path = absolute.relative_to(root).as_posix()
                if absolute.is_dir():
                    relative_path += "/"
            data_path = version.definition.data_path
            data_path.datastore.CopyFrom(to_ref(store))
            data_path.path.relative_path = relative_path
        try:
            created: dataset_pb2.DatasetVersion = self.data.CreateDatasetVersion(
                data_service_pb2.CreateDatasetVersionRequest(dataset_version=version)
            ).dataset_version
        except AlreadyExists as exc:
            # The latest version already has this definition: it is this version when the
            # content is the same too (a pipeline run again), otherwise the caller must
            # change the definition (for example a new path) to record new content.
            if exc.reason != "SAME_DEFINITION":
                raise
            # (Dataset.latest_version would name it, but the server leaves it at 0.)
            page = self.data.ListDatasetVersions(
                data_service_pb2.ListDatasetVersionsRequest(
                    dataset_id=ds.meta.id, order_by="create_time desc", page_size=1
                )
            ).dataset_versions
            if not page:
                raise
            latest: dataset_pb2.DatasetVersion = page[0]
            if version.HasField("content_digest") and (
                dict(latest.content_digest.digests) != dict(version.content_digest.digests)
            ):
                raise
            return latest
        return created

    def log_artifact(
        self,
        run: ActiveRun | run_pb2.Run | str,
        path: str | os.PathLike[str] | None = None,
        *,
        type: str | int = "OTHER",
        name: str = "",
        message: artifact_pb2.Artifact | None = None,
        **fields: Any,
    ) -> artifact_pb2.Artifact:
        """Registers an artifact of a run; with ``path``, its digest, size and file URI.

        Example:
            >>> client.log_artifact(run, "model.onnx", type="MODEL")  # doctest: +SKIP
        """
        artifact = build(artifact_pb2.Artifact, message, **fields)
        artifact.run_id = (
            run
            if isinstance(run, str)
            else (run.run.meta.id if isinstance(run, ActiveRun) else run.meta.id)
        )
        if isinstance(run, ActiveRun) and run.run.step_run_id and not artifact.step_run_id:
            artifact.step_run_id = run.run.step_run_id
        if not artifact.type:
            artifact.type = artifact_pb2.ArtifactType.ValueType(
                enum_number(artifact_pb2.ArtifactType.DESCRIPTOR, type)
                if isinstance(type, str)
                else type
            )
        if name:
            artifact.meta.name = name
        if path is not None:
            absolute = Path(path).resolve()
            hexdigest, size = path_digest(absolute)
            artifact.digest.digests["sha256"] = hexdigest
            artifact.size_bytes = size
            if not artifact.uri:
                artifact.uri = absolute.as_uri() + ("/" if absolute.is_dir() else "")
            if not artifact.meta.name:
                artifact.meta.name = resource_name(absolute.name)
        created: artifact_pb2.Artifact = self.data.CreateArtifact(
            data_service_pb2.CreateArtifactRequest(artifact=artifact)
        ).artifact
        return created

    def register_model_version(
        self,
        model: str | model_pb2.Model,
        version: str | int | model_version_pb2.SemanticVersion,
        path: str | os.PathLike[str] | None = None,
        *,
        framework: model_pb2.Framework | Mapping[str, Any] | str | None = None,
        signature: model_version_pb2.ModelSignature | Mapping[str, Any] | None = None,
        uri: str = "",
        message: model_version_pb2.ModelVersion | None = None,
        **fields: Any,
    ) -> model_version_pb2.ModelVersion:
        """Registers a version of a model (got or created by name).

        ``version`` is ``"1.4.0"`` (semantic version), an int (major) or a
        ``SemanticVersion``; ``framework`` is a ``Framework``, a dict or a name (the
        installed version of a distribution of that name is recorded with it); with
        ``path`` (a local file or folder) the artifact's sha256 digest, size and URI are
        computed by streaming.

        Example:
            >>> client.register_model_version("churn", "1.0.0", "model.onnx",
            ...     framework={"name": "onnx", "version": "1.17"})  # doctest: +SKIP
        """
        parent = model if isinstance(model, model_pb2.Model) else self.get_or_create_model(model)
        mv = build(model_version_pb2.ModelVersion, message, **fields)
        mv.model_id = parent.meta.id
        mv.version.CopyFrom(semantic_version(version))
        if framework is not None:
            mv.framework.CopyFrom(
                framework_of(framework)
                if isinstance(framework, str)
                else build(model_pb2.Framework, framework)
            )
        if signature is not None:
            mv.signature.CopyFrom(build(model_version_pb2.ModelSignature, signature))
        if path is not None:
            absolute = Path(path).resolve()
            hexdigest, size = path_digest(absolute)
            mv.artifact.digest.digests["sha256"] = hexdigest
            mv.artifact.size_bytes = size
            mv.artifact.uri = uri or mv.artifact.uri or absolute.as_uri()
        elif uri:
            mv.artifact.uri = uri
        try:
            created: model_version_pb2.ModelVersion = self.models.CreateModelVersion(
                models_service_pb2.CreateModelVersionRequest(model_version=mv)
            ).model_version
        except AlreadyExists as taken:
            # The version exists: it is this one when its artifact digest is the same (a
            # pipeline run again); a different model under a taken version is an error.
            try:
                existing: model_version_pb2.ModelVersion = self.models.GetModelVersion(
                    models_service_pb2.GetModelVersionRequest(
                        model_id=parent.meta.id, version=version_text(mv.version)
                    )
                ).model_version
            except NotFound:
                raise taken from None  # an alias was taken, not the version
            if dict(existing.artifact.digest.digests) != dict(mv.artifact.digest.digests):
                raise
            return existing
        return created

    # -- stage reports ----------------------------------------------------------------

    def stage_reports(
        self,
        stage: int | str | None = None,
        *,
        model_version: Any = None,
        run: Any = None,
        status: int | str | None = None,
        filter: str = "",
        order_by: str = "create_time desc",
        page_size: int = 100,
    ) -> Iterator[stage_report_pb2.StageReport]:
        """Every stage report that matches, newest first, fetched page by page.

        ``stage`` is a ``Stage`` (or its name), ``model_version`` a model version
        (message or reference), ``run`` an ``ActiveRun``, ``Run`` or run id, ``status``
        a ``StageReportStatus`` (or its short name such as ``"SUCCEEDED"``); ``filter``
        is any further AIP-160 filter over report fields.

        Example:
            >>> for report in client.stage_reports(Stage.MODEL_TEST, model_version=mv):  # doctest: +SKIP
            ...     print(report.meta.name, report.model_test.decision)
        """
        request = lifecycle_service_pb2.ListStageReportsRequest(
            page_size=page_size, order_by=order_by
        )
        if stage is not None:
            request.stage = stage_pb2.LifecycleStage.ValueType(
                enum_number(stage_pb2.LifecycleStage.DESCRIPTOR, stage)
                if isinstance(stage, str)
                else int(stage)
            )
        if model_version is not None:
            request.model_version.CopyFrom(to_ref(model_version))
        if run is not None:
            request.run_id = (
                run
                if isinstance(run, str)
                else (run.id if isinstance(run, ActiveRun) else run.meta.id)
            )
        clauses = [filter] if filter else []
        if status is not None:
            number = (
                enum_number(stage_report_pb2.StageReportStatus.DESCRIPTOR, status)
                if isinstance(status, str)
                else int(status)
            )
            name = stage_report_pb2.StageReportStatus.Name(number)  # type: ignore[arg-type]
            clauses.append(f'status = "{name}"')
        request.filter = " AND ".join(f"({c})" for c in clauses)
        while True:
            response = self.lifecycle.ListStageReports(request)
            yield from response.stage_reports
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def latest_stage_report(
        self, stage: int | str, **criteria: Any
    ) -> stage_report_pb2.StageReport | None:
        """The newest stage report that matches (see :meth:`stage_reports`), or None.

        A pipeline that runs again uses it to find what it already did where doing it
        again is refused, for example the single use of a hold-back set.

        Example:
            >>> client.latest_stage_report(Stage.MODEL_TEST, model_version=mv, status="SUCCEEDED")  # doctest: +SKIP
        """
        return next(iter(self.stage_reports(stage, page_size=1, **criteria)), None)

    # -- lineage --------------------------------------------------------------------------

    def lineage(
        self,
        resource: Any,
        *,
        direction: str | int = "upstream",
        depth: int = 20,
        node_kinds: Iterable[str | int] = (),
        show_archived: bool = False,
    ) -> LineageGraph:
        """The lineage graph around a resource (message or ``ResourceRef``).

        ``direction`` is ``"upstream"`` (what produced it), ``"downstream"`` (what was
        built from it) or ``"both"``; ``depth`` is the number of edges to follow (at most
        100).

        Example:
            >>> print(client.lineage(model_version).tree())  # doctest: +SKIP
        """
        number = (
            enum_number(lineage_pb2.LineageDirection.DESCRIPTOR, direction)
            if isinstance(direction, str)
            else int(direction)
        )
        kinds = [
            enum_number(reference_pb2.ResourceKind.DESCRIPTOR, k) if isinstance(k, str) else int(k)
            for k in node_kinds
        ]
        response = self.lifecycle.GetLineage(
            lifecycle_service_pb2.GetLineageRequest(
                start=to_ref(resource),
                direction=number,  # type: ignore[arg-type]
                max_depth=depth,
                node_kinds=kinds,  # type: ignore[arg-type]
                show_archived=show_archived,
            )
        )
        name = (
            lineage_pb2.LineageDirection.Name(lineage_pb2.LineageDirection.ValueType(number))
            .removeprefix("LINEAGE_DIRECTION_")
            .lower()
        )
        return LineageGraph(response.graph, "upstream" if name == "unspecified" else name)

    # -- objectives -------------------------------------------------------------------------

    def evaluate_objectives(
        self, model_version: Any, **options: Any
    ) -> lifecycle_service_pb2.EvaluateObjectivesResponse:
        """The codified objectives evaluated on a model version, and the deployment gate.

        See ``mlspec.client.objectives.evaluate_objectives`` for the options.

        Example:
            >>> answer = client.evaluate_objectives(model_version)  # doctest: +SKIP
            >>> answer.gate.decision  # doctest: +SKIP
        """
        return objectives.evaluate_objectives(self, model_version, **options)


def framework_of(name: str) -> model_pb2.Framework:
    """A ``Framework`` of that name, with the installed version of its distribution if any.

    Example:
        >>> framework_of("protobuf").version != ""
        True
        >>> framework_of("no-such-framework").version
        ''
    """
    framework = model_pb2.Framework(name=name)
    with contextlib.suppress(importlib.metadata.PackageNotFoundError, ValueError):
        framework.version = importlib.metadata.version(name)
    return framework


def resource_name(text: str) -> str:
    """A valid resource name from free text: letters, digits, ``-`` and ``_`` only.

    Example:
        >>> resource_name("model.onnx")
        'model-onnx'
    """
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", text).lstrip("-_")[:200]
    return name or "unnamed"


def version_text(version: model_version_pb2.SemanticVersion) -> str:
    """The text form of a semantic version, for example ``1.4.0-rc.1+build.5``.

    Example:
        >>> version_text(semantic_version("1.4"))
        '1.4.0'
    """
    text = f"{version.major}.{version.minor}.{version.patch}"
    if version.prerelease:
        text += f"-{version.prerelease}"
    if version.build:
        text += f"+{version.build}"
    return text


def semantic_version(
    version: str | int | model_version_pb2.SemanticVersion,
) -> model_version_pb2.SemanticVersion:
    """A ``SemanticVersion`` from ``"1.4.0"``, ``"2.0.0-rc.1+build.5"`` or an int (major).

    Example:
        >>> semantic_version("1.4").minor
        4
    """
    if isinstance(version, model_version_pb2.SemanticVersion):
        return version
    if isinstance(version, int):
        return model_version_pb2.SemanticVersion(major=version)
    match = _SEMVER.match(version.strip().removeprefix("v"))
    if match is None:
        raise ValueError(f"{version!r} is not a semantic version such as 1.4.0")
    major, minor, patch, pre, meta = match.groups()
    return model_version_pb2.SemanticVersion(
        major=int(major),
        minor=int(minor or 0),
        patch=int(patch or 0),
        prerelease=pre or "",
        build=meta or "",
    )


__all__ = ["Client", "framework_of", "resource_name", "semantic_version", "version_text"]
