"""The compiled well-formedness check answers exactly as the field-by-field walk.

``well_formed.violations`` runs code generated once per message type, and so does
``request_checks.passes``, the one pass over every request that vouches for its limits
and its values together; ``reference_violations`` and ``limits.violations`` walk the
descriptors and are the specification. Random messages of every request type and of the
inference-log record, with random enum numbers, times and durations broken, or with
strings, lists, maps and nesting at and past their limits, get the same answers, in the
same order, from both.
"""

from __future__ import annotations

import random
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from mlspec.common.v1 import value_pb2
from mlspec.domain.common import limits, request_checks, well_formed
from mlspec.logging.v1 import inference_log_pb2, logging_service_pb2
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
    expected = well_formed.reference_violations(message, "r")
    assert well_formed.violations(message, "r") == expected
    assert request_checks.passes(message) == (expected == [] and limits.violations(message) == [])


def _nested(depth: int) -> value_pb2.Value:
    """A Value ``depth`` levels deep, alternating objects and arrays."""
    value = value_pb2.Value(int_value=1)
    for level in range(depth - 1):
        outer = value_pb2.Value()
        if level % 2:
            outer.array_value.values.add().CopyFrom(value)
        else:
            outer.object_value.fields["a"].CopyFrom(value)
        value = outer
    return value


def _stretch(message: Message, rng: random.Random, depth: int = 0) -> None:
    """Takes some strings, lists, maps and Values to their limits, or one past them,
    anywhere in ``message``."""
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.5:
            continue
        limit = limits.limit_of(field)
        size = (limit.max_items if field.is_repeated else limit.max_length) + rng.randint(0, 1)
        value = getattr(message, field.name)
        entry = field.message_type.fields_by_name["value"] if limit.is_map else field  # type: ignore[union-attr]
        deep = _nested(limits.MAX_NESTING + rng.randint(0, 1))
        if entry.message_type is not None and entry.message_type.full_name == VALUE:
            if limit.is_map:
                value["deep"].CopyFrom(deep)
            elif field.is_repeated:
                value.add().CopyFrom(deep)
            elif field.containing_oneof is None:
                value.CopyFrom(deep)
        elif limit.is_map and rng.random() < 0.3:
            key = (lambda i: str(i)) if limit.key_is_string else (lambda i: i)
            filler = entry.message_type is None and entry.default_value
            for i in range(size - len(value)):
                if entry.message_type is None:
                    value[key(i)] = filler
                else:
                    value[key(i)].SetInParent()
        elif limit.is_map and limit.key_is_string and entry.message_type is None:
            if rng.random() < 0.5:
                value["k" * size] = entry.default_value
            elif entry.type in (F.TYPE_STRING, F.TYPE_BYTES):
                text = "v" * limit.max_length + "v" * rng.randint(0, 1)
                value["k"] = text if entry.type == F.TYPE_STRING else text.encode()
        elif limit.is_map:
            for item in list(value.values()) if depth < 4 and entry.message_type else []:
                _stretch(item, rng, depth + 1)
        elif field.is_repeated and rng.random() < 0.3:
            for _ in range(size - len(value)):
                if field.message_type is not None:
                    value.add()
                else:
                    value.append({F.TYPE_STRING: "", F.TYPE_BYTES: b""}.get(field.type, 0))
        elif field.is_repeated and field.type in (F.TYPE_STRING, F.TYPE_BYTES):
            text = "x" * limit.max_length + "x" * rng.randint(0, 1)
            value.append(text if field.type == F.TYPE_STRING else text.encode())
        elif field.is_repeated:
            for item in value if depth < 4 and field.message_type else []:
                _stretch(item, rng, depth + 1)
        elif field.message_type is not None:
            if depth < 4 and (message.HasField(field.name) or rng.random() < 0.5):
                _stretch(value, rng, depth + 1)
        elif field.type in (F.TYPE_STRING, F.TYPE_BYTES) and rng.random() < 0.3:
            text = "x" * limit.max_length + "x" * rng.randint(0, 1)
            setattr(message, field.name, text if field.type == F.TYPE_STRING else text.encode())


VALUE = value_pb2.Value.DESCRIPTOR.full_name


@settings(max_examples=200, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_the_one_pass_answers_as_the_limits_walk(data: st.DataObject, seed: int) -> None:
    desc = data.draw(st.sampled_from(TYPES))
    message = data.draw(messages(desc))
    _stretch(message, random.Random(seed))
    expected = limits.violations(message)
    well = well_formed.reference_violations(message) == []
    assert request_checks.passes(message) == (expected == [] and well)


def test_the_one_pass_finds_nesting_in_a_batch_of_records() -> None:
    records = [inference_log_pb2.InferenceLogRecord(request_id=str(i)) for i in range(3)]
    request = logging_service_pb2.WriteInferenceLogsRequest(log_stream_id="s", records=records)
    deep = request.records[1].inference.input_features["f"]
    deep.CopyFrom(_nested(limits.MAX_NESTING))
    assert request_checks.passes(request)
    deep.CopyFrom(_nested(limits.MAX_NESTING + 1))
    assert not request_checks.passes(request)
    assert [v.field for v in limits.violations(request)] == [
        "records[1].inference.input_features['f']"
        + ".array_value.values[0].object_value.fields['a']" * 10
    ]
