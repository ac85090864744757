"""The hold-back test kept apart from training and evaluation (holdback_test.proto).

Beyond the stage 9 rules of ``stage_reports`` (a stage 8 report of the same model
version before it, disjointness, single use): the test names its hold-back split, which
is not a split name of the evaluation's data; its data (by id or digest) is no data of
a training (stage 7) or evaluation (stage 8) report of the same model version; and a
splitting report (stage 6) that produced it assigned it to a HOLDBACK split.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlspec import errors
from mlspec.common.v1 import digest_pb2, reference_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle.objectives import reports
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import splitting_pb2, stage_pb2, stage_report_pb2

K = reference_pb2.ResourceKind
S = stage_pb2.LifecycleStage
Report = stage_report_pb2.StageReport
_DATA_KINDS = (K.RESOURCE_KIND_DATASET_VERSION, K.RESOURCE_KIND_ARTIFACT)


def check_split_named(report: Report, path: str) -> None:
    """INVALID_ARGUMENT when a stage 9 report does not name its hold-back split."""
    if report.HasField("model_test") and not report.model_test.holdback_dataset.split:
        raise errors.invalid(
            f"{path}.model_test.holdback_dataset.split",
            "is required: name the hold-back split the test used, for example `holdback`",
        )


def _same(a: digest_pb2.DigestSet, b: digest_pb2.DigestSet) -> bool:
    return any(
        algorithm in b.digests and b.digests[algorithm].lower() == value.lower()
        for algorithm, value in a.digests.items()
    )


def _recorded_digest(res: Resources, resource_id: str) -> digest_pb2.DigestSet:
    from mlspec.domain.lifecycle.stage_reports import RECORDED_DIGEST

    kind = res.kind_of(resource_id)
    if kind is None or kind not in RECORDED_DIGEST:
        return digest_pb2.DigestSet()
    return RECORDED_DIGEST[kind](res.get(kind, resource_id).message)


def _data_of(report: Report) -> Iterator[tuple[str, digest_pb2.DigestSet, str]]:
    """(id, digest, where) of the data a training or evaluation report used."""
    for i, endpoint in enumerate(report.inputs):
        if endpoint.resource.kind in _DATA_KINDS:
            yield endpoint.resource.id, endpoint.digest, f"inputs[{i}]"
    if report.HasField("model_training"):
        training = report.model_training
        for field in ("training_datasets", "validation_datasets"):
            for i, ref in enumerate(getattr(training, field)):
                yield ref.id, digest_pb2.DigestSet(), f"model_training.{field}[{i}]"
    if report.HasField("model_evaluation"):
        for i, used in enumerate(report.model_evaluation.datasets):
            yield used.dataset.id, used.digest, f"model_evaluation.datasets[{i}]"


def check_apart(res: Resources, report: Report, model_version_id: str, path: str) -> None:
    """FAILED_PRECONDITION when the hold-back data is training or evaluation data."""
    test = report.model_test
    p = f"{path}.model_test"
    holdback_id = test.holdback_dataset.dataset.id
    digest = digest_pb2.DigestSet()
    digest.digests.update(test.disjointness.holdback_digest.digests)
    digest.digests.update(test.holdback_dataset.digest.digests)
    if holdback_id:
        digest.digests.update(
            {
                k: v
                for k, v in _recorded_digest(res, holdback_id).digests.items()
                if k not in digest.digests
            }
        )
    found: list[FieldViolation] = []
    evaluation = reports.load(res, test.evaluation_report_id, f"{p}.evaluation_report_id")
    split = test.holdback_dataset.split
    for i, used in enumerate(evaluation.model_evaluation.datasets):
        if used.split and used.split == split:
            found.append(
                FieldViolation(
                    f"{p}.holdback_dataset.split",
                    f"is {split!r}, the split of the evaluation's datasets[{i}] (stage 8 report "
                    f"{evaluation.meta.id}); the hold-back split is another",
                )
            )
    others = reports.about_model_version(res, model_version_id, S.LIFECYCLE_STAGE_MODEL_TRAINING)
    others += reports.about_model_version(res, model_version_id, S.LIFECYCLE_STAGE_MODEL_EVALUATION)
    for other in others:
        for data_id, data_digest, where in _data_of(other):
            recorded = _recorded_digest(res, data_id) if data_id else digest_pb2.DigestSet()
            if (
                (holdback_id and data_id == holdback_id)
                or _same(data_digest, digest)
                or _same(recorded, digest)
            ):
                stage = S.Name(other.stage).removeprefix("LIFECYCLE_STAGE_").lower()
                found.append(
                    FieldViolation(
                        f"{p}.holdback_dataset",
                        f"is the data of {where} of {stage} report {other.meta.id} of the same "
                        "model version",
                    )
                )
    if found:
        raise errors.FailedPrecondition(
            "the hold-back test is not apart from training and evaluation: "
            + "; ".join(f"{v.field} {v.description}" for v in found),
            reason="HOLDBACK_OVERLAP",
            violations=found,
        )
    _check_role(res, holdback_id, digest, p)


def _check_role(res: Resources, holdback_id: str, digest: digest_pb2.DigestSet, p: str) -> None:
    for splitting in reports.find(
        res, ("outputs", "id"), holdback_id, S.LIFECYCLE_STAGE_DATA_SPLITTING
    ):
        for split in splitting.data_splitting.splits:
            if split.output_dataset.id != holdback_id and not _same(split.digest, digest):
                continue
            if split.role != splitting_pb2.SPLIT_ROLE_HOLDBACK:
                role = splitting_pb2.SplitRole.Name(split.role)
                raise errors.FailedPrecondition(
                    f"the hold-back data is split {split.name!r} of splitting report "
                    f"{splitting.meta.id}, whose role is {role}, not SPLIT_ROLE_HOLDBACK",
                    reason="NOT_A_HOLDBACK_SPLIT",
                    violations=[
                        FieldViolation(f"{p}.holdback_dataset", f"is a {role} split, not hold-back")
                    ],
                )
