"""Signed model packages (stage 10) and the check before one is served (stage 11).

A packaging report may carry the package's model-signing envelope in
``model_packaging.signed_manifest``. When it is stored, an envelope signed by a trusted
key must verify and its subject digest must be the package digest (INVALID_ARGUMENT
otherwise); one signed by a key the server does not know is stored with an
UNVERIFIED_SIGNATURE warning. A completed (SUCCEEDED, WARNED, CACHED) serving report that
names its packaging report is accepted only when that package's envelope verifies with a trusted key now
(FAILED_PRECONDITION with the reason otherwise); with ``require_signed_packages`` an
unsigned package, or a serving report naming none, is refused too.
"""

from __future__ import annotations

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle.report_status import COMPLETED
from mlspec.lifecycle.v1 import packaging_pb2, stage_pb2, stage_report_pb2
from mlspec.signing import SignatureProblem, VerifiedStatement, verify_envelope

K = reference_pb2.ResourceKind
Report = stage_report_pb2.StageReport


def check_packaging(res: Resources, report: Report, path: str) -> None:
    """A signed package's envelope verifies (when its key is trusted) and matches."""
    package = report.model_packaging
    if not package.HasField("signed_manifest"):
        return
    field = f"{path}.model_packaging.signed_manifest"
    try:
        statement = verify_envelope(package.signed_manifest, res.policy.trusted_keys)
    except SignatureProblem as problem:
        if problem.reason == "UNKNOWN_SIGNING_KEY":
            res.scope.warn("UNVERIFIED_SIGNATURE", f"{field}: {problem}")
            return
        raise errors.invalid(field, str(problem), reason=problem.reason) from None
    mismatch = _digest_mismatch(statement, package)
    if mismatch:
        raise errors.invalid(field, mismatch, reason="SIGNED_DIGEST_MISMATCH")


def check_serving(res: Resources, report: Report, path: str) -> None:
    """A model is served only from a package whose signature a trusted key verifies."""
    if report.status not in COMPLETED:
        return
    serving = report.model_serving
    field = f"{path}.model_serving.packaging_report_id"
    if not serving.packaging_report_id:
        if res.policy.require_signed_packages:
            raise errors.FailedPrecondition(
                "this server serves only signed packages: name the packaging (stage 10) "
                "report of the package in model_serving.packaging_report_id",
                reason="UNSIGNED_PACKAGE",
            )
        return
    loaded = res.get(K.RESOURCE_KIND_STAGE_REPORT, serving.packaging_report_id, path=field)
    packaging = loaded.message
    assert isinstance(packaging, Report)
    if packaging.stage != stage_pb2.LIFECYCLE_STAGE_MODEL_PACKAGING:
        raise errors.invalid(field, "names a report that is not a stage 10 (packaging) report")
    package = packaging.model_packaging
    where = f"the package of packaging report {serving.packaging_report_id}"
    if not package.HasField("signed_manifest"):
        if res.policy.require_signed_packages:
            raise errors.FailedPrecondition(
                f"{where} is not signed, and this server serves only signed packages "
                "(sign it with 'mlspec sign')",
                reason="UNSIGNED_PACKAGE",
            )
        return
    try:
        statement = verify_envelope(package.signed_manifest, res.policy.trusted_keys)
    except SignatureProblem as problem:
        raise errors.FailedPrecondition(
            f"{where} cannot be served: {problem}", reason=problem.reason
        ) from None
    mismatch = _digest_mismatch(statement, package)
    if mismatch:
        raise errors.FailedPrecondition(
            f"{where} cannot be served: {mismatch}", reason="SIGNED_DIGEST_MISMATCH"
        )


def _digest_mismatch(statement: VerifiedStatement, package: packaging_pb2.ModelPackaging) -> str:
    """Why the signed subject is not the package (empty when it is, or nothing to compare)."""
    expected = package.package_digest.digests.get("sha256", "")
    signed = {d.get("sha256", "") for d in statement.subjects.values()} - {""}
    if not expected or not signed or expected.lower() in {s.lower() for s in signed}:
        return ""
    return (
        f"the signature covers sha256 {', '.join(sorted(signed))}, not the package digest "
        f"{expected}"
    )
