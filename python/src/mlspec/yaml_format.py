"""YAML form of MLSpec messages: proto3 JSON mapping written as YAML.

Every MLSpec message can be written as YAML, the way the workflow metadata file and the
examples are stored on disk. The mapping is exactly proto3 JSON: snake_case or
lowerCamelCase field names, enum value names, RFC 3339 timestamps, base64 bytes. Parsing
is strict: unknown fields, wrong types and bad enum names raise ``ParseError``.

YAML's own implicit typing is narrowed so that it cannot silently change a value: dates
and timestamps stay strings (protobuf parses them), as proto3 JSON expects.

For checkers that must say where a problem is, ``compose_documents`` gives the node tree of
every document of a stream (each node knows its line and column, see ``position``) and
``node_value`` turns a node back into the plain value ``load_plain`` would have built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

__all__ = [
    "ParseError",
    "Position",
    "compose_documents",
    "dump",
    "load",
    "load_plain",
    "node_value",
    "position",
]


@dataclass(frozen=True, order=True)
class Position:
    """A place in a text: 1-based line and column, as editors and compilers count them."""

    line: int
    column: int


class ParseError(ValueError):
    """Raised when a YAML document does not hold a valid message of the asked type.

    ``position`` is where the problem is, when it is known (YAML syntax errors).
    """

    def __init__(self, message: str, position: Position | None = None) -> None:
        """Keeps the message (``str(error)``) and the position of the problem."""
        super().__init__(message)
        self.position = position


class _PlainLoader(yaml.SafeLoader):
    """A safe loader that leaves timestamps as strings."""


_PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_plain(text: str) -> Any:
    """Parses YAML text into plain Python values, keeping timestamps as strings."""
    try:
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - _PlainLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise ParseError(f"not valid YAML: {exc}") from exc


def compose_documents(text: str) -> Iterator[yaml.Node]:
    """Yields the node tree of each document of a YAML stream, in order.

    Documents are composed one at a time, so the ones before a syntax error are yielded
    before the ``ParseError`` (whose ``position`` says where the syntax broke).
    """
    loader = _PlainLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(mark.line + 1, mark.column + 1) if mark is not None else None
        problem = exc.problem or exc.context or "not valid YAML"
        raise ParseError(f"not valid YAML: {problem}", where) from exc
    except yaml.YAMLError as exc:  # reader errors (bad characters) carry no mark
        raise ParseError(f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def position(node: yaml.Node) -> Position:
    """Where ``node`` starts in its text."""
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def node_value(node: yaml.Node) -> Any:
    """The plain Python value of a composed node (timestamps kept as strings)."""
    loader = _PlainLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:  # e.g. a bad !!binary or an unhashable key
        raise ParseError(f"not valid YAML: {exc}", position(node)) from exc
    finally:
        loader.dispose()


def load(text: str, message: M) -> M:
    """Parses YAML text into ``message`` (which is cleared first) and returns it."""
    document = load_plain(text)
    if not isinstance(document, dict):
        raise ParseError(f"expected a mapping at the top level, got {type(document).__name__}")
    message.Clear()
    try:
        json_format.ParseDict(document, message)
    except json_format.ParseError as exc:
        raise ParseError(str(exc)) from exc
    return message


def dump(message: Message) -> str:
    """Writes ``message`` as YAML with the original (snake_case) field names.

    Non-ASCII characters are written as escapes: PyYAML's emitter otherwise writes some
    of them (such as U+0085, a YAML line break) into quoted scalars unescaped, and they
    would not read back as the same string.
    """
    document = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=False)
