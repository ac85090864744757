"""TF Metadata (TFX, TFDV) <-> MLSpec: schemas, statistics and anomalies, both ways.

TensorFlow Data Validation writes three TF Metadata (``tensorflow-metadata``) messages
that MLSpec's data stages carry too:

=============================================  =============================================
TF Metadata (``tensorflow.metadata.v0``)        MLSpec
=============================================  =============================================
``Schema``                                      ``mlspec.data.v1.DataSchema``
``DatasetFeatureStatisticsList``                ``DatasetStatistics`` blocks (``DataAnalysis``)
``Anomalies``                                   ``mlspec.lifecycle.v1.DataValidation``
=============================================  =============================================

``schema_from_tfmd`` / ``schema_to_tfmd``, ``statistics_from_tfmd`` /
``statistics_to_tfmd`` (and ``analysis_from_tfmd`` for a stage 3 payload) and
``validation_from_tfmd`` / ``anomalies_to_tfmd`` convert every field that both sides
express, so a round trip gives back the same message. What one side has and the other
cannot hold is listed, with the reason, in ``TFMD_LOST`` and ``MLSPEC_LOST`` (keyed by
``<full message name>.<field>``), and fields that convert for some values only in
``TFMD_PARTLY_LOST`` and ``MLSPEC_PARTLY_LOST``; ``unconverted(message)`` names the fields
of a given message that a conversion drops, so nothing is dropped silently.

Anomaly reason types fold: TF Metadata has 89, MLSpec 52, so ``REASON_TYPES`` maps each
TF Metadata type to its MLSpec type and ``TFMD_REASON_TYPES`` each MLSpec type back to one
TF Metadata type. The comparator types (``COMPARATOR_L_INFTY_HIGH``,
``COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH``,
``COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH``) do not fold: the reason's
``measurement`` names the comparator, with the distance and threshold of the drift or skew
measurement (``Anomalies.drift_skew_info``) of the anomaly's feature that it reports, and
the MLSpec type is DRIFT_ or SKEW_OVER_THRESHOLD by the list that measurement is in. An
anomaly's long description is ``ValidationAnomaly.description``. TF Metadata numeric
statistics have no presence (proto3): every one of its six scalars is a value, so
``NumericStatistics.present_fields`` names those six, and the weighted mean and standard
deviation when ``weighted_numeric_stats`` is there; MLSpec's ``sum`` is thus absent, not 0.

Five rules are forms rather than losses: a statistics feature named by ``name`` comes back
named by a one-step ``path``; an anomaly's map key comes back as its path joined with
``.``; an explicitly set zero of a TF Metadata ``optional`` scalar comes back unset; a
reason's measurement that ``DataValidation.measurements`` does not list comes back listed
there too (TF Metadata keeps measurements per feature only); and an MLSpec numeric
statistics block without ``present_fields`` (every scalar counted as computed) comes back
naming what TF Metadata holds. A schema-level domain keeps its name; a name on a domain
inside a feature is lost.

Example:
    >>> from tensorflow_metadata.proto.v0 import schema_pb2  # doctest: +SKIP
    >>> schema = schema_pb2.Schema()  # doctest: +SKIP
    >>> schema.feature.add(name="age", type=schema_pb2.INT)  # doctest: +SKIP
    >>> data_schema = schema_from_tfmd(schema, schema_version="1")  # doctest: +SKIP
    >>> schema_to_tfmd(data_schema) == schema  # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from google.protobuf import message as protobuf_message
from tensorflow_metadata.proto.v0 import anomalies_pb2 as tfa
from tensorflow_metadata.proto.v0 import schema_pb2 as tfs
from tensorflow_metadata.proto.v0 import statistics_pb2 as tfst

from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import schema_pb2, statistics_pb2
from mlspec.lifecycle.v1 import analysis_pb2, validation_pb2

TF = "tensorflow.metadata.v0."
MS = "mlspec.data.v1."
ML = "mlspec.lifecycle.v1."

TFMD_LOST: dict[str, str] = {
    # Schema
    TF + "Schema.represent_variable_length_as_ragged": "no MLSpec field; a TFX decoding option",
    TF + "Schema.annotation": "free tags, comments and Any payloads have no MLSpec field",
    TF + "Schema.tensor_representation_group": "TFX tensor decoding; not schema metadata",
    TF + "Feature.deprecated": "legacy flag; read as lifecycle stage DEPRECATED when no stage "
    "is set, written back as lifecycle_stage",
    TF + "Feature.group_presence": "presence within a parent group has no MLSpec field",
    TF + "Feature.audio_domain": "no MLSpec audio domain",
    TF + "Feature.video_domain": "no MLSpec video domain",
    TF + "Feature.content_chunk_domain": "no MLSpec content-chunk domain",
    TF + "Feature.mid_domain": "no MLSpec MID (knowledge graph id) domain",
    TF + "Feature.annotation": "free tags, comments and Any payloads have no MLSpec field",
    TF + "Feature.validation_derived_source": "TFDV-derived feature sources have no MLSpec field",
    TF + "Feature.sequence_metadata": "sequence grouping has no MLSpec field",
    TF + "BoolDomain.name": "MLSpec bool domains have no name",
    TF + "FloatDomain.is_categorical": "MLSpec float domains have no categorical flag",
    TF + "FloatDomain.embedding_type": "MLSpec float domains name no embedding type",
    TF + "StringDomain.is_categorical": "MLSpec string domains are categorical by nature",
    TF + "NaturalLanguageDomain.vocabulary": "a file name; MLSpec names the vocabulary artifact",
    TF + "NaturalLanguageDomain.token_constraints": "no MLSpec per-token constraints",
    TF + "NaturalLanguageDomain.sequence_length_constraints": "no MLSpec sequence lengths",
    TF + "FeatureCoverageConstraints.min_avg_token_length": "MLSpec bounds the token count, "
    "not the token length",
    TF + "FeatureCoverageConstraints.excluded_string_tokens": "no MLSpec field",
    TF + "FeatureCoverageConstraints.excluded_int_tokens": "no MLSpec field",
    TF + "FeatureCoverageConstraints.oov_string_tokens": "no MLSpec field",
    TF + "ImageDomain.minimum_supported_image_fraction": "no MLSpec field",
    TF + "TimeOfDayDomain.integer_format": "PACKED_64_NANOS has no MLSpec integer format",
    TF + "JensenShannonDivergence.source": "MLSpec comparators do not pick a histogram",
    TF + "SparseFeature.deprecated": "legacy flag; use lifecycle_stage",
    TF + "SparseFeature.type": "MLSpec sparse features take the value feature's type",
    # Statistics
    TF + "FeatureNameStatistics.validation_derived_source": "no MLSpec field",
    TF + "WeightedNumericStatistics.median": "MLSpec has a weighted mean and standard "
    "deviation only",
    TF + "WeightedNumericStatistics.histograms": "MLSpec has no weighted histograms",
    TF + "StringStatistics.weighted_string_stats": "no weighted top values in MLSpec",
    TF + "WeightedCommonStatistics.avg_num_values": "MLSpec weighs present and missing counts only",
    TF + "WeightedCommonStatistics.tot_num_values": "MLSpec weighs present and missing counts only",
    TF + "CommonStatistics.presence_and_valency_stats": "per-nesting-level statistics have no "
    "MLSpec field",
    TF + "CommonStatistics.weighted_presence_and_valency_stats": "no MLSpec field",
    TF + "CustomStatistic.any": "an Any payload has no MLSpec value",
    TF + "CategoricalCrossStatistics.lift": "lift series have no MLSpec field",
    # Anomalies
    TF + "Anomalies.baseline_v1": "deprecated baseline form; use baseline",
    TF + "Anomalies.anomaly_name_format": "keys come back as the path joined with '.'",
    TF + "Anomalies.data_missing": "no MLSpec flag (an EMPTY_DATASET anomaly says it)",
    TF + "AnomalyInfo.diff_regions": "schema diffs have no MLSpec field",
}
"""TF Metadata fields with no home in MLSpec, and why."""

MLSPEC_LOST: dict[str, str] = {
    # DataSchema
    MS + "DataSchema.schema_version": "TF Metadata schemas are not versioned; "
    "schema_from_tfmd takes it",
    MS + "DataSchema.origin": "no TF Metadata field",
    MS + "DataSchema.inference": "no TF Metadata field",
    MS + "DataSchema.environments": "TF Metadata names environments without describing them",
    MS + "DataSchema.baseline": "no TF Metadata field",
    MS + "DataSchema.deprecated_data_policy": "no TF Metadata field",
    MS + "DataSchema.dataset": "no TF Metadata field",
    MS + "DataSchema.previous_version": "no TF Metadata field",
    MS + "DataSchema.description": "no TF Metadata field",
    MS + "DataSchema.owners": "no TF Metadata field",
    MS + "DataSchema.create_time": "no TF Metadata field",
    MS + "DataSchema.digest": "no TF Metadata field",
    MS + "DataSchema.properties": "no TF Metadata field",
    MS + "FeatureSchema.path": "TF Metadata nests features in struct domains instead",
    MS + "FeatureSchema.description": "no TF Metadata field",
    MS + "FeatureSchema.role": "no TF Metadata field",
    MS + "FeatureSchema.deprecation_message": "no TF Metadata field",
    MS + "FeatureSchema.properties": "no TF Metadata field",
    MS + "StringDomain.vocabulary": "TF Metadata string domains list values only",
    MS + "StringDomain.max_out_of_domain_fraction": "TF Metadata puts it in "
    "distribution_constraints",
    MS + "NaturalLanguageDomain.vocabulary": "TF Metadata names a file, not an artifact",
    MS + "NaturalLanguageDomain.languages": "no TF Metadata field",
    MS + "NaturalLanguageDomain.tokenizer": "no TF Metadata field",
    MS + "NaturalLanguageDomain.min_avg_token_count": "TF Metadata bounds the token length",
    MS + "ImageDomain.formats": "no TF Metadata field",
    MS + "ImageDomain.min_width": "no TF Metadata field",
    MS + "ImageDomain.max_width": "no TF Metadata field",
    MS + "ImageDomain.min_height": "no TF Metadata field",
    MS + "ImageDomain.max_height": "no TF Metadata field",
    MS + "ImageDomain.channels": "no TF Metadata field",
    MS + "TimeDomain.min_time": "no TF Metadata field",
    MS + "TimeDomain.max_time": "no TF Metadata field",
    MS + "TimeDomain.time_zone": "no TF Metadata field",
    MS + "UrlDomain.allowed_schemes": "no TF Metadata field",
    MS + "UrlDomain.allowed_hosts": "no TF Metadata field",
    MS + "DatasetConstraints.min_size_bytes": "no TF Metadata field",
    # Statistics
    MS + "DatasetStatistics.slice": "TF Metadata encodes slices in the block name",
    MS + "DatasetStatistics.dataset": "no TF Metadata field",
    MS + "DatasetStatistics.size_bytes": "no TF Metadata field",
    MS + "DatasetStatistics.compute_time": "no TF Metadata field",
    MS + "DatasetStatistics.sampled": "no TF Metadata field",
    MS + "DatasetStatistics.sample_fraction": "no TF Metadata field",
    MS + "DatasetStatistics.tool": "no TF Metadata field",
    MS + "FeatureStatistics.is_categorical": "TF Metadata says it in the schema's int domain",
    MS + "CommonStatistics.distinct_count": "TF Metadata counts unique values per type only",
    MS + "NumericStatistics.quantiles": "TF Metadata keeps a QUANTILES histogram instead",
    MS + "NumericStatistics.sum": "no TF Metadata field",
    MS + "StringStatistics.vocabulary": "TF Metadata names a file (vocabulary_uri carries it)",
    MS + "StructStatistics.child_paths": "recomputed from the feature paths",
    MS + "CategoricalCrossStatistics.mutual_information": "no TF Metadata field",
    MS + "CategoricalCrossStatistics.cramers_v": "no TF Metadata field",
    # DataValidation
    ML + "DataValidation.dataset": "no TF Metadata field; validation_from_tfmd takes it",
    ML + "DataValidation.schema_artifact": "no TF Metadata field",
    ML + "DataValidation.schema_version": "no TF Metadata field; validation_from_tfmd takes it",
    ML + "DataValidation.schema_digest": "no TF Metadata field",
    ML + "DataValidation.schema_generated": "no TF Metadata field",
    ML + "DataValidation.statistics": "no TF Metadata field",
    ML + "DataValidation.baseline_statistics": "no TF Metadata field",
    ML + "DataValidation.environment": "no TF Metadata field",
    ML + "DataValidation.assertions": "no TF Metadata field",
    ML + "DataValidation.decision": "recomputed from the severities",
    ML + "DataValidation.decision_reason": "no TF Metadata field",
    ML + "DataValidation.num_examples": "no TF Metadata field",
    ML + "DataValidation.tool": "no TF Metadata field",
    ML + "ValidationAnomaly.measurements": "TF Metadata keeps measurements per feature only "
    "(DataValidation.measurements carries them)",
    ML + "ValidationAnomaly.slice": "no TF Metadata field",
    ML + "ValidationAnomaly.affected_examples": "no TF Metadata field",
    ML + "ValidationDistanceMeasurement.most_different_value": "no TF Metadata field",
    ML + "ValidationDistanceMeasurement.exceeded": "recomputed as value > threshold",
}
"""MLSpec fields with no home in TF Metadata (or only part of one), and why."""

TFMD_PARTLY_LOST: dict[str, str] = {
    TF + "Feature.int_domain": "a domain named inside a feature: the name is lost",
    TF + "Feature.float_domain": "a domain named inside a feature: the name is lost",
    TF + "Feature.string_domain": "a domain named inside a feature: the name is lost",
    TF + "AnomalyInfo.Reason.type": "89 types fold into MLSpec's 52 (REASON_TYPES); a type "
    "comes back as the one TF Metadata type of its MLSpec type (TFMD_REASON_TYPES), except "
    "the three comparator types, which the reason's measurement names",
}
"""TF Metadata fields that convert for some values only; ``unconverted`` names the others."""

MLSPEC_PARTLY_LOST: dict[str, str] = {
    MS + "FeatureSchema.type": "STRING comes back as BYTES, BOOL as INT and TIMESTAMP as INT "
    "or BYTES: TF Metadata has only BYTES, INT, FLOAT and STRUCT",
    MS + "SparseFeatureSchema.index_paths": "only one-step paths (a feature name) fit",
    MS + "ComparatorThreshold.type": "population stability index, Kolmogorov-Smirnov and "
    "Wasserstein thresholds have no TF Metadata comparator",
    MS + "FeatureStatistics.type": "BOOL and TIMESTAMP come back as INT",
    MS + "Histogram.type": "EXPLICIT (and an unset type) come back as STANDARD",
    MS + "CustomStatistic.value": "only numbers and strings fit a TF Metadata custom statistic",
    MS + "NumericStatistics.present_fields": "TF Metadata numeric statistics have no "
    "presence: mean, std_dev, num_zeros, min, median and max come back present, the "
    "weighted mean and standard deviation present together or absent together, sum absent",
    ML + "ValidationAnomaly.severity": "INFO comes back as UNKNOWN",
    ML + "ValidationAnomalyReason.type": "each MLSpec type is written as one TF Metadata type "
    "(TFMD_REASON_TYPES; a drift or skew reason as the type of its measurement's "
    "comparator); the 17 without a TF Metadata counterpart as CUSTOM_VALIDATION, and a "
    "skew reason whose comparator type reads as drift (no measurement kind) as drift",
    ML + "ValidationAnomalyReason.measurement": "kept on a drift or skew reason whose "
    "comparator TF Metadata has (L-infinity, Jensen-Shannon, normalized absolute "
    "difference), with its distance and threshold when its kind is drift or skew",
    ML + "ValidationDistanceMeasurement.comparator": "only L-infinity, Jensen-Shannon and "
    "normalized absolute difference have TF Metadata measurement types",
}
"""MLSpec fields that convert for some values only; ``unconverted`` names the others."""

# -- enums -----------------------------------------------------------------------------

_STAGES = {
    tfs.UNKNOWN_STAGE: schema_pb2.FEATURE_LIFECYCLE_STAGE_UNSPECIFIED,
    tfs.PLANNED: schema_pb2.FEATURE_LIFECYCLE_STAGE_PLANNED,
    tfs.ALPHA: schema_pb2.FEATURE_LIFECYCLE_STAGE_ALPHA,
    tfs.BETA: schema_pb2.FEATURE_LIFECYCLE_STAGE_BETA,
    tfs.PRODUCTION: schema_pb2.FEATURE_LIFECYCLE_STAGE_PRODUCTION,
    tfs.DEPRECATED: schema_pb2.FEATURE_LIFECYCLE_STAGE_DEPRECATED,
    tfs.DEBUG_ONLY: schema_pb2.FEATURE_LIFECYCLE_STAGE_DEBUG_ONLY,
    tfs.DISABLED: schema_pb2.FEATURE_LIFECYCLE_STAGE_DISABLED,
    tfs.VALIDATION_DERIVED: schema_pb2.FEATURE_LIFECYCLE_STAGE_DERIVED,
}
_SCHEMA_TYPES = {
    tfs.TYPE_UNKNOWN: statistics_pb2.FEATURE_TYPE_UNSPECIFIED,
    tfs.BYTES: statistics_pb2.FEATURE_TYPE_BYTES,
    tfs.INT: statistics_pb2.FEATURE_TYPE_INT,
    tfs.FLOAT: statistics_pb2.FEATURE_TYPE_FLOAT,
    tfs.STRUCT: statistics_pb2.FEATURE_TYPE_STRUCT,
}
_SCHEMA_TYPES_BACK = {
    **{v: k for k, v in _SCHEMA_TYPES.items()},
    statistics_pb2.FEATURE_TYPE_STRING: tfs.BYTES,
    statistics_pb2.FEATURE_TYPE_BOOL: tfs.INT,
}
_STAT_TYPES = {
    tfst.FeatureNameStatistics.INT: statistics_pb2.FEATURE_TYPE_INT,
    tfst.FeatureNameStatistics.FLOAT: statistics_pb2.FEATURE_TYPE_FLOAT,
    tfst.FeatureNameStatistics.STRING: statistics_pb2.FEATURE_TYPE_STRING,
    tfst.FeatureNameStatistics.BYTES: statistics_pb2.FEATURE_TYPE_BYTES,
    tfst.FeatureNameStatistics.STRUCT: statistics_pb2.FEATURE_TYPE_STRUCT,
}
_STAT_TYPES_BACK = {
    **{v: k for k, v in _STAT_TYPES.items()},
    statistics_pb2.FEATURE_TYPE_BOOL: tfst.FeatureNameStatistics.INT,
    statistics_pb2.FEATURE_TYPE_TIMESTAMP: tfst.FeatureNameStatistics.INT,
}
_HISTOGRAM_TYPES = {
    tfst.Histogram.STANDARD: statistics_pb2.HISTOGRAM_TYPE_STANDARD,
    tfst.Histogram.QUANTILES: statistics_pb2.HISTOGRAM_TYPE_QUANTILES,
}
_TIME_FORMATS = {
    tfs.TimeDomain.FORMAT_UNKNOWN: schema_pb2.INTEGER_TIME_FORMAT_UNSPECIFIED,
    tfs.TimeDomain.UNIX_DAYS: schema_pb2.INTEGER_TIME_FORMAT_UNIX_DAYS,
    tfs.TimeDomain.UNIX_SECONDS: schema_pb2.INTEGER_TIME_FORMAT_UNIX_SECONDS,
    tfs.TimeDomain.UNIX_MILLISECONDS: schema_pb2.INTEGER_TIME_FORMAT_UNIX_MILLISECONDS,
    tfs.TimeDomain.UNIX_MICROSECONDS: schema_pb2.INTEGER_TIME_FORMAT_UNIX_MICROSECONDS,
    tfs.TimeDomain.UNIX_NANOSECONDS: schema_pb2.INTEGER_TIME_FORMAT_UNIX_NANOSECONDS,
}
_SEVERITIES = {
    tfa.AnomalyInfo.UNKNOWN: validation_pb2.VALIDATION_ANOMALY_SEVERITY_UNSPECIFIED,
    tfa.AnomalyInfo.WARNING: validation_pb2.VALIDATION_ANOMALY_SEVERITY_WARNING,
    tfa.AnomalyInfo.ERROR: validation_pb2.VALIDATION_ANOMALY_SEVERITY_ERROR,
}
_MEASUREMENTS = {
    tfa.DriftSkewInfo.Measurement.L_INFTY: schema_pb2.COMPARATOR_TYPE_L_INFINITY,
    tfa.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: (
        schema_pb2.COMPARATOR_TYPE_JENSEN_SHANNON_DIVERGENCE
    ),
    tfa.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: (
        schema_pb2.COMPARATOR_TYPE_NORMALIZED_ABSOLUTE_DIFFERENCE
    ),
}


_COMPARATOR_REASONS = {
    "COMPARATOR_L_INFTY_HIGH": schema_pb2.COMPARATOR_TYPE_L_INFINITY,
    "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH": (
        schema_pb2.COMPARATOR_TYPE_JENSEN_SHANNON_DIVERGENCE
    ),
    "COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH": (
        schema_pb2.COMPARATOR_TYPE_NORMALIZED_ABSOLUTE_DIFFERENCE
    ),
}
"""The TF Metadata reason types that name a comparator, and the comparator."""
_DISTANCE_KINDS = {
    validation_pb2.VALIDATION_DISTANCE_KIND_DRIFT: "DRIFT_OVER_THRESHOLD",
    validation_pb2.VALIDATION_DISTANCE_KIND_SKEW: "SKEW_OVER_THRESHOLD",
}
"""Each drift-skew list of TF Metadata and the MLSpec reason type of its measurements."""
_NUMERIC = ("mean", "std_dev", "num_zeros", "min", "median", "max")
"""The scalars of a TF Metadata ``NumericStatistics``, always values (proto3)."""
_WEIGHTED = ("weighted_mean", "weighted_std_dev")
"""The scalars of TF Metadata's ``weighted_numeric_stats``: there or not, together."""


