"""YAML and JSON documents read for sending to a server, each knowing where it came from.

``read_documents`` reads a file the way ``mlspec validate`` checks it (a ``# message:
<full.Name>`` line names the type of the documents after it; ``---`` separates YAML
documents; a JSON file holds one object) and parses every document
into its message. Anything wrong is a ``DocumentError`` whose text starts with
``FILE:LINE:COLUMN``: the first problem ``mlspec validate`` would print, and how many
more there are. ``Document.where(field_path)`` turns the field path of a server's field
violation (``inputs[0].digest``) back into the line and column of that field.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

import click
import yaml
from google.protobuf import descriptor, json_format, message_factory
from google.protobuf.message import Message

from mlspec import yaml_format
from mlspec.cli import errors
from mlspec.cli.file_check import HEADER, check_text
from mlspec.cli.message_types import UnknownMessageType, find_message_type
from mlspec.yaml_format import Position

__all__ = [
    "Document",
    "DocumentError",
    "document_files",
    "failure_at",
    "locate",
    "read_documents",
]

document_files = click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    metavar="FILE...",
)
"""The ``FILE...`` argument of the commands that send documents: one or more files."""

_SEGMENT = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(['\"]?)(.*?)\3\]")
_START = Position(1, 1)


class DocumentError(Exception):
    """A document that cannot be sent as it is; ``str`` is ``FILE:LINE:COLUMN: what``."""

    def __init__(self, path: str, position: Position, message: str) -> None:
        """Keeps the file, the place in it and what is wrong."""
        super().__init__(f"{path}:{position.line}:{position.column}: {message}")
        self.path = path
        self.position = position
        self.message = message


@dataclass(frozen=True)
class Document:
    """One document of a file, parsed into its message.

    Attributes:
        path: the file, as the user named it.
        number: the document's number in the file (1 for the first).
        node: the YAML node tree (for positions).
        message: the parsed message.
        text: the whole file's text.
    """

    path: str
    number: int
    node: yaml.Node
    message: Message
    text: str

    @property
    def type_name(self) -> str:
        """The full name of the document's message type."""
        return self.message.DESCRIPTOR.full_name

    def where(self, field_path: str = "") -> str:
        """``FILE:LINE:COLUMN`` of a field of the document (of the document without one)."""
        spot = locate(self.node, field_path)
        return f"{self.path}:{spot.line}:{spot.column}"

    def label(self) -> str:
        """``FILE`` for a file of one document, ``FILE (document N)`` otherwise."""
        return f"{self.path} (document {self.number})" if self.number > 1 else self.path


def read_documents(
    path: pathlib.Path,
    *,
    default_type: str | None = None,
    accepted: frozenset[str] | None = None,
) -> list[Document]:
    """Every document of ``path``, parsed; ``DocumentError`` for the first problem.

    ``default_type`` is the message of documents no ``# message:`` line names;
    ``accepted`` (full names) refuses documents of other types.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(name, _START, f"not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise DocumentError(name, _START, f"cannot read: {exc.strerror}") from None
    lines = text.splitlines()
    has_header = bool(lines) and HEADER.match(lines[0]) is not None
    checked = check_text(
        text,
        name,
        None if has_header else default_type,
        is_json=path.suffix.lower() == ".json",
    )
    if checked.problems:
        first = checked.problems[0]
        more = len(checked.problems) - 1
        tail = (
            f" (and {more} more problem{'s' if more != 1 else ''}: mlspec validate {name} "
            "lists them all)"
            if more
            else ""
        )
        raise DocumentError(name, first.position, first.message + tail)
    headers = [(n, m.group(1)) for n, line in enumerate(lines) if (m := HEADER.match(line))]
    documents: list[Document] = []
    for node in yaml_format.compose_documents(text):
        type_name = _type_at(headers, node.start_mark.line, default_type)
        message_type = _message_type(name, node, type_name, accepted)
        message = _parse(name, node, message_type)
        documents.append(Document(name, len(documents) + 1, node, message, text))
    if not documents:
        raise DocumentError(name, _START, "no document: the file holds only comments")
    return documents


def _type_at(headers: list[tuple[int, str]], line: int, default: str | None) -> str | None:
    chosen = default
    for number, type_name in headers:
        if number >= line:
            break
        chosen = type_name
    return chosen


def _message_type(
    path: str, node: yaml.Node, type_name: str | None, accepted: frozenset[str] | None
) -> descriptor.Descriptor:
    where = yaml_format.position(node)
    if type_name is None:
        raise DocumentError(
            path, where, "the first line must name the message: '# message: <full.Name>'"
        )
    if accepted is not None and type_name not in accepted:
        raise DocumentError(
            path, where, f"a {type_name} document; this command takes {', '.join(sorted(accepted))}"
        )
    try:
        return find_message_type(type_name)
    except UnknownMessageType as exc:
        raise DocumentError(path, where, str(exc)) from None


def _parse(path: str, node: yaml.Node, message_type: descriptor.Descriptor) -> Message:
    message = message_factory.GetMessageClass(message_type)()
    try:
        json_format.ParseDict(yaml_format.node_value(node), message)
    except (json_format.ParseError, yaml_format.ParseError) as exc:
        raise DocumentError(path, yaml_format.position(node), str(exc)) from None
    return message


def failure_at(document: Document, exc: BaseException) -> str:
    """``FILE:LINE:COLUMN: <the error's line>`` at the first field a call error names.

    Field violations name request fields (``stage_report.inputs[0].digest``); the first
    part, the request's field that holds the document, is dropped.
    """
    fields = [
        v.field
        for detail in getattr(exc, "details", ())
        for v in getattr(detail, "field_violations", ())
    ]
    field = fields[0].partition(".")[2] if fields else ""
    return f"{document.where(field)}: {errors.describe(exc).message}"


def locate(node: yaml.Node, field_path: str) -> Position:
    """Where the field at ``field_path`` (``inputs[0].digest``) is, as deep as it exists.

    Field names match in snake_case or lowerCamelCase; ``[N]`` indexes a list and
    ``['key']`` a map. The walk stops at the last part found.
    """
    current = node
    for match in _SEGMENT.finditer(field_path):
        name, index, _, key = match.groups()
        following: yaml.Node | None = None
        if name is not None and isinstance(current, yaml.MappingNode):
            following = _value_of(current, {name, _camel(name)})
        elif index is not None and isinstance(current, yaml.SequenceNode):
            position = int(index)
            following = current.value[position] if position < len(current.value) else None
        elif key is not None and isinstance(current, yaml.MappingNode):
            following = _value_of(current, {key})
        if following is None:
            break
        current = following
    return yaml_format.position(current)


def _value_of(node: yaml.MappingNode, keys: set[str]) -> yaml.Node | None:
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value in keys:
            found: yaml.Node = value
            return found
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
