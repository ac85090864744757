"""The registry of resource kinds: which message each kind is, and how it is scoped.

Everything the generic resource rules need to know about a kind lives here: its message
type, the field that scopes its names (a run for artifacts, a dataset for its versions),
whether a name is required, and which fields are copied into the filter index. What a
reference field points at comes from its `google.api.resource_reference` in the contract
(``referenced_kinds``); all other rules are derived from the descriptors too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from google.api import resource_pb2
from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import artifact_pb2, dataset_pb2, dataset_profile_pb2, datastore_pb2
from mlspec.lifecycle.v1 import stage_report_pb2
from mlspec.metadata.v1 import workflow_metadata_record_pb2
from mlspec.models.v1 import model_pb2, model_version_pb2
from mlspec.monitoring.v1 import alert_pb2
from mlspec.pipelines.v1 import module_pb2, pipeline_pb2, pipeline_run_pb2
from mlspec.store.api import FieldValue
from mlspec.tracking.v1 import experiment_pb2, run_pb2

K = reference_pb2.ResourceKind

# Extra filter-index values for a kind, beyond its top-level scalar fields.
ExtraIndex = Callable[[Message], list[FieldValue]]


@dataclass(frozen=True)
class KindSpec:
    """What the generic rules need to know about one resource kind."""

    kind: int
    message: type[Message]
    scope_fields: tuple[str, ...] = ()
    name_required: bool = True
    extra_index: ExtraIndex | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The message name, for example ``DatasetVersion``."""
        return self.message.DESCRIPTOR.name

    @property
    def full_name(self) -> str:
        """The full message name, for example ``mlspec.data.v1.DatasetVersion``."""
        return self.message.DESCRIPTOR.full_name

    def scope_of(self, message: Message) -> str:
        """The id of the object that scopes this message's name ('' for the workspace)."""
        for name in self.scope_fields:
            value = getattr(message, name)
            if value:
                return str(value)
        return ""


def _semver_index(message: Message) -> list[FieldValue]:
    assert isinstance(message, model_version_pb2.ModelVersion)
    v = message.version
    text = f"{v.major}.{v.minor}.{v.patch}"
    if v.prerelease:
        text += f"-{v.prerelease}"
    found = [FieldValue("version", text=text)]
    found.extend(FieldValue("aliases", text=alias) for alias in message.aliases)
    return found


def _report_index(message: Message) -> list[FieldValue]:
    assert isinstance(message, stage_report_pb2.StageReport)
    return [
        FieldValue(f"{side}.id", text=e.resource.id)
        for side, endpoints in (("inputs", message.inputs), ("outputs", message.outputs))
        for e in endpoints
        if e.resource.id
    ]


