"""TF Metadata objects, built with the real tensorflow-metadata classes, round-trip.

Each test builds a rich TFMD message (every kind of statistics, histograms, domains,
presence, comparators, anomalies), converts it to MLSpec and back, and expects the
original minus exactly the fields that ``TFMD_LOST`` lists; and the other way round from
MLSpec with ``MLSPEC_LOST``. ``unconverted`` must name exactly the lost fields that were set.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

from google.protobuf import message as protobuf_message
from tensorflow_metadata.proto.v0 import anomalies_pb2 as tfa
from tensorflow_metadata.proto.v0 import schema_pb2 as tfs
from tensorflow_metadata.proto.v0 import statistics_pb2 as tfst

from mlspec.client import Client, Stage
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import schema_pb2, statistics_pb2
from mlspec.interop import tfmd
from mlspec.lifecycle.v1 import validation_pb2
from mlspec.server.app import build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore

DATASET = reference_pb2.ResourceRef(kind=reference_pb2.RESOURCE_KIND_DATASET_VERSION, id="d-1")


def strip(message: Any, lost: dict[str, str]) -> Any:
    """A copy of ``message`` without the fields the table says are lost."""
    copy = type(message)()
    copy.CopyFrom(message)
    _strip(copy, lost)
    return copy


def _strip(message: protobuf_message.Message, lost: dict[str, str]) -> None:
    for field, value in message.ListFields():
        if f"{message.DESCRIPTOR.full_name}.{field.name}" in lost:
            message.ClearField(field.name)
        elif field.message_type is None or field.message_type.GetOptions().map_entry:
            if field.message_type is not None:
                for item in value.values():
                    if isinstance(item, protobuf_message.Message):
                        _strip(item, lost)
        elif field.is_repeated:
            for item in value:
                _strip(item, lost)
        else:
            _strip(value, lost)


def histogram(kind: int, name: str) -> Any:
    made = tfst.Histogram(type=kind, name=name, num_nan=2, num_undefined=1)
    made.buckets.add(low_value=0.0, high_value=10.0, sample_count=40.5)
    made.buckets.add(low_value=10.0, high_value=25.0, sample_count=59.5)
    return made


def common(non_missing: int) -> Any:
    made = tfst.CommonStatistics(
        num_non_missing=non_missing,
        num_missing=3,
        min_num_values=1,
        max_num_values=4,
        avg_num_values=1.5,
        tot_num_values=non_missing * 2,
    )
    made.num_values_histogram.CopyFrom(histogram(tfst.Histogram.QUANTILES, "num_values"))
    made.weighted_common_stats.num_non_missing = 90.5
    made.weighted_common_stats.num_missing = 2.5
    made.weighted_common_stats.avg_num_values = 1.25  # lost
    made.presence_and_valency_stats.add(num_non_missing=7)  # lost
    return made


def tfmd_statistics() -> Any:
    stats = tfst.DatasetFeatureStatisticsList()
    train = stats.datasets.add(name="train", num_examples=100, weighted_num_examples=93.0)

    age = train.features.add(type=tfst.FeatureNameStatistics.INT)
    age.path.step.append("age")
    num = age.num_stats
    num.common_stats.CopyFrom(common(97))
    num.mean, num.std_dev, num.num_zeros = 41.5, 12.25, 2
    num.min, num.median, num.max = 18.0, 40.0, 90.0
    num.histograms.append(histogram(tfst.Histogram.STANDARD, "values"))
    num.histograms.append(histogram(tfst.Histogram.QUANTILES, "quantiles"))
    num.weighted_numeric_stats.mean = 42.0
    num.weighted_numeric_stats.std_dev = 11.5
    num.weighted_numeric_stats.median = 41.0  # lost
    age.custom_stats.add(name="domain_validity", num=0.98)
    age.custom_stats.add(name="note", str="clipped at 90")
    age.custom_stats.add(name="log_values").histogram.CopyFrom(
        histogram(tfst.Histogram.STANDARD, "log")
    )

    plan = train.features.add(type=tfst.FeatureNameStatistics.STRING)
    plan.path.step.append("plan")
    text = plan.string_stats
    text.common_stats.CopyFrom(common(100))
    text.unique = 3
    text.avg_length = 5.5
    text.vocabulary_file = "gs://vocab/plan.txt"
    text.invalid_utf8_count = 1
    text.top_values.add(value="basic", frequency=60)
    text.top_values.add(value="pro", frequency=30)
    text.rank_histogram.name = "ranks"
    text.rank_histogram.buckets.add(low_rank=0, high_rank=0, label="basic", sample_count=60)
    text.rank_histogram.buckets.add(low_rank=1, high_rank=1, label="pro", sample_count=30)
    text.weighted_string_stats.top_values.add(value="basic", frequency=55)  # lost

    photo = train.features.add(type=tfst.FeatureNameStatistics.BYTES)
    photo.path.step.append("photo")
    raw = photo.bytes_stats
    raw.common_stats.CopyFrom(common(80))
    raw.unique, raw.avg_num_bytes = 80, 2048.5
    raw.min_num_bytes, raw.max_num_bytes, raw.max_num_bytes_int = 512.0, 8192.0, 8192

    address = train.features.add(type=tfst.FeatureNameStatistics.STRUCT)
    address.path.step.append("address")
    address.struct_stats.common_stats.CopyFrom(common(99))
    country = train.features.add(type=tfst.FeatureNameStatistics.STRING)
    country.path.step.extend(["address", "country"])
    country.string_stats.unique = 12

    cross = train.cross_features.add(count=95)
    cross.path_x.step.append("age")
    cross.path_y.step.append("plan")
    cross.num_cross_stats.correlation = 0.25
    cross.num_cross_stats.covariance = 3.5
    categorical = train.cross_features.add(count=90)
    categorical.path_x.step.append("plan")
    categorical.path_y.step.extend(["address", "country"])
    categorical.categorical_cross_stats.lift.lift_series.add(y_int=1)  # lost

    serving = stats.datasets.add(name="serving", num_examples=20)
    tenure = serving.features.add(type=tfst.FeatureNameStatistics.FLOAT)
    tenure.path.step.append("tenure")
    tenure.num_stats.mean = 7.5
    discount = serving.features.add(type=tfst.FeatureNameStatistics.FLOAT)
    discount.path.step.append("discount")
    discount.num_stats.num_zeros = 20  # all zero: weighted statistics there, and zero
    discount.num_stats.weighted_numeric_stats.SetInParent()
    return stats


def test_statistics_round_trip_keeps_everything_but_the_listed_fields() -> None:
    original = tfmd_statistics()
    blocks = tfmd.statistics_from_tfmd(original)
    assert tfmd.statistics_to_tfmd(blocks) == strip(original, tfmd.TFMD_LOST)
    assert tfmd.unconverted(original) == sorted(
        [
            "datasets[0].cross_features[1].categorical_cross_stats.lift",
            *(
                f"datasets[0].features[{i}].{kind}.common_stats.{lost}"
                for i, kind in ((0, "num_stats"), (1, "string_stats"), (2, "bytes_stats"))
                for lost in ("presence_and_valency_stats", "weighted_common_stats.avg_num_values")
            ),
            "datasets[0].features[0].num_stats.weighted_numeric_stats.median",
            "datasets[0].features[1].string_stats.weighted_string_stats",
            "datasets[0].features[3].struct_stats.common_stats.presence_and_valency_stats",
            "datasets[0].features[3].struct_stats.common_stats.weighted_common_stats.avg_num_values",
        ]
    )

    # What MLSpec reads: the typed statistics, at the feature, with struct children.
    train = blocks[0]
    age, plan, photo, address, _ = train.features
    assert (train.name, train.num_examples, train.weighted_num_examples) == ("train", 100, 93.0)
    assert age.type == statistics_pb2.FEATURE_TYPE_INT
    assert (age.num_stats.mean, age.num_stats.median, age.num_stats.weighted_mean) == (
        41.5,
        40.0,
        42.0,
    )
    assert age.common_stats.weighted_num_non_missing == 90.5
    # TF Metadata's six numeric scalars are values, 0 or not; weighted ones when there.
    six = ["mean", "std_dev", "num_zeros", "min", "median", "max"]
    assert age.num_stats.present_fields == [*six, "weighted_mean", "weighted_std_dev"]
    tenure, discount = blocks[1].features
    assert tenure.num_stats.present_fields == six  # no weighted mean, not a weighted 0
    assert discount.num_stats.present_fields == [*six, "weighted_mean", "weighted_std_dev"]
    assert [h.type for h in age.num_stats.histograms] == [
        statistics_pb2.HISTOGRAM_TYPE_STANDARD,
        statistics_pb2.HISTOGRAM_TYPE_QUANTILES,
    ]
    assert age.num_stats.histograms[0].buckets[1].sample_count == 59.5
    assert age.custom_stats[0].value.double_value == 0.98
    assert plan.string_stats.top_values[0].value == "basic"
    assert plan.string_stats.vocabulary_uri == "gs://vocab/plan.txt"
    assert (photo.bytes_stats.min_num_bytes, photo.bytes_stats.max_num_bytes) == (512, 8192)
    assert [list(p.steps) for p in address.struct_stats.child_paths] == [["address", "country"]]
    assert train.cross_features[0].num_cross_stats.correlation == 0.25


def test_a_feature_named_by_name_comes_back_with_a_one_step_path() -> None:
    stats = tfst.DatasetFeatureStatisticsList()
    feature = stats.datasets.add(num_examples=1).features.add(name="legacy")
    feature.num_stats.max = 3.0
    back = tfmd.statistics_to_tfmd(tfmd.statistics_from_tfmd(stats))
    assert list(back.datasets[0].features[0].path.step) == ["legacy"]
    assert back.datasets[0].features[0].num_stats.max == 3.0


def tfmd_schema() -> Any:
    schema = tfs.Schema(default_environment=["TRAINING", "SERVING"])
    schema.string_domain.add(name="plans", value=["basic", "pro", "team"])
    schema.float_domain.add(name="ratio", min=0.0, max=1.0)
    schema.int_domain.add(name="small", min=0, max=9, is_categorical=True)
    schema.annotation.tag.append("owner:risk")  # lost

    age = schema.feature.add(name="age", type=tfs.INT)
    age.int_domain.min, age.int_domain.max = 18, 120
    age.presence.min_fraction, age.presence.min_count = 0.95, 10
    age.value_count.min, age.value_count.max = 1, 1
    age.drift_comparator.jensen_shannon_divergence.threshold = 0.1
    age.drift_comparator.jensen_shannon_divergence.source.type = tfs.HistogramSelection.QUANTILES
    age.lifecycle_stage = tfs.PRODUCTION
    age.unique_constraints.min, age.unique_constraints.max = 2, 100
    age.annotation.comment.append("years")  # lost

    plan = schema.feature.add(name="plan", type=tfs.BYTES, domain="plans")
    plan.presence.min_count = 1
    plan.skew_comparator.infinity_norm.threshold = 0.05
    plan.drift_comparator.infinity_norm.threshold = 0.2
    plan.drift_comparator.normalized_abs_difference.threshold = 0.3
    plan.distribution_constraints.min_domain_mass = 0.99
    plan.not_in_environment.append("SERVING")
    plan.lifecycle_stage = tfs.DEPRECATED

    score = schema.feature.add(name="score", type=tfs.FLOAT)
    score.float_domain.min, score.float_domain.max = -1.5, 1.5
    score.float_domain.disallow_nan = True
    score.float_domain.is_embedding, score.float_domain.embedding_dim = True, 4
    score.shape.dim.add(size=4, name="components")

    active = schema.feature.add(name="active", type=tfs.BYTES)
    active.bool_domain.true_value, active.bool_domain.false_value = "yes", "no"
    tags = schema.feature.add(name="tags", type=tfs.BYTES)
    tags.string_domain.value.extend(["a", "b"])
    tags.value_counts.value_count.add(min=1, max=3)
    tags.value_counts.value_count.add(min=2, max=5)
    review = schema.feature.add(name="review", type=tfs.BYTES)
    review.natural_language_domain.coverage.min_coverage = 0.8
    review.natural_language_domain.vocabulary = "review_vocab"  # lost
    photo = schema.feature.add(name="photo", type=tfs.BYTES)
    photo.image_domain.max_image_byte_size = 1 << 20
    site = schema.feature.add(name="site", type=tfs.BYTES)
    site.url_domain.SetInParent()
    day = schema.feature.add(name="day", type=tfs.BYTES)
    day.time_domain.string_format = "%Y-%m-%d"
    signup = schema.feature.add(name="signup", type=tfs.INT)
    signup.time_domain.integer_format = tfs.TimeDomain.UNIX_SECONDS
    opens = schema.feature.add(name="opens", type=tfs.BYTES)
    opens.time_of_day_domain.string_format = "%H:%M"
    label = schema.feature.add(name="churned", type=tfs.INT, in_environment=["TRAINING"])
    label.group_presence.required = True  # lost

    address = schema.feature.add(name="address", type=tfs.STRUCT)
    country = address.struct_domain.feature.add(name="country", type=tfs.BYTES)
    country.string_domain.value.extend(["DE", "FR"])
    address.struct_domain.sparse_feature.add(name="geo").value_feature.name = "lat"

    sparse = schema.sparse_feature.add(name="clicks", is_sorted=True, lifecycle_stage=tfs.BETA)
    sparse.index_feature.add(name="click_pos")
    sparse.value_feature.name = "click_value"
    sparse.dense_shape.dim.add(size=100)
    sparse.presence.min_fraction = 0.5
    weighted = schema.weighted_feature.add(name="weighted_tags", lifecycle_stage=tfs.ALPHA)
    weighted.feature.step.append("tags")
    weighted.weight_feature.step.append("tag_weights")

    constraints = schema.dataset_constraints
    constraints.min_examples_count, constraints.max_examples_count = 10, 1_000_000
    constraints.num_examples_drift_comparator.min_fraction_threshold = 0.8
    constraints.num_examples_drift_comparator.max_fraction_threshold = 1.25
    constraints.num_examples_version_comparator.max_fraction_threshold = 2.0
    return schema


def test_schema_round_trip_keeps_domains_presence_and_comparators() -> None:
    original = tfmd_schema()
    data_schema = tfmd.schema_from_tfmd(original, schema_version="7")
    assert tfmd.schema_to_tfmd(data_schema) == strip(original, tfmd.TFMD_LOST)
    assert tfmd.unconverted(original) == [
        "annotation",
        "feature[0].annotation",
        "feature[0].drift_comparator.jensen_shannon_divergence.source",
        "feature[11].group_presence",
        "feature[5].natural_language_domain.vocabulary",
    ]
    named = tfs.Feature(name="x", type=tfs.INT)
    named.int_domain.name = "local"
    assert tfmd.unconverted(named) == ["int_domain"]  # only shared domains keep names

    features = {f.name: f for f in data_schema.features}
    assert data_schema.schema_version == "7"
    assert [d.name for d in data_schema.shared_domains] == ["plans", "ratio", "small"]
    assert features["age"].presence.min_fraction == 0.95
    assert features["plan"].shared_domain == "plans"
    assert features["plan"].lifecycle_stage == schema_pb2.FEATURE_LIFECYCLE_STAGE_DEPRECATED
    assert [(t.type, t.threshold) for t in features["plan"].drift_comparator.thresholds] == [
        (schema_pb2.COMPARATOR_TYPE_L_INFINITY, 0.2),
        (schema_pb2.COMPARATOR_TYPE_NORMALIZED_ABSOLUTE_DIFFERENCE, 0.3),
    ]
    assert features["score"].float_domain.embedding_dim == 4
    assert features["opens"].time_domain.kind == schema_pb2.TIME_VALUE_KIND_TIME_OF_DAY
    assert features["address"].struct_domain.features[0].string_domain.values == ["DE", "FR"]
    assert data_schema.sparse_features[0].index_paths[0].steps == ["click_pos"]


def test_the_legacy_deprecated_flag_becomes_the_lifecycle_stage() -> None:
    schema = tfs.Schema()
    schema.feature.add(name="old", type=tfs.INT, deprecated=True)
    converted = tfmd.schema_from_tfmd(schema, schema_version="1")
    assert converted.features[0].lifecycle_stage == schema_pb2.FEATURE_LIFECYCLE_STAGE_DEPRECATED
    assert tfmd.schema_to_tfmd(converted).feature[0].lifecycle_stage == tfs.DEPRECATED


def tfmd_anomalies() -> Any:
    anomalies = tfa.Anomalies()
    anomalies.baseline.feature.add(name="age", type=tfs.INT).presence.min_count = 1
    age = anomalies.anomaly_info["age"]
    age.path.step.append("age")
    age.severity = tfa.AnomalyInfo.ERROR
    age.short_description = "Out-of-range values"
    age.description = "Values below 18 and above 120 were found."
    age.reason.add(
        type=tfa.AnomalyInfo.INT_TYPE_SMALL_INT,
        short_description="Small value",
        description="The minimum value 3 is below 18.",
    )
    age.diff_regions.add().unchanged.contents.append("min: 18")  # lost
    country = anomalies.anomaly_info["address.country"]
    country.path.step.extend(["address", "country"])
    country.severity = tfa.AnomalyInfo.WARNING
    country.reason.add(
        type=tfa.AnomalyInfo.COMPARATOR_L_INFTY_HIGH, short_description="High L-infinity"
    )
    country.reason.add(
        type=tfa.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
        short_description="High Jensen-Shannon divergence between training and serving",
    )
    anomalies.dataset_anomaly_info.severity = tfa.AnomalyInfo.ERROR
    anomalies.dataset_anomaly_info.reason.add(
        type=tfa.AnomalyInfo.DATASET_LOW_NUM_EXAMPLES, short_description="Too few examples"
    )
    drift = anomalies.drift_skew_info.add()
    drift.path.step.extend(["address", "country"])
    drift.drift_measurements.add(
        type=tfa.DriftSkewInfo.Measurement.L_INFTY, value=0.4, threshold=0.2
    )
    drift.skew_measurements.add(
        type=tfa.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE, value=0.3, threshold=0.1
    )
    anomalies.data_missing = True  # lost
    return anomalies


def test_anomalies_round_trip_with_reasons_severities_and_drift() -> None:
    original = tfmd_anomalies()
    validation = tfmd.validation_from_tfmd(original, dataset=DATASET, schema_version="7")
    expected = strip(original, tfmd.TFMD_LOST)
    for info in [*expected.anomaly_info.values(), expected.dataset_anomaly_info]:
        for reason in info.reason:  # a folding type comes back as its MLSpec type's one
            if tfmd.unconverted(reason) == ["type"]:
                folded = tfmd.TFMD_REASON_TYPES[
                    tfmd.REASON_TYPES[tfa.AnomalyInfo.Type.Name(reason.type)]
                ]
                reason.type = tfa.AnomalyInfo.Type.Value(folded)
    assert tfmd.anomalies_to_tfmd(validation) == expected
    assert expected.anomaly_info["age"].reason[0].type == tfa.AnomalyInfo.FLOAT_TYPE_SMALL_FLOAT
    assert tfmd.unconverted(original) == [
        "anomaly_info['age'].diff_regions",
        "anomaly_info['age'].reason[0].type",
        "data_missing",
    ]

    assert validation.decision == validation_pb2.VALIDATION_DECISION_BLOCK
    assert validation.schema.features[0].name == "age"
    country, age, dataset_level = validation.anomalies  # by key, then the dataset's
    assert age.reasons[0].type == validation_pb2.VALIDATION_ANOMALY_TYPE_VALUE_BELOW_MIN
    assert age.reasons[0].description == "The minimum value 3 is below 18."
    assert age.description == "Values below 18 and above 120 were found."
    assert not age.reasons[0].HasField("measurement")
    assert country.feature.steps == ["address", "country"]
    # Each comparator reason carries the measurement it reports: drift or skew by its list.
    assert [
        (r.type, r.measurement.kind, r.measurement.comparator, r.measurement.value)
        for r in country.reasons
    ] == [
        (
            validation_pb2.VALIDATION_ANOMALY_TYPE_DRIFT_OVER_THRESHOLD,
            validation_pb2.VALIDATION_DISTANCE_KIND_DRIFT,
            schema_pb2.COMPARATOR_TYPE_L_INFINITY,
            0.4,
        ),
        (
            validation_pb2.VALIDATION_ANOMALY_TYPE_SKEW_OVER_THRESHOLD,
            validation_pb2.VALIDATION_DISTANCE_KIND_SKEW,
            schema_pb2.COMPARATOR_TYPE_JENSEN_SHANNON_DIVERGENCE,
            0.3,
        ),
    ]
    assert country.reasons[1].measurement.threshold == 0.1
    assert country.reasons[1].measurement.feature.steps == ["address", "country"]
    assert dataset_level.reasons[0].type == validation_pb2.VALIDATION_ANOMALY_TYPE_DATASET_TOO_SMALL
    assert [(m.kind, m.comparator, m.exceeded) for m in validation.measurements] == [
        (
            validation_pb2.VALIDATION_DISTANCE_KIND_DRIFT,
            schema_pb2.COMPARATOR_TYPE_L_INFINITY,
            True,
        ),
        (
            validation_pb2.VALIDATION_DISTANCE_KIND_SKEW,
            schema_pb2.COMPARATOR_TYPE_JENSEN_SHANNON_DIVERGENCE,
            True,
        ),
    ]


def test_a_comparator_reason_reports_the_measurement_that_crossed() -> None:
    """TF Metadata does not link a reason to its measurement: the one over threshold is it."""
    anomalies = tfa.Anomalies()
    plan = anomalies.anomaly_info["plan"]
    plan.path.step.append("plan")
    plan.reason.add(type=tfa.AnomalyInfo.COMPARATOR_L_INFTY_HIGH)
    measured = anomalies.drift_skew_info.add()
    measured.path.step.append("plan")
    linf = tfa.DriftSkewInfo.Measurement.L_INFTY
    measured.drift_measurements.add(type=linf, value=0.05, threshold=0.1)
    measured.skew_measurements.add(type=linf, value=0.25, threshold=0.1)
    validation = tfmd.validation_from_tfmd(anomalies, dataset=DATASET, schema_version="1")
    (reason,) = validation.anomalies[0].reasons
    assert reason.type == validation_pb2.VALIDATION_ANOMALY_TYPE_SKEW_OVER_THRESHOLD
    assert (reason.measurement.kind, reason.measurement.value, reason.measurement.exceeded) == (
        validation_pb2.VALIDATION_DISTANCE_KIND_SKEW,
        0.25,
        True,
    )
    assert tfmd.anomalies_to_tfmd(validation) == anomalies
    assert tfmd.unconverted(anomalies) == []


def test_every_anomaly_type_has_a_home_and_each_mlspec_type_one_way_back() -> None:
    tfmd_types = set(tfa.AnomalyInfo.Type.DESCRIPTOR.values_by_name)
    mlspec_types = {
        name.removeprefix("VALIDATION_ANOMALY_TYPE_")
        for name in validation_pb2.ValidationAnomalyType.DESCRIPTOR.values_by_name
    }
    assert set(tfmd.REASON_TYPES) == tfmd_types
    assert set(tfmd.REASON_TYPES.values()) <= mlspec_types
    assert set(tfmd.TFMD_REASON_TYPES) == mlspec_types
    # A TF Metadata type written for an MLSpec type reads back as that MLSpec type, except
    # the ones with no TF Metadata counterpart (CUSTOM_VALIDATION), which unconverted names.
    unfaithful = {t for t, back in tfmd.TFMD_REASON_TYPES.items() if tfmd.REASON_TYPES[back] != t}
    assert unfaithful == {
        "DEPRECATED_FEATURE_USED", "DEPRECATED_DATASET_USED", "SCHEMA_VERSION_MISMATCH",
        "NUM_EXAMPLES_VERSION_CHANGE", "DOMAIN_MASS_BELOW_MIN", "INVALID_TIME_FORMAT",
        "TIME_OUT_OF_RANGE", "INVALID_URL", "DUPLICATE_ROWS", "DUPLICATE_KEY", "LABEL_MISSING",
        "LABEL_LEAKAGE_SUSPECTED", "STATISTICS_STALE", "DIGEST_MISMATCH", "SIGNATURE_INVALID",
        "DEBUG_ONLY_FEATURE_USED", "DATA_STALE",
    }  # fmt: skip
    for name in unfaithful:
        reason = validation_pb2.ValidationAnomalyReason(
            type=validation_pb2.ValidationAnomalyType.Value(f"VALIDATION_ANOMALY_TYPE_{name}")
        )
        assert tfmd.unconverted(reason) == ["type"]


def mlspec_validation() -> validation_pb2.DataValidation:
    """An MLSpec stage 5 payload using what TF Metadata can hold, plus listed extras."""
    validation = validation_pb2.DataValidation(
        dataset=DATASET,
        schema_version="3",
        tool="great_expectations 0.18",
        decision=validation_pb2.VALIDATION_DECISION_WARN,
    )
    validation.schema.schema_version = "3"
    feature = validation.schema.features.add(name="amount", type=statistics_pb2.FEATURE_TYPE_FLOAT)
    feature.float_domain.min = 0.5
    feature.drift_comparator.thresholds.add(
        type=schema_pb2.COMPARATOR_TYPE_JENSEN_SHANNON_DIVERGENCE, threshold=0.25
    )
    amount = statistics_pb2.FeaturePath(steps=["amount"])
    anomaly = validation.anomalies.add(
        feature=amount,
        severity=validation_pb2.VALIDATION_ANOMALY_SEVERITY_WARNING,
        short_description="Drift",
        description="Amounts drifted from last week's and differ from serving's; 12 are NaN.",
    )
    anomaly.reasons.add(
        type=validation_pb2.VALIDATION_ANOMALY_TYPE_NAN_VALUE,
        short_description="NaN",
        description="12 NaN values",
    )
    drift = validation.measurements.add(
        feature=amount,
        kind=validation_pb2.VALIDATION_DISTANCE_KIND_DRIFT,
        comparator=schema_pb2.COMPARATOR_TYPE_NORMALIZED_ABSOLUTE_DIFFERENCE,
        value=0.5,
        threshold=0.25,
        exceeded=True,
    )
    # A drift reason with a measurement that is listed, a skew one with one that is not.
    anomaly.reasons.add(
        type=validation_pb2.VALIDATION_ANOMALY_TYPE_DRIFT_OVER_THRESHOLD,
        short_description="Drift",
        measurement=drift,
    )
    anomaly.reasons.add(
        type=validation_pb2.VALIDATION_ANOMALY_TYPE_SKEW_OVER_THRESHOLD,
        short_description="Skew",
        measurement=validation_pb2.ValidationDistanceMeasurement(
            feature=amount,
            kind=validation_pb2.VALIDATION_DISTANCE_KIND_SKEW,
            comparator=schema_pb2.COMPARATOR_TYPE_L_INFINITY,
            value=0.2,
            threshold=0.1,
        ),
    )
    return validation


def test_mlspec_validation_round_trips_through_tfmd_but_the_listed_fields() -> None:
    original = mlspec_validation()
    back = tfmd.validation_from_tfmd(
        tfmd.anomalies_to_tfmd(original), dataset=DATASET, schema_version="3"
    )
    expected = strip(original, tfmd.MLSPEC_LOST)
    # Given back by the caller, or recomputed:
    expected.dataset.CopyFrom(DATASET)
    expected.schema_version = expected.schema.schema_version = "3"
    expected.schema.origin = schema_pb2.SCHEMA_ORIGIN_IMPORTED
    expected.tool = "tfdv"
    expected.decision = validation_pb2.VALIDATION_DECISION_WARN
    # The skew reason's measurement is listed with the others, where TF Metadata keeps it.
    _, drift, skew = expected.anomalies[0].reasons
    expected.measurements.append(skew.measurement)
    for measurement in [*expected.measurements, drift.measurement, skew.measurement]:
        measurement.exceeded = measurement.value > measurement.threshold
    assert back == expected
    # Drift by its measurement, though TF Metadata's normalized-difference type reads as skew.
    assert back.anomalies[0].reasons[1].type == (
        validation_pb2.VALIDATION_ANOMALY_TYPE_DRIFT_OVER_THRESHOLD
    )
    assert tfmd.unconverted(original) == [
        "anomalies[0].reasons[1].measurement.exceeded",
        "dataset",
        "decision",
        "measurements[0].exceeded",
        "schema.schema_version",
        "schema_version",
        "tool",
    ]


def distance_reason(
    reason: str, comparator: str, kind: str = "UNSPECIFIED", value: float = 0.0
) -> validation_pb2.ValidationAnomalyReason:
    """A reason of feature ``x`` with a measurement (threshold 0.1 when ``value`` is set)."""
    return validation_pb2.ValidationAnomalyReason(
        type=validation_pb2.ValidationAnomalyType.Value(f"VALIDATION_ANOMALY_TYPE_{reason}"),
        measurement=validation_pb2.ValidationDistanceMeasurement(
            feature=statistics_pb2.FeaturePath(steps=["x"]),
            kind=validation_pb2.ValidationDistanceKind.Value(f"VALIDATION_DISTANCE_KIND_{kind}"),
            comparator=schema_pb2.ComparatorType.Value(f"COMPARATOR_TYPE_{comparator}"),
            value=value,
            threshold=0.1 if value else 0.0,
        ),
    )


def test_reason_types_and_measurements_come_back_as_unconverted_says() -> None:
    """A reason loses its measurement or type exactly when ``unconverted`` says so."""
    cases = [
        (distance_reason("DRIFT_OVER_THRESHOLD", "JENSEN_SHANNON_DIVERGENCE", "DRIFT", 0.3), []),
        (distance_reason("SKEW_OVER_THRESHOLD", "L_INFINITY", "SKEW", 0.3), []),
        (distance_reason("SKEW_OVER_THRESHOLD", "NORMALIZED_ABSOLUTE_DIFFERENCE"), []),
        # No kind: the L-infinity type reads back as drift.
        (distance_reason("SKEW_OVER_THRESHOLD", "L_INFINITY"), ["type"]),
        # No kind: TF Metadata has no list to keep the distance in.
        (distance_reason("DRIFT_OVER_THRESHOLD", "L_INFINITY", value=0.3), ["measurement"]),
        # No TF Metadata comparator, or not a drift or skew reason.
        (
            distance_reason("DRIFT_OVER_THRESHOLD", "POPULATION_STABILITY_INDEX", "DRIFT", 0.3),
            ["measurement"],
        ),
        (distance_reason("NAN_VALUE", "L_INFINITY", "DRIFT", 0.3), ["measurement"]),
    ]
    for reason, lost in cases:
        validation = validation_pb2.DataValidation(dataset=DATASET, schema_version="1")
        validation.anomalies.add(feature=reason.measurement.feature).reasons.append(reason)
        back = tfmd.validation_from_tfmd(
            tfmd.anomalies_to_tfmd(validation), dataset=DATASET, schema_version="1"
        )
        (back_reason,) = back.anomalies[0].reasons
        back_reason.measurement.exceeded = False  # recomputed
        changed = [
            f.name
            for f in reason.DESCRIPTOR.fields
            if getattr(back_reason, f.name) != getattr(reason, f.name)
        ]
        assert changed == tfmd.unconverted(reason) == lost, reason


def test_mlspec_statistics_round_trip_and_what_tfmd_cannot_hold() -> None:
    block = statistics_pb2.DatasetStatistics(name="train", num_examples=10, tool="whylogs")
    feature = block.features.add(
        path=statistics_pb2.FeaturePath(steps=["flag"]), type=statistics_pb2.FEATURE_TYPE_BOOL
    )
    feature.num_stats.mean = 0.5
    feature.num_stats.quantiles.add(quantile=0.5, value=1.0)
    feature.num_stats.histograms.add(type=statistics_pb2.HISTOGRAM_TYPE_EXPLICIT)
    feature.common_stats.distinct_count = 2
    feature.custom_stats.add(name="ok", value={"string_value": "yes"})
    feature.custom_stats.add(name="shape", value={"bool_value": True})
    feature.num_stats.present_fields.append("mean")  # the others were not computed
    weighted = block.features.add(
        path=statistics_pb2.FeaturePath(steps=["weight"]), type=statistics_pb2.FEATURE_TYPE_FLOAT
    )
    weighted.num_stats.max = 2.0
    weighted.num_stats.present_fields.extend(
        [
            "mean",
            "std_dev",
            "num_zeros",
            "min",
            "median",
            "max",
            "weighted_mean",
            "weighted_std_dev",
        ]
    )  # every one TF Metadata holds, the weighted ones 0
    assert tfmd.unconverted(block) == [
        "features[0].common_stats.distinct_count",
        "features[0].custom_stats[1].value",
        "features[0].num_stats.histograms[0].type",
        "features[0].num_stats.present_fields",
        "features[0].num_stats.quantiles",
        "features[0].type",
        "tool",
    ]
    (back,) = tfmd.statistics_from_tfmd(tfmd.statistics_to_tfmd([block]))
    assert back.features[1] == weighted  # presence, the weighted zeros' too, comes back
    assert "min" in back.features[0].num_stats.present_fields  # absent in, 0.0 out
    assert back.features[0].type == statistics_pb2.FEATURE_TYPE_INT
    assert back.features[0].num_stats.histograms[0].type == statistics_pb2.HISTOGRAM_TYPE_STANDARD
    assert back.features[0].custom_stats[0].value.string_value == "yes"
    assert not back.features[0].custom_stats[1].HasField("value")
    assert back.features[0].num_stats.mean == 0.5
    assert not back.tool and not back.features[0].num_stats.quantiles


def test_every_listed_field_exists() -> None:
    """A typo in a table would hide a loss: each key names a real field."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    tables = [tfmd.TFMD_LOST, tfmd.MLSPEC_LOST, tfmd.TFMD_PARTLY_LOST, tfmd.MLSPEC_PARTLY_LOST]
    assert sum(map(len, tables)) == len({key for table in tables for key in table})
    for key in [key for table in tables for key in table]:
        message, field = key.rsplit(".", 1)
        assert field in pool.FindMessageTypeByName(message).fields_by_name, key


