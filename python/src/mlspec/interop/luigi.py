"""Luigi pipelines report themselves to MLSpec, with no change to the tasks' code.

One call, ``report_to(client)``, registers Luigi event handlers on every task class
(``luigi.Task.event_handler``). From then on, each Luigi task that runs becomes a tracking
``Run`` of kind ``RUN_KIND_STEP_RUN``, a child of one ``RUN_KIND_PIPELINE_RUN`` run that
stands for the whole Luigi invocation:

- on ``Event.START``: the step run is created RUNNING (name: the Luigi task id and the
  end of the invocation's run id; tags: ``luigi.task_id``, ``luigi.task_family``,
  ``luigi.task_namespace``; params: the task's significant parameters) and its inputs
  (``task.input()``) are logged with the digest of what is read at that moment
  (``LogRunInputs``). An input produced by a task of this invocation is that task's
  artifact; one produced before (Luigi does not rerun a complete task) is the artifact
  whose external id names the task that provides it, the output and the digest read, or,
  failing that, the newest artifact recorded at that location with that digest (the file
  was written by the same task with other parameters, say, or recorded by other means);
  any other existing local file or folder (the output of an ``ExternalTask``) becomes a
  version of a dataset named after the task that provides it, which is where lineage
  starts;
- on ``Event.SUCCESS``: every output target (``task.output()``) becomes an ``Artifact``
  of the step run, named after its place in ``output()`` (``output``, ``output-0``, or
  the dict key), with a sha256 digest and size for a ``LocalTarget`` (a folder's digest
  as ``mlspec.client.digests`` defines it) and the target's path as URI for other
  file-system targets; a task run again that writes the same bytes finds its earlier
  artifact and lists it among the step run's outputs instead; then the step run ends
  SUCCEEDED;
- on ``Event.FAILURE``, ``PROCESS_FAILURE`` or ``TIMEOUT``: the step run ends FAILED with
  the error.

Every run and artifact keeps its Luigi identity in ``meta.external_id`` (system
``luigi``): the invocation's run ``<invocation>`` (a fresh id per ``report_to``, also its
``luigi.invocation`` tag), a step run ``<invocation>/<task id>``, an artifact
``<task id>/<output name>@sha256:<hex>`` (``@<invocation>`` for a target without digest),
so one Get finds each. Where Luigi's spelling breaks MLSpec's name pattern (a namespaced
task id ``orders.Publish_...``, an output key ``report.md``), ``meta.display_name`` keeps
it.

``GetLineage`` upstream from the final output then walks output artifact -> step run ->
input artifact -> upstream step run -> ... -> the dataset version of the first input.

Why tracking runs rather than ``mlspec.pipelines.v1.StepRun``: a StepRun belongs to a
``PipelineRun`` submitted from a published graph of module versions, while a Luigi graph
is only known as it unfolds (``requires()`` is evaluated lazily, ``run()`` may yield new
dependencies) and Luigi, not MLSpec, schedules it. The tracking run of kind STEP_RUN is
the contract's record of "one step executed by another orchestrator".

Limits: handlers run where Luigi runs the task; with ``--workers`` above 1 Luigi forks a
process per task and the forked process cannot use the parent's gRPC channel, so report
from a single worker process (the default). A target that is neither a ``LocalTarget`` nor
has a ``path`` is not recorded. Reporting never breaks the pipeline: Luigi logs and
swallows an exception raised by an event handler.

Example:
    >>> import luigi  # doctest: +SKIP
    >>> from mlspec.client import Client
    >>> from mlspec.interop.luigi import report_to
    >>> with Client() as client, report_to(client, experiment="nightly-etl"):  # doctest: +SKIP
    ...     luigi.build([MakeReport()], local_scheduler=True)
"""

from __future__ import annotations

import json
import mimetypes
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import luigi
import luigi.task

from mlspec.client import AlreadyExists, Client, NotFound
from mlspec.client.digests import path_digest
from mlspec.client.runs import ActiveRun
from mlspec.common.v1 import digest_pb2, object_meta_pb2, reference_pb2, run_state_pb2
from mlspec.data.v1 import artifact_pb2, data_service_pb2
from mlspec.interop.external import external_id
from mlspec.interop.names import resource_name
from mlspec.tracking.v1 import run_pb2, tracking_service_pb2

