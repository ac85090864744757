"""A data schema inferred from a sample, and data validated against it (stage 5).

``infer_schema`` writes the first version of a ``DataSchema`` from a sample of the data
(origin ``INFERRED_FROM_SAMPLE``, the sample recorded in ``SchemaInference``). For each
column it records the type and the presence seen in the sample, and a domain that the
sample supports without guessing: floats without NaN or infinite values get a
``FloatDomain`` that disallows them; integer columns with at most two distinct values
(flags, binary labels) get an ``IntDomain`` with the seen bounds; string columns with at
most ``max_categories`` distinct values get a ``StringDomain`` of those values. Numeric
bounds are never inferred from a sample (a sample rarely holds the true extremes); add
them by hand in the curated next version.

``data_validation`` checks columns against a schema and returns the stage 5 payload with one
``ValidationAnomaly`` per problem: a feature missing or unexpected, a type mismatch,
presence below the minimum, NaN or infinite values a domain disallows, values outside a
numeric domain's bounds or a string domain's values, a deprecated feature (by the
schema's ``deprecated_data_policy``), and a dataset smaller or larger than its
constraints. The decision is BLOCK when any anomaly is an ERROR, WARN when any is a
WARNING, PASS otherwise.

Needs numpy (``pip install numpy``).

Example:
    >>> cols = {"tenure": [3, 14, 27], "plan": ["basic", "pro", "basic"]}
    >>> schema = infer_schema(cols, version="1")
    >>> report = data_validation({"tenure": [5, 8], "plan": ["basic", "gold"]}, schema)
    >>> validation_pb2.ValidationDecision.Name(report.decision), report.anomalies[0].feature.steps[0]
    ('VALIDATION_DECISION_BLOCK', 'plan')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from mlspec.client.digests import message_digest
from mlspec.client.fields import enum_number
from mlspec.client.refs import to_ref
from mlspec.client.statistics import Columns, as_columns, feature_type, missing_mask
from mlspec.data.v1 import schema_pb2, statistics_pb2
from mlspec.lifecycle.v1 import validation_pb2

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as exc:  # pragma: no cover - numpy is in the demo and dev extras
    raise ModuleNotFoundError("mlspec.client.schemas needs numpy: pip install numpy") from exc

__all__ = ["data_validation", "infer_schema", "schema_digest"]

TOOL = "mlspec.client.schemas"
_FT = statistics_pb2.FeatureType
_A = validation_pb2.ValidationAnomalyType
_SEVERITY = validation_pb2.ValidationAnomalySeverity
_NUMERIC = (_FT.FEATURE_TYPE_INT, _FT.FEATURE_TYPE_FLOAT, _FT.FEATURE_TYPE_BOOL)


def infer_schema(
    sample: Columns,
    *,
    version: str = "1",
    roles: Mapping[str, str | int] | None = None,
    sample_query: str = "",
    query_dialect: str = "",
    source_dataset: Any = None,
    max_categories: int = 50,
    description: str = "",
) -> schema_pb2.DataSchema:
    """The first version of a schema, inferred from a sample (see the module docs).

    ``roles`` gives feature roles by column name (``"LABEL"``, ``"IDENTIFIER"``, ... or
    ``FeatureRole`` numbers); ``sample_query`` (and its dialect) and ``source_dataset``
    record where the sample came from. The schema's ``digest`` covers everything else.
    """
    arrays = as_columns(sample)
    size = len(next(iter(arrays.values()), []))
    schema = schema_pb2.DataSchema(
        schema_version=version,
        origin=schema_pb2.SCHEMA_ORIGIN_INFERRED_FROM_SAMPLE,
        description=description,
    )
    inference = schema.inference
    inference.sample_size = size
    inference.sample_query = sample_query
    inference.query_dialect = query_dialect
    inference.tool = TOOL
    inference.infer_time.FromDatetime(dt.datetime.now(dt.timezone.utc))
    if source_dataset is not None:
        inference.source_dataset.CopyFrom(to_ref(source_dataset))
        schema.dataset.CopyFrom(to_ref(source_dataset))
    for name, values in arrays.items():
        schema.features.append(_infer_feature(name, values, size, max_categories))
    for name, role in (roles or {}).items():
        feature = next((f for f in schema.features if f.name == name), None)
        if feature is None:
            raise KeyError(f"roles names {name!r}, which is not a column of the sample")
        feature.role = schema_pb2.FeatureRole.ValueType(
            enum_number(schema_pb2.FeatureRole.DESCRIPTOR, role) if isinstance(role, str) else role
        )
    schema.digest.digests["sha256"] = schema_digest(schema)
    return schema


def _infer_feature(
    name: str, values: npt.NDArray[Any], size: int, max_categories: int
) -> schema_pb2.FeatureSchema:
    kind = feature_type(values)
    feature = schema_pb2.FeatureSchema(name=name, type=kind)  # type: ignore[arg-type]
    present = values[~missing_mask(values)]
    if size:
        feature.presence.min_fraction = len(present) / size
    if kind == _FT.FEATURE_TYPE_FLOAT:
        numbers = present.astype(float)
        feature.float_domain.disallow_inf = bool(np.all(np.isfinite(numbers)))
        feature.float_domain.disallow_nan = len(present) == size
    elif kind == _FT.FEATURE_TYPE_INT:
        distinct = np.unique(present.astype(np.int64))
        if 0 < len(distinct) <= 2:
            feature.int_domain.min = int(distinct[0])
            feature.int_domain.max = int(distinct[-1])
            feature.int_domain.is_categorical = True
    elif kind == _FT.FEATURE_TYPE_STRING:
        distinct_text = sorted({str(v) for v in present})
        if distinct_text and len(distinct_text) <= max_categories:
            feature.string_domain.values.extend(distinct_text)
    return feature


def schema_digest(schema: schema_pb2.DataSchema) -> str:
    """The sha256 of the schema's deterministic serialization, without its own digest."""
    return message_digest(schema, clear=("digest",))


