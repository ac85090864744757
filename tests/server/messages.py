"""Builds messages from their proto3 JSON shape, so tests read like the YAML examples."""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


def make(cls: type[M], fields: dict[str, Any]) -> M:
    """Builds a ``cls`` from a dict in proto3 JSON form (snake_case names allowed)."""
    return json_format.ParseDict(fields, cls())
