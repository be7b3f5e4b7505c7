"""Running a chain of cleaning steps on a frame and saying what each step did to it.

``clean(frame, steps)`` fits each step on the output of the ones before it and applies it with its training-time
behaviour (rows may be removed: duplicates, outliers dropped or quarantined), then compares the frame before and
after: rows removed, columns added, removed or given another type, missing values filled, values that became
missing (unreadable text, missing tokens) and values changed. ``clean(frame, fitted, refit=False)`` applies steps
fitted earlier (for example loaded with :func:`load_steps`) to new data the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from assay.clean._base import Step
from assay.exceptions import SpecError

__all__ = ["StepChange", "check_input", "clean", "load_steps", "save_steps"]


@dataclass
class StepChange:
    """What one step did to the frame it was given."""

    step: str
    seconds: float
    rows_before: int
    rows_after: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (type before, type after)
    filled: dict[str, int] = field(default_factory=dict)  # missing values given a value, per column
    emptied: dict[str, int] = field(default_factory=dict)  # values that became missing, per column
    changed: dict[str, int] = field(default_factory=dict)  # non-missing values given another value, per column

    def describe(self) -> str:
        """One line, e.g. ``344 → 340 rows (4 removed); filled 19 missing values in 5 columns``.

        >>> StepChange("missing", 0.0, 10, 10, filled={"a": 2, "b": 1}).describe()
        'filled 3 missing value(s) in 2 column(s): a 2, b 1'
        """
        parts = []
        if self.rows_after != self.rows_before:
            parts.append(f"{self.rows_before:,} → {self.rows_after:,} rows "
                         f"({self.rows_before - self.rows_after:,} removed)")
        if self.retyped:
            more = len(self.retyped) - 4
            parts.append("typed " + ", ".join(f"{c}: {a} → {b}" for c, (a, b) in _first(self.retyped))
                         + (f", … ({more} more)" if more > 0 else ""))
        if self.emptied:
            parts.append(f"{sum(self.emptied.values()):,} value(s) now missing: {_counts(self.emptied)}")
        if self.filled:
            parts.append(f"filled {sum(self.filled.values()):,} missing value(s) in {len(self.filled)} column(s): "
                         f"{_counts(self.filled)}")
        if self.changed:
            parts.append(f"changed {sum(self.changed.values()):,} value(s) in {len(self.changed)} column(s): "
                         f"{_counts(self.changed)}")
        if self.added:
            parts.append(f"+{len(self.added)} column(s): {_names(self.added)}")
        if self.removed:
            parts.append(f"−{len(self.removed)} column(s): {_names(self.removed)}")
        return "; ".join(parts) or "no change"


def _type_name(dtype: pl.DataType) -> str:
    """A short type name: ``Datetime`` or ``Datetime(UTC)`` rather than Polars' full ``Datetime(time_unit='us', …)``."""
    if isinstance(dtype, pl.Datetime):
        return f"Datetime({dtype.time_zone})" if dtype.time_zone else "Datetime"
    return str(dtype)


def _first(items: dict[str, Any], n: int = 4) -> list[tuple[str, Any]]:
    return list(items.items())[:n]


def _counts(counts: dict[str, int], n: int = 4) -> str:
    shown = ", ".join(f"{c} {k:,}" for c, k in sorted(counts.items(), key=lambda kv: -kv[1])[:n])
    return shown + (f", … ({len(counts) - n} more)" if len(counts) > n else "")


def _names(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f", … ({len(names) - n} more)" if len(names) > n else "")


def _compare(name: str, seconds: float, before: pl.DataFrame, after: pl.DataFrame) -> StepChange:
    change = StepChange(name, seconds, before.height, after.height)
    old, new = before.schema, after.schema
    change.added = [c for c in new if c not in old]
    change.removed = [c for c in old if c not in new]
    kept = [c for c in new if c in old]
    change.retyped = {c: (_type_name(old[c]), _type_name(new[c])) for c in kept if old[c] != new[c]}
    if not kept:
        return change
    if before.height != after.height:
        # Rows went: only missing counts compare. A column counts as filled when it lost more missing values than
        # the removed rows could explain.
        nulls_before = before.select(kept).null_count().row(0, named=True)
        nulls_after = after.select(kept).null_count().row(0, named=True)
        removed = before.height - after.height
        for c in kept:
            gained = nulls_before[c] - nulls_after[c]
            if gained > 0 and gained > removed:
                change.filled[c] = int(gained - removed)
        return change
    for c in kept:  # rows stayed put: compare value by value
        a, b = before.get_column(c), after.get_column(c)
        filled = int((a.is_null() & b.is_not_null()).sum())
        emptied = int((a.is_not_null() & b.is_null()).sum())
        differ = 0
        if c in change.retyped and a.dtype.is_numeric() and b.dtype.is_numeric():
            # A whole-number column given fractions (scaled, or filled with a median of 5.5): compared as numbers.
            a, b = a.cast(pl.Float64), b.cast(pl.Float64)
        if (c not in change.retyped or a.dtype == b.dtype) and a.dtype != pl.Null:
            try:
                ne = a.ne(b)
                if a.dtype.is_float():  # NaN ≠ NaN: a NaN left as it was is not a change
                    ne = ne & ~(a.is_nan() & b.is_nan())
                differ = int((a.is_not_null() & b.is_not_null() & ne).sum())
            except pl.exceptions.PolarsError:  # types with no equality (nested), counted as unchanged
                differ = 0
        for counts, n in ((change.filled, filled), (change.emptied, emptied), (change.changed, differ)):
            if n:
                counts[c] = n
    return change


