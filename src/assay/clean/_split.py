"""Splitting a frame: random, stratified, group-wise and time-ordered train/test splits, and one subset per value.

Splits are seeded and reproducible. Stratified splits keep each class's share in both parts (each class is
shuffled with the seed and its share of the test rows, shared out by largest remainder, goes to test); group splits
keep every row of a group on one side; time-ordered splits put the latest rows in test, and rows sharing a time on
one side (so the test part may hold a few more rows than asked). Row order inside each part follows the input.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import polars as pl

from assay.exceptions import SchemaError, SpecError, did_you_mean

if TYPE_CHECKING:
    import numpy as np

__all__ = ["split_by", "train_test_split"]

log = logging.getLogger(__name__)


def _need_column(frame: pl.DataFrame, column: str, what: str) -> None:
    if column not in frame.columns:
        msg = (f"{what} column {column!r} not found{did_you_mean(column, frame.columns)} "
               f"(columns: {', '.join(frame.columns)})")
        raise SchemaError(msg)


def _test_count(n: int, test_size: float) -> int:
    """Rows (or groups) for test: at least one and at most all but one when there are two or more, else none."""
    if n < 2:
        return 0  # a lone row trains; a test part of it would leave nothing to fit on
    if test_size >= 1:
        return min(n - 1, int(test_size))
    # Rounded first so that 100 x 0.07 (7.000000000000001 in floating point) asks for 7 rows, not 8.
    return min(n - 1, max(1, math.ceil(round(n * test_size, 9))))


def train_test_split(frame: pl.DataFrame | pl.LazyFrame, *, target: str | None = None, test_size: float = 0.2,
                     stratify: bool = True, seed: int = 0, group: str | None = None,
                     time: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows into ``(train, test)``.

    ``test_size`` is a share (0 < s < 1) or a row count. With a ``target`` and ``stratify=True`` the split is
    stratified by the target (for a numeric target with more than 20 distinct values, by its quintile). ``group``
    keeps every row of a group together (a share ``test_size`` of the groups goes to test; for a row count, the
    same share of the groups as of the rows); ``time`` sorts by that
    column and puts the last rows in test, every row of the cut-off time included (no time is on both sides).

    >>> import polars as pl
    >>> df = pl.DataFrame({"x": range(10), "y": ["a"] * 5 + ["b"] * 5})
    >>> train, test = train_test_split(df, target="y", test_size=0.4)
    >>> sorted(test["y"].to_list())
    ['a', 'a', 'b', 'b']
    """
    import numpy as np

    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not 0 < test_size < frame.height and not 0 < test_size < 1:
        msg = f"train_test_split: test_size={test_size!r} must be a share in (0, 1) or a row count below {frame.height}"
        raise SpecError(msg)
    n = frame.height
    rng = np.random.default_rng(seed)
    is_test = np.zeros(n, dtype=bool)
    if time is not None:
        _need_column(frame, time, "time")
        is_test = _time_test_rows(frame, time, _test_count(n, test_size))
    elif group is not None:
        _need_column(frame, group, "group")
        # (missing is a group of its own, apart from the empty text)
        key = pl.col(group).cast(pl.String).fill_null("\x00null")
        codes = frame.select(key.rank("dense")).to_series().to_numpy() - 1
        groups = np.unique(codes)
        # A row count asks for that share of the rows: as many groups, in share (50 of 180 rows is 5 of 18 groups,
        # not 50 groups, which took all but one).
        share = test_size if test_size < 1 else test_size / n
        chosen = rng.permutation(groups)[: _test_count(len(groups), share)]
        is_test = np.isin(codes, chosen)
    elif target is not None and stratify:
        _need_column(frame, target, "target")
        labels = _strata(frame.get_column(target))
        _, codes, sizes = np.unique(labels, return_inverse=True, return_counts=True)
        takes = _class_takes(sizes, _test_count(n, test_size), rng)
        # Each class's rows in input order from one stable sort (a scan of every row per class took ~20 s for
        # 100,000 classes); then the same seeded shuffle per class as always.
        by_class = np.split(np.argsort(codes.ravel(), kind="stable"), np.cumsum(sizes)[:-1])
        for rows, take in zip(by_class, takes, strict=True):
            is_test[rng.permutation(rows)[:take]] = True
    else:
        if target is not None:
            _need_column(frame, target, "target")
        is_test[rng.permutation(n)[: _test_count(n, test_size)]] = True
    mask = pl.Series("__test__", is_test)
    return frame.filter(~mask), frame.filter(mask)


