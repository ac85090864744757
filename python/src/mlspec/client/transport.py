"""The client's transport: channel, call metadata, deadlines, retries and error mapping.

Every stub of ``Client`` is built on a channel wrapped by :class:`CallPolicy`, a gRPC
client interceptor, so each method of every service gets the same treatment:

- the ``x-mlspec-workspace`` and ``authorization: Bearer`` headers;
- the client's default timeout when the caller gives none (``timeout=`` on the call
  overrides it); the timeout bounds the whole call, retries included;
- a ``request_id`` (a UUID) filled into mutating requests that have none, so that a
  retry never duplicates anything: the server answers a repeated ``request_id`` with the
  first result;
- retries with exponential backoff and full jitter on UNAVAILABLE and ABORTED, resending
  the very same request (and so the same ``request_id``);
- ``grpc.RpcError`` mapped to ``MLSpecError`` subclasses by ``errors.from_rpc_error``.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import grpc
from google.protobuf import message as protobuf_message

from mlspec.client.errors import MLSpecError, from_rpc_error

WORKSPACE_HEADER = "x-mlspec-workspace"
AUTHORIZATION_HEADER = "authorization"

# Reconnect quickly after a server restart instead of gRPC's default (1 s growing to 120 s).
# Spread calls over every address the target resolves to (a DNS name of several server
# processes, or ``ipv4:host:port,host:port``); a dead one is skipped.
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long the client retries a failed call.

    A call is retried while its status is in ``codes``, fewer than ``max_attempts``
    attempts were made and ``give_up_after`` seconds (when set) have not passed since the
    first attempt. Attempt ``n`` waits a random time in ``[0, min(max_backoff,
    initial_backoff * multiplier**n)]`` ("full jitter") before it starts.

    Example:
        >>> policy = RetryPolicy(max_attempts=3, initial_backoff=0.05)
        >>> policy.retries(grpc.StatusCode.UNAVAILABLE)
        True
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    give_up_after: float | None = None
    codes: frozenset[grpc.StatusCode] = field(
        default_factory=lambda: frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED})
    )

    def retries(self, code: grpc.StatusCode) -> bool:
        """True when a call that failed with ``code`` may be tried again."""
        return code in self.codes

    def backoff(self, attempt: int) -> float:
        """The randomized wait before retry number ``attempt`` (0 for the first retry)."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier**attempt)
        return random.uniform(0.0, ceiling)  # noqa: S311 (jitter, not cryptography)


NO_RETRY = RetryPolicy(max_attempts=1)
"""A policy that never retries."""


def fill_request_id(
    request: protobuf_message.Message, method: str = ""
) -> protobuf_message.Message:
    """Returns the request with a ``request_id`` (a copy when one had to be filled in).

    Requests without a ``request_id`` field, requests that already carry one, and the
    requests of reading methods (``method`` named ``.../Get...`` or ``.../List...``, where
    a ``request_id`` is a filter, as in ``ListInferenceLogs``) are returned as they are;
    the caller's message is never modified.
    """
    fields = request.DESCRIPTOR.fields_by_name
    if "request_id" not in fields or getattr(request, "request_id"):  # noqa: B009
        return request
    if method.rsplit("/", 1)[-1].startswith(("Get", "List")):
        return request
    copy = type(request)()
    copy.CopyFrom(request)
    copy.request_id = str(uuid.uuid4())  # type: ignore[attr-defined]
    return copy


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _ClientCallDetails(_Details, grpc.ClientCallDetails):  # type: ignore[misc]
    """``grpc.ClientCallDetails`` is an interface; this is its plain implementation."""


