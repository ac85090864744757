"""Properties of ``mlspec validate``, by mutating the valid examples at random.

Each mutation goes at a place found by a plain walk of the example (``yaml_oracle``); the
checker must report it, and only it, at the mutated line and column. Valid documents
(every example, and arbitrary messages written by ``yaml_format.dump``) report nothing.
"""

from __future__ import annotations

import pathlib

import yaml
from google.protobuf import descriptor, json_format, message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec import yaml_format
from mlspec.cli.file_check import HEADER, check_text
from mlspec.cli.message_check import check_document
from mlspec.cli.message_types import find_message_type
from mlspec.yaml_format import Position
from tests.contract.message_strategies import messages

from .yaml_oracle import leaves, mappings

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
# Files of one document (the seed holds many; test_validate checks it whole).
TEXTS = {
    p.relative_to(ROOT).as_posix(): text
    for p in EXAMPLES
    if "\n---\n" not in (text := p.read_text(encoding="utf-8"))
}
UNKNOWN = "zz_not_a_field"
RUNS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parsed(name: str) -> tuple[str, yaml.Node, descriptor.Descriptor]:
    text = TEXTS[name]
    match = HEADER.match(text.splitlines()[0])
    assert match is not None
    node = next(yaml_format.compose_documents(text))
    return text, node, find_message_type(match.group(1))


def positions(text: str) -> list[tuple[Position, str]]:
    return [(p.position, p.message) for p in check_text(text, "x.yaml").problems]


@RUNS
@given(name=st.sampled_from(sorted(TEXTS)), data=st.data())
def test_an_unknown_key_is_reported_on_its_line(name: str, data: st.DataObject) -> None:
    text, node, message = parsed(name)
    lines = text.splitlines(keepends=True)
    # Keys after the first of a block mapping start their own line: insert one before.
    spots = [
        key
        for mapping, _ in mappings(node, message)
        if not mapping.flow_style
        for key, _ in mapping.value[1:]
        if not lines[key.start_mark.line][: key.start_mark.column].strip()
    ]
    if not spots:
        return
    key = data.draw(st.sampled_from(spots))
    line, column = key.start_mark.line, key.start_mark.column
    lines.insert(line, " " * column + f"{UNKNOWN}: 1\n")
    found = positions("".join(lines))
    assert len(found) == 1, found
    assert found[0][0] == Position(line + 1, column + 1)
    assert f"unknown field {UNKNOWN!r}" in found[0][1]


def _replace(text: str, node: yaml.Node, new: str) -> str:
    return text[: node.start_mark.index] + new + text[node.end_mark.index :]


def _simple_leaves(name: str) -> tuple[str, list[yaml.ScalarNode], list[yaml.ScalarNode]]:
    text, node, message = parsed(name)
    found = [
        leaf
        for leaf in leaves(node, message)
        if leaf.node.style in (None, "'", '"')
        and leaf.node.tag != "tag:yaml.org,2002:null"
        and leaf.node.start_mark.line == leaf.node.end_mark.line
    ]
    enums = [leaf.node for leaf in found if leaf.field.enum_type is not None]
    return text, [leaf.node for leaf in found], enums


@RUNS
@given(name=st.sampled_from(sorted(TEXTS)), data=st.data())
def test_a_list_for_a_scalar_is_reported_where_it_is(name: str, data: st.DataObject) -> None:
    text, scalars, _ = _simple_leaves(name)
    if not scalars:
        return
    node = data.draw(st.sampled_from(scalars))
    found = positions(_replace(text, node, "[1, 2]"))
    assert len(found) == 1, found
    assert found[0][0] == yaml_format.position(node)
    assert "got a list" in found[0][1]


@RUNS
@given(name=st.sampled_from(sorted(TEXTS)), data=st.data())
def test_a_bad_enum_name_is_reported_where_it_is(name: str, data: st.DataObject) -> None:
    text, _, enums = _simple_leaves(name)
    if not enums:
        return
    node = data.draw(st.sampled_from(enums))
    found = positions(_replace(text, node, "NOT_A_VALUE_ZZ"))
    assert len(found) == 1, found
    assert found[0][0] == yaml_format.position(node)
    assert "'NOT_A_VALUE_ZZ' is not a value of" in found[0][1]


@RUNS
@given(name=st.sampled_from(sorted(TEXTS)), cut=st.integers(min_value=0), span=st.integers(1, 8))
def test_any_damage_is_reported_or_still_parses(name: str, cut: int, span: int) -> None:
    text = TEXTS[name]
    first_line = len(text.splitlines(keepends=True)[0])
    at = first_line + cut % max(1, len(text) - first_line)
    damaged = text[:at] + text[at + span :]
    report = check_text(damaged, "x.yaml")  # never raises
    if not report.problems and report.documents == 1:
        _, _, message = parsed(name)
        yaml_format.load(damaged, message_factory.GetMessageClass(message)())


TYPES = [
    "mlspec.data.v1.Dataset",
    "mlspec.lifecycle.v1.StageReport",
    "mlspec.metadata.v1.WorkflowMetadata",
    "mlspec.models.v1.Model",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), type_name=st.sampled_from(TYPES))
def test_any_valid_message_reports_nothing(data: st.DataObject, type_name: str) -> None:
    message: Message = data.draw(messages(find_message_type(type_name)))
    as_yaml = f"# message: {type_name}\n" + yaml_format.dump(message)
    assert positions(as_yaml) == []
    as_json = f"# message: {type_name}\n" + json_format.MessageToJson(message)
    assert [p.message for p in check_text(as_json, "x.json", is_json=True).problems] == []


def test_the_walker_alone_accepts_every_example() -> None:
    for name in TEXTS:
        _, node, message = parsed(name)
        assert check_document(node, message) == [], name


REPLACEMENTS = [
    "null",
    "~",
    "''",
    "'x'",
    "0",
    "-1",
    "1.5",
    "1e400",
    ".nan",
    "0x1F",
    "'NaN'",
    "'12'",
    "true",
    "yes",
    "[]",
    "[null]",
    "{}",
    "{a: 1}",
    "'2024-01-01T00:00:00Z'",
    "2024-01-01",
    "'1.5s'",
    "'aGVsbG8='",
    "'OBJECT_STATUS_ACTIVE'",
    "4294967296",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(TEXTS)), data=st.data(), new=st.sampled_from(REPLACEMENTS))
def test_a_document_is_clean_exactly_when_it_loads(
    name: str, data: st.DataObject, new: str
) -> None:
    text, node, message = parsed(name)
    values = [
        value
        for mapping, _ in mappings(node, message)
        if mapping.flow_style is False
        for _, value in mapping.value
        if value.start_mark.line == value.end_mark.line
        and not (isinstance(value, yaml.ScalarNode) and value.style in ("|", ">"))
    ]
    if not values:
        return
    target = data.draw(st.sampled_from(values))
    changed = _replace(text, target, new)
    found = positions(changed)
    try:
        yaml_format.load(changed, message_factory.GetMessageClass(message)())
    except yaml_format.ParseError as exc:
        assert found, f"load fails ({exc}) but validate reports nothing"
        assert found[0][0] >= yaml_format.position(target), found
    else:
        # Deliberately stricter than protobuf, which takes any empty iterable ('' or [])
        # for a message: validate says a mapping belongs there.
        stricter = new in {"''", "[]"} and "expected a mapping (" in "".join(m for _, m in found)
        assert found == [] or (stricter and len(found) == 1), found
