"""A byte-forwarding gRPC proxy that can fail a call with UNAVAILABLE after it committed.

It stands between a Client and a real server: each call is forwarded as raw bytes with
its metadata, and for the methods named in ``fail_after_commit`` the first call's real
response is thrown away and UNAVAILABLE returned instead, as when a connection drops
after the server committed. The proxy records every request and header it saw.
"""

from __future__ import annotations

import collections
from concurrent import futures
from typing import Any

import grpc


class FlakyProxy(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, upstream: str, fail_after_commit: set[str], failures: int = 1) -> None:
        self.upstream = grpc.insecure_channel(upstream)
        self.fail_after_commit = fail_after_commit
        self.failures = failures
        self.calls: collections.Counter[str] = collections.Counter()
        self.requests: list[tuple[str, bytes]] = []
        self.headers: list[dict[str, str]] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((self,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def service(self, handler_call_details: Any) -> Any:
        method = handler_call_details.method

        def forward(request: bytes, context: grpc.ServicerContext) -> bytes:
            metadata = [(k, v) for k, v in context.invocation_metadata() if not k.startswith(":")]
            self.requests.append((method, request))
            self.headers.append(dict(metadata))
            try:
                response: bytes = self.upstream.unary_unary(method)(
                    request, metadata=metadata, timeout=30
                )
            except grpc.RpcError as error:
                context.set_trailing_metadata(error.trailing_metadata() or ())
                context.abort(error.code(), error.details() or "")
            seen = self.calls[method]
            self.calls[method] += 1
            if method.rsplit("/", 1)[-1] in self.fail_after_commit and seen < self.failures:
                context.abort(grpc.StatusCode.UNAVAILABLE, "injected: connection lost after commit")
            return response

        return grpc.unary_unary_rpc_method_handler(forward)

    def close(self) -> None:
        self.server.stop(0)
        self.upstream.close()
