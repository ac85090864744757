"""One exception class per gRPC status code, and the one function that maps to them.

Every call the client makes goes through :func:`from_rpc_error`, so callers catch
``mlspec.client.NotFound`` (or the base ``MLSpecError``) instead of ``grpc.RpcError``.
Each exception carries the status ``code``, the stable ``reason`` of the server's
``google.rpc.ErrorInfo`` (for example ``NAME_TAKEN``) and every decoded ``google.rpc``
detail message in ``details``.

Example:
    >>> from mlspec.client import Client, NotFound
    >>> try:  # doctest: +SKIP
    ...     Client().tracking.GetExperiment(GetExperimentRequest(name="nope"))
    ... except NotFound as err:
    ...     print(err.code, err.reason)
    StatusCode.NOT_FOUND NOT_FOUND
"""

from __future__ import annotations

from typing import Any, TypeVar

import grpc
from google.protobuf import message as protobuf_message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

# Every google.rpc detail type a server may attach, by its Any type name.
_DETAIL_TYPES: dict[str, type[protobuf_message.Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        error_details_pb2.ErrorInfo,
        error_details_pb2.BadRequest,
        error_details_pb2.ResourceInfo,
        error_details_pb2.RetryInfo,
        error_details_pb2.DebugInfo,
        error_details_pb2.QuotaFailure,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.RequestInfo,
        error_details_pb2.Help,
        error_details_pb2.LocalizedMessage,
    )
}


_M = TypeVar("_M", bound=protobuf_message.Message)


class MLSpecError(Exception):
    """Base of every error the MLSpec client raises for a failed call.

    Attributes:
        code: the ``grpc.StatusCode`` of the failure.
        message: the status message the server sent.
        reason: the ``ErrorInfo.reason`` (stable, machine-readable), or ``""``.
        details: the decoded ``google.rpc`` detail messages (``ErrorInfo``,
            ``BadRequest``, ``ResourceInfo``, ...), in the order the server sent them.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        details: list[protobuf_message.Message] | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.reason = reason
        self.details: list[protobuf_message.Message] = list(details or [])

    def detail(self, cls: type[_M]) -> _M | None:
        """Returns the first detail of the given type, or None.

        Example:
            >>> err = MLSpecError("x", details=[error_details_pb2.ErrorInfo(reason="R")])
            >>> err.detail(error_details_pb2.ErrorInfo).reason
            'R'
        """
        for item in self.details:
            if isinstance(item, cls):
                return item
        return None

    @property
    def field_violations(self) -> list[tuple[str, str]]:
        """The ``(field, description)`` pairs of every ``BadRequest`` detail.

        Bad input (``InvalidArgument``) names each bad field this way, and so does a
        refusal that has several reasons, such as the deployment gate's
        ``FailedPrecondition`` (one pair per objective missed).
        """
        return [
            (v.field, v.description)
            for d in self.details
            if isinstance(d, error_details_pb2.BadRequest)
            for v in d.field_violations
        ]

    @property
    def resource_info(self) -> error_details_pb2.ResourceInfo | None:
        """The ``google.rpc.ResourceInfo`` detail, when the server sent one."""
        return self.detail(error_details_pb2.ResourceInfo)

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, grpc.StatusCode) else str(self.code)
        suffix = f" [{self.reason}]" if self.reason else ""
        return f"{name}: {self.message}{suffix}"


class Cancelled(MLSpecError):
    """The call was cancelled (CANCELLED)."""

    code = grpc.StatusCode.CANCELLED


class Unknown(MLSpecError):
    """The server reported an unknown error (UNKNOWN)."""

    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(MLSpecError):
    """The request was malformed (INVALID_ARGUMENT).

    ``field_violations`` lists ``(field, description)`` pairs from ``BadRequest``.
    """

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(MLSpecError):
    """The call did not finish before its deadline (DEADLINE_EXCEEDED)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(MLSpecError):
    """The resource does not exist in the workspace (NOT_FOUND)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(MLSpecError):
    """A resource with that name already exists (ALREADY_EXISTS)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(MLSpecError):
    """The caller may not do this (PERMISSION_DENIED)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(MLSpecError):
    """A quota or size limit was hit (RESOURCE_EXHAUSTED)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(MLSpecError):
    """The resource is not in a state that allows the call (FAILED_PRECONDITION)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(MLSpecError):
    """A concurrency conflict, for example an etag mismatch (ABORTED)."""

    code = grpc.StatusCode.ABORTED


class OutOfRange(MLSpecError):
    """A value was past the valid range (OUT_OF_RANGE)."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(MLSpecError):
    """The server does not implement the method (UNIMPLEMENTED)."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(MLSpecError):
    """The server failed (INTERNAL)."""

    code = grpc.StatusCode.INTERNAL


class Unavailable(MLSpecError):
    """The server could not be reached (UNAVAILABLE); retried by the client."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(MLSpecError):
    """Unrecoverable data loss (DATA_LOSS)."""

    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(MLSpecError):
    """The call had no valid credentials (UNAUTHENTICATED)."""

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[MLSpecError]] = {
    cls.code: cls
    for cls in (
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}


def error_class(code: grpc.StatusCode) -> type[MLSpecError]:
    """The exception class of a status code (``MLSpecError`` for codes without one).

    Example:
        >>> error_class(grpc.StatusCode.NOT_FOUND).__name__
        'NotFound'
    """
    return _BY_CODE.get(code, MLSpecError)


def from_rpc_error(error: grpc.RpcError) -> MLSpecError:
    """Maps a failed gRPC call to its ``MLSpecError`` subclass with decoded details.

    This is the only place where ``grpc.RpcError`` becomes an MLSpec exception.
    """
    code: grpc.StatusCode = _call(error, "code", grpc.StatusCode.UNKNOWN)
    message: str = _call(error, "details", "") or ""
    details: list[protobuf_message.Message] = []
    reason = ""
    status = None
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # a status whose code or message disagrees with the call's
        status = None
    except AttributeError:  # not a call object (no trailing metadata)
        status = None
    if status is not None:
        message = status.message or message
        for packed in status.details:
            cls = _DETAIL_TYPES.get(packed.TypeName())
            if cls is None:
                details.append(packed)
                continue
            decoded = cls()
            packed.Unpack(decoded)
            details.append(decoded)
            if isinstance(decoded, error_details_pb2.ErrorInfo) and not reason:
                reason = decoded.reason
    exc = error_class(code)(message, code=code, reason=reason, details=details)
    exc.__cause__ = error
    return exc


def _call(error: Any, name: str, default: Any) -> Any:
    method = getattr(error, name, None)
    if method is None:
        return default
    try:
        return method()
    except Exception:  # a broken call object must not hide the original failure
        return default
