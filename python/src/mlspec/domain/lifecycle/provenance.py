"""Provenance of a model version: its upstream lineage as a signed in-toto attestation.

``export`` walks the lineage upstream of a model version (the stage reports that led to
it, however far back), takes every report and every record the reports reference (data
versions, code snapshots, artifacts, runs, the model version itself), and signs a
statement over them with the service's key (``mlspec.signing.provenance``). Each report
was sealed when it was stored (``seals.py``): its signature covers it, and the digests it
holds cover the records it references, so whoever holds the service's public key can
check the whole graph offline, record by record.
"""

from __future__ import annotations

from datetime import datetime, timezone

from mlspec import errors
from mlspec.common.v1 import digest_pb2, reference_pb2
from mlspec.domain.clock import now_micros
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.lifecycle import seals
from mlspec.domain.lifecycle.lineage import MAX_DEPTH
from mlspec.domain.lifecycle.stage_reports import RECORDED_DIGEST
from mlspec.lifecycle.v1 import lineage_pb2, stage_report_pb2
from mlspec.models.v1 import model_version_pb2
from mlspec.signing import key_id
from mlspec.signing.provenance import AttestedRecord, sign_statement, statement

K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind


def export(res: Resources, ref: reference_pb2.ResourceRef) -> digest_pb2.SignedEnvelope:
    """The signed attestation of a model version's upstream lineage."""
    if ref.kind not in (K.RESOURCE_KIND_MODEL_VERSION, K.RESOURCE_KIND_MODEL):
        raise errors.invalid(
            "model_version.kind",
            "must be RESOURCE_KIND_MODEL_VERSION (or RESOURCE_KIND_MODEL with a version)",
        )
    model_version = res.resolve(ref, "model_version", for_use=False)
    if model_version.spec.kind != K.RESOURCE_KIND_MODEL_VERSION:
        raise errors.invalid("model_version.version", "name the version of the model")
    key = res.policy.service_key
    if key is None:
        raise errors.FailedPrecondition(
            "this service has no signing key, so it can neither seal stage reports nor sign "
            "attestations: start it with --signing-key (MLSPEC_SIGNING_KEY)",
            reason="NO_SIGNING_KEY",
        )
    version = model_version.message
    assert isinstance(version, model_version_pb2.ModelVersion)
    sha256 = version.artifact.digest.digests.get("sha256", "")
    if not sha256:
        raise errors.FailedPrecondition(
            f"model version {version.meta.id} records no sha256 digest of its artifact "
            "(artifact.digest), so it has nothing to attest",
            reason="NO_ARTIFACT_DIGEST",
        )
    reports, edges = _upstream_reports(res, version.meta.id)
    records = _records(res, model_version, reports)
    kept = {r.message.meta.id for r in records}  # type: ignore[attr-defined]
    graph = sorted(
        (src, dst, E.Name(kind).removeprefix("LINEAGE_EDGE_KIND_"))  # type: ignore[arg-type]
        for src, dst, kind in edges
        if src in kept and dst in kept
    )
    model = res.get(K.RESOURCE_KIND_MODEL, version.model_id)
    v = version.version
    label = f"{v.major}.{v.minor}.{v.patch}" + (f"-{v.prerelease}" if v.prerelease else "")
    document = statement(
        subject=f"{model.record.name}@{label}",
        sha256=sha256.lower(),
        model_version_id=version.meta.id,
        records=records,
        edges=graph,
        service_key_id=key_id(key.public_key()),
        export_time=_rfc3339(now_micros()),
    )
    return sign_statement(document, key)


def _upstream_reports(
    res: Resources, model_version_id: str
) -> tuple[list[Loaded], set[tuple[str, str, int]]]:
    """The stage reports upstream of a model version, nearest first, and the edges walked."""
    nodes, edges = res.walk(model_version_id, upstream=True, max_depth=MAX_DEPTH)
    summaries = res.summaries(list(nodes))
    ids = sorted(
        (n for n, summary in summaries.items() if summary[0] == K.RESOURCE_KIND_STAGE_REPORT),
        key=lambda n: (nodes[n], n),
    )
    res.prefetch(ids)
    return [res.get(K.RESOURCE_KIND_STAGE_REPORT, i) for i in ids], edges


def _records(res: Resources, model_version: Loaded, reports: list[Loaded]) -> list[AttestedRecord]:
    """The model version, the reports, and every record the reports reference, once each."""
    loaded: dict[str, Loaded] = {model_version.record.id: model_version}
    for report in reports:
        loaded[report.record.id] = report
    referenced: list[str] = []
    for report in reports:
        message = report.message
        assert isinstance(message, stage_report_pb2.StageReport)
        referenced += [i for i in seals.referenced_ids(message) if i not in loaded]
        if not message.record_digests:
            res.scope.warn(
                "UNSEALED_STAGE_REPORT",
                f"stage report {report.record.id} was stored without record digests; the "
                "attestation will not verify",
                K.RESOURCE_KIND_STAGE_REPORT,
                report.record.id,
            )
    res.prefetch(referenced)
    for resource_id in referenced:
        kind = res.kind_of(resource_id)
        if kind is not None and resource_id not in loaded:
            loaded[resource_id] = res.get(kind, resource_id)
    return [
        AttestedRecord(
            kind=K.Name(item.spec.kind),  # type: ignore[arg-type]
            message=item.message,
            content_digest=dict(RECORDED_DIGEST[item.spec.kind](item.message).digests)
            if item.spec.kind in RECORDED_DIGEST
            else {},
        )
        for item in loaded.values()
    ]


def _rfc3339(micros: int) -> str:
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
