"""OpenLineage: RunEvents (a file of JSON lines, a JSON array or one object) read into MLSpec.

Works for events of any producer; those the MLSpec service emitted (they carry the
``mlspec`` run facet, ``openlineage_events``) become stage reports again. The mapping:

| OpenLineage | MLSpec |
|---|---|
| job (namespace, name) | ``Experiment``, ``display_name`` ``<namespace>/<name>`` |
| run (``runId``), its events in time order | ``Run``: state of the last event (START/RUNNING: RUNNING, COMPLETE: SUCCEEDED, FAIL: FAILED with ``errorMessage``, ABORT: CANCELLED), start and end times |
| ``parent`` run facet | the parent ``Run`` (created in the parent job's experiment when missing) |
| a run with the ``mlspec`` facet | a ``StageReport`` of that stage and payload, under the parent run (references inside the payload, which name the emitting server's objects, are dropped) |
| output dataset | ``Artifact`` of the run: ``display_name`` ``<namespace>/<name>``, URI, ``schema`` facet as ``Artifact.schema`` (origin IMPORTED, version the digest of its columns), ``outputStatistics`` as row count and size |
| input dataset | the newest artifact of that dataset already imported (a lineage edge through the stage report or ``Run.inputs``), else ``Run.inputs`` with its URI |

Identities: runs by ``runId``, experiments by ``job:<namespace>/<name>``, artifacts by
``<namespace>/<name>@<runId>``, all with system ``openlineage``; importing the same
events twice adds nothing. Other facets are kept nowhere (they are listed in the notes).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from mlspec.client import Client
from mlspec.common.v1 import reference_pb2, resource_service_pb2, run_state_pb2
from mlspec.data.v1 import artifact_pb2, schema_pb2
from mlspec.interop import names
from mlspec.interop.external import ImportCounts, external_id, import_resource
from mlspec.interop.openlineage_events import MLSPEC_FACET
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2
from mlspec.tracking.v1 import experiment_pb2, run_pb2

SYSTEM = "openlineage"
S = run_state_pb2.RunState
K = reference_pb2.ResourceKind
_STATES = {
    "START": S.RUN_STATE_RUNNING,
    "RUNNING": S.RUN_STATE_RUNNING,
    "COMPLETE": S.RUN_STATE_SUCCEEDED,
    "FAIL": S.RUN_STATE_FAILED,
    "ABORT": S.RUN_STATE_CANCELLED,
}
_REPORT_STATUS = {
    "COMPLETE": stage_report_pb2.STAGE_REPORT_STATUS_SUCCEEDED,
    "FAIL": stage_report_pb2.STAGE_REPORT_STATUS_FAILED,
    "ABORT": stage_report_pb2.STAGE_REPORT_STATUS_CANCELLED,
}
_FIELD_TYPES = {
    "integer": 1,
    "int": 1,
    "long": 1,
    "bigint": 1,
    "double": 2,
    "float": 2,
    "decimal": 2,
    "number": 2,
    "string": 3,
    "varchar": 3,
    "text": 3,
    "binary": 4,
    "bytes": 4,
    "boolean": 5,
    "bool": 5,
    "struct": 6,
}
_KNOWN_RUN_FACETS = {MLSPEC_FACET, "parent", "errorMessage", "processing_engine"}
_KNOWN_DATASET_FACETS = {"schema", "dataSource", "outputStatistics", "dataQualityMetrics"}


class EventFormatError(ValueError):
    """The input is not OpenLineage RunEvents."""


@dataclass
class OpenLineageImport:
    """The outcome of importing a set of events."""

    events: int = 0
    counts: ImportCounts = field(default_factory=ImportCounts)
    notes: list[str] = field(default_factory=list)


def parse(text: str) -> list[dict[str, Any]]:
    """The RunEvents in a JSON-lines file, a JSON array or a single JSON object."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        loaded = json.loads(stripped)
        items = loaded if isinstance(loaded, list) else [loaded]
    except json.JSONDecodeError:
        items = []
        for number, line in enumerate(stripped.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise EventFormatError(f"line {number}: not JSON ({exc.msg})") from None
    events = []
    for i, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("run"), dict)
            or not isinstance(item.get("job"), dict)
        ):
            raise EventFormatError(f"event {i + 1} is not an OpenLineage RunEvent (no run and job)")
        if "runId" not in item["run"] or "eventTime" not in item:
            raise EventFormatError(f"event {i + 1} has no run.runId or eventTime")
        events.append(item)
    return events