def _reason_types() -> dict[str, str]:
    """Each TF Metadata anomaly type (by name) to the MLSpec type (by name) it folds into."""
    prefixes = {
        "BOOL_TYPE_": "TYPE_MISMATCH",
        "ENUM_TYPE_": "OUT_OF_DOMAIN_VALUE",
        "FLOAT_TYPE_": "TYPE_MISMATCH",
        "INT_TYPE_": "TYPE_MISMATCH",
        "STRING_TYPE_": "TYPE_MISMATCH",
        "SEQUENCE_VALUE_": "TOKEN_COVERAGE_BELOW_MIN",
    }
    exact = {
        "UNKNOWN_TYPE": "UNSPECIFIED",
        "MULTIPLE_REASONS": "OTHER",
        "ENUM_TYPE_INVALID_UTF8": "INVALID_UTF8",
        "FEATURE_TYPE_HIGH_NUMBER_VALUES": "VALUE_COUNT_ABOVE_MAX",
        "FEATURE_TYPE_LOW_NUMBER_VALUES": "VALUE_COUNT_BELOW_MIN",
        "FEATURE_TYPE_NO_VALUES": "VALUE_COUNT_BELOW_MIN",
        "FEATURE_TYPE_LOW_FRACTION_PRESENT": "PRESENCE_BELOW_MIN_FRACTION",
        "FEATURE_TYPE_LOW_NUMBER_PRESENT": "PRESENCE_BELOW_MIN_COUNT",
        "FEATURE_TYPE_NOT_PRESENT": "MISSING_FEATURE",
        "FEATURE_TYPE_UNEXPECTED_REPEATED": "VALUE_COUNT_ABOVE_MAX",
        "FEATURE_TYPE_HIGH_UNIQUE": "UNIQUE_COUNT_ABOVE_MAX",
        "FEATURE_TYPE_LOW_UNIQUE": "UNIQUE_COUNT_BELOW_MIN",
        "FEATURE_TYPE_NO_UNIQUE": "UNIQUE_COUNT_BELOW_MIN",
        "FLOAT_TYPE_BIG_FLOAT": "VALUE_ABOVE_MAX",
        "FLOAT_TYPE_SMALL_FLOAT": "VALUE_BELOW_MIN",
        "FLOAT_TYPE_HAS_NAN": "NAN_VALUE",
        "FLOAT_TYPE_HAS_INF": "INFINITE_VALUE",
        "INT_TYPE_BIG_INT": "VALUE_ABOVE_MAX",
        "INT_TYPE_SMALL_INT": "VALUE_BELOW_MIN",
        "LOW_SUPPORTED_IMAGE_FRACTION": "INVALID_IMAGE_FORMAT",
        "SCHEMA_MISSING_COLUMN": "MISSING_FEATURE",
        "SCHEMA_NEW_COLUMN": "UNEXPECTED_FEATURE",
        "SCHEMA_TRAINING_SERVING_SKEW": "FEATURE_IN_WRONG_ENVIRONMENT",
        "COMPARATOR_CONTROL_DATA_MISSING": "BASELINE_MISSING",
        "COMPARATOR_TREATMENT_DATA_MISSING": "BASELINE_MISSING",
        "COMPARATOR_L_INFTY_HIGH": "DRIFT_OVER_THRESHOLD",
        "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH": "DRIFT_OVER_THRESHOLD",
        "COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH": "SKEW_OVER_THRESHOLD",
        "NO_DATA_IN_SPAN": "EMPTY_DATASET",
        "SPARSE_FEATURE_MISSING_VALUE": "SPARSE_FEATURE_MISSING_COMPONENT",
        "SPARSE_FEATURE_MISSING_INDEX": "SPARSE_FEATURE_MISSING_COMPONENT",
        "SPARSE_FEATURE_LENGTH_MISMATCH": "SPARSE_FEATURE_LENGTH_MISMATCH",
        "SPARSE_FEATURE_NAME_COLLISION": "SCHEMA_INVALID",
        "SEMANTIC_DOMAIN_UPDATE": "OTHER",
        "COMPARATOR_LOW_NUM_EXAMPLES": "NUM_EXAMPLES_DRIFT",
        "COMPARATOR_HIGH_NUM_EXAMPLES": "NUM_EXAMPLES_DRIFT",
        "DATASET_LOW_NUM_EXAMPLES": "DATASET_TOO_SMALL",
        "DATASET_HIGH_NUM_EXAMPLES": "DATASET_TOO_LARGE",
        "WEIGHTED_FEATURE_NAME_COLLISION": "SCHEMA_INVALID",
        "WEIGHTED_FEATURE_MISSING_VALUE": "WEIGHTED_FEATURE_LENGTH_MISMATCH",
        "WEIGHTED_FEATURE_MISSING_WEIGHT": "WEIGHTED_FEATURE_LENGTH_MISMATCH",
        "WEIGHTED_FEATURE_LENGTH_MISMATCH": "WEIGHTED_FEATURE_LENGTH_MISMATCH",
        "VALUE_NESTEDNESS_MISMATCH": "SHAPE_MISMATCH",
        "DOMAIN_INVALID_FOR_TYPE": "SCHEMA_INVALID",
        "FEATURE_MISSING_NAME": "SCHEMA_INVALID",
        "FEATURE_MISSING_TYPE": "SCHEMA_INVALID",
        "INVALID_SCHEMA_SPECIFICATION": "SCHEMA_INVALID",
        "INVALID_DOMAIN_SPECIFICATION": "SCHEMA_INVALID",
        "UNEXPECTED_DATA_TYPE": "TYPE_MISMATCH",
        "FEATURE_COVERAGE_TOO_LOW": "TOKEN_COVERAGE_BELOW_MIN",
        "FEATURE_COVERAGE_TOO_SHORT_AVG_TOKEN_LENGTH": "TOKEN_COVERAGE_BELOW_MIN",
        "NLP_WRONG_LOCATION": "OTHER",
        "EMBEDDING_SHAPE_INVALID": "EMBEDDING_DIMENSION_MISMATCH",
        "MAX_IMAGE_BYTE_SIZE_EXCEEDED": "IMAGE_SIZE_OUT_OF_RANGE",
        "INVALID_FEATURE_SHAPE": "SHAPE_MISMATCH",
        "STATS_NOT_AVAILABLE": "BASELINE_MISSING",
        "DERIVED_FEATURE_BAD_LIFECYCLE": "FEATURE_STAGE_NOT_ALLOWED",
        "DERIVED_FEATURE_INVALID_SOURCE": "SCHEMA_INVALID",
        "CUSTOM_VALIDATION": "CUSTOM_ASSERTION_FAILED",
    }
    folded = {}
    for name in (v.name for v in tfa.AnomalyInfo.Type.DESCRIPTOR.values):
        target = exact.get(name) or next(
            (t for prefix, t in prefixes.items() if name.startswith(prefix)), None
        )
        if target is None:
            raise AssertionError(f"TF Metadata anomaly type {name} has no MLSpec type")
        folded[name] = target
    return folded


