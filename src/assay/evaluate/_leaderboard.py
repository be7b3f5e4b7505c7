"""The leaderboard: candidates ranked by the mean of the primary metric over the same folds, with mean ± std of
every metric and a paired test of each model against the best.

The test is the corrected resampled t-test of Nadeau & Bengio (2003): fold scores of two models on the same folds
are paired, and the variance of their differences is inflated by ``n_test / n_train`` because k-fold training sets
overlap (the plain paired t-test is far too optimistic there). ``significant`` says whether the best model beats
this one at the 5% level; when the runner-up is not significantly worse the leaderboard says so in ``note``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from assay.evaluate._metrics import GREATER_IS_BETTER

__all__ = ["corrected_ttest", "leaderboard"]


def corrected_ttest(a: Any, b: Any, *, test_train_ratio: float) -> tuple[float, float]:
    """Nadeau–Bengio corrected paired t-test of fold scores ``a`` vs ``b``: returns ``(t, two-sided p)``.

    >>> t, p = corrected_ttest([0.9, 0.91, 0.92, 0.9, 0.93], [0.8, 0.82, 0.81, 0.8, 0.83], test_train_ratio=0.25)
    >>> p < 0.05
    True
    """
    from scipy import stats

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[np.isfinite(d)]
    j = len(d)
    if j < 2:
        return math.nan, math.nan
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    if var == 0.0:
        return (math.inf if mean else 0.0), (0.0 if mean else 1.0)
    t = mean / math.sqrt((1.0 / j + test_train_ratio) * var)
    p = 2.0 * float(stats.t.sf(abs(t), df=j - 1))
    return t, p


def _column(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows], dtype=np.float64)


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def leaderboard(
    fold_scores: dict[str, list[dict[str, Any]]],
    primary: str,
    *,
    test_train_ratio: float | None = None,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """Rows sorted best first: ``model``, ``rank``, ``cv_mean``, ``cv_std`` (primary metric), ``<m>_mean``,
    ``<m>_std`` for every metric in the fold dicts (and ``fit_seconds``, their mean, when folds report it), and for
    every model but the best ``vs_best_p`` / ``significant`` from the corrected paired t-test on the primary metric.

    ``test_train_ratio`` defaults to ``1 / (folds - 1)``, right for k-fold.

    >>> folds = {"a": [{"acc": 0.9}, {"acc": 0.8}, {"acc": 0.85}], "b": [{"acc": 0.7}, {"acc": 0.75}, {"acc": 0.7}]}
    >>> [(r["model"], round(r["cv_mean"], 3)) for r in leaderboard(folds, "acc")]
    [('a', 0.85), ('b', 0.717)]
    """
    greater = GREATER_IS_BETTER.get(primary, True)
    stats: list[dict[str, Any]] = []
    for model, rows in fold_scores.items():
        keys = sorted({k for r in rows for k in r if isinstance(r.get(k), int | float | None)})
        row: dict[str, Any] = {"model": model, "folds": len(rows)}
        for key in keys:
            col = _column(rows, key)
            ok = col[np.isfinite(col)]
            row[f"{key}_mean"] = _clean(ok.mean()) if len(ok) else None
            row[f"{key}_std"] = _clean(ok.std(ddof=1)) if len(ok) > 1 else (0.0 if len(ok) else None)
        row["cv_mean"] = row.get(f"{primary}_mean")
        row["cv_std"] = row.get(f"{primary}_std")
        if "fit_seconds_mean" in row:  # one column for the time, not a metric beside it (a report showed both)
            row["fit_seconds"] = row.pop("fit_seconds_mean")
            row.pop("fit_seconds_std", None)
        stats.append(row)

    def sort_key(row: dict[str, Any]) -> tuple[int, float]:
        value = row["cv_mean"]
        if value is None:
            return (1, 0.0)
        return (0, -value if greater else value)

    stats.sort(key=sort_key)
    for rank, row in enumerate(stats, start=1):
        row["rank"] = rank
    if len(stats) >= 2 and stats[0]["cv_mean"] is not None:
        best = stats[0]
        best_scores = _column(fold_scores[best["model"]], primary)
        folds = len(best_scores)
        ratio = test_train_ratio if test_train_ratio is not None else 1.0 / max(folds - 1, 1)
        best["vs_best_p"] = None
        best["significant"] = None
        for row in stats[1:]:
            other = _column(fold_scores[row["model"]], primary)
            if len(other) != folds:
                row["vs_best_p"], row["significant"] = None, None
                continue
            diff = best_scores - other if greater else other - best_scores
            _, p = corrected_ttest(diff, np.zeros_like(diff), test_train_ratio=ratio)
            row["vs_best_p"] = _clean(p)
            # One fold (or a holdout) gives no variance to test with: significance is unknown, not "no".
            row["significant"] = (bool(p < alpha and float(np.nanmean(diff)) > 0) if math.isfinite(p) else None)
        runner = stats[1]
        if runner.get("significant") is False:
            best["note"] = (f"{best['model']} is not significantly better than {runner['model']} "
                            f"(corrected paired t-test p={runner['vs_best_p']:.3g})")
    return stats