def _stamp(text: str) -> timestamp_pb2.Timestamp:
    """An RFC 3339 / ISO 8601 event time (UTC when it names no offset)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EventFormatError(f"eventTime {text!r} is not an RFC 3339 time") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _dataset_key(dataset: Mapping[str, Any]) -> str:
    return f"{dataset.get('namespace', '')}/{dataset.get('name', '')}"


def _uri(dataset: Mapping[str, Any]) -> str:
    namespace, name = str(dataset.get("namespace", "")), str(dataset.get("name", ""))
    if "://" not in namespace:
        return ""
    if namespace.endswith("://"):
        return namespace + name.lstrip("/") if not name.startswith("/") else namespace + name
    return f"{namespace.rstrip('/')}/{name.lstrip('/')}"


@dataclass
class _RunView:
    """What the events of one OpenLineage run say, merged in time order."""

    run_id: str
    job: tuple[str, str]
    events: list[dict[str, Any]]

    @property
    def facets(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for event in self.events:
            merged.update(event["run"].get("facets") or {})
        return merged

    @property
    def last_type(self) -> str:
        return str(self.events[-1].get("eventType") or "OTHER")

    def datasets(self, side: str) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for event in self.events:
            for dataset in event.get(side) or []:
                seen.setdefault(_dataset_key(dataset), {}).update(dataset)
        return list(seen.values())


class _Importer:
    def __init__(self, client: Client, source: str) -> None:
        self.client = client
        self.source = source
        self.result = OpenLineageImport()
        self.experiments: dict[tuple[str, str], str] = {}
        self.runs: dict[str, str] = {}  # OpenLineage runId -> MLSpec run id
        self.outputs: dict[str, str] = {}  # dataset key -> newest MLSpec artifact id

    def _import(self, kind: str, message: Message) -> resource_service_pb2.ImportResourceResponse:
        return import_resource(self.client, self.result.counts, kind, message)

    def experiment(self, job: tuple[str, str]) -> str:
        if job in self.experiments:
            return self.experiments[job]
        message = experiment_pb2.Experiment()
        message.meta.name = names.resource_name(f"{job[0]}-{job[1]}")
        message.meta.display_name = f"{job[0]}/{job[1]}"[:1024]
        message.meta.external_id.CopyFrom(
            external_id(SYSTEM, f"job:{job[0]}/{job[1]}", self.source)
        )
        self.experiments[job] = self._import("Experiment", message).meta.id
        return self.experiments[job]

    def placeholder_run(self, run_id: str, job: tuple[str, str]) -> str:
        """A parent run known only from a ``parent`` facet."""
        if run_id not in self.runs:
            message = run_pb2.Run(experiment_id=self.experiment(job))
            message.meta.external_id.CopyFrom(external_id(SYSTEM, run_id, self.source))
            message.meta.display_name = f"{job[1]} {run_id}"
            self.runs[run_id] = self._import("Run", message).meta.id
        return self.runs[run_id]

    def parent(self, view: _RunView) -> str:
        parent = view.facets.get("parent") or {}
        run_id = (parent.get("run") or {}).get("runId")
        if not run_id:
            return ""
        job = parent.get("job") or {}
        return self.placeholder_run(
            str(run_id), (str(job.get("namespace", "")), str(job.get("name", "")))
        )

    def run(self, view: _RunView) -> str:
        parent_id = self.parent(view)
        message = run_pb2.Run(experiment_id=self.experiment(view.job))
        meta = message.meta
        meta.external_id.CopyFrom(external_id(SYSTEM, view.run_id, self.source))
        meta.display_name = f"{view.job[1]} {view.run_id}"[:1024]
        first = _stamp(str(view.events[0]["eventTime"]))
        meta.create_time.CopyFrom(first)
        message.start_time.CopyFrom(first)
        state = _STATES.get(view.last_type, S.RUN_STATE_RUNNING)
        message.state = state
        if state not in (S.RUN_STATE_RUNNING, S.RUN_STATE_PENDING):
            message.end_time.CopyFrom(_stamp(str(view.events[-1]["eventTime"])))
        if parent_id:
            message.parent_run_id = parent_id
        error = view.facets.get("errorMessage")
        if state == S.RUN_STATE_FAILED:
            message.error.message = str((error or {}).get("message") or "the run failed")
            message.error.programming_language = str((error or {}).get("programmingLanguage") or "")
        message.tags["openlineage.job.namespace"] = view.job[0]
        message.tags["openlineage.job.name"] = view.job[1]
        producer = view.events[-1].get("producer")
        if producer:
            message.tags["openlineage.producer"] = str(producer)
        for dataset in view.datasets("inputs"):
            found = self.outputs.get(_dataset_key(dataset))
            run_input = message.inputs.add(source_uri=_uri(dataset) or _dataset_key(dataset))
            if found:
                run_input.resource.CopyFrom(
                    reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_ARTIFACT, id=found)
                )
        stored = self._import("Run", message).meta.id
        self.runs[view.run_id] = stored
        return stored

    def artifact(self, dataset: Mapping[str, Any], run_id: str, ol_run_id: str) -> str:
        key = _dataset_key(dataset)
        facets = dataset.get("facets") or {}
        artifact = artifact_pb2.Artifact(
            run_id=run_id,
            type=artifact_pb2.ARTIFACT_TYPE_DATASET,
            state=artifact_pb2.ARTIFACT_STATE_LIVE,
        )
        artifact.uri = _uri(dataset)
        artifact.meta.name = names.resource_name(f"{dataset.get('name', 'dataset')}")
        artifact.meta.display_name = key[:1024]
        artifact.meta.external_id.CopyFrom(external_id(SYSTEM, f"{key}@{ol_run_id}", self.source))
        columns = (facets.get("schema") or {}).get("fields") or []
        if columns:
            # The facet has no version: the digest of its columns changes when they do.
            canonical = json.dumps(columns, sort_keys=True, separators=(",", ":"))
            artifact.schema.schema_version = hashlib.sha256(canonical.encode()).hexdigest()[:12]
            artifact.schema.origin = schema_pb2.SCHEMA_ORIGIN_IMPORTED
        for column in columns:
            feature = artifact.schema.features.add(name=str(column.get("name", "")))
            feature.type = _FIELD_TYPES.get(str(column.get("type") or "").lower(), 0)  # type: ignore[assignment]
            feature.description = str(column.get("description") or "")
        statistics = (dataset.get("outputFacets") or {}).get("outputStatistics") or {}
        if statistics.get("rowCount") is not None:
            artifact.row_count = int(statistics["rowCount"])
        if statistics.get("size") is not None:
            artifact.size_bytes = int(statistics["size"])
        unknown = set(facets) - _KNOWN_DATASET_FACETS
        if unknown:
            self.result.notes.append(
                f"dataset {key}: facets {', '.join(sorted(unknown))} are not kept"
            )
        response = self._import("Artifact", artifact)
        self.outputs[key] = response.meta.id
        return response.meta.id

    def stage_report(self, view: _RunView, facet: Mapping[str, Any], run_id: str) -> None:
        report = stage_report_pb2.StageReport(run_id=run_id)
        report.meta.external_id.CopyFrom(external_id(SYSTEM, view.run_id, self.source))
        payload_field = _payload_field(str(facet["stage"]))
        report.stage = stage_pb2.LifecycleStage.Value(str(facet["stage"]))
        report.start_time.CopyFrom(_stamp(str(view.events[0]["eventTime"])))
        report.end_time.CopyFrom(_stamp(str(view.events[-1]["eventTime"])))
        report.status = _REPORT_STATUS.get(
            view.last_type, stage_report_pb2.STAGE_REPORT_STATUS_UNSPECIFIED
        )
        if report.status == stage_report_pb2.STAGE_REPORT_STATUS_FAILED:
            report.error_message = str((view.facets.get("errorMessage") or {}).get("message") or "")
        payload = getattr(report, payload_field)
        try:
            json_format.ParseDict(
                dict(facet.get("payload") or {}), payload, ignore_unknown_fields=True
            )
        except json_format.ParseError as exc:
            raise EventFormatError(
                f"run {view.run_id}: the mlspec facet's payload: {exc}"
            ) from None
        payload.SetInParent()
        for dataset in view.datasets("inputs"):
            found = self.outputs.get(_dataset_key(dataset))
            if found:
                report.inputs.add(
                    resource=reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_ARTIFACT, id=found),
                    uri=_uri(dataset),
                )
            else:
                self.result.notes.append(
                    f"stage report {view.run_id}: input {_dataset_key(dataset)} was never an imported output; it is not an input of the report"
                )
        for dataset in view.datasets("outputs"):
            artifact_id = self.artifact(dataset, run_id, view.run_id)
            report.outputs.add(
                resource=reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_ARTIFACT, id=artifact_id),
                uri=_uri(dataset),
            )
        # The payload names objects of the emitting server: those the event also names
        # as datasets become the artifacts imported for them, the others are dropped.
        imported = {
            emitted: self.outputs[key]
            for emitted, key in dict(facet.get("datasets") or {}).items()
            if key in self.outputs
        }
        dropped = list(_rebind_references(payload, payload_field, imported))
        if dropped:
            self.result.notes.append(
                f"stage report {view.run_id}: references {', '.join(dropped)} name objects of the emitting server and are dropped"
            )
        self._import("StageReport", report)


_PAYLOADS = {
    "LIFECYCLE_STAGE_CODIFY_OBJECTIVES": "codified_objectives",
    "LIFECYCLE_STAGE_DATA_INGESTION": "data_ingestion",
    "LIFECYCLE_STAGE_DATA_ANALYSIS": "data_analysis",
    "LIFECYCLE_STAGE_DATA_TRANSFORMATION": "data_transformation",
    "LIFECYCLE_STAGE_DATA_VALIDATION": "data_validation",
    "LIFECYCLE_STAGE_DATA_SPLITTING": "data_splitting",
    "LIFECYCLE_STAGE_MODEL_TRAINING": "model_training",
    "LIFECYCLE_STAGE_MODEL_EVALUATION": "model_evaluation",
    "LIFECYCLE_STAGE_MODEL_TEST": "model_test",
    "LIFECYCLE_STAGE_MODEL_PACKAGING": "model_packaging",
    "LIFECYCLE_STAGE_MODEL_SERVING": "model_serving",
}


def _payload_field(stage_name: str) -> str:
    """The StageReport payload field of a stage (as the contract pairs them)."""
    found = _PAYLOADS.get(stage_name)
    if found is None:
        raise EventFormatError(f"the mlspec facet names {stage_name!r}, not one of the stages 1-11")
    return found


def _rebind_references(message: Message, path: str, imported: Mapping[str, str]) -> Iterator[str]:
    """Points every ResourceRef inside ``message`` at its imported artifact, or clears it.

    ``imported`` maps an emitting server's id to the id of the artifact imported for it;
    yields the paths of the references it cleared.
    """
    for fd, value in list(message.ListFields()):
        if fd.message_type is None:
            continue
        if fd.message_type.full_name == "mlspec.common.v1.ResourceRef":
            refs = value if fd.is_repeated else [value]
            kept = [
                reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_ARTIFACT, id=imported[ref.id])
                for ref in refs
                if ref.id in imported
            ]
            if len(kept) < len(refs):
                yield f"{path}.{fd.name}"
            message.ClearField(fd.name)
            if fd.is_repeated:
                getattr(message, fd.name).extend(kept)
            elif kept:
                getattr(message, fd.name).CopyFrom(kept[0])
        elif fd.message_type.GetOptions().map_entry:
            continue
        elif fd.is_repeated:
            for i, item in enumerate(value):
                yield from _rebind_references(item, f"{path}.{fd.name}[{i}]", imported)
        else:
            yield from _rebind_references(value, f"{path}.{fd.name}", imported)


def import_events(
    client: Client, events: Iterable[dict[str, Any]], source: str = ""
) -> OpenLineageImport:
    """Imports RunEvents: their jobs, runs, datasets and (for MLSpec's) stage reports."""
    importer = _Importer(client, source)
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_run[str(event["run"]["runId"])].append(event)
        importer.result.events += 1
    views = []
    for run_id, run_events in by_run.items():
        run_events.sort(key=lambda e: _stamp(str(e["eventTime"])).ToNanoseconds())
        job = run_events[-1]["job"]
        views.append(
            _RunView(run_id, (str(job.get("namespace", "")), str(job.get("name", ""))), run_events)
        )
    views.sort(key=lambda v: _stamp(str(v.events[0]["eventTime"])).ToNanoseconds())
    for view in views:
        facets = view.facets
        unknown = set(facets) - _KNOWN_RUN_FACETS
        if unknown:
            importer.result.notes.append(
                f"run {view.run_id}: facets {', '.join(sorted(unknown))} are not kept"
            )
        facet = facets.get(MLSPEC_FACET)
        if isinstance(facet, dict) and facet.get("stage"):
            parent = importer.parent(view) or importer.placeholder_run(
                str(facet.get("runId") or view.run_id), (view.job[0], f"{view.job[1]}.runs")
            )
            importer.stage_report(view, facet, parent)
            continue
        run_id = importer.run(view)
        for dataset in view.datasets("outputs"):
            importer.artifact(dataset, run_id, view.run_id)
    return importer.result