def clean(frame: pl.DataFrame, steps: Sequence[Step], *, target: str | None = None, refit: bool = True,
          on_step: Callable[[int, StepChange], None] | None = None) -> tuple[pl.DataFrame, list[Step],
                                                                               list[StepChange]]:
    """Fit (unless ``refit=False``) and apply ``steps`` in order; return the cleaned frame, the fitted steps and
    what each step did. The ``target`` column is passed to each step's fit and left as it is.

    >>> import polars as pl
    >>> from assay.clean import DedupeStep, MissingStep
    >>> df = pl.DataFrame({"x": [1.0, None, 3.0, 3.0], "c": ["a", "b", "c", "c"]})
    >>> out, fitted, changes = clean(df, [DedupeStep(), MissingStep(strategy="mean")])
    >>> out["x"].to_list(), [c.describe() for c in changes]
    ([1.0, 2.0, 3.0], ['4 → 3 rows (1 removed)', 'filled 1 missing value(s) in 1 column(s): x 1'])
    """
    if target is not None and target not in frame.columns:
        msg = f"target column {target!r} not found (columns: {', '.join(frame.columns[:10])}…)"
        raise SpecError(msg)
    changes: list[StepChange] = []
    current = frame
    for i, step in enumerate(steps):
        start = time.perf_counter()
        if refit:
            step.fit_whole(current, target)  # exact statistics, in one query where the step offers it
            out = step.transform_train(current)
        else:
            if hasattr(step, "say_unseen"):  # encoders: categories the fit never saw get a defined value, said here
                step.say_unseen(current)
            # Rows the steps were not fitted on get no out-of-fold values (target encoding): those are for the
            # training rows alone, so that none sees its own target.
            out = step.transform(current) if getattr(step, "out_of_fold", False) else step.transform_train(current)
        if isinstance(out, pl.LazyFrame):
            out = out.collect()
        change = _compare(step.name, time.perf_counter() - start, current, out)
        changes.append(change)
        if on_step is not None:
            on_step(i, change)
        current = out
    return current, list(steps), changes


def save_steps(steps: Sequence[Step], path: str | Path, *, input_schema: dict[str, Any] | None = None) -> None:
    """Write fitted steps as JSON (``[{"step", "params", "state"}, …]``), to apply later with :func:`load_steps`;
    ``input_schema`` (column → type of the data they were fitted on) lets :func:`check_input` compare new data."""
    payload: dict[str, Any] = {"format": 1, "steps": [s.to_dict() for s in steps]}
    if input_schema is not None:
        payload["input_schema"] = {c: str(t) for c, t in input_schema.items()}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


def _read_payload(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        hint = ""
        if isinstance(exc, ValueError) and Path(path).suffix.lower() in (".yaml", ".yml"):
            hint = " (fitted steps are the JSON that --save-steps writes; steps to fit, listed in YAML, go to --steps)"
        msg = f"cannot read fitted steps from {path}: {exc}{hint}"
        raise SpecError(msg) from None


def check_input(path: str | Path, frame: pl.DataFrame) -> list[str]:
    """Notes on how ``frame`` differs from the data the steps saved at ``path`` were fitted on: columns missing
    (the steps skip them), of another type, or new (passed through as they are). Empty when nothing differs or
    no input schema was saved.

    >>> import tempfile, polars as pl
    >>> from assay.clean import MissingStep
    >>> path = Path(tempfile.mkdtemp()) / "steps.json"
    >>> train = pl.DataFrame({"a": [1.0, None], "b": ["x", "y"]})
    >>> save_steps([MissingStep().fit(train)], path, input_schema=train.schema)
    >>> check_input(path, pl.DataFrame({"a": ["1"], "c": [2]}))  # doctest: +NORMALIZE_WHITESPACE
    ["1 column(s) the steps were fitted with are missing: 'b' (the steps skip them)",
     "'a' is String here, Float64 when the steps were fitted",
     "1 column(s) are new: 'c' (passed through as they are)"]
    """
    payload = _read_payload(path)
    fitted = payload.get("input_schema") if isinstance(payload, dict) else None
    if not fitted:
        return []
    notes = []
    missing = [c for c in fitted if c not in frame.columns]
    if missing:
        notes.append(f"{len(missing)} column(s) the steps were fitted with are missing: "
                     f"{', '.join(repr(c) for c in missing[:8])}{', …' if len(missing) > 8 else ''} (the steps skip "
                     "them)")
    notes += [f"{c!r} is {frame.schema[c]} here, {t} when the steps were fitted" for c, t in fitted.items()
              if c in frame.columns and str(frame.schema[c]) != t]
    new = [c for c in frame.columns if c not in fitted]
    if new:
        notes.append(f"{len(new)} column(s) are new: {', '.join(repr(c) for c in new[:8])}"
                     f"{', …' if len(new) > 8 else ''} (passed through as they are)")
    return notes


def load_steps(path: str | Path) -> list[Step]:
    """Fitted steps written by :func:`save_steps` (or the ``steps`` of a model artifact's manifest)."""
    payload = _read_payload(path)
    items = payload.get("steps") if isinstance(payload, dict) else payload
    if not isinstance(items, list) or not all(isinstance(s, dict) and "step" in s and "state" in s for s in items):
        msg = f"{path} holds no fitted steps (expected a list of {{step, params, state}} written by assay clean)"
        raise SpecError(msg)
    return [Step.from_dict(s) for s in items]