def _expected(feature: schema_pb2.FeatureSchema, schema: Any, environment: str) -> bool:
    if feature.lifecycle_stage in (
        schema_pb2.FEATURE_LIFECYCLE_STAGE_PLANNED,
        schema_pb2.FEATURE_LIFECYCLE_STAGE_DISABLED,
    ):
        return False
    if not environment:
        return True
    if environment in feature.not_in_environment:
        return False
    environments = set(schema.default_environments) | set(feature.in_environment)
    return not environments or environment in environments


def data_validation(
    columns: Columns,
    schema: schema_pb2.DataSchema,
    *,
    dataset: Any = None,
    environment: str = "",
    schema_generated: bool | None = None,
) -> validation_pb2.DataValidation:
    """The stage 5 payload: ``columns`` checked against ``schema`` (see the module docs).

    ``dataset`` is the dataset version validated; ``environment`` (for example
    ``TRAINING`` or ``SERVING``) selects the features expected; ``schema_generated``
    (default: whether the schema was inferred from a sample) says the schema was made in
    this run.
    """
    arrays = as_columns(columns)
    rows = len(next(iter(arrays.values()), []))
    out = validation_pb2.DataValidation(
        schema_version=schema.schema_version,
        environment=environment,
        num_examples=rows,
        tool=TOOL,
        schema_generated=(
            schema.origin == schema_pb2.SCHEMA_ORIGIN_INFERRED_FROM_SAMPLE
            if schema_generated is None
            else schema_generated
        ),
    )
    out.schema.CopyFrom(schema)
    out.schema_digest.digests["sha256"] = schema_digest(schema)
    if dataset is not None:
        out.dataset.CopyFrom(to_ref(dataset))
    known = {f.name for f in schema.features}
    for feature in schema.features:
        if feature.lifecycle_stage == schema_pb2.FEATURE_LIFECYCLE_STAGE_DISABLED:
            continue
        if feature.name not in arrays:
            if _expected(feature, schema, environment) and feature.presence.min_fraction > 0:
                _anomaly(
                    out,
                    feature.name,
                    _A.VALIDATION_ANOMALY_TYPE_MISSING_FEATURE,
                    "Column dropped",
                    f"the schema expects {feature.name!r}; the data has no such column",
                    rows,
                )
            continue
        if environment and not _expected(feature, schema, environment):
            _anomaly(
                out,
                feature.name,
                _A.VALIDATION_ANOMALY_TYPE_FEATURE_IN_WRONG_ENVIRONMENT,
                "Feature in wrong environment",
                f"{feature.name!r} is not expected in {environment}",
                rows,
            )
            continue
        _check_feature(out, feature, arrays[feature.name], schema)
    for name in arrays:
        if name not in known:
            _anomaly(
                out,
                name,
                _A.VALIDATION_ANOMALY_TYPE_UNEXPECTED_FEATURE,
                "New column",
                f"the data has {name!r}, which the schema does not know",
                rows,
            )
    _check_dataset(out, schema, rows)
    _decide(out)
    return out