REASON_TYPES: dict[str, str] = _reason_types()
"""Every TF Metadata ``AnomalyInfo.Type`` name -> the MLSpec ``ValidationAnomalyType``
name (without its ``VALIDATION_ANOMALY_TYPE_`` prefix) it is converted to; a comparator
type whose drift or skew measurement is found becomes DRIFT_ or SKEW_OVER_THRESHOLD by it."""


def _reason_types_back() -> dict[str, str]:
    back: dict[str, str] = {}
    for tfmd_name, mlspec_name in REASON_TYPES.items():
        back.setdefault(mlspec_name, tfmd_name)  # the first TF Metadata type of each wins
    back.update(
        {
            "DRIFT_OVER_THRESHOLD": "COMPARATOR_L_INFTY_HIGH",
            "SKEW_OVER_THRESHOLD": "COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH",
            "MISSING_FEATURE": "SCHEMA_MISSING_COLUMN",
            "TYPE_MISMATCH": "UNEXPECTED_DATA_TYPE",
        }
    )
    for name in validation_pb2.ValidationAnomalyType.DESCRIPTOR.values_by_name:
        short = name.removeprefix("VALIDATION_ANOMALY_TYPE_")
        back.setdefault(short, "CUSTOM_VALIDATION" if short != "UNSPECIFIED" else "UNKNOWN_TYPE")
    return back


