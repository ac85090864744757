"""A protoc plugin that produces ``*_pb2_grpc.py`` files by forwarding to grpcio-tools.

buf has no built-in generator for gRPC Python stubs and grpcio-tools ships its generator
inside a Python extension rather than as a ``protoc-gen-*`` executable. This plugin reads
the ``CodeGeneratorRequest`` that buf sends on stdin, writes the request's files into a
descriptor set, runs ``grpc_tools.protoc --grpc_python_out`` over it in a temporary folder
and returns the produced files in a ``CodeGeneratorResponse`` on stdout. Files that define
no service get no stub module.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """Runs the grpc_python generator over the files buf asked for."""
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    with_services = {f.name for f in request.proto_file if f.service}
    targets = [name for name in request.file_to_generate if name in with_services]
    if not targets:
        return response
    file_set = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        descriptor_path = root / "request.binpb"
        descriptor_path.write_bytes(file_set.SerializeToString())
        out = root / "out"
        out.mkdir()
        args = [
            "grpc_tools.protoc",
            f"--descriptor_set_in={descriptor_path}",
            f"--grpc_python_out={out}",
            *targets,
        ]
        if protoc.main(args) != 0:
            response.error = "grpc_tools.protoc failed for: " + ", ".join(targets)
            return response
        for produced in sorted(out.rglob("*.py")):
            item = response.file.add()
            item.name = produced.relative_to(out).as_posix()
            item.content = produced.read_text(encoding="utf-8")
    return response


def main() -> None:
    """Reads a request on stdin and writes the response on stdout."""
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()
