"""A bare gRPC echo server: the reference the benchmarks divide by.

It uses the same gRPC server framework, thread pool size and options as the MLSpec
server, and answers every call by returning the request bytes unchanged.
"""

from __future__ import annotations

import sys
import threading
from concurrent import futures

import grpc

from mlspec.server.app import server_options
from mlspec.server.config import ServerConfig

SERVICE = "bench.Echo"
METHOD = f"/{SERVICE}/Echo"


def _identity(data: bytes) -> bytes:
    return data


def main(port: int) -> None:
    """Serves the echo method until terminated."""
    config = ServerConfig()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers),
        options=server_options(config),
    )
    handler = grpc.unary_unary_rpc_method_handler(
        lambda request, _context: request,
        request_deserializer=_identity,
        response_serializer=_identity,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Echo": handler}),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    threading.Event().wait()


if __name__ == "__main__":
    main(int(sys.argv[1]))
