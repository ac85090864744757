"""The client imports without the server, and the wheel ships the contract's .proto files."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_client_imports_without_the_server() -> None:
    # (grpc itself imports grpc_health and grpc_reflection when they are installed.)
    code = (
        "import sys, mlspec.client\n"
        "from mlspec.client import Client\n"
        "Client('127.0.0.1:1').close()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'alembic', 'psycopg', 'prometheus_client') "
        "or m == 'mlspec.cli' or m.startswith(('mlspec.server', 'mlspec.store', 'mlspec.domain')))\n"
        "assert not bad, bad\n"
        "assert 'mlspec.client.client' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_wheel_holds_the_protos_and_the_client(tmp_path: pathlib.Path) -> None:
    # Build from a copy so that the build leaves nothing in the work tree.
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    shutil.copytree(ROOT / "python", source / "python", ignore=ignore)
    shutil.copytree(ROOT / "proto", source / "proto", ignore=ignore)
    out = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source / "python"),
        ],
        check=True,
    )
    (wheel,) = out.glob("mlspec_contract-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
    assert protos
    for proto in protos:
        assert f"mlspec/proto/{proto}" in names
    assert "mlspec/client/__init__.py" in names
    assert "mlspec/tracking/v1/tracking_service_pb2_grpc.py" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Name: mlspec-contract" in text
    base = [
        line
        for line in text.splitlines()
        if line.startswith("Requires-Dist") and "extra" not in line
    ]
    assert any("grpcio-status" in line for line in base)
    assert not any("SQLAlchemy" in line for line in base)
