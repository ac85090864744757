"""Who is calling: the workspace and rights of each call (``Access.scope``).

Two modes (``mlspec serve --auth``):

- ``none``, the loopback development mode: every caller is anonymous, may do
  everything, and names its workspace in the ``x-mlspec-workspace`` header (``default``
  when absent). The service refuses this mode on a non-loopback address.
- ``token``: every call carries ``authorization: Bearer <token>``; the token decides the
  workspace and the role (``domain/access/tokens.py``). No or an unknown token is
  UNAUTHENTICATED; a reader calling a writing method, or a non-admin calling an admin
  one, is PERMISSION_DENIED. A workspace header naming another workspace than the
  token's is PERMISSION_DENIED too; objects of other workspaces are simply not found.

The component endpoints (ComponentService), health and reflection stay open in both
modes. A verified token is remembered for ``CACHE_SECONDS``, so a revocation takes
effect within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from mlspec import errors
from mlspec.domain.access.tokens import Principal, check_workspace, matches, parse_token
from mlspec.domain.common.resources import RequestScope
from mlspec.server.config import ConfigError, ServerConfig
from mlspec.server.tls import is_loopback
from mlspec.store.api import Store

__all__ = [
    "ADMIN_METHODS",
    "AUTH_MODES",
    "OPEN_SERVICES",
    "WORKSPACE_HEADER",
    "Access",
    "check_access_settings",
]

AUTH_MODES = ("none", "token")
WORKSPACE_HEADER = "x-mlspec-workspace"
AUTHORIZATION_HEADER = "authorization"
DEFAULT_WORKSPACE = "default"
CACHE_SECONDS = 5.0
_CACHE_SIZE = 4096
# Services every caller may use without a token.
OPEN_SERVICES = ("/mlspec.monitoring.v1.ComponentService/",)
# Methods only an admin token may call.
ADMIN_METHODS: frozenset[str] = frozenset(
    {
        "/mlspec.common.v1.ResourceService/ListAuditEvents",
        # Imports may set what is otherwise the server's to say (original create times).
        "/mlspec.common.v1.ResourceService/ImportResource",
    }
)


def check_access_settings(config: ServerConfig) -> None:
    """Raises ``ConfigError`` for an unknown mode, or no authentication off loopback."""
    if config.auth not in AUTH_MODES:
        raise ConfigError(f"--auth must be one of {', '.join(AUTH_MODES)}, not {config.auth!r}")
    if config.auth == "none" and not is_loopback(config.host):
        raise ConfigError(
            f"refusing to serve {config.host} without authentication: any caller could "
            "read and change any workspace; use --auth token (MLSPEC_AUTH=token) and "
            "create tokens with 'mlspec token create'"
        )


class Access:
    """Decides each call's ``RequestScope`` from its metadata."""

    def __init__(self, store: Store, mode: str = "none") -> None:
        """``mode`` is ``none`` (loopback development) or ``token``."""
        self.store = store
        self.tokens = mode == "token"
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def scope(
        self, metadata: Iterable[tuple[str, Any]] | None, method: str, writes: bool
    ) -> RequestScope:
        """The workspace and caller of a call to ``method``; raises when it is refused."""
        header = ""
        bearer = ""
        for key, value in metadata or ():
            if key == WORKSPACE_HEADER:
                header = str(value)
            elif key == AUTHORIZATION_HEADER:
                bearer = str(value)
        if not self.tokens or method.startswith(OPEN_SERVICES):
            workspace = check_workspace(header, WORKSPACE_HEADER) if header else DEFAULT_WORKSPACE
            return RequestScope(workspace=workspace)
        principal = self._principal(bearer)
        if header and header != principal.workspace:
            raise errors.PermissionDenied(
                f"this token belongs to workspace {principal.workspace!r}, not {header!r}; "
                f"drop the {WORKSPACE_HEADER} header or use a token of that workspace",
                reason="WRONG_WORKSPACE",
            )
        if method in ADMIN_METHODS and not principal.is_admin:
            raise errors.PermissionDenied(
                f"{method.rsplit('/', 1)[-1]} needs an admin token; {principal.describe()} "
                f"is a {principal.role}",
                reason="ADMIN_ONLY",
            )
        if writes and not principal.may_write:
            raise errors.PermissionDenied(
                f"{method.rsplit('/', 1)[-1]} changes the store; {principal.describe()} is "
                "a reader",
                reason="READ_ONLY_TOKEN",
            )
        return RequestScope(workspace=principal.workspace, creator=principal.describe())

    def _principal(self, bearer: str) -> Principal:
        scheme, _, text = bearer.partition(" ")
        if not bearer:
            raise errors.Unauthenticated(
                "this server needs a token: send 'authorization: Bearer <token>' "
                "(MLSPEC_TOKEN for the SDK and the mlspec command)",
                reason="TOKEN_MISSING",
            )
        now = time.monotonic()
        cached = self._cache.get(text)
        if cached is not None and cached[1] > now and scheme.lower() == "bearer":
            return cached[0]
        parsed = parse_token(text.strip()) if scheme.lower() == "bearer" else None
        if parsed is None:
            raise errors.Unauthenticated(
                "the authorization header is not 'Bearer mlspec_<id>_<secret>'",
                reason="TOKEN_MALFORMED",
            )
        token_id, secret = parsed
        with self.store.transaction(write=False) as tx:
            row = tx.find_token(token_id)
        if row is None or row.revoke_time or not matches(secret, row.secret_hash):
            raise errors.Unauthenticated(
                "the token is unknown or revoked; ask an admin for a new one",
                reason="TOKEN_INVALID",
            )
        principal = Principal(row.token_id, row.name, row.workspace, row.role)
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[text] = (principal, now + CACHE_SECONDS)
        return principal
