"""Runs the route of every method of the contract as a gRPC handler.

Each unary call runs in one store transaction: a read transaction for a reading route, a
write transaction for a writing one; a server stream reads each message it sends in a
transaction of its own; a client stream writes each message it receives as a unary call
of its own (``routes.write_each``). Writes with a ``request_id`` are idempotent: the first response is
stored in the same transaction as the write and a retry with the same id gets it back.
Warnings collected while handling the call are copied into the response's ``warnings``
field. Which function serves a method, and whether it writes, is the routing table's
(``server/routes.py``, one table per service under ``server/services/``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import descriptor, message_factory
from google.protobuf.message import DecodeError, Message

from mlspec import errors
from mlspec.domain.common import field_behavior, limits, request_checks, well_formed, wire
from mlspec.domain.common.policy import OPEN, Policy
from mlspec.domain.common.resources import RequestScope, Resources
from mlspec.server import audit, partial_responses
from mlspec.server.auth import Access
from mlspec.server.routes import Pause, Route, Unary
from mlspec.store.api import ConcurrentWrite, Store

log = logging.getLogger("mlspec.server")


class Dispatcher:
    """Runs routes in transactions, with idempotency and warnings."""

    def __init__(
        self,
        store: Store,
        routes: dict[str, Route],
        access: Access | None = None,
        policy: Policy = OPEN,
    ) -> None:
        """Binds the store, the routes (by ``package.Service/Method``) and the access rules.

        ``access`` (``server/auth.py``) decides each call's workspace and rights; None is
        the open loopback development mode. ``policy`` is what the rules may depend on.
        """
        self.policy = policy
        self.store = store
        self.routes = routes
        self.access = access if access is not None else Access(store)
        self.response_types: dict[str, type[Message]] = {}

    def rpc_handler(self, method: descriptor.MethodDescriptor) -> grpc.RpcMethodHandler:
        """The grpc handler of one method."""
        route = self.routes[f"{method.containing_service.full_name}/{method.name}"]
        fn: Any = route.bind(method)
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        full = f"/{method.containing_service.full_name}/{method.name}"
        if method.server_streaming:

            def stream(data: bytes, context: grpc.ServicerContext) -> Iterator[Message]:
                # Each message is produced in its own read transaction and sent outside
                # any: memory stays at one chunk and a slow reader holds no snapshot.
                scope = self.access.scope(context.invocation_metadata(), full, writes=False)
                request, checked = decode_checked(request_cls, data)
                check_well_formed(request, route.checks, values_checked=checked)
                res: Resources | None = None
                items: Iterator[Message | Pause] = iter(())
                while True:
                    with self.store.transaction(write=False) as tx:
                        if res is None:
                            res = Resources(tx, scope, self.policy)
                            items = iter(fn(request, res))
                        else:
                            res.rebind(tx)
                        item = next(items, None)
                    if item is None:
                        return
                    if isinstance(item, Pause):
                        if not _wait(context, item.seconds):
                            return
                        continue
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                stream, response_serializer=response_cls.SerializeToString
            )

        if method.client_streaming:
            combine = route.combine
            assert combine is not None, f"{full} streams requests: route it with write_each"

            def collect(requests: Iterator[bytes], context: grpc.ServicerContext) -> Message:
                scope = self.access.scope(context.invocation_metadata(), full, route.writes)
                answers: list[Message] = []
                for index, data in enumerate(requests):
                    each = dataclasses.replace(scope, warnings=[], after_commit=[])
                    try:
                        request, checked = decode_checked(request_cls, data)
                        answers.append(
                            self.call(full, fn, route.writes, request, each, checked=checked)
                        )
                    except errors.DomainError as exc:
                        exc.message = f"batch {index}: {exc.message}"
                        raise
                if not answers:
                    raise errors.invalid("requests", "the stream holds no message")
                return combine(answers)

            return grpc.stream_unary_rpc_method_handler(
                collect, response_serializer=response_cls.SerializeToString
            )

        def unary(data: bytes, context: grpc.ServicerContext) -> Message:
            metadata = context.invocation_metadata()
            scope = self.access.scope(metadata, full, route.writes)
            wanted = partial_responses.requested(metadata, response_cls.DESCRIPTOR)
            request, checked = decode_checked(request_cls, data)
            response = self.call(full, fn, route.writes, request, scope, checked=checked)
            return partial_responses.shape(response, wanted, route.writes)

        # Requests arrive as bytes and are decoded in the handler, so that a request the
        # runtime cannot decode is INVALID_ARGUMENT rather than gRPC's INTERNAL.
        return grpc.unary_unary_rpc_method_handler(
            unary, response_serializer=response_cls.SerializeToString
        )

    def call(
        self,
        method: str,
        fn: Unary,
        writes: bool,
        request: Any,
        scope: RequestScope,
        *,
        checked: bool = False,
    ) -> Message:
        """Runs one unary call; a mutating one leaves an entry in the audit trail.

        A mutating request with ``validate_only`` (AIP-163) runs every rule in a write
        transaction that is rolled back: it answers what would be stored, or the error,
        and leaves no trace (no audit entry, no remembered ``request_id``). ``checked``:
        the request's values are known to be well formed (``decode_checked``).
        """
        if writes and getattr(request, "validate_only", False):
            check_well_formed(request, self._checked_by_handler(method), values_checked=checked)
            return self._validate_only(fn, request, scope)
        try:
            response = self._call(method, fn, writes, request, scope, checked)
        except Exception as exc:
            if writes:
                audit.record_failure(self.store, method, scope, request, exc)
            raise
        for callback in scope.after_commit:
            try:
                callback()
            except Exception:  # the change is committed; a follow-up must not fail the call
                log.exception("a follow-up of %s failed", method)
        return response

    def _call(
        self, method: str, fn: Unary, writes: bool, request: Any, scope: RequestScope, checked: bool
    ) -> Message:
        """Runs one unary call; retries once when a concurrent duplicate wins a race."""
        check_well_formed(request, self._checked_by_handler(method), values_checked=checked)
        request_id = getattr(request, "request_id", "") if writes else ""
        if not request_id:
            return self._call_once(method, fn, writes, request, scope, "", "")
        if len(request_id) > 200 or "\x00" in request_id:
            raise errors.invalid("request_id", "must be at most 200 characters, without NUL")
        # Handlers fill in the messages they store, so a retry starts from the original
        # bytes; the fingerprint tells a true retry from a reused request_id.
        original = request.SerializeToString(deterministic=True)
        fingerprint = hashlib.sha256(original).hexdigest()
        try:
            return self._call_once(method, fn, writes, request, scope, request_id, fingerprint)
        except ConcurrentWrite:
            # A concurrent call with the same request_id committed first: answer as it did.
            scope.warnings.clear()
            scope.after_commit.clear()  # what the rolled-back attempt queued never happened
            fresh = type(request).FromString(original)
            return self._call_once(method, fn, writes, fresh, scope, request_id, fingerprint)
        except errors.DomainError:
            # A concurrent first call with the same request_id may have won the race and
            # made this one fail (its name taken, its etag moved): PostgreSQL lets both
            # start, and the loser's write waits for the winner's commit. Then the
            # winner's response, stored in its transaction, is this call's answer too.
            stored = self._recall(method, request_id, scope)
            if stored is None or stored[0] != fingerprint:
                raise
            scope.warnings.clear()
            scope.after_commit.clear()
            return self.response_types[method].FromString(stored[1])

    def _checked_by_handler(self, method: str) -> tuple[str, ...]:
        """The request fields the route of ``method`` (``/pkg.Service/Method``) checks itself."""
        route = self.routes.get(method.lstrip("/"))
        return route.checks if route is not None else ()

    def _validate_only(self, fn: Unary, request: Any, scope: RequestScope) -> Message:
        try:
            with self.store.transaction(write=True) as tx:
                response = fn(request, Resources(tx, scope, self.policy))
                assert isinstance(response, Message)
                _attach_warnings(response, scope)
                raise _RolledBack(response)
        except _RolledBack as done:
            return done.response

    def _recall(
        self, method: str, request_id: str, scope: RequestScope
    ) -> tuple[str, bytes] | None:
        with self.store.transaction(write=False) as tx:
            return tx.recall(scope.workspace, method, request_id)

    def _call_once(
        self,
        method: str,
        fn: Unary,
        writes: bool,
        request: Any,
        scope: RequestScope,
        request_id: str,
        fingerprint: str,
    ) -> Message:
        with self.store.transaction(write=writes) as tx:
            if request_id:
                stored = tx.recall(scope.workspace, method, request_id)
                if stored is not None:
                    if stored[0] != fingerprint:
                        raise errors.invalid(
                            "request_id",
                            "was already used for a different request; use a new request_id",
                            reason="REQUEST_ID_REUSED",
                        )
                    return self.response_types[method].FromString(stored[1])
            response = fn(request, Resources(tx, scope, self.policy))
            assert isinstance(response, Message)
            _attach_warnings(response, scope)
            if writes:  # committed with the change itself
                tx.append_audit([audit.entry(method, scope, request, response)])
            if request_id:
                tx.remember(
                    scope.workspace, method, request_id, fingerprint, response.SerializeToString()
                )
            return response


def _wait(context: grpc.ServicerContext, seconds: float) -> bool:
    """Waits outside any transaction; False when the caller went away meanwhile."""
    deadline = time.monotonic() + seconds
    while context.is_active():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, 0.1))
    return False


class _RolledBack(Exception):
    """Ends a validate_only call's transaction without committing; carries its answer."""

    def __init__(self, response: Message) -> None:
        super().__init__("validate_only")
        self.response = response


