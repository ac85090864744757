"""mlspec.client.schemas and splits: inferred schemas, validation, row hashes, leakage."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.client import build
from mlspec.client.digests import message_digest
from mlspec.client.schemas import data_validation, infer_schema, schema_digest
from mlspec.client.splits import data_splitting, leakage_checks, row_hashes, rows_digest
from mlspec.common.v1.reference_pb2 import ResourceRef
from mlspec.common.v1.threshold_pb2 import ThresholdOutcome
from mlspec.data.v1 import schema_pb2
from mlspec.data.v1.dataset_pb2 import DatasetVersion
from mlspec.data.v1.statistics_pb2 import FeatureType
from mlspec.lifecycle.v1 import splitting_pb2, validation_pb2

A = validation_pb2.ValidationAnomalyType
SAMPLE = {
    "age": np.array([31, 45, 27, 60]),
    "income": np.array([1.5, 2.25, 0.75, 3.0]),
    "plan": np.array(["basic", "pro", "basic", "pro"], dtype=object),
    "churned": np.array([0, 1, 0, 1]),
}


def test_a_schema_inferred_from_a_sample() -> None:
    source = ResourceRef(id="d-1")
    schema = infer_schema(SAMPLE, version="3", roles={"churned": "LABEL"}, source_dataset=source)
    assert schema.origin == schema_pb2.SCHEMA_ORIGIN_INFERRED_FROM_SAMPLE
    assert schema.inference.sample_size == 4
    assert schema.inference.source_dataset == source
    by_name = {f.name: f for f in schema.features}
    assert by_name["age"].type == FeatureType.FEATURE_TYPE_INT
    assert not by_name["age"].HasField("int_domain")  # no bounds from a sample
    assert by_name["income"].float_domain.disallow_nan
    assert by_name["plan"].string_domain.values[:] == ["basic", "pro"]
    assert (by_name["churned"].int_domain.min, by_name["churned"].int_domain.max) == (0, 1)
    assert by_name["churned"].role == schema_pb2.FEATURE_ROLE_LABEL
    assert schema.digest.digests["sha256"] == schema_digest(schema)
    assert schema_digest(schema) == message_digest(schema, clear=("digest",))
    with pytest.raises(KeyError):
        infer_schema(SAMPLE, roles={"nope": "LABEL"})


@settings(deadline=None, max_examples=50)
@given(
    st.lists(
        st.tuples(st.integers(-5, 5), st.floats(-1e6, 1e6), st.sampled_from(["a", "b", "c"])),
        min_size=1,
        max_size=40,
    )
)
def test_data_conforms_to_the_schema_inferred_from_it(rows: list[tuple[int, float, str]]) -> None:
    columns = {
        "i": np.array([r[0] for r in rows]),
        "f": np.array([r[1] for r in rows]),
        "s": np.array([r[2] for r in rows], dtype=object),
    }
    report = data_validation(columns, infer_schema(columns))
    assert report.decision == validation_pb2.VALIDATION_DECISION_PASS, report.anomalies
    assert report.num_examples == len(rows)


def test_each_kind_of_anomaly() -> None:
    schema = infer_schema(SAMPLE)
    by_name = {f.name: f for f in schema.features}
    by_name["income"].float_domain.max = 10.0
    schema.dataset_constraints.min_examples_count = 5
    data = {
        "age": np.array([30.5, 40.0]),  # floats where ints are expected
        "income": np.array([np.nan, 12.0]),
        "plan": np.array(["basic", "gold"], dtype=object),
        "extra": np.array([1, 2]),
    }  # and no "churned"
    report = data_validation(data, schema, dataset=build(DatasetVersion, meta={"id": "v"}))
    found = {
        (a.feature.steps[0] if a.feature.steps else "", a.reasons[0].type) for a in report.anomalies
    }
    assert found == {
        ("churned", A.VALIDATION_ANOMALY_TYPE_MISSING_FEATURE),
        ("age", A.VALIDATION_ANOMALY_TYPE_TYPE_MISMATCH),
        ("income", A.VALIDATION_ANOMALY_TYPE_NAN_VALUE),
        ("income", A.VALIDATION_ANOMALY_TYPE_PRESENCE_BELOW_MIN_FRACTION),
        ("income", A.VALIDATION_ANOMALY_TYPE_VALUE_ABOVE_MAX),
        ("plan", A.VALIDATION_ANOMALY_TYPE_OUT_OF_DOMAIN_VALUE),
        ("extra", A.VALIDATION_ANOMALY_TYPE_UNEXPECTED_FEATURE),
        ("", A.VALIDATION_ANOMALY_TYPE_DATASET_TOO_SMALL),
    }
    assert report.decision == validation_pb2.VALIDATION_DECISION_BLOCK
    assert report.decision_reason.startswith("8 ERROR anomalies")
    assert report.dataset.id == "v"
    assert report.schema_version == schema.schema_version


def test_deprecated_features_follow_the_policy() -> None:
    schema = infer_schema(SAMPLE)
    schema.features[0].lifecycle_stage = schema_pb2.FEATURE_LIFECYCLE_STAGE_DEPRECATED
    assert data_validation(SAMPLE, schema).decision == validation_pb2.VALIDATION_DECISION_WARN
    schema.deprecated_data_policy = schema_pb2.DEPRECATED_DATA_POLICY_BLOCK
    assert data_validation(SAMPLE, schema).decision == validation_pb2.VALIDATION_DECISION_BLOCK
    schema.deprecated_data_policy = schema_pb2.DEPRECATED_DATA_POLICY_ALLOW
    assert data_validation(SAMPLE, schema).decision == validation_pb2.VALIDATION_DECISION_PASS


def test_row_hashes_follow_their_documented_definition() -> None:
    hashes = row_hashes({"n": np.array([1, 2]), "x": np.array([0.1, 2.0]), "s": ["é", None]})
    expected = [
        hashlib.sha256(
            json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
        for row in ([1, 0.1, "é"], [2, 2.0, None])
    ]
    assert hashes == expected
    assert row_hashes({"a": [1], "b": [2]}, key_columns=["b"]) == row_hashes({"b": [2]})
    assert row_hashes({"a": [1], "b": [2]}, exclude=["a"]) == row_hashes({"b": [2]})
    assert rows_digest(["b", "a"]) == rows_digest(["a", "b"])


def test_leakage_checks_count_overlap_between_every_pair() -> None:
    splits = {
        "train": {"id": [1, 2, 3, 4], "x": [0, 0, 1, 1]},
        "validation": {"id": [5, 6], "x": [0, 1]},
        "holdback": {"id": [4, 7], "x": [1, 1]},
    }
    by_id = {(c.split_a, c.split_b): c for c in leakage_checks(splits, key_columns=["id"])}
    assert set(by_id) == {
        ("train", "validation"),
        ("train", "holdback"),
        ("validation", "holdback"),
    }
    leak = by_id[("train", "holdback")]
    assert (leak.overlap_count, leak.overlap_fraction) == (1, 0.5)
    assert leak.result == ThresholdOutcome.THRESHOLD_OUTCOME_FAILED
    assert leak.method == splitting_pb2.SPLIT_LEAKAGE_METHOD_EXACT_KEY
    assert leak.example_keys[:] == row_hashes({"id": [4]})
    assert by_id[("train", "validation")].result == ThresholdOutcome.THRESHOLD_OUTCOME_PASSED
    (rows,) = leakage_checks(splits, exclude=["id"], pairs=[("train", "validation")])
    assert rows.method == splitting_pb2.SPLIT_LEAKAGE_METHOD_ROW_HASH
    assert rows.overlap_count == 2  # the rows (0,) and (1,) are in both
    assert rows.key_columns[:] == ["x"]
    (tolerated,) = leakage_checks(
        splits, key_columns=["id"], pairs=[("train", "holdback")], max_allowed_overlap=1
    )
    assert tolerated.result == ThresholdOutcome.THRESHOLD_OUTCOME_PASSED


def test_data_splitting_describes_each_split() -> None:
    train = build(
        DatasetVersion, meta={"id": "t"}, content_digest={"digests": {"sha256": "ab" * 32}}
    )
    parts = {"train": {"id": [1, 2, 3]}, "holdback": {"id": [4]}, "calibration": {"id": [5]}}
    payload = data_splitting(
        ResourceRef(id="src"), parts, datasets={"train": train}, method="HASH", seed=9
    )
    by_name = {s.name: s for s in payload.splits}
    assert by_name["train"].role == splitting_pb2.SPLIT_ROLE_TRAIN
    assert by_name["holdback"].role == splitting_pb2.SPLIT_ROLE_HOLDBACK
    assert by_name["calibration"].role == splitting_pb2.SPLIT_ROLE_OTHER
    assert by_name["train"].digest == train.content_digest
    assert by_name["train"].output_dataset.id == "t"
    assert by_name["holdback"].digest.digests["sha256"] == rows_digest(row_hashes({"id": [4]}))
    assert by_name["train"].ratio == 0.6 and by_name["train"].seed == 9
    assert by_name["train"].method == splitting_pb2.SPLIT_METHOD_HASH
    assert by_name["train"].statistics.num_examples == 3
    assert len(payload.leakage_checks) == 3


def test_numbers_held_as_objects_with_none_are_checked() -> None:
    schema = infer_schema({"x": np.array([1.0, 2.0])})
    schema.features[0].float_domain.min = 0.0
    data = {"x": np.array([None, -1.0, 2.0], dtype=object)}
    found = {a.reasons[0].type for a in data_validation(data, schema).anomalies}
    assert found == {
        A.VALIDATION_ANOMALY_TYPE_PRESENCE_BELOW_MIN_FRACTION,
        A.VALIDATION_ANOMALY_TYPE_NAN_VALUE,
        A.VALIDATION_ANOMALY_TYPE_VALUE_BELOW_MIN,
    }
