"""Fitting a sequence of steps, each on the output of the steps before it, reading the data once.

Step k must be fitted on what steps 0..k-1 produce, so fitting a chain over a lazy scan naively re-reads (and
re-parses) the source once per step. ``fit_transform_steps`` instead collects the scan once (Polars' streaming
engine) and fits every step on lazy queries over that in-memory copy, with exact statistics where a step offers
them (``Step.fit_whole``: exact quantiles column by column rather than millions of sketch updates). For data that
does not fit in memory pass ``in_memory=False``: each step then streams over the scan in bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from assay.clean._base import FitData, Frame, Step

__all__ = ["fit_steps", "fit_transform_steps"]


def fit_transform_steps(steps: Sequence[Step], data: FitData, target: str | None = None, *,
                        in_memory: bool = True) -> tuple[list[Step], Frame | list[pl.DataFrame]]:
    """Fit ``steps`` in order and return them with the training output (``transform_train`` of each, in turn).

    A DataFrame (or a LazyFrame with ``in_memory=True``, collected once) gives a LazyFrame over the in-memory
    data as output, ready to ``collect`` or ``sink_parquet``; a LazyFrame with ``in_memory=False`` gives a lazy
    query over the source; an iterable of batches gives the list of transformed batches.

    >>> import polars as pl
    >>> from assay.clean import MissingStep, ScaleStep
    >>> steps, out = fit_transform_steps([MissingStep(), ScaleStep()], pl.DataFrame({"x": [1.0, None, 3.0]}))
    >>> out.collect()["x"].to_list()
    [-1.224744871391589, 0.0, 1.224744871391589]
    """
    fitted: list[Step] = []
    if isinstance(data, pl.LazyFrame) and in_memory:
        data = data.collect(engine="streaming")
    if isinstance(data, pl.DataFrame):
        current: Frame = data.lazy()
        for step in steps:
            step.fit_whole(current, target=target)
            current = step.transform_train(current)
            fitted.append(step)
        return fitted, current
    if isinstance(data, pl.LazyFrame):
        lazy: pl.LazyFrame = data
        for step in steps:
            step.fit(lazy, target=target)
            lazy = step.transform_train(lazy)
            fitted.append(step)
        return fitted, lazy
    batches = [b.collect() if isinstance(b, pl.LazyFrame) else b for b in data]
    for step in steps:
        step.fit(batches, target=target)
        batches = [step.transform_train(b) for b in batches]
        fitted.append(step)
    return fitted, batches


def fit_steps(steps: Sequence[Step], data: FitData, target: str | None = None, *,
              in_memory: bool = True) -> list[Step]:
    """Fit ``steps`` in order, each on the output of the ones before it (see :func:`fit_transform_steps`)."""
    return fit_transform_steps(steps, data, target, in_memory=in_memory)[0]
