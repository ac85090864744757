"""Properties of the YAML reader and writer for messages (mlspec.yaml_format)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec import yaml_format
from mlspec.common.v1 import object_meta_pb2, value_pb2


def test_timestamps_stay_strings_and_parse_as_timestamps() -> None:
    meta = yaml_format.load(
        "create_time: 2026-03-01T12:00:00Z\nname: a\n", object_meta_pb2.ObjectMeta()
    )
    assert meta.create_time.seconds == 1772366400
    assert yaml_format.load_plain("d: 2026-03-01") == {"d": "2026-03-01"}


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(yaml_format.ParseError, match="nme"):
        yaml_format.load("nme: a\n", object_meta_pb2.ObjectMeta())


def test_bad_enum_names_are_rejected() -> None:
    with pytest.raises(yaml_format.ParseError):
        yaml_format.load("status: OBJECT_STATUS_GONE\n", object_meta_pb2.ObjectMeta())


def test_a_non_mapping_document_is_rejected() -> None:
    with pytest.raises(yaml_format.ParseError, match="mapping"):
        yaml_format.load("- a\n- b\n", object_meta_pb2.ObjectMeta())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_parse_error(text: str) -> None:
    with contextlib.suppress(yaml_format.ParseError):
        yaml_format.load(text, value_pb2.Value())


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=20), st.booleans()),
        max_size=5,
    )
)
def test_object_values_round_trip_through_yaml(fields: dict[str, object]) -> None:
    value = value_pb2.Value()
    for key, item in fields.items():
        target = value.object_value.fields[key]
        if isinstance(item, bool):
            target.bool_value = item
        elif isinstance(item, int):
            target.int_value = item
        else:
            target.string_value = str(item)
    value.object_value.SetInParent()
    assert yaml_format.load(yaml_format.dump(value), value_pb2.Value()) == value
