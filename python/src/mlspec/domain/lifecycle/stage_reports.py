"""The rules of StageReport beyond the generic resource rules (stage_report.proto).

``_prepare`` checks what the request alone decides (INVALID_ARGUMENT): a payload that
matches the stage, run or step run, ordered times, inputs and outputs that name a
resource, a ``model_version`` that is a model version. ``_derive`` runs inside
``Resources.create`` once every reference is resolved (so it reads the records already
fetched there) and before the report is stored: it pins references made through a
parent to the version's kind, generates the name, fills ``pipeline_run_id`` from the
step run, refuses inputs whose digest disagrees with the recorded one, and enforces the
stage 9 hold-back rules (holdback_test.proto), all FAILED_PRECONDITION. Its lineage
edges: each input -> report (CONSUMED), report -> each output (PRODUCED), and the
pipeline run it fills (PART_OF). Last, ``seals.seal`` records the digests of the records
the report references and signs it with the service's key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import digest_pb2, reference_pb2, threshold_pb2
from mlspec.data.v1 import artifact_pb2, dataset_pb2
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import Resources, digest_sets
from mlspec.domain.lifecycle import package_signatures, seals
from mlspec.domain.lifecycle.objectives import reports
from mlspec.domain.lifecycle.objectives import stage_rules as objective_rules
from mlspec.domain.lifecycle.report_status import COMPLETED
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import (
    evaluation_pb2,
    holdback_test_pb2,
    lineage_pb2,
    stage_pb2,
    stage_report_pb2,
)
from mlspec.models.v1 import model_version_pb2
from mlspec.pipelines.v1 import module_pb2, pipeline_run_pb2
from mlspec.store.api import Edge

K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind
S = stage_pb2.LifecycleStage
Report = stage_report_pb2.StageReport

# The payload field of each reportable stage (StageReport.payload).
PAYLOAD_OF_STAGE = {
    stage_pb2.LIFECYCLE_STAGE_CODIFY_OBJECTIVES: "codified_objectives",
    stage_pb2.LIFECYCLE_STAGE_DATA_INGESTION: "data_ingestion",
    stage_pb2.LIFECYCLE_STAGE_DATA_ANALYSIS: "data_analysis",
    stage_pb2.LIFECYCLE_STAGE_DATA_TRANSFORMATION: "data_transformation",
    stage_pb2.LIFECYCLE_STAGE_DATA_VALIDATION: "data_validation",
    stage_pb2.LIFECYCLE_STAGE_DATA_SPLITTING: "data_splitting",
    stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING: "model_training",
    stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION: "model_evaluation",
    stage_pb2.LIFECYCLE_STAGE_MODEL_TEST: "model_test",
    stage_pb2.LIFECYCLE_STAGE_MODEL_PACKAGING: "model_packaging",
    stage_pb2.LIFECYCLE_STAGE_MODEL_SERVING: "model_serving",
}

# Kinds whose reference may name a version through the parent (ResourceRef.version).
_VERSION_KIND = {
    K.RESOURCE_KIND_DATASET: K.RESOURCE_KIND_DATASET_VERSION,
    K.RESOURCE_KIND_MODULE: K.RESOURCE_KIND_MODULE_VERSION,
    K.RESOURCE_KIND_MODEL: K.RESOURCE_KIND_MODEL_VERSION,
}


def _artifact_digest(message: Message) -> digest_pb2.DigestSet:
    assert isinstance(message, artifact_pb2.Artifact)
    return message.digest


def _dataset_version_digest(message: Message) -> digest_pb2.DigestSet:
    assert isinstance(message, dataset_pb2.DatasetVersion)
    return message.content_digest


def _model_version_digest(message: Message) -> digest_pb2.DigestSet:
    assert isinstance(message, model_version_pb2.ModelVersion)
    return message.artifact.digest


def _module_version_digest(message: Message) -> digest_pb2.DigestSet:
    assert isinstance(message, module_pb2.ModuleVersion)
    return message.snapshot.digest


# The digest recorded for the content of a resource, per kind.
RECORDED_DIGEST: dict[int, Callable[[Message], digest_pb2.DigestSet]] = {
    K.RESOURCE_KIND_ARTIFACT: _artifact_digest,
    K.RESOURCE_KIND_DATASET_VERSION: _dataset_version_digest,
    K.RESOURCE_KIND_MODEL_VERSION: _model_version_digest,
    K.RESOURCE_KIND_MODULE_VERSION: _module_version_digest,
}


def _endpoints(report: Report) -> Iterator[tuple[str, stage_report_pb2.LineageEndpoint]]:
    for side in ("inputs", "outputs"):
        for i, endpoint in enumerate(getattr(report, side)):
            yield f"{side}[{i}]", endpoint


def _is_model_version_ref(ref: reference_pb2.ResourceRef) -> bool:
    return ref.kind == K.RESOURCE_KIND_MODEL_VERSION or (
        ref.kind == K.RESOURCE_KIND_MODEL and bool(ref.version)
    )


def violations(report: Report, path: str, expected_payload: str | None) -> list[FieldViolation]:
    """What makes the report invalid by itself, beyond the stage and payload match."""
    found: list[FieldViolation] = []
    if expected_payload is not None and report.WhichOneof("payload") is None:
        found.append(
            FieldViolation(
                f"{path}.{expected_payload}",
                f"is required: a {stage_pb2.LifecycleStage.Name(report.stage)} report "
                f"carries its payload in {expected_payload}",
            )
        )
    for where, endpoint in _endpoints(report):
        if not endpoint.HasField("resource"):
            found.append(
                FieldViolation(f"{path}.{where}.resource", "is required: name the resource")
            )
    if report.HasField("model_version") and not _is_model_version_ref(report.model_version):
        found.append(
            FieldViolation(
                f"{path}.model_version.kind",
                "must be RESOURCE_KIND_MODEL_VERSION (or RESOURCE_KIND_MODEL with a version)",
            )
        )
    test = report.model_test
    if test.HasField("model") and not _is_model_version_ref(test.model):
        found.append(
            FieldViolation(
                f"{path}.model_test.model.kind",
                "must be RESOURCE_KIND_MODEL_VERSION (or RESOURCE_KIND_MODEL with a version)",
            )
        )
    return found


def _prepare(_res: Resources, report: Report, path: str) -> None:
    found: list[FieldViolation] = []
    expected = PAYLOAD_OF_STAGE.get(report.stage)
    if expected is None:
        found.append(
            FieldViolation(
                f"{path}.stage",
                "must be one of the stages 1-11; monitoring and logging have their own services",
            )
        )
    actual = report.WhichOneof("payload")
    if expected is not None and actual is not None and actual != expected:
        found.append(
            FieldViolation(
                f"{path}.{actual}",
                f"does not match stage {stage_pb2.LifecycleStage.Name(report.stage)}; set {expected}",
            )
        )
    if not report.run_id and not report.step_run_id:
        found.append(FieldViolation(f"{path}.run_id", "set run_id or step_run_id (or both)"))
    found += violations(report, path, expected)
    if report.HasField("model_evaluation"):
        found += evaluation_violations(report.model_evaluation, f"{path}.model_evaluation")
    if found:
        raise errors.not_valid("the stage report is not valid", found, "INVALID_STAGE_REPORT")
    objective_rules.prepare(_res, report, path)


def validation_ok(evaluation: evaluation_pb2.ModelEvaluation) -> bool:
    """No blocking threshold failed and no configured slice is missing."""
    failed = any(
        r.blocking and r.outcome == threshold_pb2.THRESHOLD_OUTCOME_FAILED
        for r in evaluation.threshold_results
    )
    return not failed and not evaluation.missing_slices


def evaluation_violations(
    evaluation: evaluation_pb2.ModelEvaluation, path: str
) -> list[FieldViolation]:
    """A `validation_ok` claimed against the results, failures that did not fail."""
    found = []
    if evaluation.validation_ok and not validation_ok(evaluation):
        found.append(
            FieldViolation(
                f"{path}.validation_ok",
                "is true, but a blocking threshold failed or a configured slice is missing",
            )
        )
    failed = [
        r
        for r in evaluation.threshold_results
        if r.outcome == threshold_pb2.THRESHOLD_OUTCOME_FAILED
    ]
    for i, failure in enumerate(evaluation.failures):
        if failure.outcome != threshold_pb2.THRESHOLD_OUTCOME_FAILED or failure not in failed:
            found.append(
                FieldViolation(
                    f"{path}.failures[{i}]", "is not a failed check of threshold_results"
                )
            )
    return found


def _own_refs(report: Report) -> Iterator[reference_pb2.ResourceRef]:
    """The report's own references: its inputs, outputs, model version and tested model."""
    for _, endpoint in _endpoints(report):
        yield endpoint.resource
    if report.HasField("model_version"):
        yield report.model_version
    if report.HasField("model_test") and report.model_test.HasField("model"):
        yield report.model_test.model