class CallPolicy(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """The interceptor that applies headers, deadlines, request ids, retries and errors.

    Args:
        metadata: headers added to every call (workspace, authorization).
        timeout: default seconds per call (retries included); None for no deadline.
        retry: the retry policy of unary calls (streams are not retried).
        sleep: the function used to wait between attempts (tests replace it).
    """

    def __init__(
        self,
        metadata: Sequence[tuple[str, str]],
        timeout: float | None,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.metadata = tuple(metadata)
        self.timeout = timeout
        self.retry = retry
        self.sleep = sleep

    def _details(self, details: grpc.ClientCallDetails, timeout: float | None) -> _Details:
        extra = list(details.metadata or ())
        present = {key for key, _ in extra}
        extra.extend(item for item in self.metadata if item[0] not in present)
        return _ClientCallDetails(
            details.method,
            timeout,
            extra,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        """Runs one unary call with retries; raises ``MLSpecError`` on failure."""
        request = fill_request_id(request, str(client_call_details.method))
        timeout = (
            client_call_details.timeout if client_call_details.timeout is not None else self.timeout
        )
        return call_with_retry(
            lambda remaining: continuation(self._details(client_call_details, remaining), request),
            self.retry,
            timeout,
            self.sleep,
        )

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        """Starts a server stream; errors while iterating are raised as ``MLSpecError``."""
        timeout = (
            client_call_details.timeout if client_call_details.timeout is not None else self.timeout
        )
        return _MappedStream(continuation(self._details(client_call_details, timeout), request))


def call_with_retry(
    attempt: Callable[[float | None], Any],
    retry: RetryPolicy,
    timeout: float | None,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Calls ``attempt(remaining_timeout)`` until it succeeds or may not be retried.

    ``attempt`` returns a finished gRPC call outcome (a call, or the ``grpc.RpcError``
    it failed with) or raises ``grpc.RpcError``. Returns the successful outcome; raises
    the mapped ``MLSpecError`` once the policy gives up.
    """
    start = time.monotonic()
    deadline = start + timeout if timeout is not None else None
    give_up = start + retry.give_up_after if retry.give_up_after is not None else None
    tries = 0
    while True:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        try:
            outcome = attempt(remaining)
        except grpc.RpcError as raised:
            outcome = raised
        # A finished call is also a grpc.RpcError (even when it succeeded): ask its code.
        check = getattr(outcome, "exception", None)
        error: BaseException | None = check() if check is not None else None
        if error is None and isinstance(outcome, grpc.RpcError):
            code = getattr(outcome, "code", None)
            if code is not None and code() != grpc.StatusCode.OK:
                error = outcome
        if error is None:
            return outcome
        if not isinstance(error, grpc.RpcError):
            raise error
        tries += 1
        wait = retry.backoff(tries - 1)
        now = time.monotonic()
        if (
            not retry.retries(error.code())
            or tries >= retry.max_attempts
            or (deadline is not None and now + wait >= deadline)
            or (give_up is not None and now + wait >= give_up)
        ):
            raise from_rpc_error(error)
        sleep(wait)


class _MappedStream:
    """A server-streaming call whose iteration raises ``MLSpecError``."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._call)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class TLSSettingsError(ValueError):
    """TLS settings that cannot make a channel (a client certificate without its key)."""


@dataclass(frozen=True)
class TLS:
    """TLS settings of a client (PEM file paths).

    ``ca`` is the CA that signed the server's certificate (the system roots when None);
    ``cert`` and ``key`` are the client's own, for mutual TLS. ``TLS.from_env()`` reads ``MLSPEC_TLS_CA``, ``MLSPEC_TLS_CERT`` and ``MLSPEC_TLS_KEY``.
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @classmethod
    def from_env(cls) -> TLS | None:
        """The settings of the environment, or None when it names no TLS file."""
        ca, cert, key = (os.environ.get(f"MLSPEC_TLS_{n}") or None for n in ("CA", "CERT", "KEY"))
        if ca is None and cert is None and key is None:
            return None
        return cls(ca, cert, key)

    def credentials(self) -> grpc.ChannelCredentials:
        """The gRPC channel credentials (system roots when ``ca`` is None)."""
        if (self.cert is None) != (self.key is None):
            raise TLSSettingsError(
                "mutual TLS needs both a client certificate and its key: set both or "
                "neither of MLSPEC_TLS_CERT and MLSPEC_TLS_KEY (tls=TLS(cert=..., key=...))"
            )
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca),
            private_key=_read(self.key),
            certificate_chain=_read(self.cert),
        )


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def channel_credentials(tls: bool | str | TLS | grpc.ChannelCredentials | None) -> Any:
    """The channel credentials for ``Client(tls=...)``: None means plaintext.

    ``True`` uses the system roots, a string is the path of a PEM CA bundle, a ``TLS``
    adds a client certificate for mutual TLS, and a ``grpc.ChannelCredentials`` is used
    as it is.
    """
    if tls is None or tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    if isinstance(tls, str):
        return TLS(ca=tls).credentials()
    if isinstance(tls, TLS):
        return tls.credentials()
    return tls


def open_channel(
    target: str, tls: bool | str | TLS | grpc.ChannelCredentials | None
) -> grpc.Channel:
    """Opens the plain (not intercepted) channel to ``target``.

    With ``tls=None`` the environment decides (``TLS.from_env``); ``False`` is plaintext.
    """
    credentials = channel_credentials(TLS.from_env() if tls is None else tls)
    if credentials is None:
        return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    return grpc.secure_channel(target, credentials, options=CHANNEL_OPTIONS)


__all__ = [
    "NO_RETRY",
    "TLS",
    "CallPolicy",
    "MLSpecError",
    "RetryPolicy",
    "TLSSettingsError",
    "call_with_retry",
    "fill_request_id",
    "open_channel",
]
