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
from typing import Any

from google.api import resource_pb2
from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import options_pb2, reference_pb2
from mlspec.data.v1 import (
    artifact_pb2,
    data_service_pb2,
    dataset_pb2,
    dataset_profile_pb2,
    datastore_pb2,
)
from mlspec.lifecycle.v1 import lifecycle_service_pb2, stage_report_pb2
from mlspec.metadata.v1 import metadata_service_pb2, workflow_metadata_record_pb2
from mlspec.models.v1 import model_pb2, model_version_pb2, models_service_pb2
from mlspec.monitoring.v1 import alert_pb2, monitoring_service_pb2
from mlspec.pipelines.v1 import module_pb2, pipeline_pb2, pipeline_run_pb2, pipelines_service_pb2
from mlspec.store.api import FieldValue
from mlspec.tracking.v1 import experiment_pb2, run_pb2, tracking_service_pb2

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
    # Filter families (`metrics.*`): the prefix and what indexes its members.
    families: dict[str, ExtraIndex] = field(default_factory=dict)
    # Sort keys read from another index member than their name (`version` of a model
    # version sorts by `version.order`, its semantic-version rank).
    sort_members: dict[str, str] = field(default_factory=dict)

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
    found = [FieldValue("version", text=text), FieldValue("version.order", num=semver_rank(v))]
    found.append(FieldValue("version.major", num=float(v.major)))
    if v.prerelease:
        found.append(FieldValue("prerelease", text=v.prerelease))
    found.extend(FieldValue("aliases", text=alias) for alias in message.aliases)
    return found


def semver_rank(version: model_version_pb2.SemanticVersion) -> float:
    """A number that orders semantic versions (a prerelease before its release).

    Exact for majors below 4,000 and minors and patches below 1,000,000 (doubles hold
    integers up to 2**53); prereleases of one version keep their creation order.
    """
    base = (version.major * 1_000_000 + version.minor) * 1_000_000 + version.patch
    return float(base * 2 + (0 if version.prerelease else 1))


def _scalar_value(key: str, value: Any) -> FieldValue | None:
    """An index value for a typed Value: numbers and booleans as numbers, text as text."""
    kind = value.WhichOneof("kind")
    if kind in ("double_value", "int_value"):
        number = float(getattr(value, kind))
        return None if number != number else FieldValue(key, num=number)
    if kind == "bool_value":
        return FieldValue(key, num=1.0 if value.bool_value else 0.0)
    if kind == "string_value":
        return FieldValue(key, text=value.string_value[:1024])
    return None


def _run_metrics(message: Message) -> list[FieldValue]:
    """`metrics.<key>`: the latest overall-slice scalar value of each metric of a run."""
    assert isinstance(message, run_pb2.Run)
    found = []
    for summary in message.latest_metrics:
        if summary.HasField("slice") and summary.slice.ByteSize():
            continue
        value = _scalar_value(f"metrics.{summary.key}", summary.latest.value)
        if value is not None and value.num is not None:
            found.append(value)
    return found


def _run_params(message: Message) -> list[FieldValue]:
    """`params.<key>`: each hyperparameter of a run (numbers as numbers, text as text)."""
    assert isinstance(message, run_pb2.Run)
    found = [_scalar_value(f"params.{p.key}", p.value) for p in message.params]
    return [f for f in found if f is not None]


def _run_tags(message: Message) -> list[FieldValue]:
    """`tags.<key>`: each tag of a run."""
    assert isinstance(message, run_pb2.Run)
    return [FieldValue(f"tags.{k}", text=v[:1024]) for k, v in message.tags.items()]


def _model_version_metrics(message: Message) -> list[FieldValue]:
    """`metrics.<key>`: each overall-slice scalar metric of a model version."""
    assert isinstance(message, model_version_pb2.ModelVersion)
    found = []
    for metric in message.metrics:
        if metric.HasField("slice") and metric.slice.ByteSize():
            continue
        value = _scalar_value(f"metrics.{metric.key}", metric.value)
        if value is not None and value.num is not None:
            found.append(value)
    return found


