"""MLflow: a tracking store (and its model registry) copied into MLSpec.

Reads any store MLflow's own client reads (``sqlite:///``, ``postgresql://``, a folder,
an ``http(s)://`` tracking server) with ``mlflow.MlflowClient`` (the ``mlflow`` extra), and
writes through ``ResourceService.ImportResource`` so that the original times stay (admin
role on a server that authenticates callers). The mapping:

| MLflow | MLSpec |
|---|---|
| experiment (id, name, artifact location, tags) | ``Experiment``; the name as ``display_name`` |
| run (id, name, status, start/end, user, artifact URI) | ``Run``: ``display_name`` = run name, state, times, ``submitter_id``, ``artifact_uri`` |
| params / tags / ``mlflow.parentRunId`` | ``Run.params`` (strings) / ``Run.tags`` (all, ``mlflow.*`` included) / ``parent_run_id`` |
| metric history (every point: value, step, timestamp) | ``TrackingService.LogMetrics``, 1,000 points a call |
| artifact files | ``Artifact`` per file: a reference (URI, size, media type), digest unknown |
| registered model (name, description, tags) | ``Model`` |
| model version (version, source, run, description, aliases, stage) | ``ModelVersion``: ``version`` = N.0.0, ``source_version`` = N, artifact URI with an unknown digest, ``lineage.run_id``, aliases, stage |

Every object keeps its MLflow identity in ``meta.external_id`` (system ``mlflow``): the
run id for runs; ids qualified by the store for what MLflow numbers per store
(``<tracking uri>#experiments/<id>``, ``<registry uri>#models/<name>/versions/<n>``); and
``<run id>/<path>`` for artifacts. Nothing is created twice: an object whose identity is
already there is left as it is, and an interrupted import is finished by running it again
(metric batches carry fixed request ids, so a resent batch is not stored twice).
Deleted experiments and runs, dataset inputs, logged-model entities, traces and
evaluation data are not imported.
"""

from __future__ import annotations

import mimetypes
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from mlspec.client import AlreadyExists, Client
from mlspec.common.v1 import digest_pb2, object_meta_pb2, resource_service_pb2, run_state_pb2
from mlspec.data.v1 import artifact_pb2
from mlspec.interop import names
from mlspec.interop.external import ImportCounts, external_id, import_resource
from mlspec.models.v1 import model_pb2, model_version_pb2
from mlspec.tracking.v1 import experiment_pb2, metric_pb2, run_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as tpb

SYSTEM = "mlflow"
BATCH = 1000
S = run_state_pb2.RunState
_STATES = {
    "RUNNING": S.RUN_STATE_RUNNING,
    "SCHEDULED": S.RUN_STATE_PENDING,
    "FINISHED": S.RUN_STATE_SUCCEEDED,
    "FAILED": S.RUN_STATE_FAILED,
    "KILLED": S.RUN_STATE_CANCELLED,
}
_STAGES = {
    "Staging": model_version_pb2.MODEL_VERSION_STAGE_STAGING,
    "Production": model_version_pb2.MODEL_VERSION_STAGE_PRODUCTION,
    "Archived": model_version_pb2.MODEL_VERSION_STAGE_RETIRED,
}
_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_NO_DIGEST = "mlflow: the tracking store records no digest of this content"


@dataclass
class MlflowImport:
    """The outcome of importing one MLflow store."""

    counts: ImportCounts = field(default_factory=ImportCounts)
    metric_points: int = 0
    notes: list[str] = field(default_factory=list)


def _stamp(millis: int | None) -> timestamp_pb2.Timestamp | None:
    if not millis:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(int(millis))
    return stamp


def _store_key(uri: str) -> str:
    """A tracking or registry URI without credentials, as the qualifier of per-store ids."""
    return re.sub(r"//[^/@]*@", "//", uri)