TFMD_REASON_TYPES: dict[str, str] = _reason_types_back()
"""Every MLSpec ``ValidationAnomalyType`` name (without prefix) -> the one TF Metadata
``AnomalyInfo.Type`` name it is written as (``CUSTOM_VALIDATION`` where none fits)."""


def _tfmd_reason_type(reason: validation_pb2.ValidationAnomalyReason) -> str:
    """The TF Metadata type name an MLSpec reason is written as.

    A drift or skew reason whose measurement names a comparator TF Metadata has is written
    as that comparator's type; any other reason as ``TFMD_REASON_TYPES`` says.
    """
    short = validation_pb2.ValidationAnomalyType.Name(reason.type).removeprefix(
        "VALIDATION_ANOMALY_TYPE_"
    )
    if short in _DISTANCE_KINDS.values() and reason.HasField("measurement"):
        for name, comparator in _COMPARATOR_REASONS.items():
            if comparator == reason.measurement.comparator:
                return name
    return TFMD_REASON_TYPES[short]


def _mlspec_reason_type(tfmd_name: str, kind: int) -> str:
    """The MLSpec type (without prefix) a TF Metadata reason type is read as.

    A comparator type whose measurement was found in a drift or skew list is DRIFT_ or
    SKEW_OVER_THRESHOLD by that list; every other type as ``REASON_TYPES`` says.
    """
    if tfmd_name in _COMPARATOR_REASONS and kind in _DISTANCE_KINDS:
        return _DISTANCE_KINDS[kind]  # type: ignore[index]
    return REASON_TYPES[tfmd_name]


def _carries_distance(measurement: validation_pb2.ValidationDistanceMeasurement) -> bool:
    """Whether a reason's measurement goes into ``drift_skew_info`` (it has a list there)."""
    return measurement.kind in _DISTANCE_KINDS


def _present_fields(weighted: bool) -> list[str]:
    """``NumericStatistics.present_fields`` of TF Metadata numeric statistics."""
    return [*_NUMERIC, *(_WEIGHTED if weighted else ())]


def _writes_weighted(numeric: statistics_pb2.NumericStatistics) -> bool:
    """Whether MLSpec numeric statistics give TF Metadata a ``weighted_numeric_stats``."""
    return bool(
        numeric.weighted_mean
        or numeric.weighted_std_dev
        or set(numeric.present_fields) & set(_WEIGHTED)
    )


# -- losses ----------------------------------------------------------------------------


def unconverted(message: protobuf_message.Message) -> list[str]:
    """The paths of the fields set in ``message`` that a conversion cannot carry.

    Works on TF Metadata messages (``TFMD_LOST``, ``TFMD_PARTLY_LOST``) and MLSpec ones
    (``MLSPEC_LOST``, ``MLSPEC_PARTLY_LOST``);
    field paths read like ``feature[2].annotation``. An enum or list that converts for
    some values only is named when its value is one that does not.
    """
    return sorted(_unconverted(message, ""))


