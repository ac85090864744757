"""Turning another system's names into MLSpec's strict ones.

The original spelling is kept where the contract has a place for it
(``ObjectMeta.display_name``, ``Vertex.display_name``), so nothing is lost.
"""

from __future__ import annotations

import hashlib
import re

_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_NOT_VERTEX = re.compile(r"[^a-z0-9_-]+")
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


def _shorten(text: str, limit: int, original: str) -> str:
    """Cuts ``text`` to ``limit`` characters, ending in a digest of ``original`` if cut."""
    if len(text) <= limit:
        return text
    tail = hashlib.sha256(original.encode()).hexdigest()[:8]
    return text[: limit - 9] + "-" + tail


def resource_name(text: str) -> str:
    """An ``ObjectMeta.name``: letters, digits, ``-`` and ``_``, starting with one of the first two."""
    name = _NOT_NAME.sub("-", text).strip("-_")
    if not name:
        name = "unnamed"
    return _shorten(name, 255, text)


def vertex_id(text: str) -> str:
    """A graph vertex id: ``^[a-z][a-z0-9_-]{0,62}$``."""
    vid = _NOT_VERTEX.sub("-", text.lower()).strip("-")
    if not vid or not vid[0].isalpha():
        vid = "t-" + vid
    return _shorten(vid, 63, text)


def identifier(text: str) -> str:
    """A parameter, port or graph-output name: ``^[A-Za-z][A-Za-z0-9_]{0,62}$``."""
    ident = _NOT_IDENTIFIER.sub("_", text).strip("_")
    if not ident or not ident[0].isalpha():
        ident = "p_" + ident
    return _shorten(ident, 63, text).replace("-", "_")
