"""Relations between resources are in the contract, not in field-name suffixes.

Every string field that holds the id of an MLSpec resource carries
``(google.api.resource_reference) = {type: "mlspec.io/<Kind>"}`` (or ``type: "*"`` when it
may point at several kinds), so that servers and tools derive parents and lineage edges
from the descriptors. These tests walk every message of the generated package and check:

- every ``*_id`` / ``*_ids`` string field either references a declared resource type or
  ``*``, or is listed in ``NON_RESOURCE_IDS`` with the reason it is not a resource id;
- every ``resource_reference`` names a declared resource type (the ``google.api.resource``
  of some message) or ``*``;
- every ``*`` reference is listed in ``ANY_KIND_REFERENCES`` with the kinds it may point
  at, and its comment names them;
- every ``Get<Kind>Request.id`` references ``mlspec.io/<Kind>``.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.api import resource_pb2
from google.protobuf import descriptor, descriptor_pb2

from .catalog import all_messages

ANY = "*"
# Field numbers of descriptor.proto used in SourceCodeInfo paths.
FILE_MESSAGE, MSG_FIELD, MSG_NESTED = 4, 2, 3

# The 21 resource types of the contract (each is the google.api.resource of one message).
DECLARED_TYPES = frozenset(
    f"mlspec.io/{kind}"
    for kind in (
        "Alert", "Artifact", "Dataset", "DatasetCheckpoint", "DatasetProfile",
        "DatasetVersion", "DatasetView", "Datastore", "Experiment", "Model", "ModelVersion",
        "Module", "ModuleVersion", "Pipeline", "PipelineDraft", "PipelineRun",
        "RollbackPolicy", "Run", "StageReport", "StepRun", "WorkflowMetadataRecord",
    )
)  # fmt: skip

# Reasons shared by several entries of NON_RESOURCE_IDS.
_VERTEX = "Vertex.id (or Edge.id) inside one pipeline graph, not a resource"
_OBJECTIVE = "Objective.id inside a CodifiedObjectives set, not a resource"
_APPLICATION = "the calling application, outside MLSpec"
_SERVING = "a serving deployment or replica, outside MLSpec"
_SIGNAL = "monitoring signal record ids; signals are not resources"
_LOG_STREAM = "inference log stream, created by its first write; not a resource"
_PROJECT = "free-form project label of experiments and runs; projects are not resources"
_BUILDER = "URI identity of the external builder (SLSA builder.id)"
_VERIFIER = "identity of an external verifier"
_PREDICTION = "a prediction inside its inference request"

# Fields whose name ends in `_id` or `_ids` but whose value is NOT the id of an MLSpec
# resource, each with the reason. A key is a full field name, or `*.<field>` for a field
# name that is never a resource id in any message (protocol-level identifiers).
NON_RESOURCE_IDS: dict[str, str] = {
    "*.request_id": "idempotency key of a mutating request, or an inference correlation id",
    "*.trace_id": "W3C trace-context trace id",
    "*.span_id": "W3C trace-context span id",
    "mlspec.common.v1.Signature.key_id": "signing key in the verifier's key store or KMS",
    "mlspec.data.v1.Datastore.system_id": "account/project id in the external data system",
    "mlspec.data.v1.GcsDatastoreConfig.project_id": "GCP project that owns the bucket",
    "mlspec.lifecycle.v1.AnalysisOutlierExample.row_id": "row key or offset in the data",
    "mlspec.lifecycle.v1.EvaluationMetricSpec.objective_id": _OBJECTIVE,
    "mlspec.lifecycle.v1.EvaluationThresholdResult.objective_id": _OBJECTIVE,
    "mlspec.lifecycle.v1.ObjectiveLaunchCriteria.required_objective_ids": _OBJECTIVE,
    "mlspec.lifecycle.v1.DeploymentGateFailure.objective_id": _OBJECTIVE,
    "mlspec.lifecycle.v1.ObjectiveResult.objective_id": _OBJECTIVE,
    "mlspec.lifecycle.v1.LaunchCriteriaResult.failed_objective_ids": _OBJECTIVE,
    "mlspec.lifecycle.v1.PackageVerificationSummary.verifier_id": _VERIFIER,
    "mlspec.lifecycle.v1.HyperparameterSearch.best_trial_id": "TrainingTrial.id within the search",
    "mlspec.lifecycle.v1.TrainingRunDetails.builder_id": _BUILDER,
    "mlspec.lifecycle.v1.TrainingRunDetails.invocation_id": "job id in the builder's own system",
    "mlspec.logging.v1.InferenceLogRecord.log_stream_id": _LOG_STREAM,
    "mlspec.logging.v1.InferenceFields.application_id": _APPLICATION,
    "mlspec.logging.v1.InferenceFields.inference_service_id": _SERVING,
    "mlspec.logging.v1.WriteInferenceLogsRequest.log_stream_id": _LOG_STREAM,
    "mlspec.logging.v1.ListInferenceLogsRequest.log_stream_id": _LOG_STREAM,
    "mlspec.logging.v1.VerifyLogChainRequest.log_stream_id": _LOG_STREAM,
    "mlspec.logging.v1.StreamNcsaLinesRequest.log_stream_id": _LOG_STREAM,
    "mlspec.logging.v1.StreamInferenceLogsRequest.log_stream_id": _LOG_STREAM,
    "mlspec.logging.v1.LogCheckpoint.log_stream_id": _LOG_STREAM,
    "mlspec.models.v1.License.spdx_id": "SPDX license identifier",
    "mlspec.models.v1.PolicyStore.policy_ids": "policies inside an external policy store (OPA, Cedar)",
    "mlspec.models.v1.Provenance.builder_id": _BUILDER,
    "mlspec.models.v1.ProvenanceVerification.verifier_id": _VERIFIER,
    "mlspec.monitoring.v1.DriftSignal.signal_id": _SIGNAL,
    "mlspec.monitoring.v1.PerformanceSignal.signal_id": _SIGNAL,
    "mlspec.monitoring.v1.PerformanceSignal.objective_id": _OBJECTIVE,
    "mlspec.monitoring.v1.LivenessSignal.signal_id": _SIGNAL,
    "mlspec.monitoring.v1.Alert.signal_ids": _SIGNAL,
    "mlspec.monitoring.v1.TriggerEvaluation.signal_ids": _SIGNAL,
    "mlspec.monitoring.v1.InferenceRequest.application_id": _APPLICATION,
    "mlspec.monitoring.v1.InferencePrediction.application_id": _APPLICATION,
    "mlspec.monitoring.v1.InferencePrediction.prediction_id": _PREDICTION,
    "mlspec.monitoring.v1.InferencePrediction.inference_service_id": _SERVING,
    "mlspec.monitoring.v1.InferencePrediction.ensemble_member_id": "member name within the ensemble model",
    "mlspec.monitoring.v1.PredictionFeedback.application_id": _APPLICATION,
    "mlspec.monitoring.v1.PredictionFeedback.prediction_id": _PREDICTION,
    "mlspec.pipelines.v1.Port.vertex_id": _VERTEX,
    "mlspec.pipelines.v1.GraphViolation.vertex_id": _VERTEX,
    "mlspec.pipelines.v1.GraphViolation.edge_id": _VERTEX,
    "mlspec.pipelines.v1.GraphViolation.cycle_vertex_ids": _VERTEX,
    "mlspec.pipelines.v1.ResolvedReference.vertex_id": _VERTEX,
    "mlspec.pipelines.v1.RunError.vertex_id": _VERTEX,
    "mlspec.pipelines.v1.StepRun.vertex_id": _VERTEX,
    "mlspec.pipelines.v1.StepRun.orchestrator_job_id": "pod or job name in the orchestrator",
    "mlspec.pipelines.v1.ListStepRunsRequest.vertex_id": _VERTEX,
    "mlspec.tracking.v1.Experiment.project_id": _PROJECT,
    "mlspec.tracking.v1.Run.project_id": _PROJECT,
    "mlspec.tracking.v1.Run.submitter_id": "user or service-account identity",
    "mlspec.tracking.v1.ListExperimentsRequest.project_id": _PROJECT,
    "mlspec.tracking.v1.ListRunsRequest.project_id": _PROJECT,
}

# Fields that reference `*` (more than one kind), with the kinds they may point at. Their
# comments MUST name those kinds (or say "any kind" when every kind is possible).
ANY_KIND_REFERENCES: dict[str, frozenset[str]] = {
    # ResourceRef.kind says which kind.
    "mlspec.common.v1.ResourceRef.id": DECLARED_TYPES,
    # The node's resource.kind says which kind.
    "mlspec.lifecycle.v1.LineageEdge.source_id": DECLARED_TYPES,
    "mlspec.lifecycle.v1.LineageEdge.target_id": DECLARED_TYPES,
    # A mutation may create or change a resource of any kind.
    "mlspec.common.v1.AuditEvent.resource_id": DECLARED_TYPES,
    "mlspec.common.v1.ListAuditEventsRequest.resource_id": DECLARED_TYPES,
}


def _fields() -> Iterator[tuple[str, descriptor.FieldDescriptor]]:
    for message in all_messages():
        for field in message.fields:
            yield f"{message.full_name}.{field.name}", field


def _reference(field: descriptor.FieldDescriptor) -> str | None:
    """The field's resource_reference type (child_type prefixed with '>'), or None."""
    options = field.GetOptions()
    if not options.HasExtension(resource_pb2.resource_reference):
        return None
    ref = options.Extensions[resource_pb2.resource_reference]
    return str(ref.type) if ref.type else ">" + str(ref.child_type)