SYSTEM = "luigi"
"""The ``luigi.*`` tag prefix of runs recorded from Luigi and the system of their external ids."""


@dataclass
class LuigiReporter:
    """Reports the Luigi tasks of this process to an MLSpec service; made by ``report_to``.

    Attributes:
        client: the SDK client the reports go through.
        experiment: name of the experiment the runs are recorded in.
        name: name of the invocation's run (empty: the server's choice).
        invocation: the id of this Luigi invocation, fresh for each reporter: the
            external id of its run and the first part of its step runs'.
        pipeline_run: the run that stands for the Luigi invocation (None before the
            first task starts).
        step_runs: the run of each Luigi task id that started.
        failures: task ids whose run ended FAILED.
    """

    client: Client
    experiment: str
    name: str = ""
    invocation: str = field(default_factory=lambda: uuid.uuid4().hex)
    pipeline_run: ActiveRun | None = None
    step_runs: dict[str, ActiveRun] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    _produced: dict[str, reference_pb2.ResourceRef] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _callbacks: dict[str, Callable[..., None]] = field(default_factory=dict)

    # -- lifetime -------------------------------------------------------------------

    def install(self) -> LuigiReporter:
        """Registers the event handlers on ``luigi.Task`` (every task class)."""
        handlers: dict[str, Callable[..., None]] = {
            luigi.Event.START: self._on_start,
            luigi.Event.SUCCESS: self._on_success,
            luigi.Event.FAILURE: self._on_failure,
            luigi.Event.PROCESS_FAILURE: self._on_failure,
            luigi.Event.TIMEOUT: self._on_failure,
        }
        for event, handler in handlers.items():
            self._callbacks[event] = luigi.Task.event_handler(event)(handler)
        return self

    def close(self) -> None:
        """Removes the handlers and ends the pipeline run (FAILED if a task failed).

        Step runs still running (a task killed without a failure event) end CANCELLED.
        """
        for event, callback in self._callbacks.items():
            luigi.Task.remove_event_handler(event, callback)
        self._callbacks.clear()
        with self._lock:
            for step in self.step_runs.values():
                step.end(run_state_pb2.RUN_STATE_CANCELLED)  # no-op for ended runs
            if self.pipeline_run is not None:
                if self.failures:
                    error = RuntimeError("Luigi tasks failed: " + ", ".join(self.failures))
                    self.pipeline_run.end(run_state_pb2.RUN_STATE_FAILED, error)
                else:
                    self.pipeline_run.end()

    def __enter__(self) -> LuigiReporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self.pipeline_run is not None:
            self.failures.append(type(exc).__name__)
        self.close()

    # -- event handlers ---------------------------------------------------------------

    def _pipeline(self) -> ActiveRun:
        if self.pipeline_run is None:
            meta = _meta(self.name, external_id(SYSTEM, self.invocation))
            self.pipeline_run = self.client.start_run(
                self.experiment,
                meta.name,
                run=run_pb2.Run(meta=meta),
                kind=run_pb2.RUN_KIND_PIPELINE_RUN,
                tags={f"{SYSTEM}.invocation": self.invocation},
            )
        return self.pipeline_run

    def _on_start(self, task: luigi.Task) -> None:
        with self._lock:
            parent = self._pipeline()
            meta = _meta(task.task_id, external_id(SYSTEM, f"{self.invocation}/{task.task_id}"))
            # unique in the experiment: the same task runs again in later invocations
            meta.name = resource_name(f"{task.task_id}-{parent.id[-8:]}")
            run = self.client.start_run(
                self.experiment,
                meta.name,
                run=run_pb2.Run(meta=meta),
                kind=run_pb2.RUN_KIND_STEP_RUN,
                parent_run_id=parent.id,
                tags={
                    f"{SYSTEM}.task_id": task.task_id,
                    f"{SYSTEM}.task_family": task.get_task_family(),
                    f"{SYSTEM}.task_namespace": task.get_task_namespace() or "",
                },
                params=task.to_str_params(only_significant=True),
            )
            self.step_runs[task.task_id] = run
            inputs = [
                self._input(name, target, provider)
                for name, target, provider in _inputs(task)
                if _location(target)
            ]
            if inputs:
                self.client.tracking.LogRunInputs(
                    tracking_service_pb2.LogRunInputsRequest(run_id=run.id, inputs=inputs)
                )

    def _on_success(self, task: luigi.Task) -> None:
        with self._lock:
            run = self.step_runs.get(task.task_id)
            if run is None:
                return
            for name, target in _named(task.output(), "output"):
                location = _location(target)
                if location:
                    self._produced[location] = self._artifact(run, task, name, target)
            run.end()

    def _on_failure(self, task: luigi.Task, error: BaseException | str) -> None:
        with self._lock:
            run = self.step_runs.get(task.task_id)
            if run is None:
                return
            exc = error if isinstance(error, BaseException) else RuntimeError(str(error))
            self.failures.append(task.task_id)
            run.end(run_state_pb2.RUN_STATE_FAILED, exc)

    # -- targets as resources -------------------------------------------------------------

    def _input(
        self, name: str, target: Any, provider: tuple[luigi.Task, str] | None
    ) -> run_pb2.RunInput:
        """A RunInput for a target read now, with the digest of what is there."""
        location = _location(target)
        item = run_pb2.RunInput(context=name, source_uri=location)
        local = _local_digest(target)
        known = self._produced.get(location)
        if local is not None:
            item.digest.CopyFrom(local[0])
            if known is None:
                known = (
                    self._provided_artifact(provider, local[0])
                    or self._earlier_artifact(location, local[0])
                    or self._register_data(target, provider[0] if provider else None)
                )
                self._produced[location] = known
        if known is not None:
            item.resource.CopyFrom(known)
        return item

    def _provided_artifact(
        self, provider: tuple[luigi.Task, str] | None, digest: digest_pb2.DigestSet
    ) -> reference_pb2.ResourceRef | None:
        """The artifact recorded for this output of this task with this content, if any.

        Found by its external id: exactly the providing task's, not another's at the path.
        """
        if provider is None:
            return None
        task, output = provider
        try:
            artifact = self.client.data.GetArtifact(
                data_service_pb2.GetArtifactRequest(
                    external_id=external_id(SYSTEM, _artifact_id(task, output, digest))
                )
            ).artifact
        except NotFound:
            return None
        return _ref(reference_pb2.RESOURCE_KIND_ARTIFACT, artifact.meta.id)

    def _earlier_artifact(
        self, location: str, digest: digest_pb2.DigestSet
    ) -> reference_pb2.ResourceRef | None:
        """The newest artifact recorded at this location with this content, if any.

        A Luigi pipeline is incremental: a task whose output exists is not run again, even
        when that output was written by the task with other parameters (that do not change
        the path) or by other means; such an output is found by location and digest.
        """
        listed = self.client.data.ListArtifacts(
            data_service_pb2.ListArtifactsRequest(
                filter=f"uri = {json.dumps(location)}",
                order_by="meta.create_time desc",
                page_size=20,
            )
        ).artifacts
        for artifact in listed:
            if dict(artifact.digest.digests) == dict(digest.digests):
                return _ref(reference_pb2.RESOURCE_KIND_ARTIFACT, artifact.meta.id)
        return None

    def _register_data(self, target: Any, provider: luigi.Task | None) -> reference_pb2.ResourceRef:
        """A dataset version for a local file this invocation did not produce."""
        family = provider.get_task_family() if provider is not None else Path(target.path).name
        version = self.client.create_dataset_version(resource_name(family), target.path)
        return _ref(reference_pb2.RESOURCE_KIND_DATASET_VERSION, version.meta.id)

    def _artifact(
        self, run: ActiveRun, task: luigi.Task, name: str, target: Any
    ) -> reference_pb2.ResourceRef:
        local = _local_digest(target)
        digest = local[0] if local is not None else None
        identity = external_id(SYSTEM, _artifact_id(task, name, digest, self.invocation))
        artifact = artifact_pb2.Artifact(
            meta=_meta(name, identity),
            run_id=run.id,
            type=artifact_pb2.ARTIFACT_TYPE_OTHER,
            uri=_location(target),
        )
        kind = f"{type(target).__module__}.{type(target).__qualname__}"
        artifact.properties["luigi.target"].string_value = kind
        if local is not None:
            artifact.digest.CopyFrom(local[0])
            artifact.size_bytes = local[1]
            media_type = mimetypes.guess_type(target.path)[0]
            if media_type:
                artifact.media_type = media_type
        try:
            created = self.client.data.CreateArtifact(
                data_service_pb2.CreateArtifactRequest(artifact=artifact)
            ).artifact
        except AlreadyExists as taken:
            # The task ran again (its output had been removed) and wrote the same bytes:
            # the artifact recorded then is this output too.
            try:
                created = self.client.data.GetArtifact(
                    data_service_pb2.GetArtifactRequest(external_id=identity)
                ).artifact
            except NotFound:
                raise taken from None
            self.client.tracking.LogRunOutputs(
                tracking_service_pb2.LogRunOutputsRequest(
                    run_id=run.id,
                    outputs=[
                        run_pb2.RunOutput(
                            resource=_ref(reference_pb2.RESOURCE_KIND_ARTIFACT, created.meta.id),
                            role=name,
                            digest=created.digest,
                        )
                    ],
                )
            )
        return _ref(reference_pb2.RESOURCE_KIND_ARTIFACT, created.meta.id)


