"""ML Metadata's own virtual environment, under build/bench/ (created once, then reused).

ML Metadata 1.17 ships wheels for Python 3.9 to 3.11 and needs protobuf 4, which the
project's environment (protobuf 6 and 7) cannot hold. The environment is made with
``python3.11`` from ``PATH`` and PyPI, and kept while its marker file exists.
"""

from __future__ import annotations

import shutil
import subprocess

from bench.common import ROOT

VENV = ROOT / "build" / "bench" / "mlmd-venv"
PYTHON = VENV / "bin" / "python"
MARKER = VENV / ".mlspec-bench-ready"
REQUIREMENTS = ("ml-metadata==1.17.1", "protobuf>=4.25,<5")


def ensure() -> str:
    """The interpreter of ML Metadata's environment, creating the environment if needed."""
    if MARKER.exists():
        return str(PYTHON)
    interpreter = shutil.which("python3.11")
    if interpreter is None:
        raise SystemExit(
            "bench: ML Metadata 1.17 needs python3.11 on PATH (apt-get install python3.11)"
        )
    shutil.rmtree(VENV, ignore_errors=True)
    print(f"  creating ML Metadata's environment in {VENV} (once)", flush=True)
    subprocess.run([interpreter, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
    MARKER.write_text(" ".join(REQUIREMENTS) + "\n")
    return str(PYTHON)
