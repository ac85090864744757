"""The words of the routing tables: how one RPC is served and whether it writes.

Every area service lists each of its RPCs in a ``ROUTES`` table in its module under
``server/services/`` (``"ReportStage": CREATE``, ``"GetLineage": read(get_lineage)``), so
grepping an RPC name lands on the line that says what serves it. A route is either a
standard method (Create, BatchCreate, Get, List, Update), built once from the method's
descriptor by ``server.standard_methods``, or a named handler of the service module.
Writing routes run in a write transaction with ``request_id`` idempotency; reading routes
in a read transaction. A client-streaming route (``write_each``) writes every message of
the stream as a unary write of its own and answers once with their combined responses. The server refuses to start when an RPC of the contract has no
route, or a route names no RPC (``check_complete``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.domain.common.resources import Resources
from mlspec.server import standard_methods

Unary = Callable[[Any, Resources], Message]
Streaming = Callable[[Any, Resources], Iterator["Message | Pause"]]
Builder = Callable[[descriptor.MethodDescriptor], Unary]
Combine = Callable[[list[Message]], Message]


@dataclass(frozen=True)
class Pause:
    """What a server stream yields to wait for news.

    The dispatcher sends nothing, ends the stream's read transaction, waits ``seconds``
    (or until the caller goes away) and asks the stream for its next message in a new
    transaction.
    """

    seconds: float


@dataclass(frozen=True)
class Route:
    """How one RPC is served: a named handler or a standard method, and whether it writes."""

    writes: bool
    handler: Unary | Streaming | None = None
    standard: Builder | None = None
    # Client streams: builds the one response from the responses to each message, and the
    # type of those (what a stored response of a message is read back as).
    combine: Combine | None = None
    each_response: type[Message] | None = None
    # Request fields whose contents the handler checks itself and answers with
    # violations in its response (a Validate method): the dispatcher's walk for REQUIRED
    # fields leaves them to it.
    checks: tuple[str, ...] = ()

    def bind(self, method: descriptor.MethodDescriptor) -> Unary | Streaming:
        """The function that serves ``method`` (a standard method is built for it here)."""
        if self.standard is not None:
            return self.standard(method)
        assert self.handler is not None
        return self.handler


CREATE = Route(writes=True, standard=standard_methods.create)
BATCH_CREATE = Route(writes=True, standard=standard_methods.batch_create)
GET = Route(writes=False, standard=standard_methods.get)
LIST = Route(writes=False, standard=standard_methods.list_)
UPDATE = Route(writes=True, standard=standard_methods.update)


def write(handler: Unary) -> Route:
    """A named handler that changes the store."""
    return Route(writes=True, handler=handler)


def write_each(handler: Unary, combine: Combine, each_response: type[Message]) -> Route:
    """A client stream whose messages are each written like a unary call of ``handler``.

    Each message runs in a transaction of its own, with its own ``request_id``
    idempotency and audit entry; ``handler`` answers each with an ``each_response``, and
    ``combine`` builds the call's response from those.
    """
    return Route(writes=True, handler=handler, combine=combine, each_response=each_response)


def read(handler: Unary | Streaming, *, checks: tuple[str, ...] = ()) -> Route:
    """A named handler that only reads (a server-streaming one included).

    ``checks`` names the request fields the handler validates and reports on in its
    response rather than refusing (see ``Route.checks``).
    """
    return Route(writes=False, handler=handler, checks=checks)


class IncompleteRoutes(RuntimeError):
    """The routing tables and the contract's services disagree."""


def qualify(service: str, table: dict[str, Route]) -> dict[str, Route]:
    """A service's table keyed by full method name (``package.Service/Method``)."""
    return {f"{service}/{name}": route for name, route in table.items()}


def check_complete(
    services: Iterable[descriptor.ServiceDescriptor], routes: dict[str, Route]
) -> None:
    """IncompleteRoutes naming every RPC without a route and every route without an RPC."""
    methods = {f"{s.full_name}/{m.name}" for s in services for m in s.methods}
    missing = sorted(methods - routes.keys())
    unknown = sorted(routes.keys() - methods)
    if missing or unknown:
        parts = []
        if missing:
            parts.append("RPCs without a route: " + ", ".join(missing))
        if unknown:
            parts.append("routes of no RPC: " + ", ".join(unknown))
        raise IncompleteRoutes("; ".join(parts))
