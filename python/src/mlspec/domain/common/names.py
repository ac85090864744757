"""The naming and labelling rules of SPEC.md section 2."""

from __future__ import annotations

import re

from mlspec.errors import FieldViolation

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")
LABEL_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,62}")
MAX_LABEL_VALUE = 255
MAX_DESCRIPTION = 32 * 1024


def name_violations(name: str, path: str) -> list[FieldViolation]:
    """Returns what is wrong with ``name`` (empty when it is valid)."""
    if not name:
        return [FieldViolation(path, "a name is required")]
    if len(name) > 255:
        return [FieldViolation(path, f"is {len(name)} characters long; at most 255 are allowed")]
    if not NAME_PATTERN.fullmatch(name):
        return [
            FieldViolation(
                path,
                "must start with a letter or digit and hold only letters, digits, '-' and '_'",
            )
        ]
    return []


def label_violations(labels: dict[str, str], path: str) -> list[FieldViolation]:
    """Returns what is wrong with a label map (empty when it is valid)."""
    found = []
    for key, value in labels.items():
        if not LABEL_KEY_PATTERN.fullmatch(key):
            found.append(
                FieldViolation(
                    f"{path}[{key!r}]",
                    "label keys start with a lowercase letter and hold only a-z, 0-9, '_', '.', "
                    "'-' (at most 63 characters)",
                )
            )
        if len(value) > MAX_LABEL_VALUE:
            found.append(
                FieldViolation(f"{path}[{key!r}]", "label values are at most 255 characters")
            )
    return found


def description_violations(description: str, path: str) -> list[FieldViolation]:
    """Returns a violation when a description is longer than 32K characters."""
    if len(description) > MAX_DESCRIPTION:
        return [
            FieldViolation(path, f"is {len(description)} characters; at most 32768 are allowed")
        ]
    return []
