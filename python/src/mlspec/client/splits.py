"""Data splits as the stage 6 payload, with leakage checks from row fingerprints.

A **row hash** fingerprints one row: the row's values in column order, as a JSON array
(RFC 8259 with no spaces, numbers in their shortest round-trip form, an int staying an int
and a float a float, ``NaN``/``Infinity`` for non-finite floats, ``null`` for None,
non-ASCII text unescaped), encoded as UTF-8 and hashed with sha256 (lowercase hex). Equal
rows give equal hashes in any language that writes the same JSON, so two splits share a
row exactly when they share its hash.

``leakage_checks`` compares splits pairwise by these hashes: over chosen key columns
(``SPLIT_LEAKAGE_METHOD_EXACT_KEY``, for example a customer id) or over the whole row
(``SPLIT_LEAKAGE_METHOD_ROW_HASH``), and ``data_splitting`` builds the stage 6 payload:
one ``SplitDefinition`` per split (role, method, ratio, row count, digest, the dataset
version it was registered as, its statistics) plus the leakage checks.

Needs numpy (``pip install numpy``).

Example:
    >>> checks = leakage_checks({"train": {"x": [1, 2, 3]}, "holdback": {"x": [3, 4]}})
    >>> checks[0].overlap_count, ThresholdOutcome.Name(checks[0].result)
    (1, 'THRESHOLD_OUTCOME_FAILED')
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlspec.client.fields import enum_number
from mlspec.client.refs import digest_of, to_ref
from mlspec.client.statistics import TOOL as STATISTICS_TOOL
from mlspec.client.statistics import Columns, as_columns, dataset_statistics
from mlspec.common.v1.threshold_pb2 import ThresholdOutcome
from mlspec.lifecycle.v1 import splitting_pb2

__all__ = ["data_splitting", "leakage_checks", "row_hashes", "rows_digest"]

TOOL = "mlspec.client.splits"
_ROLE_NAMES = {
    "train": splitting_pb2.SPLIT_ROLE_TRAIN,
    "training": splitting_pb2.SPLIT_ROLE_TRAIN,
    "validation": splitting_pb2.SPLIT_ROLE_VALIDATION,
    "eval": splitting_pb2.SPLIT_ROLE_VALIDATION,
    "holdback": splitting_pb2.SPLIT_ROLE_HOLDBACK,
    "hold-back": splitting_pb2.SPLIT_ROLE_HOLDBACK,
    "test": splitting_pb2.SPLIT_ROLE_HOLDBACK,
    "debug": splitting_pb2.SPLIT_ROLE_DEBUG,
}


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and not isinstance(value, (str, bytes)):
        value = item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


def _row_text(values: Sequence[Any]) -> bytes:
    text = json.dumps(
        [_plain(v) for v in values], separators=(",", ":"), ensure_ascii=False, allow_nan=True
    )
    return text.encode("utf-8", "surrogateescape")


def _select(
    columns: Columns, key_columns: Iterable[str] | None, exclude: Iterable[str]
) -> list[Any]:
    arrays = as_columns(columns)
    names = list(key_columns) if key_columns is not None else list(arrays)
    skipped = set(exclude)
    missing = [n for n in names if n not in arrays]
    if missing:
        raise KeyError(f"no column {missing[0]!r} to fingerprint")
    return [arrays[n] for n in names if n not in skipped]


def row_hashes(
    columns: Columns, *, key_columns: Iterable[str] | None = None, exclude: Iterable[str] = ()
) -> list[str]:
    """The row hash (see the module documentation) of every row, in row order.

    ``key_columns`` picks the columns hashed (all by default), ``exclude`` leaves some out
    (for example a unique row id when looking for duplicated content).

    Example:
        >>> row_hashes({"a": [1], "b": ["x"]}) == [hashlib.sha256(b'[1,"x"]').hexdigest()]
        True
    """
    selected = _select(columns, key_columns, exclude)
    rows = zip(*selected, strict=True) if selected else iter(())
    return [hashlib.sha256(_row_text(row)).hexdigest() for row in rows]


def rows_digest(hashes: Iterable[str]) -> str:
    """A content digest of a set of rows: sha256 of their sorted row hashes, one per line."""
    digest = hashlib.sha256()
    for value in sorted(hashes):
        digest.update(value.encode("ascii") + b"\n")
    return digest.hexdigest()


def leakage_checks(
    splits: Mapping[str, Columns],
    *,
    key_columns: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    pairs: Iterable[tuple[str, str]] | None = None,
    max_allowed_overlap: int = 0,
    max_examples: int = 3,
) -> list[splitting_pb2.SplitLeakageCheck]:
    """One ``SplitLeakageCheck`` per pair of splits, by row hashes.

    ``pairs`` defaults to every pair in the order the splits are given (the first split,
    usually ``train``, as ``split_a``). The overlap is the number of distinct hashes in
    both splits; its fraction is taken over split b's rows. A check passes when the
    overlap is at most ``max_allowed_overlap``; up to ``max_examples`` overlapping hashes
    are listed.
    """
    key_list = list(key_columns) if key_columns is not None else None
    method = (
        splitting_pb2.SPLIT_LEAKAGE_METHOD_EXACT_KEY
        if key_list is not None
        else splitting_pb2.SPLIT_LEAKAGE_METHOD_ROW_HASH
    )
    hashes = {
        name: row_hashes(columns, key_columns=key_list, exclude=exclude)
        for name, columns in splits.items()
    }
    checks = []
    for a, b in pairs if pairs is not None else itertools.combinations(hashes, 2):
        if a not in hashes or b not in hashes:
            raise KeyError(f"no split {(a if a not in hashes else b)!r} to compare")
        shared = set(hashes[a]) & set(hashes[b])
        rows_b = hashes[b]
        check = splitting_pb2.SplitLeakageCheck(
            name=f"{a}-vs-{b}",
            split_a=a,
            split_b=b,
            method=method,
            overlap_count=len(shared),
            overlap_fraction=(sum(h in shared for h in rows_b) / len(rows_b)) if rows_b else 0.0,
            max_allowed_overlap=max_allowed_overlap,
            result=(
                ThresholdOutcome.THRESHOLD_OUTCOME_PASSED
                if len(shared) <= max_allowed_overlap
                else ThresholdOutcome.THRESHOLD_OUTCOME_FAILED
            ),
            example_keys=sorted(shared)[:max_examples],
        )
        if key_list is not None:
            check.key_columns.extend(key_list)
        elif exclude:
            check.key_columns.extend(n for n in as_columns(splits[a]) if n not in set(exclude))
        checks.append(check)
    return checks


def _role(name: str, role: str | int | None) -> int:
    if role is None:
        return _ROLE_NAMES.get(name.lower(), splitting_pb2.SPLIT_ROLE_OTHER)
    if isinstance(role, str):
        return enum_number(splitting_pb2.SplitRole.DESCRIPTOR, role)
    return int(role)


def data_splitting(
    source: Any,
    splits: Mapping[str, Columns],
    *,
    datasets: Mapping[str, Any] | None = None,
    roles: Mapping[str, str | int] | None = None,
    method: str | int = "RANDOM",
    seed: int = 0,
    stratify_by: Iterable[str] = (),
    partition_keys: Iterable[str] = (),
    key_columns: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    statistics: bool = True,
) -> splitting_pb2.DataSplitting:
    """The stage 6 payload for ``splits`` (split name to its rows) of ``source``.

    ``datasets`` gives the dataset version each split was registered as: its content
    digest becomes the split's digest (otherwise :func:`rows_digest` of the rows is).
    ``roles`` gives each split's ``SplitRole``; by default the name decides (``train``,
    ``validation``/``eval``, ``holdback``/``test``, ``debug``; others are OTHER). The
    ratio is each split's share of all rows. Leakage checks compare every pair of splits
    (``key_columns`` and ``exclude`` as in :func:`leakage_checks`).

    Example:
        >>> from mlspec.common.v1.reference_pb2 import ResourceRef
        >>> payload = data_splitting(ResourceRef(id="d"), {"train": {"x": [1, 2]}, "debug": {"x": [3]}})
        >>> [(s.name, s.row_count, round(s.ratio, 2)) for s in payload.splits]
        [('train', 2, 0.67), ('debug', 1, 0.33)]
    """
    arrays = {name: as_columns(columns) for name, columns in splits.items()}
    counts = {name: len(next(iter(cols.values()), [])) for name, cols in arrays.items()}
    total = sum(counts.values())
    method_number = (
        enum_number(splitting_pb2.SplitMethod.DESCRIPTOR, method)
        if isinstance(method, str)
        else int(method)
    )
    out = splitting_pb2.DataSplitting(tool=f"{TOOL} ({STATISTICS_TOOL})" if statistics else TOOL)
    out.source_dataset.CopyFrom(to_ref(source))
    for name, cols in arrays.items():
        split = out.splits.add(
            name=name,
            role=splitting_pb2.SplitRole.ValueType(_role(name, (roles or {}).get(name))),
            method=splitting_pb2.SplitMethod.ValueType(method_number),
            ratio=counts[name] / total if total else 0.0,
            seed=seed,
            row_count=counts[name],
            stratify_by=list(stratify_by),
            partition_keys=list(partition_keys),
        )
        registered = (datasets or {}).get(name)
        digest = digest_of(registered) if registered is not None else None
        if registered is not None:
            split.output_dataset.CopyFrom(to_ref(registered))
        if digest is not None:
            split.digest.CopyFrom(digest)
        else:
            split.digest.digests["sha256"] = rows_digest(row_hashes(cols))
        if statistics:
            split.statistics.CopyFrom(dataset_statistics(cols, name=name, dataset=registered))
    out.leakage_checks.extend(leakage_checks(arrays, key_columns=key_columns, exclude=exclude))
    return out