def _partial_losses() -> dict[str, Callable[[Any, Any], bool]]:
    """For fields that convert for some values only: which values (in which message) do not."""
    kept_comparators = {t for _, t in _COMPARATOR_FIELDS}

    def reason_type_changes(value: int, reason: validation_pb2.ValidationAnomalyReason) -> bool:
        written = _tfmd_reason_type(reason)
        found_back = _COMPARATOR_REASONS.get(written) == reason.measurement.comparator
        kind = (
            reason.measurement.kind
            if found_back and _carries_distance(reason.measurement)
            else validation_pb2.VALIDATION_DISTANCE_KIND_UNSPECIFIED
        )
        name = validation_pb2.ValidationAnomalyType.Name(value)  # type: ignore[arg-type]
        return _mlspec_reason_type(written, kind) != name.removeprefix("VALIDATION_ANOMALY_TYPE_")

    def measurement_lost(
        value: validation_pb2.ValidationDistanceMeasurement,
        reason: validation_pb2.ValidationAnomalyReason,
    ) -> bool:
        comparator = _COMPARATOR_REASONS.get(_tfmd_reason_type(reason))
        return comparator != value.comparator or (
            not _carries_distance(value) and bool(value.value or value.threshold)
        )

    def tfmd_folds(value: int, _: Any) -> bool:
        name = tfa.AnomalyInfo.Type.Name(value)
        return name not in _COMPARATOR_REASONS and TFMD_REASON_TYPES[REASON_TYPES[name]] != name

    def named(value: Any, _: Any) -> bool:
        return bool(value.HasField("name"))

    return {
        TF + "Feature.int_domain": named,
        TF + "Feature.float_domain": named,
        TF + "Feature.string_domain": named,
        TF + "AnomalyInfo.Reason.type": tfmd_folds,
        MS + "FeatureSchema.type": lambda v, _: (
            v in _SCHEMA_TYPES_BACK.keys() - _SCHEMA_TYPES.values()
        ),
        MS + "FeatureStatistics.type": lambda v, _: v not in _STAT_TYPES.values(),
        MS + "Histogram.type": lambda v, _: v not in _HISTOGRAM_TYPES.values(),
        MS + "ComparatorThreshold.type": lambda v, _: v not in kept_comparators,
        MS + "NumericStatistics.present_fields": lambda v, numeric: (
            list(v) != _present_fields(_writes_weighted(numeric))
        ),
        ML + "ValidationDistanceMeasurement.comparator": lambda v, _: v not in kept_comparators,
        ML + "ValidationAnomaly.severity": lambda v, _: v not in _SEVERITIES.values(),
        ML + "ValidationAnomalyReason.type": reason_type_changes,
        ML + "ValidationAnomalyReason.measurement": measurement_lost,
        MS + "SparseFeatureSchema.index_paths": lambda v, _: any(len(p.steps) != 1 for p in v),
        MS + "CustomStatistic.value": lambda v, _: (
            v.WhichOneof("kind") not in ("double_value", "int_value", "string_value")
        ),
    }


def _unconverted(message: protobuf_message.Message, prefix: str) -> Iterator[str]:
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        key = f"{message.DESCRIPTOR.full_name}.{field.name}"
        if (
            (key in _PARTIAL and _PARTIAL[key](value, message))
            or key in TFMD_LOST
            or key in MLSPEC_LOST
        ):
            yield path
        elif field.message_type is None:
            continue
        elif field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for item_key, item in value.items():
                    yield from _unconverted(item, f"{path}[{item_key!r}].")
        elif field.is_repeated:
            for i, item in enumerate(value):
                yield from _unconverted(item, f"{path}[{i}].")
        else:
            yield from _unconverted(value, f"{path}.")


# -- small helpers -------------------------------------------------------------------------


def _copy_set(source: Any, target: Any, names: Iterable[str]) -> None:
    """Copies the named scalar fields that are set (proto2) or non-zero (proto3)."""
    for name in names:
        field = source.DESCRIPTOR.fields_by_name[name]
        if field.has_presence:
            if source.HasField(name):
                setattr(target, name, getattr(source, name))
        elif getattr(source, name):
            setattr(target, name, getattr(source, name))


def _copy_part(source: Any, target: Any, name: str, names: Iterable[str]) -> None:
    """Copies sub-message ``name`` when ``source`` has it, with its named scalar fields.

    For the parts that have the same field names in TF Metadata and MLSpec, so one call
    serves both directions.
    """
    if source.HasField(name):
        getattr(target, name).SetInParent()
        _copy_set(getattr(source, name), getattr(target, name), names)


def _path(steps: Iterable[str]) -> statistics_pb2.FeaturePath:
    return statistics_pb2.FeaturePath(steps=list(steps))


# -- schema --------------------------------------------------------------------------------


def schema_from_tfmd(schema: Any, *, schema_version: str) -> schema_pb2.DataSchema:
    """A TF Metadata ``Schema`` as an MLSpec ``DataSchema`` of the given version."""
    out = schema_pb2.DataSchema(
        schema_version=schema_version, origin=schema_pb2.SCHEMA_ORIGIN_IMPORTED
    )
    out.features.extend(_feature_from(f) for f in schema.feature)
    out.sparse_features.extend(_sparse_from(f) for f in schema.sparse_feature)
    for weighted in schema.weighted_feature:
        out.weighted_features.add(
            name=weighted.name,
            feature_path=_path(weighted.feature.step),
            weight_path=_path(weighted.weight_feature.step),
            lifecycle_stage=_STAGES[weighted.lifecycle_stage],
        )
    for kind, convert in _DOMAINS_FROM.items():
        for domain in getattr(schema, kind):
            getattr(out.shared_domains.add(name=domain.name), kind).CopyFrom(convert(domain))
    out.default_environments.extend(schema.default_environment)
    _copy_dataset_constraints(schema, out)
    return out


def schema_to_tfmd(schema: schema_pb2.DataSchema) -> Any:
    """An MLSpec ``DataSchema`` as a TF Metadata ``Schema`` (see ``MLSPEC_LOST``)."""
    out = tfs.Schema()
    out.feature.extend(_feature_to(f) for f in schema.features)
    out.sparse_feature.extend(_sparse_to(f) for f in schema.sparse_features)
    for weighted in schema.weighted_features:
        item = out.weighted_feature.add(name=weighted.name)
        item.feature.step.extend(weighted.feature_path.steps)
        item.weight_feature.step.extend(weighted.weight_path.steps)
        if weighted.lifecycle_stage:
            item.lifecycle_stage = _back(_STAGES)[weighted.lifecycle_stage]
    for shared in schema.shared_domains:
        kind = shared.WhichOneof("domain")
        if kind in _DOMAINS_TO:
            getattr(out, kind).append(_DOMAINS_TO[kind](getattr(shared, kind), shared.name))
    out.default_environment.extend(schema.default_environments)
    _copy_dataset_constraints(schema, out)
    return out


def _copy_dataset_constraints(source: Any, target: Any) -> None:
    """Copies a schema's dataset constraints (the same field names in both vocabularies)."""
    if not source.HasField("dataset_constraints"):
        return
    _copy_part(source, target, "dataset_constraints", ("min_examples_count", "max_examples_count"))
    for name in ("num_examples_drift_comparator", "num_examples_version_comparator"):
        _copy_part(
            source.dataset_constraints,
            target.dataset_constraints,
            name,
            ("min_fraction_threshold", "max_fraction_threshold"),
        )


def _back(mapping: dict[Any, Any]) -> dict[Any, Any]:
    return {v: k for k, v in mapping.items()}


_INT_DOMAIN = ("min", "max", "is_categorical")
_FLOAT_DOMAIN = ("min", "max", "disallow_nan", "disallow_inf", "is_embedding", "embedding_dim")


def _int_domain(domain: Any) -> schema_pb2.IntDomain:
    out = schema_pb2.IntDomain()
    _copy_set(domain, out, _INT_DOMAIN)
    return out


def _int_domain_to(domain: schema_pb2.IntDomain, name: str = "") -> Any:
    out = tfs.IntDomain(name=name or None)
    _copy_set(domain, out, _INT_DOMAIN)
    return out


def _float_domain(domain: Any) -> schema_pb2.FloatDomain:
    out = schema_pb2.FloatDomain()
    _copy_set(domain, out, _FLOAT_DOMAIN)
    return out


def _float_domain_to(domain: schema_pb2.FloatDomain, name: str = "") -> Any:
    out = tfs.FloatDomain(name=name or None)
    _copy_set(domain, out, _FLOAT_DOMAIN)
    return out


def _string_domain(domain: Any) -> schema_pb2.StringDomain:
    return schema_pb2.StringDomain(values=list(domain.value))


def _string_domain_to(domain: schema_pb2.StringDomain, name: str = "") -> Any:
    return tfs.StringDomain(value=list(domain.values), name=name or None)


# The value domains a feature holds or a schema shares, by the field name both
# vocabularies give them, with their converters (in the order of TF Metadata's fields).
_DOMAINS_FROM: dict[str, Callable[[Any], protobuf_message.Message]] = {
    "string_domain": _string_domain,
    "float_domain": _float_domain,
    "int_domain": _int_domain,
}
_DOMAINS_TO: dict[str, Callable[..., protobuf_message.Message]] = {
    "string_domain": _string_domain_to,
    "float_domain": _float_domain_to,
    "int_domain": _int_domain_to,
}


