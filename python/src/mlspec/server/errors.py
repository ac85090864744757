"""The one place that turns exceptions into gRPC status codes.

Domain errors become their precise code with ``google.rpc`` details: ``ErrorInfo`` (a
stable ``reason`` in the ``mlspec.io`` domain), ``BadRequest`` field violations and
``ResourceInfo``. Anything else is a bug: it is logged with its traceback and reported
as INTERNAL without leaking internals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from mlspec import errors

log = logging.getLogger("mlspec.server")
DOMAIN = "mlspec.io"

_CODES: list[tuple[type[errors.DomainError], int]] = [
    (errors.InvalidArgument, code_pb2.INVALID_ARGUMENT),
    (errors.NotFound, code_pb2.NOT_FOUND),
    (errors.AlreadyExists, code_pb2.ALREADY_EXISTS),
    (errors.FailedPrecondition, code_pb2.FAILED_PRECONDITION),
    (errors.Aborted, code_pb2.ABORTED),
    (errors.ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
    (errors.Unauthenticated, code_pb2.UNAUTHENTICATED),
    (errors.PermissionDenied, code_pb2.PERMISSION_DENIED),
]


# Error texts echo what the caller sent; clipped, so that a 1 MB name cannot push the
# status past gRPC's metadata limit (the caller would get RESOURCE_EXHAUSTED instead).
MAX_TEXT = 512


def _clip(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}... ({len(text):,} characters)"


def _code(exc: errors.DomainError) -> int:
    return next((c for cls, c in _CODES if isinstance(exc, cls)), code_pb2.UNKNOWN)


def code_name(exc: BaseException) -> str:
    """The canonical status code name a failure is answered with (``INTERNAL`` for a bug)."""
    if isinstance(exc, errors.DomainError):
        return str(code_pb2.Code.Name(_code(exc)))
    return "INTERNAL"


def to_status(exc: errors.DomainError) -> status_pb2.Status:
    """Builds the rich status for a domain error."""
    code = _code(exc)
    status = status_pb2.Status(code=code, message=_clip(exc.message))
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN)
    _pack(status, info)
    if exc.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=_clip(v.field), description=_clip(v.description)
                )
                for v in exc.violations[:100]
            ]
        )
        _pack(status, bad)
    if exc.resource_type or exc.resource_name:
        resource = error_details_pb2.ResourceInfo(
            resource_type=exc.resource_type,
            resource_name=_clip(exc.resource_name),
            description=_clip(exc.message),
        )
        _pack(status, resource)
    return status


def _pack(status: status_pb2.Status, detail: Any) -> None:
    packed = any_pb2.Any()
    packed.Pack(detail)
    status.details.append(packed)


def map_errors(_method: str, handler: Any) -> Any:
    """A handler wrapper (see ``interception``) that turns exceptions into statuses."""
    if handler.unary_unary is not None:
        return handler._replace(unary_unary=_wrap_unary(handler.unary_unary))
    if handler.unary_stream is not None:
        return handler._replace(unary_stream=_wrap_stream(handler.unary_stream))
    if handler.stream_unary is not None:
        return handler._replace(stream_unary=_wrap_unary(handler.stream_unary))
    return handler


def _abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    if isinstance(exc, errors.DomainError):
        context.abort_with_status(rpc_status.to_status(to_status(exc)))
    log.exception("internal error", exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")


def _wrap_unary(behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except Exception as exc:  # handlers raise DomainError; never context.abort
            _abort(context, exc)
            raise  # unreachable: abort raises

    return wrapped


def _wrap_stream(behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            yield from behavior(request, context)
        except Exception as exc:  # handlers raise DomainError; never context.abort
            _abort(context, exc)

    return wrapped