def _model_name_index(message: Message) -> list[FieldValue]:
    """`model_name`: the record's model name, lowercased (ListWorkflowMetadataRecords)."""
    assert isinstance(message, workflow_metadata_record_pb2.WorkflowMetadataRecord)
    name = message.workflow_metadata.model.name
    return [FieldValue("model_name", text=name.lower()[:1024])] if name else []


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
    ),
    # Views are named uniquely in the workspace (dataset_profile.proto), like datasets.
    KindSpec(K.RESOURCE_KIND_DATASET_VIEW, dataset_profile_pb2.DatasetView),
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
        families={"metrics": _run_metrics, "params": _run_params, "tags": _run_tags},
    ),
    KindSpec(K.RESOURCE_KIND_MODEL, model_pb2.Model),
    KindSpec(
        K.RESOURCE_KIND_MODEL_VERSION,
        model_version_pb2.ModelVersion,
        scope_fields=("model_id",),
        name_required=False,
        extra_index=_semver_index,
        families={"metrics": _model_version_metrics},
        sort_members={"version": "version.order"},
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
        extra_index=_model_name_index,
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
_REF = "mlspec.common.v1.ResourceRef"
_TIMESTAMP = "google.protobuf.Timestamp"
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


# The services whose List methods declare the filter fields and sort keys of each kind.
_SERVICE_MODULES = (
    data_service_pb2,
    lifecycle_service_pb2,
    metadata_service_pb2,
    models_service_pb2,
    monitoring_service_pb2,
    pipelines_service_pb2,
    tracking_service_pb2,
)
_COMMON_MEMBERS = frozenset({"name", "status", "create_time", "update_time", "labels.*"})


@cache
def declared_fields(full_name: str) -> frozenset[str]:
    """The filter fields and sort keys the contract declares for the lists of a kind.

    They come from the ``(mlspec.common.v1.list)`` option of each List request whose
    response lists this kind; the common object fields are left out (they are columns).
    """
    found: set[str] = set()
    for module in _SERVICE_MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                options = method.input_type.GetOptions()
                if not options.HasExtension(options_pb2.list):
                    continue
                listed = {
                    f.message_type.full_name
                    for f in method.output_type.fields
                    if f.is_repeated and f.message_type is not None
                }
                if full_name in listed:
                    spec = options.Extensions[options_pb2.list]
                    found.update(spec.filter_fields, spec.sort_keys)
    return frozenset(found - _COMMON_MEMBERS)


Member = tuple[str, tuple[tuple[str, int], ...]]


def _leaf_member(field: Any) -> Member | None:
    """How a scalar, enum or Timestamp field is indexed, or None for other fields."""
    if field.type in _SCALARS:
        enum_values: tuple[tuple[str, int], ...] = ()
        if field.enum_type is not None:
            enum_values = tuple((v.name, v.number) for v in field.enum_type.values)
        return (_SCALARS[field.type], enum_values)
    if field.message_type is not None and field.message_type.full_name == _TIMESTAMP:
        return ("time", ())
    return None


def _nested_path(desc: Any, path: str) -> tuple[Any, ...] | None:
    """The fields along a dotted path of singular messages to a scalar leaf, or None."""
    fields = []
    for part in path.split("."):
        step = desc.fields_by_name.get(part) if desc is not None else None
        if step is None or step.is_repeated:
            return None
        fields.append(step)
        desc = step.message_type
    return tuple(fields) if _leaf_member(fields[-1]) is not None else None


@cache
def indexed_members(full_name: str) -> dict[str, Member]:
    """Filterable members of a kind: what the filter index holds for it.

    Top-level scalars, enums, times and references (`ref.id`, `ref.name`), the nested
    fields and families (`metrics.*`) its List methods declare, and the kind's extra
    index. Returns member name -> (value kind, enum values). Value kinds: ``text``,
    ``num``, ``enum``, ``time``, and ``value`` (a family member holding a number or
    text).
    """
    spec = BY_MESSAGE[full_name]
    desc = spec.message.DESCRIPTOR
    members: dict[str, Member] = {}
    for f in desc.fields:
        if f.name == "meta" or f.is_repeated:
            continue
        leaf = _leaf_member(f)
        if leaf is not None:
            members[f.name] = leaf
        elif f.message_type is not None and f.message_type.full_name == _REF:
            members[f.name + ".id"] = ("text", ())
            members[f.name + ".name"] = ("text", ())
    for path in declared_fields(full_name):
        if path.endswith(".*") and path[:-2] in spec.families:
            members[path] = ("value", ())
        elif path not in members and (fields := _nested_path(desc, path)) is not None:
            leaf = _leaf_member(fields[-1])
            assert leaf is not None
            members[path] = leaf
    if spec.kind == K.RESOURCE_KIND_MODEL_VERSION:
        members["version"] = ("text", ())
        members["version.order"] = ("num", ())
        members["prerelease"] = ("text", ())
        members["version.major"] = ("num", ())
        members["aliases"] = ("text", ())
    if spec.kind == K.RESOURCE_KIND_STAGE_REPORT:
        members["inputs.id"] = ("text", ())
        members["outputs.id"] = ("text", ())
    if spec.kind == K.RESOURCE_KIND_WORKFLOW_METADATA_RECORD:
        members["model_name"] = ("text", ())
    for member in META_MEMBERS:
        members.setdefault(member, ("text", ()))
    return members


@cache
def _index_plan(full_name: str) -> tuple[tuple[tuple[Any, ...], str, str, bool], ...]:
    """(fields along the path, member, how to index it, presence) of each indexed field."""
    members = indexed_members(full_name)
    desc = BY_MESSAGE[full_name].message.DESCRIPTOR
    plan = []
    for f in desc.fields:
        if f.name == "meta" or f.is_repeated:
            continue
        kind = members.get(f.name, (None, ()))[0]
        if kind in ("text", "num", "enum", "time"):
            plan.append(((f,), f.name, kind, f.has_presence))
        elif f.name + ".id" in members:
            plan.append(((f,), f.name, "ref", True))
    refs = {
        f"{name}.{part}" for _, name, kind, _ in plan if kind == "ref" for part in ("id", "name")
    }
    for member, (kind, _) in members.items():
        if member in refs or "." not in member:
            continue
        if (fields := _nested_path(desc, member)) is not None:
            plan.append((fields, member, kind, fields[-1].has_presence))
    return tuple(plan)


def _holder(message: Message, fields: tuple[Any, ...]) -> Message | None:
    """The message holding the last field of a path, or None when the path is unset."""
    for step in fields[:-1]:
        if not message.HasField(step.name):
            return None
        message = getattr(message, step.name)
    return message


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
    for fields, member, kind, presence in _index_plan(spec.full_name):
        holder = _holder(message, fields)
        if holder is None:
            continue
        found.extend(_values(holder, fields[-1].name, member, kind, presence))
    if spec.extra_index is not None:
        found.extend(spec.extra_index(message))
    for family in spec.families.values():
        found.extend(family(message))
    bad = next((f.key for f in found if f.text is not None and "\x00" in f.text), None)
    if bad is not None:
        raise errors.invalid(bad, "must not contain NUL characters")
    return found


def _values(message: Any, name: str, member: str, kind: str, presence: bool) -> list[FieldValue]:
    """The index values of one field of ``message`` (stored under ``member``)."""
    found: list[FieldValue] = []
    if kind == "text":
        value = getattr(message, name)
        if value:
            found.append(FieldValue(member, text=str(value)[:1024]))
    elif presence and not message.HasField(name):
        pass
    elif kind in ("num", "enum"):
        found.append(FieldValue(member, num=float(getattr(message, name))))
    elif kind == "time":
        stamp = getattr(message, name)
        found.append(FieldValue(member, num=float(stamp.ToMicroseconds())))
    else:
        ref = getattr(message, name)
        if ref.id:
            found.append(FieldValue(member + ".id", text=ref.id))
        if ref.name:
            found.append(FieldValue(member + ".name", text=ref.name.lower()))
    return found