def _feature_from(feature: Any) -> schema_pb2.FeatureSchema:
    out = schema_pb2.FeatureSchema(name=feature.name, type=_SCHEMA_TYPES[feature.type])
    kind = feature.WhichOneof("domain_info")
    if kind == "domain":
        out.shared_domain = feature.domain
    elif kind in _DOMAINS_FROM:
        getattr(out, kind).CopyFrom(_DOMAINS_FROM[kind](getattr(feature, kind)))
    elif kind == "bool_domain":
        _copy_part(feature, out, "bool_domain", ("true_value", "false_value"))
    elif kind == "struct_domain":
        out.struct_domain.SetInParent()
        out.struct_domain.features.extend(_feature_from(f) for f in feature.struct_domain.feature)
        out.struct_domain.sparse_features.extend(
            _sparse_from(f) for f in feature.struct_domain.sparse_feature
        )
    elif kind == "natural_language_domain":
        out.natural_language_domain.SetInParent()
        coverage = feature.natural_language_domain.coverage
        if coverage.HasField("min_coverage"):
            out.natural_language_domain.min_token_coverage = coverage.min_coverage
    elif kind == "image_domain":
        out.image_domain.SetInParent()
        if feature.image_domain.HasField("max_image_byte_size"):
            out.image_domain.max_image_bytes = feature.image_domain.max_image_byte_size
    elif kind == "url_domain":
        out.url_domain.SetInParent()
    elif kind == "time_domain":
        out.time_domain.kind = schema_pb2.TIME_VALUE_KIND_DATE_TIME
        if feature.time_domain.HasField("string_format"):
            out.time_domain.string_format = feature.time_domain.string_format
        elif feature.time_domain.HasField("integer_format"):
            out.time_domain.integer_format = _TIME_FORMATS[feature.time_domain.integer_format]
    elif kind == "time_of_day_domain":
        out.time_domain.kind = schema_pb2.TIME_VALUE_KIND_TIME_OF_DAY
        if feature.time_of_day_domain.HasField("string_format"):
            out.time_domain.string_format = feature.time_of_day_domain.string_format
    _copy_part(feature, out, "presence", _PRESENCE)
    shape = feature.WhichOneof("shape_type")
    if shape == "shape":
        out.shape.SetInParent()
        for dim in feature.shape.dim:
            out.shape.dims.add(size=dim.size, name=dim.name)
    elif shape == "value_count":
        _copy_part(feature, out, "value_count", ("min", "max"))
    elif shape == "value_counts":
        for count in feature.value_counts.value_count:
            item = out.value_counts.add()
            _copy_set(count, item, ("min", "max"))
    _copy_feature_constraints(feature, out, _comparator_from)
    if feature.HasField("lifecycle_stage"):
        out.lifecycle_stage = _STAGES[feature.lifecycle_stage]
    elif feature.deprecated:
        out.lifecycle_stage = schema_pb2.FEATURE_LIFECYCLE_STAGE_DEPRECATED
    return out


def _feature_to(feature: schema_pb2.FeatureSchema) -> Any:
    out = tfs.Feature(name=feature.name)
    if feature.type:
        out.type = _SCHEMA_TYPES_BACK.get(
            feature.type,
            tfs.INT if feature.time_domain.HasField("integer_format") else tfs.BYTES,
        )
    kind = feature.WhichOneof("domain_info")
    if kind == "shared_domain":
        out.domain = feature.shared_domain
    elif kind in _DOMAINS_TO:
        getattr(out, kind).CopyFrom(_DOMAINS_TO[kind](getattr(feature, kind)))
    elif kind == "bool_domain":
        _copy_part(feature, out, "bool_domain", ("true_value", "false_value"))
    elif kind == "struct_domain":
        out.struct_domain.SetInParent()
        out.struct_domain.feature.extend(_feature_to(f) for f in feature.struct_domain.features)
        out.struct_domain.sparse_feature.extend(
            _sparse_to(f) for f in feature.struct_domain.sparse_features
        )
    elif kind == "natural_language_domain":
        out.natural_language_domain.SetInParent()
        if feature.natural_language_domain.HasField("min_token_coverage"):
            out.natural_language_domain.coverage.min_coverage = (
                feature.natural_language_domain.min_token_coverage
            )
    elif kind == "image_domain":
        out.image_domain.SetInParent()
        if feature.image_domain.max_image_bytes:
            out.image_domain.max_image_byte_size = feature.image_domain.max_image_bytes
    elif kind == "url_domain":
        out.url_domain.SetInParent()
    elif kind == "time_domain":
        time = feature.time_domain
        if time.kind == schema_pb2.TIME_VALUE_KIND_TIME_OF_DAY:
            out.time_of_day_domain.SetInParent()
            if time.HasField("string_format"):
                out.time_of_day_domain.string_format = time.string_format
        else:
            out.time_domain.SetInParent()
            if time.HasField("string_format"):
                out.time_domain.string_format = time.string_format
            elif time.HasField("integer_format"):
                out.time_domain.integer_format = _back(_TIME_FORMATS)[time.integer_format]
    _copy_part(feature, out, "presence", _PRESENCE)
    if feature.HasField("shape"):
        out.shape.SetInParent()
        for dim in feature.shape.dims:
            item = out.shape.dim.add(size=dim.size)
            if dim.name:
                item.name = dim.name
    elif feature.HasField("value_count"):
        _copy_part(feature, out, "value_count", ("min", "max"))
    elif feature.value_counts:
        out.value_counts.SetInParent()
        for count in feature.value_counts:
            item = out.value_counts.value_count.add()
            _copy_set(count, item, ("min", "max"))
    _copy_feature_constraints(feature, out, _comparator_to)
    if feature.lifecycle_stage:
        out.lifecycle_stage = _back(_STAGES)[feature.lifecycle_stage]
    return out


_PRESENCE = ("min_fraction", "min_count")


def _copy_feature_constraints(
    feature: Any, out: Any, comparator: Callable[[Any], protobuf_message.Message]
) -> None:
    """Copies what a feature constrains alike in both vocabularies, in either direction.

    ``comparator`` converts a skew or drift comparator (``_comparator_from`` or
    ``_comparator_to``), the one part whose shape differs.
    """
    _copy_part(feature, out, "distribution_constraints", ("min_domain_mass",))
    _copy_part(feature, out, "unique_constraints", ("min", "max"))
    for name in ("skew_comparator", "drift_comparator"):
        if feature.HasField(name):
            getattr(out, name).CopyFrom(comparator(getattr(feature, name)))
    out.in_environment.extend(feature.in_environment)
    out.not_in_environment.extend(feature.not_in_environment)


_COMPARATOR_FIELDS = (
    ("infinity_norm", schema_pb2.COMPARATOR_TYPE_L_INFINITY),
    ("jensen_shannon_divergence", schema_pb2.COMPARATOR_TYPE_JENSEN_SHANNON_DIVERGENCE),
    ("normalized_abs_difference", schema_pb2.COMPARATOR_TYPE_NORMALIZED_ABSOLUTE_DIFFERENCE),
)


def _comparator_from(comparator: Any) -> schema_pb2.FeatureComparator:
    out = schema_pb2.FeatureComparator()
    for name, kind in _COMPARATOR_FIELDS:
        if comparator.HasField(name):
            out.thresholds.add(type=kind, threshold=getattr(comparator, name).threshold)
    return out


def _comparator_to(comparator: schema_pb2.FeatureComparator) -> Any:
    out = tfs.FeatureComparator()
    out.SetInParent()
    fields = {kind: name for name, kind in _COMPARATOR_FIELDS}
    for threshold in comparator.thresholds:
        name = fields.get(threshold.type)
        if name is not None:
            getattr(out, name).threshold = threshold.threshold
    return out


def _sparse_from(feature: Any) -> schema_pb2.SparseFeatureSchema:
    out = schema_pb2.SparseFeatureSchema(name=feature.name, is_sorted=feature.is_sorted)
    out.index_paths.extend(_path([index.name]) for index in feature.index_feature)
    if feature.HasField("value_feature"):
        out.value_path.steps.append(feature.value_feature.name)
    if feature.HasField("dense_shape"):
        out.dense_shape.SetInParent()
        for dim in feature.dense_shape.dim:
            out.dense_shape.dims.add(size=dim.size, name=dim.name)
    _copy_part(feature, out, "presence", _PRESENCE)
    if feature.HasField("lifecycle_stage"):
        out.lifecycle_stage = _STAGES[feature.lifecycle_stage]
    return out


def _sparse_to(feature: schema_pb2.SparseFeatureSchema) -> Any:
    out = tfs.SparseFeature(name=feature.name)
    if feature.is_sorted:
        out.is_sorted = True
    for index in feature.index_paths:
        out.index_feature.add(name=".".join(index.steps))
    if feature.HasField("value_path"):
        out.value_feature.name = ".".join(feature.value_path.steps)
    if feature.HasField("dense_shape"):
        out.dense_shape.SetInParent()
        for dim in feature.dense_shape.dims:
            item = out.dense_shape.dim.add(size=dim.size)
            if dim.name:
                item.name = dim.name
    _copy_part(feature, out, "presence", _PRESENCE)
    if feature.lifecycle_stage:
        out.lifecycle_stage = _back(_STAGES)[feature.lifecycle_stage]
    return out


# -- statistics ----------------------------------------------------------------------------


def statistics_from_tfmd(statistics: Any) -> list[statistics_pb2.DatasetStatistics]:
    """A TF Metadata ``DatasetFeatureStatisticsList`` as MLSpec statistics blocks."""
    return [_dataset_from(dataset) for dataset in statistics.datasets]


