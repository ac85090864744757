"""The provenance of an inference-log record, filled from the store (stage 13).

A record written without ``provenance`` gets the cryptographic record of what produced
its prediction from the model version's lineage (the rules are the comment of
``mlspec.logging.v1.Provenance``): the model's artifact digest, the content digests of
the dataset versions it was trained on, the digest of the pipeline version that trained
it and of the feature set it takes. What the store lacks is a FAILED_PRECONDITION that
says what to register.
"""

from __future__ import annotations

import hashlib

from mlspec import errors
from mlspec.common.v1 import digest_pb2, reference_pb2
from mlspec.data.v1 import dataset_pb2
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.lifecycle.neighbours import newest_report
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2
from mlspec.logging.v1 import inference_log_pb2
from mlspec.models.v1 import model_version_pb2
from mlspec.pipelines.v1 import pipeline_pb2, pipeline_run_pb2

K = reference_pb2.ResourceKind
Report = stage_report_pb2.StageReport


def of_model_version(res: Resources, model: Loaded) -> inference_log_pb2.Provenance:
    """The provenance of predictions by ``model`` (a loaded ModelVersion), from its lineage."""
    version = model.message
    assert isinstance(version, model_version_pb2.ModelVersion)
    label = f"model version {model.record.id}"
    found = inference_log_pb2.Provenance()
    if not version.artifact.digest.digests:
        raise _unknown(f"{label} has no artifact digest (artifact.digest)")
    found.model_digest.CopyFrom(version.artifact.digest)
    training = training_report(res, model.record.id)
    _fill_training_data(res, found, version, training, label)
    _fill_pipeline(res, found, version, training, label)
    signature = version.signature.SerializeToString(deterministic=True)
    try:
        pipeline_sha = bytes.fromhex(found.pipeline_version_digest.digests["sha256"])
    except ValueError:
        raise _unknown(f"the pipeline digest of {label} is not hex SHA-256") from None
    found.feature_set_digest.digests["sha256"] = hashlib.sha256(
        signature + pipeline_sha
    ).hexdigest()
    return found


def _unknown(what: str) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"records without provenance get it from the store, but {what}; send provenance "
        "with the records, or register it",
        reason="PROVENANCE_UNKNOWN",
    )


def training_report(res: Resources, model_id: str) -> Report | None:
    """The newest usable model-training stage report that output the model version."""
    return newest_report(res, model_id, stage_pb2.LIFECYCLE_STAGE_MODEL_TRAINING, upstream=True)


def training_datasets(
    res: Resources, version: model_version_pb2.ModelVersion, training: Report | None
) -> list[tuple[Loaded, str]]:
    """The dataset versions a model version was trained on, with their roles.

    The dataset-version inputs of its training report, else its ``lineage.datasets``.
    """
    pairs: list[tuple[reference_pb2.ResourceRef, str]] = []
    if training is not None:
        pairs = [
            (e.resource, e.role)
            for e in training.inputs
            if e.resource.kind == K.RESOURCE_KIND_DATASET_VERSION
        ]
    if not pairs:
        pairs = [(d.dataset_version, d.role) for d in version.lineage.datasets]
    return [(res.resolve(ref, "training_data", for_use=False), role) for ref, role in pairs]


def _fill_training_data(
    res: Resources,
    found: inference_log_pb2.Provenance,
    version: model_version_pb2.ModelVersion,
    training: Report | None,
    label: str,
) -> None:
    for loaded, role in training_datasets(res, version, training):
        data = loaded.message
        assert isinstance(data, dataset_pb2.DatasetVersion)
        digest = data.content_digest if data.content_digest.digests else data.definition_digest
        entry = found.training_data.add(role=role, digest=digest)
        entry.dataset.kind = K.RESOURCE_KIND_DATASET_VERSION
        entry.dataset.id = loaded.record.id
    if not found.training_data:
        raise _unknown(
            f"the store does not know what {label} was trained on (report its model-training "
            "stage with dataset-version inputs, or set lineage.datasets)"
        )


def _fill_pipeline(
    res: Resources,
    found: inference_log_pb2.Provenance,
    version: model_version_pb2.ModelVersion,
    training: Report | None,
    label: str,
) -> None:
    run_id = version.lineage.pipeline_run_id or (training.pipeline_run_id if training else "")
    run: pipeline_run_pb2.PipelineRun | None = None
    if run_id:
        loaded = res.get(K.RESOURCE_KIND_PIPELINE_RUN, run_id, path="lineage.pipeline_run_id")
        assert isinstance(loaded.message, pipeline_run_pb2.PipelineRun)
        run = loaded.message
        found.training_run.kind = K.RESOURCE_KIND_PIPELINE_RUN
        found.training_run.id = run_id
    elif version.lineage.run_id or (training is not None and training.run_id):
        found.training_run.kind = K.RESOURCE_KIND_RUN
        found.training_run.id = version.lineage.run_id or (training.run_id if training else "")
    pipeline_id = version.lineage.pipeline_id or (run.pipeline_id if run is not None else "")
    digest: digest_pb2.DigestSet | None = None
    if pipeline_id:
        pipeline = res.get(K.RESOURCE_KIND_PIPELINE, pipeline_id, path="lineage.pipeline_id")
        assert isinstance(pipeline.message, pipeline_pb2.Pipeline)
        found.pipeline.kind = K.RESOURCE_KIND_PIPELINE
        found.pipeline.id = pipeline_id
        digest = pipeline.message.graph_digest
    elif run is not None and run.resolved_graph_digest.digests:
        digest = run.resolved_graph_digest
    if digest is None or "sha256" not in digest.digests:
        raise _unknown(
            f"the store knows no pipeline (with a sha256 graph digest) that trained {label} "
            "(set lineage.pipeline_id or lineage.pipeline_run_id, or report the training "
            "stage with its pipeline run)"
        )
    found.pipeline_version_digest.CopyFrom(digest)