class _Importer:
    """One import: the MLflow client, the MLSpec client, and the ids mapped so far."""

    def __init__(self, client: Client, source: Any, tracking_uri: str, registry_uri: str) -> None:
        self.client = client
        self.source = source
        self.tracking = _store_key(tracking_uri)
        self.registry = _store_key(registry_uri)
        self.result = MlflowImport()
        self.experiments: dict[str, str] = {}  # MLflow experiment id -> MLSpec id
        self.runs: dict[str, str] = {}  # MLflow run id -> MLSpec id

    def _import(self, kind: str, message: Message) -> resource_service_pb2.ImportResourceResponse:
        return import_resource(self.client, self.result.counts, kind, message)

    def _named(
        self, kind: str, message: Message, name: str
    ) -> resource_service_pb2.ImportResourceResponse:
        """Imports a named object; a name another object holds gets the source id appended."""
        meta: object_meta_pb2.ObjectMeta = message.meta  # type: ignore[attr-defined]
        meta.name = names.resource_name(name)
        try:
            return self._import(kind, message)
        except AlreadyExists as exc:
            if exc.reason != "NAME_TAKEN" and "name" not in str(exc).lower():
                raise
            meta.name = names.resource_name(
                f"{name}-mlflow-{meta.external_id.id.rsplit('/', 1)[-1]}"
            )
            self.result.notes.append(
                f"{kind} {name!r} is imported as {meta.name!r} (the name was taken)"
            )
            return self._import(kind, message)

    # -- tracking ----------------------------------------------------------------------

    def experiment(self, exp: Any) -> None:
        message = experiment_pb2.Experiment()
        meta = message.meta
        meta.display_name = exp.name
        meta.external_id.CopyFrom(
            external_id(SYSTEM, f"{self.tracking}#experiments/{exp.experiment_id}", self.tracking)
        )
        created = _stamp(getattr(exp, "creation_time", None))
        if created is not None:
            meta.create_time.CopyFrom(created)
        updated = _stamp(getattr(exp, "last_update_time", None))
        if updated is not None:
            meta.update_time.CopyFrom(updated)
        description = exp.tags.get("mlflow.note.content", "")
        meta.description = description[:32768]
        stored = self._named("Experiment", message, exp.name)
        self.experiments[exp.experiment_id] = stored.meta.id

    def run(self, mlflow_run: Any) -> None:
        info, data = mlflow_run.info, mlflow_run.data
        message = run_pb2.Run(experiment_id=self.experiments[info.experiment_id])
        meta = message.meta
        meta.display_name = info.run_name or ""
        meta.external_id.CopyFrom(external_id(SYSTEM, info.run_id, self.tracking))
        start = _stamp(info.start_time)
        if start is not None:
            meta.create_time.CopyFrom(start)
            message.start_time.CopyFrom(start)
        if info.user_id:
            message.submitter_id = info.user_id
        message.artifact_uri = info.artifact_uri or ""
        parent = data.tags.get("mlflow.parentRunId")
        if parent and parent in self.runs:
            message.parent_run_id = self.runs[parent]
        message.state = S.RUN_STATE_RUNNING  # metrics are logged, then it ends as it did
        for key, value in sorted(data.params.items()):
            message.params.add(key=key).value.string_value = value
        for key, value in data.tags.items():
            message.tags[key] = value
        response = self._import("Run", message)
        stored = run_pb2.Run()
        response.resource.Unpack(stored)
        self.runs[info.run_id] = stored.meta.id
        if response.already_existed and (
            stored.state != S.RUN_STATE_RUNNING or info.status == "RUNNING"
        ):
            return  # imported completely before
        self.metrics(info.run_id, stored.meta.id, list(data.metrics))
        self.artifacts(info.run_id, stored.meta.id, info.artifact_uri or "")
        target = _STATES.get(info.status, S.RUN_STATE_RUNNING)
        if target != S.RUN_STATE_RUNNING:
            request = tpb.UpdateRunStateRequest(
                run_id=stored.meta.id,
                state=target,
                request_id=f"mlflow:{info.run_id}:end",
            )
            end = _stamp(info.end_time)
            if end is not None:
                request.time.CopyFrom(end)
            if target == S.RUN_STATE_FAILED:
                request.error.message = "the run failed in MLflow"
            self.client.tracking.UpdateRunState(request)

    def metrics(self, mlflow_run_id: str, run_id: str, keys: list[str]) -> None:
        points: list[metric_pb2.Metric] = []
        for key in sorted(keys):
            for point in self.source.get_metric_history(mlflow_run_id, key):
                metric = metric_pb2.Metric(key=key, step=int(point.step))
                metric.value.double_value = float(point.value)
                stamp = _stamp(point.timestamp)
                if stamp is not None:
                    metric.timestamp.CopyFrom(stamp)
                points.append(metric)
        for number, start in enumerate(range(0, len(points), BATCH)):
            self.client.tracking.LogMetrics(
                tpb.LogMetricsRequest(
                    run_id=run_id,
                    metrics=points[start : start + BATCH],
                    request_id=f"mlflow:{mlflow_run_id}:metrics:{number}",
                )
            )
        self.result.metric_points += len(points)

    def _files(self, mlflow_run_id: str, path: str | None = None) -> Iterator[Any]:
        for item in self.source.list_artifacts(mlflow_run_id, path):
            if item.is_dir:
                yield from self._files(mlflow_run_id, item.path)
            else:
                yield item

    def artifacts(self, mlflow_run_id: str, run_id: str, root: str) -> None:
        used: set[str] = set()
        for item in self._files(mlflow_run_id):
            artifact = artifact_pb2.Artifact(
                run_id=run_id,
                type=artifact_pb2.ARTIFACT_TYPE_OTHER,
                uri=f"{root.rstrip('/')}/{item.path}",
                state=artifact_pb2.ARTIFACT_STATE_LIVE,
                media_type=mimetypes.guess_type(item.path)[0] or "",
            )
            if item.file_size is not None:
                artifact.size_bytes = int(item.file_size)
            artifact.digest.CopyFrom(digest_pb2.DigestSet(unknown_reason=_NO_DIGEST))
            name = names.resource_name(item.path.replace("/", "--"))
            while name.lower() in used:
                name = names.resource_name(name + "-1")
            used.add(name.lower())
            artifact.meta.name = name
            artifact.meta.display_name = item.path
            artifact.meta.external_id.CopyFrom(
                external_id(SYSTEM, f"{mlflow_run_id}/{item.path}", self.tracking)
            )
            self._import("Artifact", artifact)

    # -- registry ----------------------------------------------------------------------

    def registered_model(self, registered: Any) -> None:
        model = model_pb2.Model()
        meta = model.meta
        meta.display_name = registered.name
        meta.description = (registered.description or "")[:32768]
        meta.external_id.CopyFrom(
            external_id(SYSTEM, f"{self.registry}#models/{registered.name}", self.registry)
        )
        created = _stamp(registered.creation_timestamp)
        if created is not None:
            meta.create_time.CopyFrom(created)
        updated = _stamp(registered.last_updated_timestamp)
        if updated is not None:
            meta.update_time.CopyFrom(updated)
        for key, value in (registered.tags or {}).items():
            model.properties[key].string_value = value
        stored = self._named("Model", model, registered.name)
        aliases: dict[str, list[str]] = {}
        for alias, version in (getattr(registered, "aliases", None) or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        versions = self.source.search_model_versions(f"name = '{registered.name}'")
        for version in sorted(versions, key=lambda v: int(v.version)):
            self.model_version(
                stored.meta.id, registered.name, version, aliases.get(str(version.version), [])
            )

    def model_version(
        self, model_id: str, model_name: str, version: Any, aliases: list[str]
    ) -> None:
        message = model_version_pb2.ModelVersion(
            model_id=model_id, source_version=str(version.version)
        )
        message.version.major = int(version.version)
        meta = message.meta
        meta.description = (version.description or "")[:32768]
        meta.external_id.CopyFrom(
            external_id(
                SYSTEM,
                f"{self.registry}#models/{model_name}/versions/{version.version}",
                self.registry,
            )
        )
        created = _stamp(version.creation_timestamp)
        if created is not None:
            meta.create_time.CopyFrom(created)
        updated = _stamp(version.last_updated_timestamp)
        if updated is not None:
            meta.update_time.CopyFrom(updated)
        if version.user_id:
            meta.creator = version.user_id
        message.artifact.uri = version.source or ""
        message.artifact.digest.unknown_reason = _NO_DIGEST
        if version.run_id and version.run_id in self.runs:
            message.lineage.run_id = self.runs[version.run_id]
        for alias in sorted(aliases):
            if _ALIAS.fullmatch(alias):
                message.aliases.append(alias)
            else:
                self.result.notes.append(
                    f"alias {alias!r} of {model_name} v{version.version} is not a valid MLSpec alias"
                )
        stage = _STAGES.get(getattr(version, "current_stage", "") or "")
        if stage is not None:
            message.stage = stage
        for key, value in (version.tags or {}).items():
            message.properties[key].string_value = value
        self._import("ModelVersion", message)


def import_store(
    client: Client, tracking_uri: str, registry_uri: str | None = None
) -> MlflowImport:
    """Copies every active experiment and run, and every registered model, into MLSpec.

    MLflow's own deprecation warnings (for example of the SQLAlchemy features its stores
    use) are not the caller's to act on, so they are silenced while MLflow reads.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _import_store(client, tracking_uri, registry_uri)


def _import_store(client: Client, tracking_uri: str, registry_uri: str | None) -> MlflowImport:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    registry = registry_uri or tracking_uri
    source = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry)
    importer = _Importer(client, source, tracking_uri, registry)
    experiments = source.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=50000)
    for exp in sorted(experiments, key=lambda e: str(e.experiment_id)):
        importer.experiment(exp)
    runs: list[Any] = []
    for exp in experiments:
        page_token = None
        while True:
            page = source.search_runs(
                [exp.experiment_id],
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                page_token=page_token,
            )
            runs.extend(page)
            page_token = page.token
            if not page_token:
                break
    for mlflow_run in _parents_first(runs):
        importer.run(mlflow_run)
    for registered in source.search_registered_models(max_results=1000):
        importer.registered_model(registered)
    return importer.result


def _parents_first(runs: list[Any]) -> list[Any]:
    """Runs ordered so that every parent comes before its children (then by start time)."""
    by_id = {r.info.run_id: r for r in runs}
    ordered: list[Any] = []
    done: set[str] = set()

    def visit(run: Any, depth: int = 0) -> None:
        if run.info.run_id in done or depth > len(runs):
            return
        parent = run.data.tags.get("mlflow.parentRunId")
        if parent in by_id:
            visit(by_id[parent], depth + 1)
        done.add(run.info.run_id)
        ordered.append(run)

    for run in sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        visit(run)
    return ordered
