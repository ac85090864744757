"""Every message of the contract survives binary and proto3 JSON round trips."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor, json_format, message_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .catalog import all_messages
from .message_strategies import messages

MESSAGES = all_messages()


def test_the_contract_has_messages() -> None:
    assert len(MESSAGES) > 100


@pytest.mark.parametrize("desc", MESSAGES, ids=[m.full_name for m in MESSAGES])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(desc: descriptor.Descriptor, data: st.DataObject) -> None:
    original = data.draw(messages(desc))
    cls = message_factory.GetMessageClass(desc)

    from_binary = cls.FromString(original.SerializeToString(deterministic=True))
    assert from_binary == original

    from_json = json_format.Parse(json_format.MessageToJson(original), cls())
    assert from_json == original

    as_dict = json_format.MessageToDict(original, preserving_proto_field_name=True)
    assert json_format.ParseDict(as_dict, cls()) == original
