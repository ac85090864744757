"""Checks one YAML or JSON file of MLSpec messages, offline, and lists every problem.

A file says which message it holds on its first line, ``# message: <full.Name>`` (the
convention of ``examples/``); a line of the same form before a later document of a
multi-document YAML file (``---``) switches the type from there on. A caller may instead
name the type for the whole file (``default_type``). JSON files may carry the same
comment line first; the rest must be strict JSON.
"""

from __future__ import annotations

import json
import pathlib
import re
from dataclasses import dataclass

import yaml

from mlspec import yaml_format
from mlspec.cli.message_check import Problem, check_document
from mlspec.cli.message_types import UnknownMessageType, find_message_type
from mlspec.yaml_format import Position

__all__ = ["FileReport", "check_file", "check_text", "document_types"]

HEADER = re.compile(r"^#\s*message:\s*(\S+)\s*$")
_START = Position(1, 1)


@dataclass(frozen=True)
class FileReport:
    """What checking one file found: how many documents, and every problem."""

    path: str
    documents: int
    problems: list[Problem]


def check_file(path: pathlib.Path, default_type: str | None = None) -> FileReport:
    """Reads and checks ``path``; an unreadable file is one problem at 1:1."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return FileReport(str(path), 0, [Problem(_START, f"not UTF-8 text: {exc.reason}")])
    except OSError as exc:
        return FileReport(str(path), 0, [Problem(_START, f"cannot read: {exc.strerror}")])
    return check_text(text, str(path), default_type, is_json=path.suffix.lower() == ".json")


def check_text(
    text: str, name: str, default_type: str | None = None, *, is_json: bool = False
) -> FileReport:
    """Checks the documents of ``text`` (shown as ``name``) against their declared types."""
    headers = _headers(text)
    lines = text.splitlines()
    if default_type is None and not (lines and HEADER.match(lines[0])):
        return FileReport(
            name,
            0,
            [Problem(_START, "the first line must name the message: '# message: <full.Name>'")],
        )
    problems: list[Problem] = []
    if is_json:
        syntax = _json_syntax(text, headers)
        if syntax is not None:
            return FileReport(name, 0, [syntax])
    documents = 0
    try:
        for node in yaml_format.compose_documents(text):
            documents += 1
            if is_json:
                _join_surrogates(node)
            type_name = _type_at(headers, node.start_mark.line, default_type)
            assert type_name is not None  # the first line holds a header, or a default
            try:
                message = find_message_type(type_name)
            except UnknownMessageType as exc:
                problems.append(Problem(yaml_format.position(node), str(exc)))
                continue
            problems.extend(check_document(node, message))
    except yaml_format.ParseError as exc:
        problems.append(Problem(exc.position or _START, str(exc)))
    if documents == 0 and not problems:
        problems.append(Problem(_START, "no document: the file holds only comments"))
    return FileReport(name, documents, problems)


def document_types(text: str, default_type: str | None = None) -> list[str]:
    """The message type of each document of ``text`` (for a text that checked clean)."""
    headers = _headers(text)
    return [
        _type_at(headers, node.start_mark.line, default_type) or ""
        for node in yaml_format.compose_documents(text)
    ]


def _join_surrogates(node: yaml.Node) -> None:
    """Makes JSON's surrogate-pair escapes (``\\ud83d\\ude00``) one character again.

    The YAML parser that gives positions decodes each ``\\u`` escape alone; JSON reads a
    pair as one character, and so must the check.
    """
    if isinstance(node, yaml.ScalarNode):
        if any("\ud800" <= c <= "\udfff" for c in node.value):
            node.value = node.value.encode("utf-16", "surrogatepass").decode(
                "utf-16", "surrogatepass"
            )
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _join_surrogates(key)
            _join_surrogates(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _join_surrogates(item)


def _headers(text: str) -> list[tuple[int, str]]:
    """(0-based line, type name) of every ``# message:`` line."""
    found = []
    for number, line in enumerate(text.splitlines()):
        match = HEADER.match(line)
        if match:
            found.append((number, match.group(1)))
    return found


def _type_at(headers: list[tuple[int, str]], line: int, default: str | None) -> str | None:
    """The type named by the last header line before ``line`` (else ``default``)."""
    chosen = default
    for number, name in headers:
        if number >= line:
            break
        chosen = name
    return chosen


def _json_syntax(text: str, headers: list[tuple[int, str]]) -> Problem | None:
    """A JSON syntax error (header lines blanked first, so positions hold), or None."""
    lines = text.splitlines(keepends=True)
    for number, _ in headers:
        lines[number] = "\n"
    try:
        json.loads("".join(lines))
    except json.JSONDecodeError as exc:
        return Problem(Position(exc.lineno, exc.colno), f"not valid JSON: {exc.msg}")
    except RecursionError:
        return Problem(_START, "not valid JSON: nested too deeply")
    return None
