"""The generated package imports cleanly under the installed protobuf runtime.

`make test` runs this under the newest protobuf (the main venv) and `make test-compat`
under the oldest supported one (6.31.1), each with warnings turned into errors.
"""

from __future__ import annotations

import subprocess
import sys

from google.protobuf import __version__ as protobuf_version

from .catalog import generated_modules


def test_protobuf_runtime_is_in_the_supported_range() -> None:
    major, minor = (int(part) for part in protobuf_version.split(".")[:2])
    assert (6, 31) <= (major, minor) < (8, 0)


def test_every_generated_module_imports_with_warnings_as_errors() -> None:
    names = [m.__name__ for m in generated_modules()]
    grpc_names = [n + "_grpc" for n in names if n.endswith("_service_pb2")]
    code = "import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)\n"
    subprocess.run([sys.executable, "-W", "error", "-c", code, *names, *grpc_names], check=True)