_SPECS = [
    KindSpec(K.RESOURCE_KIND_DATASTORE, datastore_pb2.Datastore),
    KindSpec(
        K.RESOURCE_KIND_ARTIFACT,
        artifact_pb2.Artifact,
        scope_fields=("run_id",),
    ),
    KindSpec(K.RESOURCE_KIND_DATASET, dataset_pb2.Dataset),
    KindSpec(
        K.RESOURCE_KIND_DATASET_VERSION,
        dataset_pb2.DatasetVersion,
        scope_fields=("dataset_id",),
        name_required=False,
    ),
    KindSpec(
        K.RESOURCE_KIND_DATASET_PROFILE,
        dataset_profile_pb2.DatasetProfile,
        scope_fields=("dataset_version_id",),
        name_required=False,
    ),
    KindSpec(
        K.RESOURCE_KIND_DATASET_CHECKPOINT,
        dataset_profile_pb2.DatasetCheckpoint,
        scope_fields=("dataset_version_id",),
        name_required=False,
    ),
    KindSpec(
        K.RESOURCE_KIND_DATASET_VIEW,
        dataset_profile_pb2.DatasetView,
        scope_fields=("dataset_version_id", "dataset_id"),
    ),
    KindSpec(K.RESOURCE_KIND_MODULE, module_pb2.Module),
    KindSpec(
        K.RESOURCE_KIND_MODULE_VERSION,
        module_pb2.ModuleVersion,
        scope_fields=("module_id",),
        name_required=False,
    ),
    KindSpec(K.RESOURCE_KIND_PIPELINE_DRAFT, pipeline_pb2.PipelineDraft),
    # Pipelines that share a name are the versions of one series (told apart by version).
    KindSpec(K.RESOURCE_KIND_PIPELINE, pipeline_pb2.Pipeline, scope_fields=("version",)),
    KindSpec(K.RESOURCE_KIND_PIPELINE_RUN, pipeline_run_pb2.PipelineRun, name_required=False),
    KindSpec(
        K.RESOURCE_KIND_STEP_RUN,
        pipeline_run_pb2.StepRun,
        scope_fields=("pipeline_run_id",),
        name_required=False,
    ),
    KindSpec(K.RESOURCE_KIND_EXPERIMENT, experiment_pb2.Experiment),
    KindSpec(
        K.RESOURCE_KIND_RUN,
        run_pb2.Run,
        scope_fields=("experiment_id",),
        name_required=False,
    ),
    KindSpec(K.RESOURCE_KIND_MODEL, model_pb2.Model),
    KindSpec(
        K.RESOURCE_KIND_MODEL_VERSION,
        model_version_pb2.ModelVersion,
        scope_fields=("model_id",),
        name_required=False,
        extra_index=_semver_index,
    ),
    KindSpec(
        K.RESOURCE_KIND_STAGE_REPORT,
        stage_report_pb2.StageReport,
        scope_fields=("run_id",),
        name_required=False,
        extra_index=_report_index,
    ),
    KindSpec(K.RESOURCE_KIND_ALERT, alert_pb2.Alert, name_required=False),
    KindSpec(K.RESOURCE_KIND_ROLLBACK_POLICY, alert_pb2.RollbackPolicy),
    KindSpec(
        K.RESOURCE_KIND_WORKFLOW_METADATA_RECORD,
        workflow_metadata_record_pb2.WorkflowMetadataRecord,
        name_required=False,
    ),
]

BY_KIND: dict[int, KindSpec] = {spec.kind: spec for spec in _SPECS}
BY_MESSAGE: dict[str, KindSpec] = {spec.full_name: spec for spec in _SPECS}


# The `google.api.resource` type of each kind (`mlspec.io/Dataset`) and back.
KIND_OF_TYPE: dict[str, int] = {
    spec.message.DESCRIPTOR.GetOptions().Extensions[resource_pb2.resource].type: spec.kind
    for spec in _SPECS
}


@cache
def referenced_kinds(field: descriptor.FieldDescriptor) -> tuple[int, ...]:
    """The kinds a string field holds the id of, from its `google.api.resource_reference`.

    Empty for a field that references no resource; every kind for a reference of type
    `*` (the message says which, as in ResourceRef).
    """
    options = field.GetOptions()
    if not options.HasExtension(resource_pb2.resource_reference):
        return ()
    reference_type = options.Extensions[resource_pb2.resource_reference].type
    if reference_type == "*":
        return tuple(BY_KIND)
    return (KIND_OF_TYPE[reference_type],)


def spec_for_message(message: Message | descriptor.Descriptor) -> KindSpec | None:
    """The spec of a resource message (or descriptor), or None if it is not a resource."""
    desc = message if isinstance(message, descriptor.Descriptor) else message.DESCRIPTOR
    return BY_MESSAGE.get(desc.full_name)


# ObjectMeta members every kind can filter on (`meta.display_name`, `meta.external_id.id`).
META_MEMBERS = ("display_name", "external_id.system", "external_id.id", "external_id.uri")
# The index key that makes (kind, external system, external id) a one-row lookup.
EXTERNAL_KEY = "external_id.key"


def external_key(system: str, external_id: str) -> str:
    """The indexed form of an external identity: fixed length whatever the id's length."""
    return hashlib.sha256(f"{system}\x00{external_id}".encode()).hexdigest()


_F = descriptor.FieldDescriptor
_SCALARS = {
    _F.TYPE_STRING: "text",
    _F.TYPE_BOOL: "num",
    _F.TYPE_DOUBLE: "num",
    _F.TYPE_FLOAT: "num",
    _F.TYPE_INT32: "num",
    _F.TYPE_INT64: "num",
    _F.TYPE_UINT32: "num",
    _F.TYPE_UINT64: "num",
    _F.TYPE_SINT32: "num",
    _F.TYPE_SINT64: "num",
    _F.TYPE_FIXED32: "num",
    _F.TYPE_FIXED64: "num",
    _F.TYPE_SFIXED32: "num",
    _F.TYPE_SFIXED64: "num",
    _F.TYPE_ENUM: "enum",
}


