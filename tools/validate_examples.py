"""Checks YAML examples against the .proto sources without generating code.

Usage: ``.venv/bin/python tools/validate_examples.py [EXAMPLE.yaml ...]`` (default: every
file under ``examples/``). Each example starts with a line ``# message: <full.Name>``
naming the message it holds; the rest is that message in proto3 JSON form written as YAML
(see ``mlspec.yaml_format``). A file may hold several documents separated by ``---``; a
``# message:`` line inside one switches the type from there on.
The script builds the contract with buf, loads it into a fresh descriptor pool and parses
every example strictly: unknown fields, wrong types and bad enum names are errors.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from mlspec import yaml_format

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADER = "# message:"


def message_name(path: pathlib.Path) -> str:
    """Returns the full message name declared on the example's first line."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    if not first.startswith(HEADER):
        raise ValueError(f"{path}: first line must be '{HEADER} <full.message.Name>'")
    return first[len(HEADER) :].strip()


def build_pool() -> descriptor_pool.DescriptorPool:
    """Builds the contract with buf and loads every file into a new descriptor pool."""
    with tempfile.TemporaryDirectory() as tmp:
        image = pathlib.Path(tmp) / "image.binpb"
        buf = ROOT / ".venv" / "bin" / "buf"
        subprocess.run([str(buf), "build", "proto", "-o", str(image)], cwd=ROOT, check=True)
        files = descriptor_pb2.FileDescriptorSet.FromString(image.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in files.file:
        pool.Add(file_proto)
    return pool


def main(argv: list[str]) -> int:
    """Parses the given examples (or all of them) and reports every failure."""
    paths = [pathlib.Path(a) for a in argv] or sorted((ROOT / "examples").rglob("*.yaml"))
    pool = build_pool()
    failures = 0
    for path in paths:
        try:
            name = message_name(path)
            for document in path.read_text(encoding="utf-8").split("\n---\n"):
                for line in document.splitlines():
                    if line.startswith(HEADER):
                        name = line[len(HEADER) :].strip()
                cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
                yaml_format.load(document, cls())
        except Exception as exc:  # report every broken example, not just the first
            failures += 1
            print(f"FAIL {path}: {exc}")
        else:
            print(f"ok   {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
