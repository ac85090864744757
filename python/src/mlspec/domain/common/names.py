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
        return [FieldViolation(path, "is required")]
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


EXTERNAL_SYSTEM_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,62}")
MAX_DISPLAY_NAME = 1024
MAX_EXTERNAL_ID = 1024
MAX_EXTERNAL_URI = 2048


def display_name_violations(display_name: str, path: str) -> list[FieldViolation]:
    """A display name is any text of at most 1,024 characters."""
    if len(display_name) > MAX_DISPLAY_NAME:
        return [
            FieldViolation(path, f"is {len(display_name)} characters; at most 1024 are allowed")
        ]
    return []


def external_id_violations(
    system: str, external_id: str, uri: str, path: str
) -> list[FieldViolation]:
    """What is wrong with an ObjectMeta.external_id (its system, id and URI)."""
    found = []
    if not EXTERNAL_SYSTEM_PATTERN.fullmatch(system):
        found.append(
            FieldViolation(
                f"{path}.system",
                "must be a lowercase token matching ^[a-z][a-z0-9_.-]{0,62}$, for example mlflow",
            )
        )
    if not external_id:
        found.append(FieldViolation(f"{path}.id", "is required: the object's id in that system"))
    elif len(external_id) > MAX_EXTERNAL_ID:
        found.append(
            FieldViolation(
                f"{path}.id", f"is {len(external_id)} characters; at most 1024 are allowed"
            )
        )
    if len(uri) > MAX_EXTERNAL_URI:
        found.append(
            FieldViolation(f"{path}.uri", f"is {len(uri)} characters; at most 2048 are allowed")
        )
    return found
