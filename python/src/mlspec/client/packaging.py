"""The stage 10 payload: a model package, its digest, its signature and where it came from.

With a ``SignedModel`` (``mlspec.client.signing.sign_model``) the package digest is the
signed one and the signature envelope goes into ``signed_manifest``, which the service
checks against its trusted keys before the package may be served.

Example:
    >>> from mlspec.models.v1.model_version_pb2 import ModelVersion
    >>> model = ModelVersion()
    >>> model.meta.id = "m-1"
    >>> model.artifact.uri, model.artifact.size_bytes = "file:///models/m1/", 2048
    >>> payload = model_packaging(model, package_format="joblib")
    >>> payload.package_uri, payload.size_bytes
    ('file:///models/m1/', 2048)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mlspec.client.fields import fill
from mlspec.client.refs import digest_of, to_ref
from mlspec.lifecycle.v1 import packaging_pb2, stage_report_pb2

if TYPE_CHECKING:  # signing needs the signing extra; a package need not be signed
    from mlspec.client.signing import SignedModel

__all__ = ["PREDICATE_TYPE", "model_packaging"]

PREDICATE_TYPE = "https://mlspec.io/provenance/v1"
"""The predicate of a package built from MLSpec stage reports: their lineage, as in the
in-toto attestations of ``mlspec provenance``."""


def model_packaging(
    model: Any,
    package_format: str,
    *,
    signed: SignedModel | None = None,
    source_reports: Iterable[stage_report_pb2.StageReport | str] = (),
    **fields: Any,
) -> packaging_pb2.ModelPackaging:
    """The ``ModelPackaging`` of the model version ``model`` as a ``package_format`` package.

    The package is the model's artifact unless ``package_uri`` says otherwise: its URI,
    size and digest are the artifact's. ``signed`` replaces the digest by the signed one
    and sets ``signed_manifest``; ``source_reports`` (stage reports or their ids, for
    example training, evaluation and test) go to ``provenance.source_stage_report_ids``,
    in a statement whose subject is the package (by its digest) and whose predicate type
    is ``PREDICATE_TYPE``. Other keyword arguments set further fields (``io_signature``,
    ``serving_images``, ...).
    """
    out = packaging_pb2.ModelPackaging(package_format=package_format)
    out.model.CopyFrom(to_ref(model))
    artifact = getattr(model, "artifact", None)
    if artifact is not None:
        out.package_uri = artifact.uri
        out.size_bytes = artifact.size_bytes
    digest = digest_of(model)
    if digest is not None:
        out.package_digest.CopyFrom(digest)
    if signed is not None:
        out.package_digest.Clear()
        out.package_digest.digests["sha256"] = signed.digest
        out.signed_manifest.CopyFrom(signed.envelope)
    fill(out, **fields)
    sources = [r if isinstance(r, str) else r.meta.id for r in source_reports]
    if sources:
        _built_from(out, sources)
    return out


def _built_from(out: packaging_pb2.ModelPackaging, report_ids: list[str]) -> None:
    """A provenance statement whose subject is the package, built from ``report_ids``."""
    if not out.package_digest.digests:
        raise ValueError("a package's provenance names it by digest: give the package_digest")
    provenance = out.provenance
    provenance.source_stage_report_ids.extend(report_ids)
    if not provenance.subjects:
        uri = out.package_uri
        subject = provenance.subjects.add(name=uri.rstrip("/").rsplit("/", 1)[-1] or uri, uri=uri)
        subject.digest.CopyFrom(out.package_digest)
    if not provenance.predicate_type:
        provenance.predicate_type = PREDICATE_TYPE