def decode_checked(request_cls: type[Message], data: bytes) -> tuple[Message, bool]:
    """The request of ``data``, and whether its values are known to be well formed.

    A request that cannot be decoded, or that breaks a limit of ``common/v1/limits.proto``
    (``domain/common/limits.py``), is INVALID_ARGUMENT naming the field. One compiled pass (``domain/common/request_checks.py``) vouches for the limits and
    the values of nearly every request; for one it does not vouch for, the limits are
    walked here (and refused naming the field), and the values are left to
    ``check_well_formed``, which the call runs (so that the failure is audited).
    """
    try:
        request = request_cls.FromString(data)
    except DecodeError as exc:
        found = wire.explain(request_cls.DESCRIPTOR, data)
        where = f": {_elide(found.field)} {found.description}" if found else f" ({exc})"
        raise errors.InvalidArgument(
            f"the request is not a valid {request_cls.DESCRIPTOR.full_name}{where}",
            reason="UNDECODABLE_REQUEST",
            violations=[found] if found else [],
        ) from exc
    if len(data) <= limits.MAX_REQUEST_BYTES and request_checks.passes(request, len(data)):
        return request, True
    check_limits(request, len(data))
    return request, False


def _elide(path: str, keep: int = 3) -> str:
    """A long field path with its middle left out, for one readable line."""
    parts = path.split(".")
    if len(parts) <= 2 * keep:
        return path
    return ".".join([*parts[:keep], f"...({len(parts) - 2 * keep} more)...", *parts[-keep:]])


