"""Virtual environments for the tools that cannot share .venv (kfp, mlflow pin their own protobuf).

Each lives in ``build/venv-<name>``, is created the first time a test needs it from the
exact pins in ``python/constraints-<name>.txt``, and is reused while those pins are
unchanged. The tests use these tools only to produce inputs (compiled KFP pipelines, an
MLflow store) that the importers, which never import the tools, then read.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
SCRIPTS = Path(__file__).resolve().parent / "tool_scripts"


def pins_digest(name: str, *extra: Path) -> str:
    """Digest of a tool's pins (and of any script it runs): the key of what it produced."""
    digest = hashlib.sha256((ROOT / "python" / f"constraints-{name}.txt").read_bytes())
    for path in extra:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def tool_python(name: str) -> Path:
    """The python of ``build/venv-<name>``, creating the environment when missing or stale."""
    venv = BUILD / f"venv-{name}"
    python = venv / "bin" / "python"
    stamp = venv / ".mlspec-pins"
    want = pins_digest(name)
    BUILD.mkdir(exist_ok=True)
    with open(BUILD / f"venv-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one creator when test sessions run side by side
        if python.exists() and stamp.exists() and stamp.read_text() == want:
            return python
        shutil.rmtree(venv, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(ROOT / "python" / f"constraints-{name}.txt"),
            ],
            check=True,
        )
        stamp.write_text(want)
    return python


def run_script(name: str, script: str, *args: str) -> None:
    """Runs ``tool_scripts/<script>`` with the tool's python."""
    subprocess.run([str(tool_python(name)), str(SCRIPTS / script), *args], check=True)