def _derive(res: Resources, report: Report, path: str) -> list[Edge]:
    """Server-side fields, the checks that need the resolved references, and the edges."""
    for ref in _own_refs(report):
        # A reference through the parent (`version`) resolved to the version's id; its
        # kind becomes the version's, so that the stored reference is coherent.
        version_kind = _VERSION_KIND.get(ref.kind)
        if version_kind is not None and res.kind_of(ref.id) == version_kind:
            ref.kind = version_kind
    if report.HasField("model_evaluation"):  # output only: the server's to compute
        report.model_evaluation.validation_ok = validation_ok(report.model_evaluation)
    if not report.meta.name:
        stage = stage_pb2.LifecycleStage.Name(report.stage).removeprefix("LIFECYCLE_STAGE_")
        report.meta.name = f"{stage.lower().replace('_', '-')}-{report.meta.id}"
    edges = _fill_pipeline_run(res, report, path)
    _check_input_digests(res, report, path)
    if report.stage in GATED_STAGES and report.status in COMPLETED:
        _check_known_digests(res, report, path)
    if report.HasField("model_test"):
        _check_model_test(res, report, path)
    if report.HasField("model_packaging"):
        package_signatures.check_packaging(res, report, path)
    if report.HasField("model_serving"):
        package_signatures.check_serving(res, report, path)
    edges += objective_rules.derive(res, report, path)
    report_id = report.meta.id
    edges += [(e.resource.id, report_id, E.LINEAGE_EDGE_KIND_CONSUMED) for e in report.inputs]
    edges += [(report_id, e.resource.id, E.LINEAGE_EDGE_KIND_PRODUCED) for e in report.outputs]
    seals.seal(res, report)  # last: it signs the report as stored
    return edges


