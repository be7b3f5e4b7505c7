"""Pieces every command shares: progress display and output directories."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["FollowedModel", "console", "load_model_ref", "model_path_ref", "progress", "show_progress"]

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


@contextmanager
def progress_callback(enabled: bool) -> Iterator[Callable[[str, float], None]]:
    """A ``notify(message, fraction)`` callback driving one progress bar (a no-op when disabled)."""
    with progress(enabled) as bar:
        task = bar.add_task("starting", total=1.0)

        def notify(message: str, fraction: float) -> None:
            bar.update(task, description=message, completed=fraction)

        yield notify


def print_leaderboard(result: object) -> None:
    """The leaderboard as a table on stdout: model, primary metric mean ± std, fit time."""
    from rich.table import Table

    primary = result.primary_metric  # type: ignore[attr-defined]
    rows = result.leaderboard  # type: ignore[attr-defined]
    # Anomaly detection without known anomalies has nothing to score the detectors against: no score column.
    scored = any(row.get("cv_mean") is not None for row in rows)
    task = result.task  # type: ignore[attr-defined]
    table = Table(title=f"leaderboard ({primary}, {task})" if scored else f"models ({task})")
    table.add_column("rank", justify="right")
    table.add_column("model")
    # Recommenders are scored once, on a per-user holdout (there are no folds to take a spread over).
    holdout = result.task == "recommendation"  # type: ignore[attr-defined]
    if scored:
        table.add_column(f"{primary} (per-user holdout)" if holdout else f"{primary} (CV mean ± std)",
                         justify="right")
    table.add_column("fit s", justify="right")
    for rank, row in enumerate(rows, 1):
        mean, std = row.get("cv_mean"), row.get("cv_std")
        cell = "n/a" if mean is None else f"{mean:.4f}" if holdout else f"{mean:.4f} ± {std or 0:.4f}"
        table.add_row(str(rank), str(row["model"]), *([cell] if scored else []), f"{row.get('fit_seconds', 0):.2f}")
    Console(width=100).print(table)
    if not scored:
        Console(width=100).print(f"no labels to score the {task} models against: listed in the order given")
    test = result.test_metrics  # type: ignore[attr-defined]
    shown = {k: v for k, v in test.items() if isinstance(v, int | float)}
    Console(width=100).print("test: " + ", ".join(f"{k}={v:.4f}" for k, v in shown.items()))


def register_model(model_path: object, name: str, registry: str | None) -> None:
    """Register a trained model (the registry module provides the store)."""
    from assay.registry import open_registry  # type: ignore[attr-defined]

    reg = open_registry(registry)
    version = reg.register(model_path, name)
    console.print(f"registered {name} version {version}")


MODEL_REF_HELP = ("A model directory written by assay train, or a registered model: models:/NAME (its production "
                  "version, else the latest), models:/NAME/VERSION or models:/NAME/ALIAS.")


def _registered(ref: str, registry: str | None) -> tuple[Any, str, int | str | None]:
    """``(registry, name, version or alias)`` of a ``models:/NAME[/VERSION|ALIAS]`` reference."""
    from assay.exceptions import SpecError
    from assay.registry import open_registry

    parts = [p for p in ref.removeprefix("models:/").split("/") if p]
    if not 1 <= len(parts) <= 2:
        msg = (f"{ref!r} is not a registered model reference; write models:/NAME, models:/NAME/3 or "
               f"models:/NAME/staging")
        raise SpecError(msg)
    version: int | str | None = None
    if len(parts) == 2:
        version = int(parts[1]) if parts[1].isdigit() else parts[1]
    return open_registry(registry, create=False), parts[0], version


def load_model_ref(ref: str | Path, registry: str | None = None, *, follow: float | None = None) -> Any:
    """The model a command names: a directory ``assay train`` wrote, or ``models:/NAME[/VERSION|ALIAS]`` in the
    registry (``--registry``, else ``$ASSAY_REGISTRY``, else the default one), verified as the server verifies it.

    With ``follow`` (seconds), a registered model named by alias (``models:/NAME`` or ``models:/NAME/production``)
    comes as a :class:`FollowedModel` that checks the alias that often and moves to the version it points at.
    MLflow spells registered models the same way, so a command written for one reads naturally for the other.
    """
    from assay._fitted import load_model

    text = str(ref)
    if text.startswith("models:/"):
        reg, name, version = _registered(text, registry)
        if follow is not None and not isinstance(version, int):
            return FollowedModel(reg, name, version, every=follow)
        return reg.load(name, version)
    return load_model(Path(text))


class FollowedModel:
    """A registered model named by alias, reloaded when the alias moves to another version: a long-running
    ``assay ingest --model models:/churn/production`` scores with what was promoted since it started, as a running
    server does. ``current()`` checks the alias at most every ``every`` seconds; a version that fails to load (or
    an unreachable registry) leaves the one in use, with a note."""

    def __init__(self, registry: Any, name: str, alias: str | None, *, every: float = 30.0) -> None:
        self.registry, self.name, self.alias, self.every = registry, name, alias, every
        self.version = registry.resolve(name, alias)
        self.model = registry.load(name, self.version)
        self._checked = time.monotonic()

    def __repr__(self) -> str:
        return f"FollowedModel(models:/{self.name}/{self.alias or 'production'}, version {self.version})"

    def current(self) -> Any:
        import logging

        now = time.monotonic()
        if now - self._checked < self.every:
            return self.model
        self._checked = now
        log = logging.getLogger("assay")
        where = f"models:/{self.name}/{self.alias or 'production'}"
        try:
            version = self.registry.resolve(self.name, self.alias)
            if version == self.version:
                return self.model
            model = self.registry.load(self.name, version)
        except Exception as exc:  # keep scoring with the loaded version; say why it was not replaced
            log.warning("%s: kept version %d (%s)", where, self.version, exc)
            return self.model
        log.warning("%s moved from version %d to %d: scoring with version %d from now on", where, self.version,
                    version, version)
        self.model, self.version = model, version
        return model


def model_path_ref(ref: str | Path, registry: str | None = None) -> Path:
    """The directory of the model a command names (see :func:`load_model_ref`): a registered version's verified
    local copy, for commands that hand the directory on (Dask workers load it themselves)."""
    text = str(ref)
    if text.startswith("models:/"):
        reg, name, version = _registered(text, registry)
        return reg._checked(reg.get(name, version), Path)
    return Path(text)
