"""Fitting a sequence of steps, each on the output of the steps before it, reading the data once.

Step k must be fitted on what steps 0..k-1 produce, so fitting a chain over a lazy scan naively re-reads (and
re-parses) the source once per step. ``fit_transform_steps`` instead collects the scan once (Polars' streaming
engine) and fits every step on lazy queries over that in-memory copy, with exact statistics where a step offers
them (``Step.fit_whole``: exact quantiles column by column rather than millions of sketch updates). A
median-filling ``missing`` step followed by an IQR ``outliers`` step hands over the quartiles of the filled columns,
read off the finite values its median pass holds anyway (``_filled_probs_wanted``). For data that does not fit in
memory pass ``in_memory=False``: each step then streams over the scan in bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from assay.clean._base import FitData, Frame, Step
from assay.clean._dedupe import DedupeStep
from assay.clean._missing import MissingStep
from assay.clean._outliers import OutlierStep
from assay.clean._stats import ExactQuantiles

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
        handed: dict[str, ExactQuantiles] = {}  # quantiles the previous step read off for this one
        for i, step in enumerate(steps):
            probs = _filled_probs_wanted(step, steps[i + 1] if i + 1 < len(steps) else None)
            hints = {"_filled_probs": probs} if probs else {}
            if handed:
                hints["_known_quantiles"] = handed
            vars(step).update(hints)
            try:
                step.fit_whole(current, target=target)
            finally:
                for name in hints:  # the hints live for this fit only, never in the fitted step
                    delattr(step, name)
            handed = _filled_quantiles(step) if probs else {}
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
        if isinstance(step, DedupeStep):  # duplicates across batches go too, as in one frame
            batches = step.transform_train_batches(batches)
        else:
            batches = [step.transform_train(b) for b in batches]
        fitted.append(step)
    return fitted, batches


def _filled_probs_wanted(step: Step, following: Step | None) -> tuple[float, ...]:
    """Quantiles of ``step``'s output that ``following`` will compute and ``step`` can hand over instead.

    A median-filling ``missing`` step outputs each numeric column as its finite values plus copies of their median,
    so the quartiles an IQR ``outliers`` step wants next are order statistics of the finite values, which the
    median's pass holds contiguous in memory anyway: read off there, they spare the outliers step a pass, an imputed
    copy and the selections per column. Rows must not change in between (``drop_rows``), nor groups be involved.
    """
    if not (isinstance(step, MissingStep) and isinstance(following, OutlierStep)):
        return ()
    if step.strategy != "median" or step.by or step.drop_rows is not None:
        return ()
    if following.method != "iqr" or following.by:
        return ()
    return (0.25, 0.75, 0.5) if following.action == "replace" else (0.25, 0.75)


def _filled_quantiles(step: Step) -> dict[str, ExactQuantiles]:
    """The quantiles of the columns a fitted ``missing`` step fills with their median, as its output holds them."""
    state, stats = step.state_, step.summary_["stats"]
    out: dict[str, ExactQuantiles] = {}
    for col in state["numeric"]:
        q = stats.get(col, {}).get("q")
        if isinstance(q, ExactQuantiles) and q.filled is not None and state["fill"].get(col) is not None:
            out[col] = q.filled
    return out


def fit_steps(steps: Sequence[Step], data: FitData, target: str | None = None, *,
              in_memory: bool = True) -> list[Step]:
    """Fit ``steps`` in order, each on the output of the ones before it (see :func:`fit_transform_steps`)."""
    return fit_transform_steps(steps, data, target, in_memory=in_memory)[0]
