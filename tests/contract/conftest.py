"""Shared fixtures of the contract tests."""

from __future__ import annotations

import subprocess

import pytest
from google.protobuf import descriptor_pb2

from .catalog import ROOT, find_buf


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorSet:
    """The contract built by buf with source info (comments), MLSpec files only."""
    out = tmp_path_factory.mktemp("buf") / "image.binpb"
    subprocess.run(
        [find_buf(), "build", "proto", "--exclude-imports", "-o", str(out)], cwd=ROOT, check=True
    )
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