# A report of a stage that did not complete carries what is known: the Required fields
# of its payload are required only of reports that completed (SUCCEEDED, WARNED, CACHED).
_INCOMPLETE = frozenset(
    {
        stage_report_pb2.STAGE_REPORT_STATUS_FAILED,
        stage_report_pb2.STAGE_REPORT_STATUS_SKIPPED,
        stage_report_pb2.STAGE_REPORT_STATUS_CANCELLED,
    }
)


def _waive_required(report: Report) -> tuple[str, ...]:
    payload = report.WhichOneof("payload")
    return (payload,) if payload is not None and report.status in _INCOMPLETE else ()


RULES = {
    "mlspec.lifecycle.v1.StageReport": KindRules(
        prepare=_prepare, derive=_derive, reference_edges=False, waive_required=_waive_required
    )
}


def _fill_pipeline_run(res: Resources, report: Report, path: str) -> list[Edge]:
    if not report.step_run_id:
        return []
    step = res.get(K.RESOURCE_KIND_STEP_RUN, report.step_run_id, path=f"{path}.step_run_id")
    assert isinstance(step.message, pipeline_run_pb2.StepRun)
    owner = step.message.pipeline_run_id
    if not report.pipeline_run_id:
        report.pipeline_run_id = owner
        return [(owner, report.meta.id, E.LINEAGE_EDGE_KIND_PART_OF)] if owner else []
    if report.pipeline_run_id != owner:
        raise errors.invalid(
            f"{path}.pipeline_run_id",
            f"disagrees with step run {report.step_run_id}, which belongs to pipeline run "
            f"{owner}; leave it empty or set {owner}",
            reason="PIPELINE_RUN_MISMATCH",
        )
    return []


