"""Where a document's message mappings and scalar leaves are, for mutating it in tests.

A deliberately plain walk of the node tree beside the descriptor: it finds the places a
mutation can go, and the tests check that ``mlspec validate`` reports them there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from google.protobuf import descriptor
from google.protobuf.descriptor import FieldDescriptor


@dataclass(frozen=True)
class Leaf:
    """A scalar value node and the field it is a value of."""

    node: yaml.ScalarNode
    field: FieldDescriptor


def _plain_message(field: FieldDescriptor) -> descriptor.Descriptor | None:
    message = field.message_type
    if message is None or message.file.package == "google.protobuf":
        return None
    return message


def _field(message: descriptor.Descriptor, key: str) -> FieldDescriptor | None:
    return message.fields_by_name.get(key) or message.fields_by_camelcase_name.get(key)


def mappings(
    node: yaml.Node, message: descriptor.Descriptor
) -> Iterator[tuple[yaml.MappingNode, descriptor.Descriptor]]:
    """Every mapping node that holds a (non well-known) message, with its type."""
    if not isinstance(node, yaml.MappingNode):
        return
    yield node, message
    for key, value in node.value:
        field = _field(message, key.value)
        if field is None:
            continue
        for child, child_type in _children(value, field):
            yield from mappings(child, child_type)


def leaves(node: yaml.Node, message: descriptor.Descriptor) -> Iterator[Leaf]:
    """Every scalar value of a scalar (not message) field, list items included."""
    for mapping, mapping_type in mappings(node, message):
        for key, value in mapping.value:
            field = _field(mapping_type, key.value)
            if field is None or field.message_type is not None:
                continue
            items = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for item in items:
                if isinstance(item, yaml.ScalarNode):
                    yield Leaf(item, field)


def _children(
    value: yaml.Node, field: FieldDescriptor
) -> Iterator[tuple[yaml.Node, descriptor.Descriptor]]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_type = _plain_message(field.message_type.fields_by_name["value"])
        if value_type is not None and isinstance(value, yaml.MappingNode):
            for _, item in value.value:
                yield item, value_type
        return
    message = _plain_message(field)
    if message is None:
        return
    if isinstance(value, yaml.SequenceNode):
        for item in value.value:
            yield item, message
    else:
        yield value, message