def _class_takes(sizes: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """How many rows of each class go to test: ``total`` in all (as a random split takes), shared out in proportion
    to the class sizes by largest remainder (ties in a seeded random order). A class keeps at least one row in train
    while any other class can take the row instead.

    Rounding each class on its own took none of a class of 2 at a 0.2 share: 100 such classes gave no test rows.
    """
    import numpy as np

    quota = sizes * (total / sizes.sum())
    takes = np.minimum(np.floor(quota).astype(np.int64), np.maximum(sizes - 1, 0))
    order = rng.permutation(len(sizes))
    order = order[np.argsort(-(quota - takes)[order], kind="stable")]  # largest remainder first
    for cap in (np.maximum(sizes - 1, 0), sizes):  # a class's last row only when no other row is left
        while takes.sum() < total and (takes < cap).any():
            for i in order:
                if takes.sum() >= total:
                    break
                if takes[i] < cap[i]:
                    takes[i] += 1
    return takes


def _time_test_rows(frame: pl.DataFrame, time: str, count: int) -> np.ndarray:
    """Rows at or after the time of the ``count``-th latest row: rows sharing a time stay on one side (nulls train).

    When every timed row shares the cut-off time (taking them all would leave nothing to train on), only later
    times go to test, which may be none.
    """
    import numpy as np

    n = frame.height
    if count == 0:
        return np.zeros(n, dtype=bool)
    column = frame.get_column(time)
    if column.dtype == pl.String:
        column = _time_from_text(frame, time)
    if column.dtype.is_float():
        column = column.fill_nan(None)  # an unknown time, like null: NaN would otherwise sort after every number
    if column.null_count():
        log.warning("split by time: %s of %s row(s) have no time in %r (missing, or text that is no time); they go "
                    "to train", f"{column.null_count():,}", f"{n:,}", time)
    order = column.arg_sort(nulls_last=False).to_numpy()
    cut = column.gather([int(order[n - count])]).item()
    if cut is None:  # fewer timed rows than asked for: every timed row is at or after the cut-off
        later = at_or_later = column.is_not_null()
    else:
        later = (column > cut).fill_null(False)
        at_or_later = later | (column == cut).fill_null(False)
    return (at_or_later if (at_or_later != column.is_not_null()).any() else later).to_numpy()


def _time_from_text(frame: pl.DataFrame, time: str) -> pl.Series:
    """A time column written as text, read as the dates, times or numbers it holds: as text, 28/02/2024 sorts after
    03/03/2024 and 9 after 10."""
    from assay.clean._base import steps_quiet
    from assay.clean._types import TypesStep

    with steps_quiet():
        step = TypesStep(columns=[time], min_share=0.9).fit(frame.select(time))
    if step.state_["convert"][time]["kind"] not in ("date", "datetime", "number", "integer"):
        example = frame.get_column(time).drop_nulls().head(1).to_list()
        msg = (f"split by time: column {time!r} is text that does not read as dates, times or numbers"
               f"{f' (e.g. {example[0]!r})' if example else ''}; convert it first with the 'types' step")
        raise SchemaError(msg)
    return step.transform(frame.select(time)).get_column(time)


def _strata(target: pl.Series) -> np.ndarray:
    import numpy as np

    if target.dtype.is_float() or (target.dtype.is_numeric() and target.n_unique() > 20):
        values = target.cast(pl.Float64)
        finite = values.filter(values.is_finite())
        if finite.len() == 0:
            return np.zeros(target.len(), dtype=np.int64)
        edges = np.quantile(finite.to_numpy(), [0.2, 0.4, 0.6, 0.8])
        codes = np.searchsorted(edges, values.fill_nan(None).fill_null(np.inf).to_numpy(), side="right")
        return codes.astype(np.int64)
    return target.cast(pl.String).fill_null("\x00null").rank("dense").to_numpy().astype(np.int64)


def split_by(frame: pl.DataFrame | pl.LazyFrame, column: str) -> dict[Any, pl.DataFrame]:
    """One frame per distinct value of ``column`` (e.g. one per region), in order of first appearance.

    >>> import polars as pl
    >>> parts = split_by(pl.DataFrame({"地区": ["华东", "华北", "华东"], "v": [1, 2, 3]}), "地区")
    >>> {k: p.height for k, p in parts.items()}
    {'华东': 2, '华北': 1}
    """
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    _need_column(frame, column, "split")
    return {key[0]: part for key, part in frame.partition_by(column, as_dict=True, maintain_order=True).items()}