def test_the_docs_list_exactly_the_fields_the_tables_hold() -> None:
    """docs/interop.md lists what does not convert; it names each table's fields, no other."""
    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "interop.md").read_text()
    bullets = re.split(r"\n(?=- )", text.replace("\n  ", " "))
    for name in ("TFMD_LOST", "TFMD_PARTLY_LOST", "MLSPEC_LOST", "MLSPEC_PARTLY_LOST"):
        (bullet,) = [b.split("\n\n")[0] for b in bullets if f"(`{name}`):" in b]
        listed = [
            f"{message}.{field}"
            for message, fields in re.findall(r"`([A-Z][\w.]*)`: ([^;]+)", bullet)
            for field in re.findall(r"`(\w+)`", fields)
        ]
        table = getattr(tfmd, name)
        names = [
            key.removeprefix(tfmd.TF).removeprefix(tfmd.MS).removeprefix(tfmd.ML) for key in table
        ]
        assert listed == names, name


def test_converted_payloads_are_accepted_as_stage_reports(tmp_path: pathlib.Path) -> None:
    """TFDV output, converted, is a valid stage 3 and stage 5 report for the server."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    server = build_server(ServerConfig(port=0, store_url=url), store=store)
    (tmp_path / "train.csv").write_text("age,plan\n41,basic\n")
    try:
        with Client(f"127.0.0.1:{server.port}", timeout=30) as client:
            version = client.create_dataset_version("churn-train", tmp_path / "train.csv")
            ref = reference_pb2.ResourceRef(
                kind=reference_pb2.RESOURCE_KIND_DATASET_VERSION, id=version.meta.id
            )
            with client.start_run(experiment="tfdv") as run:
                with run.stage(
                    Stage.DATA_ANALYSIS,
                    inputs=[version],
                    payload=tfmd.analysis_from_tfmd(tfmd_statistics(), dataset=ref),
                ) as analysis:
                    pass
                with run.stage(
                    Stage.DATA_VALIDATION,
                    inputs=[version],
                    payload=tfmd.validation_from_tfmd(
                        tfmd_anomalies(), dataset=ref, schema_version="7"
                    ),
                ) as validation:
                    validation.status = "FAILED"  # the data is blocked
    finally:
        server.stop(0)
    assert analysis.report is not None and validation.report is not None
    stored = analysis.report.data_analysis
    assert [block.name for block in stored.statistics] == ["train", "serving"]
    assert tfmd.statistics_to_tfmd(stored.statistics) == strip(tfmd_statistics(), tfmd.TFMD_LOST)
    assert validation.report.data_validation.decision == validation_pb2.VALIDATION_DECISION_BLOCK
