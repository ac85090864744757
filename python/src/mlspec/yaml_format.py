"""YAML form of MLSpec messages: proto3 JSON mapping written as YAML.

Every MLSpec message can be written as YAML, the way the workflow metadata file and the
examples are stored on disk. The mapping is exactly proto3 JSON: snake_case or
lowerCamelCase field names, enum value names, RFC 3339 timestamps, base64 bytes. Parsing
is strict: unknown fields, wrong types and bad enum names raise ``ParseError``.

YAML's own implicit typing is narrowed so that it cannot silently change a value: dates
and timestamps stay strings (protobuf parses them), as proto3 JSON expects.
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

__all__ = ["ParseError", "dump", "load", "load_plain"]


class ParseError(ValueError):
    """Raised when a YAML document does not hold a valid message of the asked type."""


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
