"""The examples of the CLI's README section run as written and print what it shows.

Each ``$ `` line of the ``console`` block runs in a shell (a line ending in ``&`` starts
in the background: the server); the lines after it are its output, stdout and stderr
together, where ``...`` stands for any text. HOME, the port and the target point at this
test's own store and server.
"""

from __future__ import annotations

import os
import pathlib
import re
import socket
import subprocess
import sys

from tests.cli.serving import wait_until_serving

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def examples() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of the console block, in order."""
    section = README.read_text(encoding="utf-8").split("## The `mlspec` command", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_readme_section_examples_run_as_shown(tmp_path: pathlib.Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    port = free_port()
    env = dict(
        os.environ,
        HOME=str(tmp_path),
        PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        MLSPEC_PORT=str(port),
        MLSPEC_TARGET=f"127.0.0.1:{port}",
    )
    for name in ["MLSPEC_STORE_URL", "MLSPEC_WORKSPACE", "MLSPEC_HOST"]:
        env.pop(name, None)
    background: list[subprocess.Popen[bytes]] = []
    try:
        for command, expected in examples():
            if command.endswith("&"):
                log = tmp_path / f"serve-{len(background)}.log"
                with log.open("wb") as out:
                    server = subprocess.Popen(
                        ["bash", "-c", f"exec {command[:-1]}"],
                        cwd=tmp_path,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                background.append(server)
                wait_until_serving(server, f"127.0.0.1:{port}", log)
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=120,
                check=False,
            )
            actual = done.stdout.splitlines()
            assert len(actual) == len(expected), (command, done.stdout)
            for want, got in zip(expected, actual, strict=True):
                assert matches(want, got), (command, want, got)
    finally:
        for server in background:
            server.terminate()
            server.wait(timeout=30)
