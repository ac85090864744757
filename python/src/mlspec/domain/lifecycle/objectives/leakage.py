"""Leakage between splits, computed by the server from split fingerprints (splitting.proto).

``check_fingerprints`` refuses malformed fingerprints (INVALID_ARGUMENT). ``record``
computes, for each pair of comparable splits (training against validation and hold-back,
validation against hold-back), how many key hashes both hold, stores the result in
``computed_leakage_checks`` and warns (SPLIT_LEAKAGE) about any overlap. ``failures``
gives the deployment gate the overlaps above the launch criteria's bound in the splits
that produced a model version's data.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from itertools import pairwise

from mlspec import errors
from mlspec.common.v1 import threshold_pb2
from mlspec.domain.common.resources import Resources
from mlspec.domain.lifecycle.objectives import reports
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import splitting_pb2, stage_pb2, stage_report_pb2

FORMAT = "mlspec-keyset/v1"
Report = stage_report_pb2.StageReport
Split = splitting_pb2.SplitDefinition
R = splitting_pb2.SplitRole
_PAIRS = (
    (R.SPLIT_ROLE_TRAIN, R.SPLIT_ROLE_VALIDATION),
    (R.SPLIT_ROLE_TRAIN, R.SPLIT_ROLE_HOLDBACK),
    (R.SPLIT_ROLE_VALIDATION, R.SPLIT_ROLE_HOLDBACK),
)


def _rate(fingerprint: splitting_pb2.SplitFingerprint) -> float:
    return fingerprint.sample_rate or 1.0


def _hashes(fingerprint: splitting_pb2.SplitFingerprint) -> array[int]:
    found = array("Q")
    found.frombytes(fingerprint.key_hashes)
    if sys.byteorder == "little":
        found.byteswap()
    return found


def check_fingerprints(report: Report, path: str) -> None:
    """INVALID_ARGUMENT naming every malformed split fingerprint."""
    found: list[FieldViolation] = []
    for i, split in enumerate(report.data_splitting.splits):
        if not split.HasField("fingerprint"):
            continue
        fingerprint = split.fingerprint
        field = f"{path}.data_splitting.splits[{i}].fingerprint"
        if fingerprint.format != FORMAT:
            found.append(FieldViolation(f"{field}.format", f"must be {FORMAT!r}"))
            continue
        if not 0 <= fingerprint.sample_rate <= 1:
            found.append(FieldViolation(f"{field}.sample_rate", "must be in (0, 1]"))
            continue
        if len(fingerprint.key_hashes) % 8:
            found.append(
                FieldViolation(f"{field}.key_hashes", "must be a whole number of 8-byte hashes")
            )
            continue
        hashes = _hashes(fingerprint)
        if any(a >= b for a, b in pairwise(hashes)):
            found.append(
                FieldViolation(f"{field}.key_hashes", "must be distinct and in ascending order")
            )
        elif hashes and _rate(fingerprint) < 1 and hashes[-1] >= _rate(fingerprint) * 2**64:
            found.append(
                FieldViolation(f"{field}.key_hashes", "holds a hash at or above the sample bound")
            )
        if fingerprint.key_count < 0:
            found.append(FieldViolation(f"{field}.key_count", "must not be negative"))
    if found:
        raise errors.not_valid("the split fingerprints are not valid", found, "INVALID_FINGERPRINT")


def _comparable(a: splitting_pb2.SplitFingerprint, b: splitting_pb2.SplitFingerprint) -> bool:
    return list(a.key_columns) == list(b.key_columns) and _rate(a) == _rate(b)


def overlap(a: Split, b: Split) -> splitting_pb2.SplitLeakageCheck:
    """The leakage check of two splits with comparable fingerprints."""
    fa, fb = a.fingerprint, b.fingerprint
    rate = _rate(fa)
    common = len(set(_hashes(fa)).intersection(_hashes(fb)))
    count = round(common / rate)
    size_b = fb.key_count or round(len(fb.key_hashes) // 8 / rate)
    check = splitting_pb2.SplitLeakageCheck(
        name=f"fingerprint overlap {a.name}/{b.name}",
        key_columns=list(fa.key_columns),
        split_a=a.name,
        split_b=b.name,
        method=(
            splitting_pb2.SPLIT_LEAKAGE_METHOD_EXACT_KEY
            if fa.key_columns
            else splitting_pb2.SPLIT_LEAKAGE_METHOD_ROW_HASH
        ),
        overlap_count=count,
        overlap_fraction=min(1.0, count / size_b) if size_b else 0.0,
        max_allowed_overlap=0,
        result=(
            threshold_pb2.THRESHOLD_OUTCOME_PASSED
            if count == 0
            else threshold_pb2.THRESHOLD_OUTCOME_WARNED
        ),
    )
    return check


def record(res: Resources, report: Report, path: str) -> None:
    """Fills ``computed_leakage_checks`` of a splitting report; warns about overlaps."""
    splitting = report.data_splitting
    del splitting.computed_leakage_checks[:]
    with_prints = [s for s in splitting.splits if s.HasField("fingerprint")]
    for role_a, role_b in _PAIRS:
        for a in (s for s in with_prints if s.role == role_a):
            for b in (s for s in with_prints if s.role == role_b):
                if not _comparable(a.fingerprint, b.fingerprint):
                    res.scope.warn(
                        "FINGERPRINTS_NOT_COMPARABLE",
                        f"{path}: splits {a.name!r} and {b.name!r} have fingerprints of other "
                        "key columns or sample rates; their overlap is not computed",
                    )
                    continue
                check = overlap(a, b)
                splitting.computed_leakage_checks.append(check)
                if check.overlap_count:
                    res.scope.warn(
                        "SPLIT_LEAKAGE",
                        f"{path}: {check.overlap_count} keys of split {b.name!r} are also in "
                        f"split {a.name!r} ({check.overlap_fraction:.2%})",
                    )


def failures(
    res: Resources, dataset_ids: Iterable[str], bound: float
) -> list[tuple[Report, splitting_pb2.SplitLeakageCheck]]:
    """Computed overlaps above ``bound`` in the splitting reports that produced the data."""
    seen: set[str] = set()
    found = []
    for dataset_id in sorted(set(dataset_ids) - {""}):
        for splitting in reports.find(
            res, ("outputs", "id"), dataset_id, stage_pb2.LIFECYCLE_STAGE_DATA_SPLITTING
        ):
            if splitting.meta.id in seen:
                continue
            seen.add(splitting.meta.id)
            for check in splitting.data_splitting.computed_leakage_checks:
                if check.overlap_count and check.overlap_fraction > bound:
                    found.append((splitting, check))
    return found
