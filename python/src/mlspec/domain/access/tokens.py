"""Workspace names, bearer tokens and the roles they grant.

A token is ``mlspec_<id>_<secret>``: ``id`` (16 hex characters) finds its record, and
only the SHA-256 of ``secret`` (32 random bytes, URL-safe base64) is stored, so a copy of
the store does not hold usable tokens. Each token belongs to one workspace and has one
role: ``reader`` calls reading methods, ``writer`` reading and writing ones, ``admin``
everything (including the audit trail).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from mlspec import errors
from mlspec.domain.clock import now_micros
from mlspec.store.api import TokenRow, UnitOfWork

__all__ = [
    "ROLES",
    "WORKSPACE_PATTERN",
    "IssuedToken",
    "Principal",
    "check_role",
    "check_workspace",
    "create_token",
    "issue_token",
    "matches",
    "parse_token",
]

ROLES = ("reader", "writer", "admin")
# A workspace name is a DNS label: 1-63 lowercase letters, digits and hyphens, starting
# and ending with a letter or digit. The same rule holds on every backend.
WORKSPACE_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TOKEN = re.compile(r"mlspec_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


def check_workspace(name: str, field: str = "workspace") -> str:
    """Returns ``name`` when it is a valid workspace name; INVALID_ARGUMENT otherwise."""
    if WORKSPACE_PATTERN.fullmatch(name) is None:
        shown = name if len(name) <= 80 else name[:80] + "..."
        raise errors.invalid(
            field,
            f"{shown!r} is not a workspace name: use 1-63 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit",
            reason="INVALID_WORKSPACE",
        )
    return name


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: which token, in which workspace, with which role."""

    token_id: str
    name: str
    workspace: str
    role: str

    @property
    def may_write(self) -> bool:
        """Writers and admins may call writing methods."""
        return self.role in ("writer", "admin")

    @property
    def is_admin(self) -> bool:
        """Admins may call every method."""
        return self.role == "admin"

    def describe(self) -> str:
        """``token <id> (<name>)``, for audit records and messages."""
        return f"token {self.token_id}" + (f" ({self.name})" if self.name else "")


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the text to hand over once, and what is stored of it."""

    token_id: str
    text: str
    secret_hash: str


def issue_token() -> IssuedToken:
    """Makes a new random token."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return IssuedToken(token_id, f"mlspec_{token_id}_{secret}", _hash(secret))


def parse_token(text: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token text, or None."""
    found = _TOKEN.fullmatch(text)
    return (found.group(1), found.group(2)) if found else None


def matches(secret: str, secret_hash: str) -> bool:
    """Whether ``secret`` is the one whose hash is stored (in constant time)."""
    return hmac.compare_digest(_hash(secret), secret_hash)


def check_role(role: str) -> str:
    """Returns ``role`` when it is one of ``ROLES``; INVALID_ARGUMENT otherwise."""
    if role not in ROLES:
        raise errors.invalid("role", f"{role!r} is not a role: use one of {', '.join(ROLES)}")
    return role


def create_token(tx: UnitOfWork, workspace: str, role: str, name: str = "") -> IssuedToken:
    """Stores a new token for ``workspace`` with ``role``; the text is returned only here."""
    check_workspace(workspace)
    check_role(role)
    if len(name) > 255:
        raise errors.invalid("name", "must be at most 255 characters")
    issued = issue_token()
    tx.add_token(TokenRow(issued.token_id, name, workspace, role, issued.secret_hash, now_micros()))
    return issued


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
