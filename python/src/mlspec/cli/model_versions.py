"""How a model version is named on the command line: its id, ``NAME@VERSION`` or ``NAME:VERSION``.

``NAME@VERSION`` (``churn-xgb@7.0.0``) is the canonical spelling, the one every REF of
``get``, ``list`` and ``lineage`` uses for versions; ``NAME:VERSION`` is read as the same
thing. Neither a name nor a version can hold ``@`` or ``:`` (``client.names``), so the two
never mean anything else. ``gate``, ``logs --model-version``, ``provenance``, ``get
model-version`` and ``lineage model-version`` all read their model version here.
"""

from __future__ import annotations

import re

from mlspec.client.names import NAME, VERSION, BadReference
from mlspec.common.v1 import reference_pb2

__all__ = ["METAVAR", "MODEL_VERSION", "canonical", "model_version_ref", "split_model_version"]

METAVAR = "ID|NAME@VERSION"
MODEL_VERSION = "model-version"  # the kind's name in mlspec.client.kinds
_SEPARATORS = re.compile(r"[@:]")


def split_model_version(text: str) -> tuple[str, str] | None:
    """``(name, version)`` of ``NAME@VERSION`` or ``NAME:VERSION``; None for anything else.

    ``BadReference`` (a usage error) for text with a separator that is not one of them.

    Example:
        >>> split_model_version("churn-xgb:7.0.0")
        ('churn-xgb', '7.0.0')
    """
    parts = _SEPARATORS.split(text)
    if len(parts) == 1 or "/" in text:
        return None
    if len(parts) == 2 and NAME.fullmatch(parts[0]) and VERSION.fullmatch(parts[1]):
        return parts[0], parts[1]
    raise BadReference(
        f"{text!r} is not a model version: write its id or NAME@VERSION, for example "
        "churn-xgb@7.0.0 (NAME:VERSION also works)"
    )


def canonical(text: str) -> str:
    """The model version as ``NAME@VERSION`` when named so or as ``NAME:VERSION``; else as is."""
    split = split_model_version(text)
    return f"{split[0]}@{split[1]}" if split is not None else text


def model_version_ref(text: str) -> reference_pb2.ResourceRef:
    """A reference the server resolves: by model name and version, or by id."""
    split = split_model_version(text)
    if split is not None:
        return reference_pb2.ResourceRef(
            kind=reference_pb2.RESOURCE_KIND_MODEL, name=split[0], version=split[1]
        )
    return reference_pb2.ResourceRef(kind=reference_pb2.RESOURCE_KIND_MODEL_VERSION, id=text)