def _anomaly(
    out: validation_pb2.DataValidation,
    feature: str,
    kind: int,
    short: str,
    description: str,
    affected: int,
    severity: int = _SEVERITY.VALIDATION_ANOMALY_SEVERITY_ERROR,
) -> None:
    anomaly = out.anomalies.add(
        severity=validation_pb2.ValidationAnomalySeverity.ValueType(severity),
        short_description=short,
        affected_examples=affected,
    )
    if feature:
        anomaly.feature.steps.append(feature)
    anomaly.reasons.add(
        type=validation_pb2.ValidationAnomalyType.ValueType(kind),
        short_description=short,
        description=description,
    )


def _check_feature(
    out: validation_pb2.DataValidation,
    feature: schema_pb2.FeatureSchema,
    values: npt.NDArray[Any],
    schema: schema_pb2.DataSchema,
) -> None:
    name = feature.name
    rows = len(values)
    missing = missing_mask(values)
    present = values[~missing]
    if feature.lifecycle_stage == schema_pb2.FEATURE_LIFECYCLE_STAGE_DEPRECATED and len(present):
        policy = schema.deprecated_data_policy
        if policy != schema_pb2.DEPRECATED_DATA_POLICY_ALLOW:
            severity = (
                _SEVERITY.VALIDATION_ANOMALY_SEVERITY_ERROR
                if policy == schema_pb2.DEPRECATED_DATA_POLICY_BLOCK
                else _SEVERITY.VALIDATION_ANOMALY_SEVERITY_WARNING
            )
            _anomaly(
                out,
                name,
                _A.VALIDATION_ANOMALY_TYPE_DEPRECATED_FEATURE_USED,
                "Deprecated feature used",
                feature.deprecation_message or f"{name!r} is deprecated",
                len(present),
                severity,
            )
    actual = feature_type(values) if len(present) else feature.type
    expected = feature.type
    compatible = (
        actual == expected
        or (
            expected == _FT.FEATURE_TYPE_FLOAT
            and actual in (_FT.FEATURE_TYPE_INT, _FT.FEATURE_TYPE_BOOL)
        )
        or (expected == _FT.FEATURE_TYPE_INT and actual == _FT.FEATURE_TYPE_BOOL)
    )
    if not compatible:
        _anomaly(
            out,
            name,
            _A.VALIDATION_ANOMALY_TYPE_TYPE_MISMATCH,
            "Unexpected data type",
            f"expected {_FT.Name(expected)}, found {_FT.Name(_FT.ValueType(actual))}",
            len(present),
        )
        return
    presence = feature.presence
    if rows and len(present) / rows < presence.min_fraction:
        _anomaly(
            out,
            name,
            _A.VALIDATION_ANOMALY_TYPE_PRESENCE_BELOW_MIN_FRACTION,
            "Column missing in some examples",
            f"present in {len(present) / rows:.1%} of examples, fewer than {presence.min_fraction:.1%}",
            int(missing.sum()),
        )
    if presence.min_count and len(present) < presence.min_count:
        _anomaly(
            out,
            name,
            _A.VALIDATION_ANOMALY_TYPE_PRESENCE_BELOW_MIN_COUNT,
            "Column present in too few examples",
            f"present in {len(present)} examples, fewer than {presence.min_count}",
            int(missing.sum()),
        )
    domain = feature.WhichOneof("domain_info")
    if domain == "shared_domain":
        shared = next((d for d in schema.shared_domains if d.name == feature.shared_domain), None)
        if shared is None:
            _anomaly(
                out,
                name,
                _A.VALIDATION_ANOMALY_TYPE_SCHEMA_INVALID,
                "Unknown shared domain",
                f"{feature.shared_domain!r} is not in shared_domains",
                0,
            )
            return
        domain = shared.WhichOneof("domain")
        holder: Any = shared
    else:
        holder = feature
    if domain in ("float_domain", "int_domain") and actual in _NUMERIC:
        numbers = values if values.dtype.kind in "biuf" else np.where(missing, np.nan, values)
        _check_numbers(out, name, getattr(holder, domain), numbers.astype(float))
    elif domain == "string_domain":
        _check_strings(out, name, holder.string_domain, present)