def _disagree(sent: digest_pb2.DigestSet, recorded: digest_pb2.DigestSet) -> list[str]:
    """The algorithms both sets hold with different values."""
    return sorted(
        algorithm
        for algorithm, value in sent.digests.items()
        if algorithm in recorded.digests and recorded.digests[algorithm].lower() != value.lower()
    )


def _same_content(a: digest_pb2.DigestSet, b: digest_pb2.DigestSet) -> bool:
    """Whether two digest sets share an algorithm with equal values."""
    return any(
        algorithm in b.digests and b.digests[algorithm].lower() == value.lower()
        for algorithm, value in a.digests.items()
    )


# The stages of the deployment gate: what they package or serve is fixed by digest.
GATED_STAGES = frozenset({S.LIFECYCLE_STAGE_MODEL_PACKAGING, S.LIFECYCLE_STAGE_MODEL_SERVING})


def _unknown(digests: digest_pb2.DigestSet) -> bool:
    return bool(digests.unknown_reason) and not digests.digests


def _check_known_digests(res: Resources, report: Report, path: str) -> None:
    """The gate never accepts "digest unknown at the source" (DigestSet.unknown_reason).

    A completed stage 10 report's digests (the package's and every other one in its
    payload), a completed stage 11 report's served model version, and the recorded digest
    of every input of either, must be known; a report of a stage that did not complete
    records what is known.
    """
    found: list[FieldViolation] = []
    payload = report.WhichOneof("payload")
    if payload is not None:
        for where, digests in digest_sets(getattr(report, payload), f"{path}.{payload}"):
            if _unknown(digests):
                found.append(FieldViolation(where, f"is unknown ({digests.unknown_reason})"))
    refs = [(f"{path}.inputs[{i}].resource", e.resource) for i, e in enumerate(report.inputs)]
    if report.HasField("model_version"):
        refs.append((f"{path}.model_version", report.model_version))
    for where, ref in refs:
        recorded_of = RECORDED_DIGEST.get(ref.kind)
        if recorded_of is None or not ref.id:
            continue
        loaded = res.get(ref.kind, ref.id, path=where)
        recorded = recorded_of(loaded.message)
        if _unknown(recorded):
            found.append(
                FieldViolation(
                    where,
                    f"{loaded.spec.label} {loaded.record.id} has no known digest "
                    f"({recorded.unknown_reason})",
                )
            )
    if found:
        raise errors.FailedPrecondition(
            f"stage {stage_pb2.LifecycleStage.Name(report.stage)} needs known digests: "
            + "; ".join(f"{v.field} {v.description}" for v in found),
            reason="DIGEST_UNKNOWN",
            violations=found,
        )


def _check_input_digests(res: Resources, report: Report, path: str) -> None:
    found: list[FieldViolation] = []
    for i, endpoint in enumerate(report.inputs):
        recorded_of = RECORDED_DIGEST.get(endpoint.resource.kind)
        if not endpoint.digest.digests or recorded_of is None:
            continue
        loaded = res.get(endpoint.resource.kind, endpoint.resource.id)  # fetched by create
        recorded = recorded_of(loaded.message)
        for algorithm in _disagree(endpoint.digest, recorded):
            found.append(
                FieldViolation(
                    f"{path}.inputs[{i}].digest.digests[{algorithm!r}]",
                    f"is {endpoint.digest.digests[algorithm]!r} but {loaded.spec.label} "
                    f"{loaded.record.id} records {recorded.digests[algorithm]!r}",
                )
            )
    if found:
        raise errors.FailedPrecondition(
            "an input's digest disagrees with the digest recorded for it: "
            + "; ".join(f"{v.field} {v.description}" for v in found),
            reason="DIGEST_MISMATCH",
            violations=found,
        )


# -- stage 9: the hold-back rules ------------------------------------------------------


def _holdback_failure(message: str, reason: str, field: str, description: str) -> Exception:
    return errors.FailedPrecondition(
        message, reason=reason, violations=[FieldViolation(field, description)]
    )