def statistics_to_tfmd(blocks: Iterable[statistics_pb2.DatasetStatistics]) -> Any:
    """MLSpec statistics blocks as a TF Metadata ``DatasetFeatureStatisticsList``."""
    out = tfst.DatasetFeatureStatisticsList()
    out.datasets.extend(_dataset_to(block) for block in blocks)
    return out


def analysis_from_tfmd(
    statistics: Any, *, dataset: reference_pb2.ResourceRef, tool_version: str = ""
) -> analysis_pb2.DataAnalysis:
    """A stage 3 (data analysis) payload holding TFDV statistics of a dataset version."""
    return analysis_pb2.DataAnalysis(
        dataset=dataset,
        statistics=statistics_from_tfmd(statistics),
        tool_name="tfdv",
        tool_version=tool_version,
    )


def _dataset_from(dataset: Any) -> statistics_pb2.DatasetStatistics:
    out = statistics_pb2.DatasetStatistics(
        name=dataset.name,
        num_examples=dataset.num_examples,
        weighted_num_examples=dataset.weighted_num_examples,
    )
    out.features.extend(_feature_stats_from(f) for f in dataset.features)
    paths = [tuple(f.path.steps) for f in out.features]
    for feature in out.features:
        if feature.HasField("struct_stats"):
            steps = tuple(feature.path.steps)
            feature.struct_stats.child_paths.extend(
                _path(p) for p in paths if len(p) == len(steps) + 1 and p[: len(steps)] == steps
            )
    for cross in dataset.cross_features:
        item = out.cross_features.add(
            path_x=_path(cross.path_x.step), path_y=_path(cross.path_y.step), count=cross.count
        )
        _copy_cross_stats(cross, item)
    return out


def _dataset_to(block: statistics_pb2.DatasetStatistics) -> Any:
    out = tfst.DatasetFeatureStatistics(
        name=block.name,
        num_examples=block.num_examples,
        weighted_num_examples=block.weighted_num_examples,
    )
    out.features.extend(_feature_stats_to(f) for f in block.features)
    for cross in block.cross_features:
        item = out.cross_features.add(count=cross.count)
        item.path_x.step.extend(cross.path_x.steps)
        item.path_y.step.extend(cross.path_y.steps)
        _copy_cross_stats(cross, item)
    return out


def _copy_cross_stats(cross: Any, item: Any) -> None:
    """Copies the statistics of a feature pair (the same names in both vocabularies)."""
    kind = cross.WhichOneof("cross_stats")
    if kind == "num_cross_stats":
        item.num_cross_stats.SetInParent()
        item.num_cross_stats.correlation = cross.num_cross_stats.correlation
        item.num_cross_stats.covariance = cross.num_cross_stats.covariance
    elif kind == "categorical_cross_stats":
        item.categorical_cross_stats.SetInParent()


def _feature_stats_from(feature: Any) -> statistics_pb2.FeatureStatistics:
    steps = [feature.name] if feature.WhichOneof("field_id") == "name" else feature.path.step
    out = statistics_pb2.FeatureStatistics(path=_path(steps), type=_STAT_TYPES[feature.type])
    kind = feature.WhichOneof("stats")
    if kind is not None:
        stats = getattr(feature, kind)
        if stats.HasField("common_stats"):
            out.common_stats.CopyFrom(_common_from(stats.common_stats))
    if kind == "num_stats":
        num = feature.num_stats
        target = out.num_stats
        target.SetInParent()
        _copy_set(num, target, _NUMERIC)
        target.histograms.extend(_histogram_from(h) for h in num.histograms)
        target.weighted_mean = num.weighted_numeric_stats.mean
        target.weighted_std_dev = num.weighted_numeric_stats.std_dev
        target.present_fields.extend(_present_fields(num.HasField("weighted_numeric_stats")))
    elif kind == "string_stats":
        text = feature.string_stats
        target_s = out.string_stats
        target_s.SetInParent()
        target_s.unique = text.unique
        target_s.avg_length = text.avg_length
        target_s.vocabulary_uri = text.vocabulary_file
        target_s.invalid_utf8_count = text.invalid_utf8_count
        for top in text.top_values:
            target_s.top_values.add(value=top.value, frequency=top.frequency)
        if text.HasField("rank_histogram"):
            target_s.rank_histogram.CopyFrom(_rank_from(text.rank_histogram))
    elif kind == "bytes_stats":
        raw = feature.bytes_stats
        target_b = out.bytes_stats
        target_b.SetInParent()
        target_b.unique = raw.unique
        target_b.avg_num_bytes = raw.avg_num_bytes
        target_b.min_num_bytes = round(raw.min_num_bytes)
        target_b.max_num_bytes = raw.max_num_bytes_int or round(raw.max_num_bytes)
    elif kind == "struct_stats":
        out.struct_stats.SetInParent()
    for custom in feature.custom_stats:
        item = out.custom_stats.add(name=custom.name)
        value = custom.WhichOneof("val")
        if value == "num":
            item.value.double_value = custom.num
        elif value == "str":
            item.value.string_value = custom.str
        elif value == "histogram":
            item.histogram.CopyFrom(_histogram_from(custom.histogram))
        elif value == "rank_histogram":
            item.rank_histogram.CopyFrom(_rank_from(custom.rank_histogram))
    return out


def _feature_stats_to(feature: statistics_pb2.FeatureStatistics) -> Any:
    out = tfst.FeatureNameStatistics(type=_STAT_TYPES_BACK.get(feature.type, 0))
    out.path.step.extend(feature.path.steps)
    kind = feature.WhichOneof("stats")
    if kind is not None:
        stats = getattr(out, kind)
        stats.SetInParent()
        if feature.HasField("common_stats"):
            stats.common_stats.CopyFrom(_common_to(feature.common_stats))
    if kind == "num_stats":
        num = feature.num_stats
        _copy_set(num, out.num_stats, _NUMERIC)
        out.num_stats.histograms.extend(_histogram_to(h) for h in num.histograms)
        if _writes_weighted(num):
            out.num_stats.weighted_numeric_stats.SetInParent()
            out.num_stats.weighted_numeric_stats.mean = num.weighted_mean
            out.num_stats.weighted_numeric_stats.std_dev = num.weighted_std_dev
    elif kind == "string_stats":
        text = feature.string_stats
        target = out.string_stats
        target.unique = text.unique
        target.avg_length = text.avg_length
        target.vocabulary_file = text.vocabulary_uri
        target.invalid_utf8_count = text.invalid_utf8_count
        for top in text.top_values:
            target.top_values.add(value=top.value, frequency=top.frequency)
        if text.HasField("rank_histogram"):
            target.rank_histogram.CopyFrom(_rank_to(text.rank_histogram))
    elif kind == "bytes_stats":
        raw = feature.bytes_stats
        out.bytes_stats.unique = raw.unique
        out.bytes_stats.avg_num_bytes = raw.avg_num_bytes
        out.bytes_stats.min_num_bytes = raw.min_num_bytes
        out.bytes_stats.max_num_bytes = raw.max_num_bytes
        out.bytes_stats.max_num_bytes_int = raw.max_num_bytes
    for custom in feature.custom_stats:
        item = out.custom_stats.add(name=custom.name)
        value = custom.WhichOneof("val")
        if value == "value":
            scalar = custom.value.WhichOneof("kind")
            if scalar in ("double_value", "int_value"):
                item.num = getattr(custom.value, scalar)
            elif scalar == "string_value":
                item.str = custom.value.string_value
        elif value == "histogram":
            item.histogram.CopyFrom(_histogram_to(custom.histogram))
        elif value == "rank_histogram":
            item.rank_histogram.CopyFrom(_rank_to(custom.rank_histogram))
    return out


_COMMON = ("num_non_missing", "num_missing", "min_num_values", "max_num_values")


def _copy_common(
    common: Any, out: Any, histogram: Callable[[Any], protobuf_message.Message]
) -> None:
    """Copies the common statistics both vocabularies name alike, in either direction.

    ``histogram`` converts a histogram (``_histogram_from`` or ``_histogram_to``).
    """
    out.avg_num_values = common.avg_num_values
    out.tot_num_values = common.tot_num_values
    _copy_set(common, out, _COMMON)
    for name in ("num_values_histogram", "feature_list_length_histogram"):
        if common.HasField(name):
            getattr(out, name).CopyFrom(histogram(getattr(common, name)))


def _common_from(common: Any) -> statistics_pb2.CommonStatistics:
    out = statistics_pb2.CommonStatistics()
    _copy_common(common, out, _histogram_from)
    out.weighted_num_non_missing = common.weighted_common_stats.num_non_missing
    out.weighted_num_missing = common.weighted_common_stats.num_missing
    return out