def _is_id_field(field: descriptor.FieldDescriptor) -> bool:
    return field.type == field.TYPE_STRING and field.name.endswith(("_id", "_ids"))


def _excluded(full_name: str) -> bool:
    return full_name in NON_RESOURCE_IDS or "*." + full_name.rsplit(".", 1)[1] in NON_RESOURCE_IDS


def declared_types() -> set[str]:
    """The google.api.resource types of the contract's messages."""
    return {
        m.GetOptions().Extensions[resource_pb2.resource].type
        for m in all_messages()
        if m.GetOptions().HasExtension(resource_pb2.resource)
    }


def test_the_contract_declares_the_resource_types() -> None:
    assert declared_types() == DECLARED_TYPES


def test_every_id_field_references_a_resource_or_says_why_not() -> None:
    types = declared_types() | {ANY}
    wrong = []
    for full_name, field in _fields():
        if not _is_id_field(field):
            continue
        ref = _reference(field)
        if ref is None and not _excluded(full_name):
            wrong.append(f"{full_name}: no resource_reference and not in NON_RESOURCE_IDS")
        elif ref is not None and _excluded(full_name):
            wrong.append(f"{full_name}: has a resource_reference but is in NON_RESOURCE_IDS")
        elif ref is not None and ref not in types:
            wrong.append(f"{full_name}: references {ref!r}, not a declared resource type")
    assert wrong == []