@cache
def indexed_members(full_name: str) -> dict[str, tuple[str, tuple[tuple[str, int], ...]]]:
    """Filterable members of a kind: top-level scalars, enums, times and references.

    Returns member name -> (value kind, enum values). Value kinds: ``text``, ``num``,
    ``enum``, ``time``.
    """
    spec = BY_MESSAGE[full_name]
    members: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}
    for f in spec.message.DESCRIPTOR.fields:
        if f.name == "meta" or f.is_repeated:
            continue
        if f.type in _SCALARS:
            enum_values: tuple[tuple[str, int], ...] = ()
            if f.enum_type is not None:
                enum_values = tuple((v.name, v.number) for v in f.enum_type.values)
            members[f.name] = (_SCALARS[f.type], enum_values)
        elif f.message_type is not None:
            if f.message_type.full_name == "google.protobuf.Timestamp":
                members[f.name] = ("time", ())
            elif f.message_type.full_name == "mlspec.common.v1.ResourceRef":
                members[f.name + ".id"] = ("text", ())
                members[f.name + ".name"] = ("text", ())
    for member in META_MEMBERS:
        members.setdefault(member, ("text", ()))
    if spec.extra_index is not None:
        if spec.kind == K.RESOURCE_KIND_MODEL_VERSION:
            members["version"] = ("text", ())
            members["aliases"] = ("text", ())
        if spec.kind == K.RESOURCE_KIND_STAGE_REPORT:
            members["inputs.id"] = ("text", ())
            members["outputs.id"] = ("text", ())
    return members


@cache
def _index_plan(full_name: str) -> tuple[tuple[str, str, bool], ...]:
    """(field, how to index it, whether it tracks presence) for each indexed top-level field."""
    members = indexed_members(full_name)
    plan = []
    for f in BY_MESSAGE[full_name].message.DESCRIPTOR.fields:
        if f.name == "meta" or f.is_repeated:
            continue
        kind = members.get(f.name, (None, ()))[0]
        if kind in ("text", "num", "enum", "time"):
            plan.append((f.name, kind, f.has_presence))
        elif f.name + ".id" in members:
            plan.append((f.name, "ref", True))
    return tuple(plan)


def index_values(spec: KindSpec, message: Message) -> list[FieldValue]:
    """The values of ``message`` that go into the filter index (labels included)."""
    meta = message.meta  # type: ignore[attr-defined]
    found = [FieldValue(f"labels.{k}", text=v) for k, v in meta.labels.items()]
    if meta.display_name:
        found.append(FieldValue("display_name", text=meta.display_name[:1024]))
    if meta.HasField("external_id"):
        ext = meta.external_id
        found.append(FieldValue("external_id.system", text=ext.system))
        found.append(FieldValue("external_id.id", text=ext.id[:1024]))
        if ext.uri:
            found.append(FieldValue("external_id.uri", text=ext.uri[:1024]))
        found.append(FieldValue(EXTERNAL_KEY, text=external_key(ext.system, ext.id)))
    for name, kind, presence in _index_plan(spec.full_name):
        if kind == "text":
            value = getattr(message, name)
            if value:
                found.append(FieldValue(name, text=str(value)[:1024]))
        elif presence and not message.HasField(name):
            continue
        elif kind in ("num", "enum"):
            found.append(FieldValue(name, num=float(getattr(message, name))))
        elif kind == "time":
            stamp = getattr(message, name)
            found.append(FieldValue(name, num=float(stamp.ToMicroseconds())))
        else:
            ref = getattr(message, name)
            if ref.id:
                found.append(FieldValue(name + ".id", text=ref.id))
            if ref.name:
                found.append(FieldValue(name + ".name", text=ref.name.lower()))
    if spec.extra_index is not None:
        found.extend(spec.extra_index(message))
    bad = next((f.key for f in found if f.text is not None and "\x00" in f.text), None)
    if bad is not None:
        raise errors.invalid(bad, "must not contain NUL characters")
    return found