def _models_of_evaluation(evaluation: Report) -> set[str]:
    ids = {evaluation.model_version.id, evaluation.model_evaluation.candidate_model.id}
    return ids - {""}


def _micros(stamp: timestamp_pb2.Timestamp) -> int:
    return stamp.ToMicroseconds()


def _check_model_test(res: Resources, report: Report, path: str) -> None:
    test = report.model_test
    p = f"{path}.model_test"
    tested = {report.model_version.id, test.model.id} - {""}
    if len(tested) > 1:
        raise errors.invalid(
            f"{p}.model", "must be the model version the report is about (model_version)"
        )
    evaluation = _evaluation_report(res, report, p)
    model_id = next(iter(tested), "")
    evaluated = _models_of_evaluation(evaluation)
    if not model_id or evaluated != {model_id}:
        raise _holdback_failure(
            f"stage 8 report {evaluation.meta.id} is not about the model version this test "
            f"is about ({model_id or 'none named'}); a hold-back test follows the evaluation of "
            "the same model version",
            "EVALUATION_MISMATCH",
            f"{p}.evaluation_report_id",
            "names a stage 8 report of another model version",
        )
    if not report.HasField("model_version"):
        report.model_version.kind = K.RESOURCE_KIND_MODEL_VERSION
        report.model_version.id = model_id
    evaluation_end = (
        evaluation.end_time if evaluation.HasField("end_time") else evaluation.start_time
    )
    if _micros(evaluation_end) > _micros(report.start_time):
        raise _holdback_failure(
            f"stage 8 report {evaluation.meta.id} ends after this test starts; the test follows "
            "the evaluation",
            "EVALUATION_NOT_BEFORE_TEST",
            f"{path}.start_time",
            "is before the end of the evaluation report",
        )
    _check_disjoint(report, evaluation, p)
    _check_single_use(res, report, model_id, p)


def _evaluation_report(res: Resources, report: Report, p: str) -> Report:
    evaluation_id = report.model_test.evaluation_report_id
    field = f"{p}.evaluation_report_id"
    if not evaluation_id:
        raise _holdback_failure(
            "a stage 9 report names the stage 8 report it follows (evaluation_report_id)",
            "EVALUATION_MISMATCH",
            field,
            "is empty; name the stage 8 report of the same model version",
        )
    try:
        loaded = res.get(K.RESOURCE_KIND_STAGE_REPORT, evaluation_id, path=field)
    except errors.NotFound:
        raise _holdback_failure(
            f"no stage report {evaluation_id!r}; a stage 9 report follows a stage 8 report",
            "EVALUATION_MISMATCH",
            field,
            "names no stage report",
        ) from None
    res.check_usable(loaded, field)
    evaluation = loaded.message
    assert isinstance(evaluation, Report)
    if evaluation.stage != S.LIFECYCLE_STAGE_MODEL_EVALUATION:
        raise _holdback_failure(
            f"stage report {evaluation_id} is a {stage_pb2.LifecycleStage.Name(evaluation.stage)} "
            "report; a stage 9 report follows a stage 8 (model evaluation) report",
            "EVALUATION_MISMATCH",
            field,
            "names a report that is not a stage 8 report",
        )
    return evaluation


def _holdback_key(
    test: holdback_test_pb2.ModelTest,
) -> tuple[set[str], digest_pb2.DigestSet]:
    """The ids and the digests that identify a test's hold-back set."""
    ids = {test.holdback_dataset.dataset.id, test.disjointness.holdback_dataset.id} - {""}
    digest = digest_pb2.DigestSet()
    digest.digests.update(test.disjointness.holdback_digest.digests)
    digest.digests.update(test.holdback_dataset.digest.digests)
    return ids, digest