def test_every_reference_names_a_declared_resource_type() -> None:
    types = declared_types() | {ANY}
    wrong = [
        f"{full_name}: {ref!r}"
        for full_name, field in _fields()
        if (ref := _reference(field)) is not None
        and (ref not in types or field.type != field.TYPE_STRING)
    ]
    assert wrong == []


def test_any_kind_references_are_listed_with_their_kinds() -> None:
    any_kind = {full_name for full_name, field in _fields() if _reference(field) == ANY}
    assert any_kind == set(ANY_KIND_REFERENCES)
    types = declared_types()
    for full_name, kinds in ANY_KIND_REFERENCES.items():
        assert len(kinds) >= 2, f"{full_name}: one kind only; reference it by type instead"
        assert kinds <= types, f"{full_name}: {sorted(kinds - types)} are not resource types"


def _field_comments(
    msg: descriptor_pb2.DescriptorProto,
    path: tuple[int, ...],
    prefix: str,
    locations: dict[tuple[int, ...], str],
) -> Iterator[tuple[str, str]]:
    """(full field name, leading comment on one line) for ``msg`` and its nested messages."""
    full = f"{prefix}.{msg.name}"
    for i, field in enumerate(msg.field):
        yield f"{full}.{field.name}", " ".join(locations.get((*path, MSG_FIELD, i), "").split())
    for i, nested in enumerate(msg.nested_type):
        yield from _field_comments(nested, (*path, MSG_NESTED, i), full, locations)


def test_any_kind_reference_comments_name_their_kinds(
    image: descriptor_pb2.FileDescriptorSet,
) -> None:
    comments: dict[str, str] = {}
    for file in image.file:
        locations = {
            tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location
        }
        for i, msg in enumerate(file.message_type):
            comments.update(_field_comments(msg, (FILE_MESSAGE, i), file.package, locations))
    silent = []
    for full_name, kinds in ANY_KIND_REFERENCES.items():
        comment = comments[full_name]
        if kinds == DECLARED_TYPES:
            named = "any kind" in comment
        else:
            named = all(kind.removeprefix("mlspec.io/") in comment for kind in kinds)
        if not named:
            silent.append(f"{full_name}: {comment!r}")
    assert silent == []


def test_the_non_resource_table_names_real_id_fields() -> None:
    fields = dict(_fields())
    names = {full_name.rsplit(".", 1)[1] for full_name in fields}
    stale = []
    for key in NON_RESOURCE_IDS:
        if key.startswith("*."):
            if key[2:] not in names:
                stale.append(f"{key}: no field has this name")
        elif key not in fields or not _is_id_field(fields[key]):
            stale.append(f"{key}: not a string *_id field of the contract")
    assert stale == []


def test_get_requests_reference_the_resource_they_get() -> None:
    by_name = {m.full_name: m for m in all_messages()}
    wrong = []
    for message in by_name.values():
        if not message.GetOptions().HasExtension(resource_pb2.resource):
            continue
        resource_type = message.GetOptions().Extensions[resource_pb2.resource].type
        package = message.full_name.rsplit(".", 1)[0]
        request = by_name.get(f"{package}.Get{message.name}Request")
        if request is None or "id" not in request.fields_by_name:
            wrong.append(f"{message.full_name}: no Get{message.name}Request.id")
            continue
        ref = _reference(request.fields_by_name["id"])
        if ref != resource_type:
            wrong.append(f"{request.full_name}.id: references {ref!r}, not {resource_type!r}")
    assert wrong == []