def _common_to(common: statistics_pb2.CommonStatistics) -> Any:
    out = tfst.CommonStatistics()
    _copy_common(common, out, _histogram_to)
    if common.weighted_num_non_missing or common.weighted_num_missing:
        out.weighted_common_stats.num_non_missing = common.weighted_num_non_missing
        out.weighted_common_stats.num_missing = common.weighted_num_missing
    return out


def _copy_buckets(histogram: Any, out: Any, names: tuple[str, ...]) -> None:
    """Copies a histogram's buckets, whose fields have the same names in both vocabularies."""
    for bucket in histogram.buckets:
        out.buckets.add(**{name: getattr(bucket, name) for name in names})


def _histogram_from(histogram: Any) -> statistics_pb2.Histogram:
    out = statistics_pb2.Histogram(
        name=histogram.name,
        type=_HISTOGRAM_TYPES[histogram.type],
        num_nan=histogram.num_nan,
        num_undefined=histogram.num_undefined,
    )
    _copy_buckets(histogram, out, ("low_value", "high_value", "sample_count"))
    return out


def _histogram_to(histogram: statistics_pb2.Histogram) -> Any:
    out = tfst.Histogram(
        name=histogram.name,
        type=_back(_HISTOGRAM_TYPES).get(histogram.type, tfst.Histogram.STANDARD),
        num_nan=histogram.num_nan,
        num_undefined=histogram.num_undefined,
    )
    _copy_buckets(histogram, out, ("low_value", "high_value", "sample_count"))
    return out


def _rank_from(histogram: Any) -> statistics_pb2.RankHistogram:
    out = statistics_pb2.RankHistogram(name=histogram.name)
    _copy_buckets(histogram, out, ("low_rank", "high_rank", "label", "sample_count"))
    return out


def _rank_to(histogram: statistics_pb2.RankHistogram) -> Any:
    out = tfst.RankHistogram(name=histogram.name)
    _copy_buckets(histogram, out, ("low_rank", "high_rank", "label", "sample_count"))
    return out


# -- anomalies -----------------------------------------------------------------------------


def validation_from_tfmd(
    anomalies: Any,
    *,
    dataset: reference_pb2.ResourceRef,
    schema_version: str,
    tool: str = "tfdv",
) -> validation_pb2.DataValidation:
    """TFDV ``Anomalies`` as a stage 5 (data validation) payload.

    The baseline schema, when present, becomes the inline schema (of ``schema_version``);
    every drift and skew measurement is listed in ``measurements``, and a comparator
    reason also carries the one of its feature it reports; the decision is BLOCK with an
    ERROR anomaly, WARN with a WARNING one, PASS otherwise.
    """
    out = validation_pb2.DataValidation(dataset=dataset, schema_version=schema_version, tool=tool)
    if anomalies.HasField("baseline"):
        out.schema.CopyFrom(schema_from_tfmd(anomalies.baseline, schema_version=schema_version))
    for drift_skew in anomalies.drift_skew_info:
        for kinds, measurements in (
            (validation_pb2.VALIDATION_DISTANCE_KIND_DRIFT, drift_skew.drift_measurements),
            (validation_pb2.VALIDATION_DISTANCE_KIND_SKEW, drift_skew.skew_measurements),
        ):
            for measurement in measurements:
                out.measurements.add(
                    feature=_path(drift_skew.path.step),
                    kind=kinds,
                    comparator=_MEASUREMENTS.get(
                        measurement.type, schema_pb2.COMPARATOR_TYPE_UNSPECIFIED
                    ),
                    value=measurement.value,
                    threshold=measurement.threshold,
                    exceeded=measurement.value > measurement.threshold,
                )
    for key in sorted(anomalies.anomaly_info):  # a map has no order: by key
        info = anomalies.anomaly_info[key]
        steps = list(info.path.step) if info.HasField("path") else [key]
        out.anomalies.append(_anomaly_from(info, steps, out.measurements))
    if anomalies.HasField("dataset_anomaly_info"):
        out.anomalies.append(_anomaly_from(anomalies.dataset_anomaly_info, [], out.measurements))
    severities = {a.severity for a in out.anomalies}
    out.decision = (
        validation_pb2.VALIDATION_DECISION_BLOCK
        if validation_pb2.VALIDATION_ANOMALY_SEVERITY_ERROR in severities
        else validation_pb2.VALIDATION_DECISION_WARN
        if validation_pb2.VALIDATION_ANOMALY_SEVERITY_WARNING in severities
        else validation_pb2.VALIDATION_DECISION_PASS
    )
    return out


def anomalies_to_tfmd(validation: validation_pb2.DataValidation) -> Any:
    """A stage 5 payload as TFDV ``Anomalies`` (see ``MLSPEC_LOST``).

    A reason's drift or skew measurement that ``measurements`` does not list is added to
    ``drift_skew_info`` too, TF Metadata's one place for measured distances.
    """
    out = tfa.Anomalies()
    if validation.HasField("schema"):
        out.baseline.CopyFrom(schema_to_tfmd(validation.schema))
    for anomaly in validation.anomalies:
        if anomaly.feature.steps:
            info = out.anomaly_info[".".join(anomaly.feature.steps)]
            info.path.step.extend(anomaly.feature.steps)
        else:
            info = out.dataset_anomaly_info
        _anomaly_to(anomaly, info)
    listed = [(tuple(m.feature.steps), m) for m in validation.measurements]
    seen = {_distance_key(steps, m) for steps, m in listed}
    for anomaly in validation.anomalies:
        for reason in anomaly.reasons:
            measurement = reason.measurement
            steps = tuple(measurement.feature.steps or anomaly.feature.steps)
            if (
                reason.HasField("measurement")
                and _carries_distance(measurement)
                and _distance_key(steps, measurement) not in seen
            ):
                seen.add(_distance_key(steps, measurement))
                listed.append((steps, measurement))
    groups: dict[tuple[str, ...], Any] = {}
    for steps, measurement in listed:
        if steps not in groups:
            groups[steps] = out.drift_skew_info.add()
            groups[steps].path.step.extend(steps)
        target = (
            groups[steps].skew_measurements
            if measurement.kind == validation_pb2.VALIDATION_DISTANCE_KIND_SKEW
            else groups[steps].drift_measurements
        )
        target.add(
            type=_back(_MEASUREMENTS).get(measurement.comparator, 0),
            value=measurement.value,
            threshold=measurement.threshold,
        )
    return out


def _distance_key(
    steps: tuple[str, ...], measurement: validation_pb2.ValidationDistanceMeasurement
) -> tuple[Any, ...]:
    """What TF Metadata keeps of a measurement: two that agree on it are one there."""
    return (
        steps,
        measurement.kind,
        measurement.comparator,
        measurement.value,
        measurement.threshold,
    )


def _anomaly_from(
    info: Any,
    steps: list[str],
    measurements: Iterable[validation_pb2.ValidationDistanceMeasurement],
) -> validation_pb2.ValidationAnomaly:
    out = validation_pb2.ValidationAnomaly(
        feature=_path(steps),
        severity=_SEVERITIES[info.severity],
        short_description=info.short_description,
        description=info.description,
    )
    # A comparator reason reports a measurement of this feature with its comparator; the
    # ones that crossed their threshold first, each taken by one reason in order.
    found: dict[int, list[validation_pb2.ValidationDistanceMeasurement]] = {}
    for measurement in measurements:
        if list(measurement.feature.steps) == steps:
            found.setdefault(measurement.comparator, []).append(measurement)
    for candidates in found.values():
        candidates.sort(key=lambda m: not m.exceeded)
    for reason in info.reason:
        name = tfa.AnomalyInfo.Type.Name(reason.type)
        item = out.reasons.add(
            short_description=reason.short_description, description=reason.description
        )
        comparator = _COMPARATOR_REASONS.get(name)
        if comparator is not None:
            item.measurement.feature.CopyFrom(out.feature)
            item.measurement.comparator = comparator
            if found.get(comparator):
                item.measurement.CopyFrom(found[comparator].pop(0))
        item.type = validation_pb2.ValidationAnomalyType.Value(
            "VALIDATION_ANOMALY_TYPE_" + _mlspec_reason_type(name, item.measurement.kind)
        )
    return out


def _anomaly_to(anomaly: validation_pb2.ValidationAnomaly, info: Any) -> None:
    severity = _back(_SEVERITIES).get(anomaly.severity)
    if severity:  # INFO has no TF Metadata severity
        info.severity = severity
    if anomaly.short_description:
        info.short_description = anomaly.short_description
    if anomaly.description:
        info.description = anomaly.description
    for reason in anomaly.reasons:
        item = info.reason.add(type=tfa.AnomalyInfo.Type.Value(_tfmd_reason_type(reason)))
        if reason.short_description:
            item.short_description = reason.short_description
        if reason.description:
            item.description = reason.description


_PARTIAL = _partial_losses()
