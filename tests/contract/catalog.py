"""What the contract tests walk: the generated modules, their messages, the buf binary."""

from __future__ import annotations

import importlib
import os
import pathlib
import pkgutil
import shutil
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from google.protobuf import descriptor

import mlspec

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "proto"


def generated_modules() -> list[ModuleType]:
    """Imports and returns every generated ``*_pb2`` module of the package."""
    found = []
    for info in pkgutil.walk_packages(mlspec.__path__, prefix="mlspec."):
        if info.name.endswith("_pb2"):
            found.append(importlib.import_module(info.name))
    return sorted(found, key=lambda m: m.__name__)


def _walk_messages(message: descriptor.Descriptor) -> Iterator[descriptor.Descriptor]:
    yield message
    for nested in message.nested_types:
        if not nested.GetOptions().map_entry:
            yield from _walk_messages(nested)


def all_messages() -> list[descriptor.Descriptor]:
    """Every message type the contract defines (nested ones included, map entries not)."""
    messages: list[descriptor.Descriptor] = []
    for module in generated_modules():
        for top in module.DESCRIPTOR.message_types_by_name.values():
            messages.extend(_walk_messages(top))
    return sorted(messages, key=lambda d: d.full_name)


def find_buf() -> str:
    """Locates the buf binary: $MLSPEC_BUF, next to this Python, or on PATH."""
    candidates = [
        os.environ.get("MLSPEC_BUF", ""),
        str(pathlib.Path(sys.executable).parent / "buf"),
    ]
    for candidate in candidates:
        if candidate and pathlib.Path(candidate).is_file():
            return candidate
    found = shutil.which("buf")
    if found is None:
        pytest.fail("buf not found: run the tests through `make test` (it installs buf-bin)")
    return found
