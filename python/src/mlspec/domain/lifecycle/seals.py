"""Seals on stage reports: the digests of what a report references, and its signature.

A report records the digests of the records it references (``record_digests``) and the
service's signature over its own digest (``service_signature``).

``seal`` runs last when a report is stored (``stage_reports._derive``), once every
reference is resolved and every server-side field is filled: what it signs is the
report as stored. Record digests are defined in ``mlspec.signing.records``; together
they make the lineage a provenance attestation exports tamper-evident
(``domain/lifecycle/provenance.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

from mlspec.domain.common.resources import Resources
from mlspec.lifecycle.v1 import stage_report_pb2
from mlspec.signing.records import record_digest, sign_record

Report = stage_report_pb2.StageReport


def referenced_ids(report: Report) -> Iterator[str]:
    """The ids of the records a report references, each once, in a stable order."""
    seen: set[str] = set()
    candidates = [
        *(e.resource.id for e in report.inputs),
        *(e.resource.id for e in report.outputs),
        report.run_id,
        report.step_run_id,
        report.pipeline_run_id,
        report.model_version.id,
    ]
    for resource_id in candidates:
        if resource_id and resource_id not in seen:
            seen.add(resource_id)
            yield resource_id


def seal(res: Resources, report: Report) -> None:
    """Records the digest of every referenced record; signs the report with the service key."""
    ids = list(referenced_ids(report))
    res.prefetch(ids)
    report.ClearField("record_digests")
    for resource_id in ids:
        kind = res.kind_of(resource_id)
        if kind is None:  # references were resolved before: a missing one is not stored
            continue
        digest = record_digest(res.get(kind, resource_id).message)
        report.record_digests[resource_id].digests["sha256"] = digest
    report.ClearField("service_signature")
    if res.policy.service_key is not None:
        report.service_signature.CopyFrom(sign_record(res.policy.service_key, report))
