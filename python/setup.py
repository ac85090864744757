"""Build step: ship the contract's ``.proto`` files inside the package.

The ``.proto`` files live in the repository's top-level ``proto/`` folder, outside this
project folder, so package data cannot name them. ``build_py`` copies them into the
build as ``mlspec/proto/mlspec/<area>/v1/*.proto`` (so ``protoc -I
<site-packages>/mlspec/proto`` compiles against the installed contract), and ``sdist``
copies them into ``src/mlspec/proto`` of the source archive, from where a wheel built
from that archive takes them. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
SOURCES = (HERE.parent / "proto", HERE / "src" / "mlspec" / "proto")


def _proto_root() -> Path | None:
    for root in SOURCES:
        if (root / "mlspec").is_dir():
            return root
    return None


def _copy_protos(destination: Path) -> None:
    root = _proto_root()
    if root is None:
        raise SystemExit("no .proto files found (expected ../proto or src/mlspec/proto)")
    for source in sorted(root.rglob("*.proto")):
        target = destination / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


class BuildPyWithProtos(build_py):
    """``build_py`` that also copies the contract's ``.proto`` files into mlspec/proto."""

    def run(self) -> None:
        super().run()
        _copy_protos(Path(self.build_lib) / "mlspec" / "proto")


class SdistWithProtos(sdist):
    """``sdist`` that puts the ``.proto`` files into the archive's src/mlspec/proto."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _copy_protos(Path(base_dir) / "src" / "mlspec" / "proto")


setup(cmdclass={"build_py": BuildPyWithProtos, "sdist": SdistWithProtos})
