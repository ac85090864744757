"""A protoc plugin that runs mypy-protobuf's gRPC stub generator on service files only.

``protoc-gen-mypy_grpc`` writes a ``*_pb2_grpc.pyi`` for every file it is given, even for
files without a service. This wrapper removes the files that define no service from the
request before handing it to the generator, so that the typed stubs match the
``*_pb2_grpc.py`` modules produced by ``protoc_gen_grpc_python.py`` one to one.
"""

from __future__ import annotations

import io
import sys

from google.protobuf.compiler import plugin_pb2
from mypy_protobuf import main as mypy_main


def main() -> None:
    """Reads a request on stdin, filters it and writes the generator's response."""
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    with_services = {f.name for f in request.proto_file if f.service}
    targets = [name for name in request.file_to_generate if name in with_services]
    if not targets:
        response = plugin_pb2.CodeGeneratorResponse()
        response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
        sys.stdout.buffer.write(response.SerializeToString())
        return
    del request.file_to_generate[:]
    request.file_to_generate.extend(targets)
    sys.stdin = io.TextIOWrapper(io.BytesIO(request.SerializeToString()))
    mypy_main.grpc()


if __name__ == "__main__":
    main()
