"""One server interceptor that wraps each method's handler once and reuses the result.

gRPC asks the interceptors for a handler on every call. Wrapping the handler anew each
time (and stacking one interceptor per concern) costs more than a small call's own work,
so the concerns are plain functions ``wrap(method, handler) -> handler`` applied once per
method, in order (the first one is the outermost), and the wrapped handler is cached.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import grpc

Wrapper = Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]


class WrappingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Applies ``wrappers`` to the handler of each method, once."""

    def __init__(self, wrappers: Sequence[Wrapper]) -> None:
        """Keeps the wrappers; the first one ends up outermost."""
        self._wrappers = list(wrappers)
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        """The wrapped handler of the called method (None for an unknown method)."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._cache.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = handler
        for wrap in reversed(self._wrappers):
            wrapped = wrap(method, wrapped)
        with self._lock:
            self._cache[method] = (handler, wrapped)
        return wrapped
