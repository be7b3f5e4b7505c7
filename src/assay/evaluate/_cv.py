"""Resampling: holdout splits and k-fold indices (plain, stratified, grouped, time-ordered), seeded.

Splits are integer index arrays into the rows given, so the same folds can be reused for every candidate model
(which the paired comparison in the leaderboard relies on). The splitters themselves are scikit-learn's.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np

from assay.exceptions import SpecError

__all__ = ["KINDS", "fold_indices", "holdout_indices"]

KINDS = ("kfold", "group", "timeseries")


def _class_counts_ok(y: np.ndarray, folds: int, what: str) -> None:
    values, counts = np.unique(y, return_counts=True)
    smallest = int(counts.min())
    if smallest < folds and len(values) >= 0.9 * len(y) and len(y) >= 20:
        msg = (f"{what}: the target has a different value in almost every row ({len(values):,} classes in "
               f"{len(y):,} rows), so no class can be learned; is it a name or an identifier? Choose another "
               "--target" + (", or --task regression for a measurement" if np.issubdtype(values.dtype, np.number)
                              else ""))
        raise SpecError(msg)
    if smallest < folds:
        label = values[int(counts.argmin())].item()
        rare = int((counts < folds).sum())
        others = f" ({rare} classes are below {folds} rows)" if rare > 1 else ""
        if smallest >= 2:
            advice = f"use --folds {smallest} or fewer, or merge rare classes"
        else:  # no fold count helps: a class seen once cannot be both trained on and tested
            advice = "drop or merge the rare classes first"
        if np.issubdtype(values.dtype, np.number):
            advice += ", or use --task regression if the target is a count or a measurement"
        msg = f"{what}: class {label!r} has only {smallest} row(s), fewer than folds={folds}{others}; {advice}"
        raise SpecError(msg)


def fold_indices(
    y: Any,
    *,
    task: str,
    folds: int = 5,
    seed: int = 0,
    groups: Any = None,
    stratify: bool = True,
    kind: Literal["kfold", "group", "timeseries"] = "kfold",
    times: Any = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` pairs of ``(train_idx, test_idx)`` over ``len(y)`` rows.

    - ``kind="kfold"``: shuffled (seeded) k-fold, stratified by class for classification when ``stratify``.
    - ``kind="group"``: no group appears in both train and test (``groups`` required); stratified by class when
      possible (``StratifiedGroupKFold``).
    - ``kind="timeseries"``: rows are taken in their given order; each test fold follows its training rows. With
      ``times`` (one sortable value per row, non-decreasing; missing ones first), rows that share a time stay on one
      side: a fold tests whole times and trains only on earlier ones (a fold whose rows all share the time of the
      fold before is merged into it, so there may be fewer folds).

    >>> splits = fold_indices([0, 1] * 5, task="classification", folds=5)
    >>> len(splits), sorted(np.concatenate([te for _, te in splits]).tolist()) == list(range(10))
    (5, True)
    """
    from sklearn import model_selection as ms

    y = np.asarray(y)
    n = len(y)
    folds = int(folds)
    if folds < 2:
        msg = f"folds={folds} is not valid: k-fold needs at least 2 folds"
        raise SpecError(msg)
    if n < 2:
        msg = f"k-fold needs at least 2 training rows and {n} {'is' if n == 1 else 'are'} available; use more data"
        raise SpecError(msg)
    if folds > n:
        msg = f"folds={folds} is more than the {n} rows available; use --folds {n} or fewer"
        raise SpecError(msg)
    idx = np.arange(n)
    if kind == "kfold":
        if task == "classification" and stratify:
            _class_counts_ok(y, folds, "stratified k-fold")
            splitter = ms.StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            return [(tr, te) for tr, te in splitter.split(idx, y)]
        splitter = ms.KFold(n_splits=folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in splitter.split(idx)]
    if kind == "group":
        if groups is None:
            msg = "group k-fold needs groups= (one group id per row, e.g. --group customer_id)"
            raise SpecError(msg)
        groups = np.asarray(groups)
        if len(groups) != n:
            msg = f"groups has {len(groups)} values but y has {n}"
            raise SpecError(msg)
        n_groups = len(np.unique(groups))
        if n_groups < folds:
            msg = f"group k-fold: only {n_groups} distinct groups for folds={folds}; use --folds {n_groups} or fewer"
            raise SpecError(msg)
        if task == "classification" and stratify:
            splitter = ms.StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            return [(tr, te) for tr, te in splitter.split(idx, y, groups)]
        return [(tr, te) for tr, te in ms.GroupKFold(n_splits=folds).split(idx, y, groups)]
    if kind == "timeseries":
        splits = [(tr, te) for tr, te in ms.TimeSeriesSplit(n_splits=folds).split(idx)]
        if times is None:
            return splits
        # Blocks cut at row counts may cut through one time: move each cut to the start of its time.
        key = np.asarray(times)
        if len(key) != n:
            msg = f"times has {len(key)} values but y has {n}"
            raise SpecError(msg)
        starts = sorted({int(np.searchsorted(key, key[te[0]], side="left")) for _, te in splits})
        starts = [s for s in starts if s > 0]
        bounds = [*starts, n]
        return [(idx[:lo], idx[lo:hi]) for lo, hi in itertools.pairwise(bounds) if hi > lo]
    msg = f"unknown fold kind {kind!r}; valid: {', '.join(KINDS)}"
    raise SpecError(msg)


def holdout_indices(
    y: Any, *, task: str, test_size: float = 0.2, seed: int = 0, stratify: bool = True, shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One ``(train_idx, test_idx)`` split; stratified for classification; ``shuffle=False`` keeps time order.

    >>> tr, te = holdout_indices(list(range(10)), task="regression", test_size=0.3, shuffle=False)
    >>> te.tolist()
    [7, 8, 9]
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    n = len(y)
    if not 0.0 < test_size < 1.0:
        msg = f"test_size={test_size} is not valid; give a fraction between 0 and 1, e.g. 0.2"
        raise SpecError(msg)
    idx = np.arange(n)
    if not shuffle:
        cut = n - max(round(n * test_size), 1)
        return idx[:cut], idx[cut:]
    strat = None
    if task == "classification" and stratify:
        _class_counts_ok(y, 2, "stratified holdout")
        strat = y
    tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
    return np.sort(tr), np.sort(te)
