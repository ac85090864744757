"""Finds the descriptor of a message type by its full name, offline.

Generated modules register their types in protobuf's default pool when imported; a name
such as ``mlspec.data.v1.Dataset`` is looked up there after importing every ``*_pb2``
module of the Python package its proto package maps to (``mlspec.data.v1``).
"""

from __future__ import annotations

import importlib
import pkgutil

from google.protobuf import descriptor, descriptor_pool

__all__ = ["UnknownMessageType", "find_message_type"]


class UnknownMessageType(LookupError):
    """No generated module defines a message of that name."""


def find_message_type(full_name: str) -> descriptor.Descriptor:
    """The descriptor of ``full_name``; raises ``UnknownMessageType`` if there is none."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindMessageTypeByName(full_name)
    except KeyError:
        pass
    parts = full_name.split(".")
    for end in range(len(parts) - 1, 0, -1):  # nested types: try each enclosing prefix
        if _import_package(".".join(parts[:end])):
            break
    try:
        return pool.FindMessageTypeByName(full_name)
    except KeyError:
        raise UnknownMessageType(f"unknown message type {full_name!r}") from None


def _import_package(name: str) -> bool:
    """Imports every ``*_pb2`` module of the Python package ``name``; False if none."""
    try:
        package = importlib.import_module(name)
    except ImportError:
        return False
    found = False
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        if info.name.endswith("_pb2"):
            importlib.import_module(f"{name}.{info.name}")
            found = True
    return found
