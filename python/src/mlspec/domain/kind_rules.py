"""The per-kind rules table: the one list of kinds with rules beyond the common ones.

Every kind gets the common rules of ``common.resources.Resources`` (SPEC section 2). The
kinds below add hooks (``common.hooks.KindRules``), declared in the ``RULES`` table of
their area's module, next to the rest of that area's rules. ``create`` and ``update`` are
what the standard methods and the custom handlers call for any resource.
"""

from __future__ import annotations

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.data import rules as data_rules
from mlspec.domain.lifecycle import stage_reports
from mlspec.domain.metadata import workflow_metadata
from mlspec.domain.models import versions as model_versions
from mlspec.domain.monitoring import alerts
from mlspec.domain.pipelines import modules, step_runs, submission
from mlspec.domain.tracking import runs
from mlspec.errors import FieldViolation

RULES: dict[str, KindRules] = {
    **data_rules.RULES,  # Datastore, Artifact, DatasetVersion, DatasetProfile, DatasetCheckpoint
    **modules.RULES,  # ModuleVersion
    **step_runs.RULES,  # StepRun
    **submission.RULES,  # PipelineDraft
    **runs.RULES,  # Run, Experiment
    **model_versions.RULES,  # ModelVersion
    **stage_reports.RULES,  # StageReport
    **workflow_metadata.RULES,  # WorkflowMetadataRecord
    **alerts.RULES,  # Alert, RollbackPolicy
}
_COMMON = KindRules()


def rules_of(message: Message) -> KindRules:
    """The rules of a resource message's kind (the common ones only, for most kinds)."""
    return RULES.get(message.DESCRIPTOR.full_name, _COMMON)


def create(res: Resources, message: Message, path: str) -> Message:
    """Creates a resource with the common rules and the hooks of its kind."""
    rules = rules_of(message)
    waived = () if rules.waive_required is None else rules.waive_required(message)
    if rules.prepare is not None:
        try:
            rules.prepare(res, message, path)
        except errors.InvalidArgument as exc:  # report the common rules' findings too
            _add_violations(exc, res.common_violations(message, path, waived))
            raise
    derive = rules.derive
    stored = res.create(
        message,
        path,
        ref_edges=rules.reference_edges,
        derive=None if derive is None else (lambda m: derive(res, m, path)),
        waived=waived,
    )
    if rules.after_create is not None:
        stored = rules.after_create(res, stored, path)
    if rules.refresh is not None:
        rules.refresh(res, stored)
    return stored


def set_status(
    res: Resources, ref: reference_pb2.ResourceRef, status: int, etag: str, path: str
) -> Loaded:
    """Archives, deprecates or reactivates a resource, then refreshes what summarizes it."""
    loaded = res.set_status(ref, status, etag, path)
    rules = rules_of(loaded.message)
    if rules.refresh is not None:
        rules.refresh(res, loaded.message)
    return loaded


def _add_violations(exc: errors.InvalidArgument, more: list[FieldViolation]) -> None:
    known = {(v.field, v.description) for v in exc.violations}
    added = [v for v in more if (v.field, v.description) not in known]
    if added:
        exc.violations = [*exc.violations, *added]
        exc.message += "; " + "; ".join(f"{v.field} {v.description}" for v in added)


def update(res: Resources, message: Message, mask: field_mask_pb2.FieldMask, path: str) -> Message:
    """Updates a resource with its kind's update rules, or the common ones."""
    rules = rules_of(message)
    if rules.update is not None:
        return rules.update(res, message, mask, path)
    return res.update(message, mask, path, waive=rules.waive_required)