def _meta(text: str, identity: object_meta_pb2.ExternalId) -> object_meta_pb2.ObjectMeta:
    """Meta with Luigi's identity, named after ``text``; its spelling kept if not a name."""
    meta = object_meta_pb2.ObjectMeta(external_id=identity)
    if text:
        meta.name = resource_name(text)
        if meta.name != text:
            meta.display_name = text
    return meta


def _artifact_id(
    task: luigi.Task, output: str, digest: digest_pb2.DigestSet | None, invocation: str = ""
) -> str:
    """An artifact's Luigi identity: the task, the output, and the content (or invocation)."""
    version = f"sha256:{digest.digests['sha256']}" if digest is not None else invocation
    return f"{task.task_id}/{output}@{version}"


def _ref(kind: int, resource_id: str) -> reference_pb2.ResourceRef:
    return reference_pb2.ResourceRef(kind=kind, id=resource_id)  # type: ignore[arg-type]


def report_to(client: Client, *, experiment: str = "luigi", name: str = "") -> LuigiReporter:
    """Reports every Luigi task this process runs to MLSpec, from now until ``close()``.

    Args:
        client: the SDK client to report through.
        experiment: the experiment the runs are recorded in (got or created by name).
        name: name of the run standing for the Luigi invocation (empty: the server
            generates one).

    Use the result as a context manager around ``luigi.build(...)`` so that the
    invocation's run ends when the block does; without one, call ``close()``.
    """
    return LuigiReporter(client, experiment, name).install()


