"""``mlspec validate --remote``: the server's rules on each document, with nothing stored.

A document that passes the offline check and holds something the server creates (a
resource such as a Dataset, or a StageReport) is sent to the method that creates it
with ``validate_only`` (AIP-163), after the names it uses where the server wants ids are
resolved as ``mlspec report`` resolves them. Each field violation the server answers becomes a
problem at the place of that field in the file (or of its nearest written parent, for
a field that is missing); any other refusal (a name taken, a reference not found) is one
problem at the start of the document. A failure that is not about the document (a server
that cannot be reached, a token refused) ends the command with the one line of every
command.
"""

from __future__ import annotations

import re

import yaml
from google.protobuf import json_format, message_factory

from mlspec import yaml_format
from mlspec.cli.message_check import Problem
from mlspec.cli.message_types import UnknownMessageType, find_message_type
from mlspec.client import Client
from mlspec.client.errors import (
    DeadlineExceeded,
    InvalidArgument,
    MLSpecError,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from mlspec.client.names import Resolver, UnresolvedReference
from mlspec.client.validation import NotCreatable, create_method

__all__ = ["check_documents"]

# Failures about the call, not the document: raised, not reported at a line of the file.
_NOT_ABOUT_THE_DOCUMENT = (Unavailable, DeadlineExceeded, Unauthenticated, PermissionDenied)

_STEP = re.compile(r"([^.\[]+)|\[(\d+)\]|\['([^']*)'\]")


def check_documents(client: Client, text: str, types: list[str]) -> list[Problem]:
    """The server's problems with each document of ``text`` (whose types are ``types``)."""
    problems: list[Problem] = []
    resolver = Resolver(client)
    for node, type_name in zip(yaml_format.compose_documents(text), types, strict=False):
        try:
            desc = find_message_type(type_name)
            _, field_in, _ = create_method(desc.full_name)
        except (UnknownMessageType, NotCreatable):
            continue
        message = message_factory.GetMessageClass(desc)()
        json_format.ParseDict(yaml_format.node_value(node), message)
        unresolved = False
        try:
            resolver.resolve_references(message)  # names to ids, as `mlspec report` does
        except UnresolvedReference as exc:
            where = _node_at(node, exc.path)
            problems.append(Problem(yaml_format.position(where), _text(exc.path, str(exc))))
            unresolved = True
        try:
            client.validate(message)
        except InvalidArgument as exc:
            violations = exc.field_violations or [("", exc.message)]
            for field, description in violations:
                inside = field.removeprefix(field_in).removeprefix(".")
                where = _node_at(node, inside)
                problems.append(Problem(yaml_format.position(where), _text(inside, description)))
        except _NOT_ABOUT_THE_DOCUMENT:
            raise
        except MLSpecError as exc:
            if unresolved:  # the server cannot find what the lookup did not: said above
                continue
            code = exc.code.name if exc.code is not None else "ERROR"
            problems.append(Problem(yaml_format.position(node), f"server: {code}: {exc.message}"))
    return problems


def _text(field: str, description: str) -> str:
    return f"server: {field} {description}" if field else f"server: {description}"


def _node_at(node: yaml.Node, path: str) -> yaml.Node:
    """The node of ``path`` (``a.b[1].c``) in a document, or its nearest existing parent."""
    current = node
    for name, index, key in _STEP.findall(path):
        step = name or key
        if index and isinstance(current, yaml.SequenceNode):
            position = int(index)
            if position >= len(current.value):
                return current
            current = current.value[position]
        elif step and isinstance(current, yaml.MappingNode):
            found = next((v for k, v in current.value if k.value == step), None)
            if found is None:
                return current
            current = found
        else:
            return current
    return current
