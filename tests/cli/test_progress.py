"""The progress helper: a bar on a terminal for many items, nothing otherwise."""

from __future__ import annotations

import io
import pathlib

from rich.console import Console

from mlspec.cli.progress import bulk_progress, tracked

from .conftest import invoke

ROOT = pathlib.Path(__file__).resolve().parents[2]


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_many_items_on_a_terminal_show_a_bar_and_every_item_comes_through() -> None:
    console, out = terminal()
    assert list(tracked(range(25), "counting", total=25, console=console)) == list(range(25))
    assert "counting" in out.getvalue()


def test_few_items_or_no_terminal_show_nothing() -> None:
    console, out = terminal()
    assert list(tracked([1, 2, 3], "few", console=console)) == [1, 2, 3]
    assert out.getvalue() == ""
    piped = io.StringIO()
    items = list(range(50))
    assert list(tracked(items, "piped", console=Console(file=piped))) == items
    assert piped.getvalue() == ""


def test_bulk_progress_advances_in_any_unit() -> None:
    console, out = terminal()
    with bulk_progress(1000, "sending", console=console) as advance:
        for _ in range(10):
            advance(100)
    assert "sending" in out.getvalue()


def test_validate_of_many_files_keeps_plain_output_off_a_terminal() -> None:
    result = invoke("validate", str(ROOT / "examples"))
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1  # no bar in the output of a pipe