def _check_numbers(
    out: validation_pb2.DataValidation, name: str, domain: Any, numbers: npt.NDArray[np.float64]
) -> None:
    if isinstance(domain, schema_pb2.FloatDomain):
        nan = int(np.isnan(numbers).sum())
        inf = int(np.isinf(numbers).sum())
        if domain.disallow_nan and nan:
            _anomaly(
                out,
                name,
                _A.VALIDATION_ANOMALY_TYPE_NAN_VALUE,
                "NaN values",
                f"{nan} NaN values where the domain disallows them",
                nan,
            )
        if domain.disallow_inf and inf:
            _anomaly(
                out,
                name,
                _A.VALIDATION_ANOMALY_TYPE_INFINITE_VALUE,
                "Infinite values",
                f"{inf} infinite values where the domain disallows them",
                inf,
            )
    finite = numbers[~np.isnan(numbers)]
    if domain.HasField("min"):
        below = int((finite < domain.min).sum())
        if below:
            _anomaly(
                out,
                name,
                _A.VALIDATION_ANOMALY_TYPE_VALUE_BELOW_MIN,
                "Out-of-range values",
                f"{below} values below the minimum {domain.min:g} (smallest {finite.min():g})",
                below,
            )
    if domain.HasField("max"):
        above = int((finite > domain.max).sum())
        if above:
            _anomaly(
                out,
                name,
                _A.VALIDATION_ANOMALY_TYPE_VALUE_ABOVE_MAX,
                "Out-of-range values",
                f"{above} values above the maximum {domain.max:g} (largest {finite.max():g})",
                above,
            )


def _check_strings(
    out: validation_pb2.DataValidation,
    name: str,
    domain: schema_pb2.StringDomain,
    present: npt.NDArray[Any],
) -> None:
    if not domain.values or not len(present):
        return
    allowed = set(domain.values)
    outside = [str(v) for v in present if str(v) not in allowed]
    if len(outside) / len(present) > domain.max_out_of_domain_fraction:
        shown = ", ".join(repr(v) for v in sorted(set(outside))[:5])
        _anomaly(
            out,
            name,
            _A.VALIDATION_ANOMALY_TYPE_OUT_OF_DOMAIN_VALUE,
            "Unexpected string values",
            f"{len(outside)} values outside the domain: {shown}",
            len(outside),
        )


def _check_dataset(
    out: validation_pb2.DataValidation, schema: schema_pb2.DataSchema, rows: int
) -> None:
    limits = schema.dataset_constraints
    if rows == 0:
        _anomaly(
            out,
            "",
            _A.VALIDATION_ANOMALY_TYPE_EMPTY_DATASET,
            "Empty dataset",
            "the data has no examples",
            0,
        )
    if limits.HasField("min_examples_count") and rows < limits.min_examples_count:
        _anomaly(
            out,
            "",
            _A.VALIDATION_ANOMALY_TYPE_DATASET_TOO_SMALL,
            "Too few examples",
            f"{rows} examples, fewer than {limits.min_examples_count}",
            rows,
        )
    if limits.HasField("max_examples_count") and rows > limits.max_examples_count:
        _anomaly(
            out,
            "",
            _A.VALIDATION_ANOMALY_TYPE_DATASET_TOO_LARGE,
            "Too many examples",
            f"{rows} examples, more than {limits.max_examples_count}",
            rows,
        )


def _decide(out: validation_pb2.DataValidation) -> None:
    errors = [a for a in out.anomalies if a.severity == _SEVERITY.VALIDATION_ANOMALY_SEVERITY_ERROR]
    warnings = [
        a for a in out.anomalies if a.severity == _SEVERITY.VALIDATION_ANOMALY_SEVERITY_WARNING
    ]
    if errors:
        out.decision = validation_pb2.VALIDATION_DECISION_BLOCK
    elif warnings:
        out.decision = validation_pb2.VALIDATION_DECISION_WARN
    else:
        out.decision = validation_pb2.VALIDATION_DECISION_PASS
        out.decision_reason = f"{out.num_examples} examples conform to schema {out.schema_version}"
        return
    worst = errors or warnings
    level = "ERROR" if errors else "WARNING"
    listed = ", ".join(
        f"{'.'.join(a.feature.steps) or 'dataset'} {a.short_description.lower()}" for a in worst[:5]
    )
    out.decision_reason = (
        f"{len(worst)} {level} anomal{'y' if len(worst) == 1 else 'ies'}: {listed}"
    )
