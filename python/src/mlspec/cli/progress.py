"""A progress bar on stderr for commands that work through many items.

``tracked(items, "validating")`` yields the items and advances a bar as each one is done;
``bulk_progress(total, "importing")`` gives an ``advance(n)`` for work counted in other
units (records sent, bytes read); ``counting("listing runs")`` counts work of unknown size
(pages of a list) beside a spinner. The bar only shows on a terminal and for at least
``min_items`` items, so that scripts, pipes and tests see plain output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["MIN_ITEMS", "bulk_progress", "counting", "tracked"]

T = TypeVar("T")
MIN_ITEMS = 10


@contextmanager
def bulk_progress(
    total: int,
    description: str,
    *,
    console: Console | None = None,
    min_items: int = MIN_ITEMS,
) -> Iterator[Callable[[int], None]]:
    """Shows a bar of ``total`` steps while the block runs; yields ``advance(steps)``."""
    console = console or Console(stderr=True)
    if total < min_items or not console.is_terminal:
        yield lambda _steps: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda steps: progress.advance(task, steps)


def tracked(
    items: Sequence[T] | Iterable[T],
    description: str,
    *,
    total: int | None = None,
    console: Console | None = None,
    min_items: int = MIN_ITEMS,
) -> Iterator[T]:
    """Yields ``items``, advancing a bar by one after each (``total`` for iterables)."""
    if total is None:
        total = len(items) if isinstance(items, Sequence) else 0
    with bulk_progress(total, description, console=console, min_items=min_items) as advance:
        for item in items:
            yield item
            advance(1)


@contextmanager
def counting(
    description: str, *, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """Shows a spinner and a running count while the block runs; yields ``advance(n)``."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield lambda _steps: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}: {task.completed:,.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)
        yield lambda steps: progress.advance(task, steps)