def check_limits(request: Message, size: int) -> None:
    """INVALID_ARGUMENT naming every field over its limit, or the request over its size."""
    if size > limits.MAX_REQUEST_BYTES:
        largest = limits.largest_fields(request)
        raise errors.InvalidArgument(
            f"the request is {size:,} bytes; at most {limits.MAX_REQUEST_BYTES:,} are accepted"
            + (f" (largest field: {largest[0][0]}, {largest[0][1]:,} bytes)" if largest else ""),
            reason="LIMIT_EXCEEDED",
            violations=[
                errors.FieldViolation(name, f"takes {bytes_:,} of the request's {size:,} bytes")
                for name, bytes_ in largest
            ],
        )
    found = limits.violations(request, size)
    if found:
        raise errors.not_valid("the request is over a limit", found, "LIMIT_EXCEEDED")


def check_well_formed(
    request: Message, checked_by_handler: tuple[str, ...] = (), *, values_checked: bool = False
) -> None:
    """INVALID_ARGUMENT for values outside their types and for missing required fields.

    Enum numbers, Timestamps and Durations their types do not allow come first; then
    every REQUIRED field and required oneof the request leaves unset, at every depth
    (``field_behavior.missing_in_request``), and every time range that ends before it
    starts. Resources the request holds are checked with their kind's rules instead, and
    the fields a Validate method reports on in its response (``checked_by_handler``,
    from its route) by that method. ``values_checked``: the compiled pass of
    ``decode_checked`` has vouched for the values already.
    """
    found = [] if values_checked else well_formed.violations(request)
    if found:
        raise errors.InvalidArgument(
            "the request holds values outside their types: "
            + "; ".join(f"{v.field} {v.description}" for v in found[:20]),
            reason="INVALID_VALUE",
            violations=found[:100],
        )
    missing = field_behavior.missing_in_request(request, checked_by_handler)
    missing += well_formed.inverted_ranges(
        request, skip=field_behavior.resource_fields(request.DESCRIPTOR) + checked_by_handler
    )
    if missing:
        raise errors.InvalidArgument(
            "required fields are missing: "
            + "; ".join(f"{v.field} {v.description}" for v in missing[:20]),
            reason="REQUIRED_FIELD_MISSING",
            violations=missing[:100],
        )


def _attach_warnings(response: Message, scope: RequestScope) -> None:
    if scope.warnings and "warnings" in response.DESCRIPTOR.fields_by_name:
        target = response.warnings  # type: ignore[attr-defined]
        del target[:]
        target.extend(scope.warnings)


def generic_handlers(
    dispatcher: Dispatcher, services: list[descriptor.ServiceDescriptor]
) -> list[grpc.GenericRpcHandler]:
    """One grpc generic handler per service, covering every method of it."""
    found = []
    for service in services:
        methods = {}
        for method in service.methods:
            full = f"/{service.full_name}/{method.name}"
            each = dispatcher.routes[f"{service.full_name}/{method.name}"].each_response
            dispatcher.response_types[full] = each or message_factory.GetMessageClass(
                method.output_type
            )
            methods[method.name] = dispatcher.rpc_handler(method)
        found.append(grpc.method_handlers_generic_handler(service.full_name, methods))
    return found
