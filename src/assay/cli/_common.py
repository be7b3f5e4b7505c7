"""Pieces every command shares: progress display and output directories."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

__all__ = ["console", "progress", "show_progress"]

console = Console(stderr=True)


def show_progress(quiet: bool) -> bool:
    """Progress bars only on an interactive terminal and when not ``--quiet``."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress(enabled: bool) -> Iterator[object]:
    """A rich Progress when enabled, else an object whose methods do nothing."""
    if not enabled:
        yield _NoProgress()
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        yield bar


class _NoProgress:
    def add_task(self, *args: object, **kwargs: object) -> int:
        return 0

    def update(self, *args: object, **kwargs: object) -> None:
        return None

    def advance(self, *args: object, **kwargs: object) -> None:
        return None