def _named(structure: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """The leaves of a Luigi input/output structure with a name for each.

    A single target is ``prefix``; list items ``prefix-0``, ...; dict entries their key
    (``prefix-key`` when nested).
    """
    if isinstance(structure, dict):
        for key, value in structure.items():
            yield from _named(
                value, str(key) if prefix in ("input", "output") else f"{prefix}-{key}"
            )
    elif isinstance(structure, list | tuple):
        for i, value in enumerate(structure):
            yield from _named(value, f"{prefix}-{i}")
    elif structure is not None:
        yield prefix, structure


def _inputs(task: luigi.Task) -> Iterator[tuple[str, Any, tuple[luigi.Task, str] | None]]:
    """Each input target of a task, named as in ``task.input()``, with its provider.

    The provider is the required task whose output it is, and its name among that task's
    outputs (``output``, ``output-0``, a dict key).
    """
    providers = {
        _location(target): (required, output)
        for required in luigi.task.flatten(task.requires())
        for output, target in _named(required.output(), "output")
    }
    for name, target in _named(task.input(), "input"):
        yield name, target, providers.get(_location(target))


def _location(target: Any) -> str:
    """The URI a target is recorded under: ``file://`` for local targets, else its path."""
    path = getattr(target, "path", None)
    if not isinstance(path, str) or not path:
        return ""
    if isinstance(target, luigi.LocalTarget):
        return Path(path).resolve().as_uri()
    return path


def _local_digest(target: Any) -> tuple[digest_pb2.DigestSet, int] | None:
    """The sha256 and size of a local target's file or folder when it exists, else None."""
    if not isinstance(target, luigi.LocalTarget) or not Path(target.path).exists():
        return None
    hexdigest, size = path_digest(Path(target.path))
    digest = digest_pb2.DigestSet()
    digest.digests["sha256"] = hexdigest
    return digest, size
