"""The compiled well-formedness check answers exactly as the field-by-field walk.

``well_formed.violations`` runs code generated once per message type;
``reference_violations`` walks the descriptors and is the specification. Random messages
of every request type and of the inference-log record, with random enum numbers, times,
durations and fields broken, get the same violations, in the same order, from both.
"""

from __future__ import annotations

import random
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.domain.common import well_formed
from mlspec.logging.v1 import inference_log_pb2
from mlspec.server.app import SERVICES
from tests.contract.message_strategies import messages

F = descriptor.FieldDescriptor
TYPES: list[Any] = sorted(
    {m.input_type for s in SERVICES for m in s.methods}
    | {inference_log_pb2.InferenceLogRecord.DESCRIPTOR},
    key=lambda d: d.full_name,
)


def _break(message: Message, rng: random.Random, depth: int = 0) -> None:
    """Sets some enums past their values, some times and durations out of range, and
    clears some fields, anywhere in ``message``."""
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.1:
            message.ClearField(field.name)
            continue
        value = getattr(message, field.name)
        if field.type == F.TYPE_ENUM and rng.random() < 0.3:
            if field.is_repeated:
                value.append(4242)
            else:
                setattr(message, field.name, 4242)
        elif field.message_type is None or depth > 6:
            continue
        elif field.message_type.GetOptions().map_entry:
            for item in (
                list(value.values())
                if field.message_type.fields_by_name["value"].message_type
                else []
            ):
                _break(item, rng, depth + 1)
        elif field.is_repeated:
            for item in value:
                _break(item, rng, depth + 1)
        elif message.HasField(field.name):
            name = field.message_type.full_name
            if name == "google.protobuf.Timestamp" and rng.random() < 0.5:
                value.seconds = 10**13
            elif name == "google.protobuf.Duration" and rng.random() < 0.5:
                value.seconds, value.nanos = 5, -5
            else:
                _break(value, rng, depth + 1)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_the_compiled_checks_answer_as_the_walks(data: st.DataObject, seed: int) -> None:
    desc = data.draw(st.sampled_from(TYPES))
    message = data.draw(messages(desc))
    _break(message, random.Random(seed))
    assert well_formed.violations(message, "r") == well_formed.reference_violations(message, "r")