def _check_disjoint(report: Report, evaluation: Report, p: str) -> None:
    test = report.model_test
    check = test.disjointness
    d = f"{p}.disjointness"
    found: list[FieldViolation] = []
    if check.overlap_count > 0:
        found.append(
            FieldViolation(
                f"{d}.overlap_count",
                f"is {check.overlap_count}: the hold-back data overlaps the compared data",
            )
        )
    if check.outcome == threshold_pb2.THRESHOLD_OUTCOME_FAILED:
        found.append(FieldViolation(f"{d}.outcome", "is FAILED: the disjointness check failed"))
    ids, digest = _holdback_key(test)
    for i, ref in enumerate(check.compared_datasets):
        if ref.id in ids:
            found.append(
                FieldViolation(f"{d}.compared_datasets[{i}]", "is the hold-back data itself")
            )
    for i, compared in enumerate(check.compared_digests):
        if _same_content(compared, digest):
            found.append(
                FieldViolation(f"{d}.compared_digests[{i}]", "equals the hold-back digest")
            )
    for i, used in enumerate(evaluation.model_evaluation.datasets):
        if used.dataset.id in ids or _same_content(used.digest, digest):
            found.append(
                FieldViolation(
                    f"{p}.holdback_dataset",
                    f"is the data of the evaluation (datasets[{i}] of stage 8 report "
                    f"{evaluation.meta.id})",
                )
            )
    if found:
        raise errors.FailedPrecondition(
            "the hold-back data is not disjoint from the evaluation data: "
            + "; ".join(f"{v.field} {v.description}" for v in found),
            reason="HOLDBACK_OVERLAP",
            violations=found,
        )


def _same_set(
    a: tuple[set[str], digest_pb2.DigestSet], b: tuple[set[str], digest_pb2.DigestSet]
) -> bool:
    """Whether two tests used the same hold-back set (an unidentified set counts as it)."""
    if not (a[0] or a[1].digests) or not (b[0] or b[1].digests):
        return True
    return bool(a[0] & b[0]) or _same_content(a[1], b[1])


def _versions_of_model(res: Resources, model_version_id: str) -> list[str]:
    """The model version and every other version of its model (its model lineage)."""
    loaded = res.get(K.RESOURCE_KIND_MODEL_VERSION, model_version_id)
    assert isinstance(loaded.message, model_version_pb2.ModelVersion)
    found = [model_version_id]
    query = res.query(K.RESOURCE_KIND_MODEL_VERSION, scope=loaded.message.model_id)
    while True:
        page = res.list_page(query)
        found += [r.id for r in page.records if r.id != model_version_id]
        if not page.more or page.last is None:
            return found
        query.after = page.last


def _check_single_use(res: Resources, report: Report, model_id: str, p: str) -> None:
    """Refuses a second use of the hold-back set in the model lineage; fills the attestation."""
    key = _holdback_key(report.model_test)
    for version_id in _versions_of_model(res, model_id):
        for earlier in reports.each_report(
            res, ("model_version", "id"), version_id, S.LIFECYCLE_STAGE_MODEL_TEST
        ):
            if _same_set(key, _holdback_key(earlier.model_test)):
                which = (
                    "model version" if version_id == model_id else "another version of the model,"
                )
                raise _holdback_failure(
                    f"the hold-back set was already used to test {which} {version_id} (stage 9 "
                    f"report {earlier.meta.id}); it is used once per model lineage",
                    "HOLDBACK_ALREADY_USED",
                    f"{p}.holdback_dataset",
                    f"was already used in this model lineage by stage report {earlier.meta.id}",
                )
    uses: dict[str, holdback_test_pb2.HoldbackUse] = {}
    for holdback_id in sorted(key[0]):
        for earlier in reports.each_report(
            res, ("inputs", "id"), holdback_id, S.LIFECYCLE_STAGE_MODEL_TEST
        ):
            if earlier.meta.id not in uses and _same_set(key, _holdback_key(earlier.model_test)):
                use = holdback_test_pb2.HoldbackUse(stage_report_id=earlier.meta.id)
                use.model.kind = K.RESOURCE_KIND_MODEL_VERSION
                use.model.id = earlier.model_version.id or earlier.model_test.model.id
                use.use_time.CopyFrom(earlier.start_time)
                uses[earlier.meta.id] = use
    attestation = report.model_test.use_attestation
    attestation.use_count = 1
    del attestation.previous_uses[:]
    attestation.previous_uses.extend(
        sorted(uses.values(), key=lambda u: (_micros(u.use_time), u.stage_report_id))
    )
