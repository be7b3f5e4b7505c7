"""Compact training profiles and the drift statistics computed against them.

A profile is small JSON stored with each registered version: for every numeric input column its quantiles at
fixed probabilities (plus null rate, mean, std), for every other column the relative frequency of its most common
categories (the rest pooled as ``__other__``). It is all drift detection needs: PSI over the quantile bins or
category shares, and a KS distance evaluated at the stored quantiles (the training CDF is known exactly there).
The same shape profiles the model's predictions on the training data, for prediction drift.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

__all__ = ["PROBS", "drift_report", "ks_at_quantiles", "profile_frame", "psi"]

# Quantile probabilities stored per numeric column: 21 points give 20 equal-mass bins for PSI and a KS estimate
# whose error is at most one bin width (5 %) - plenty for alerting, small enough to keep in every version row.
PROBS = [i / 20 for i in range(21)]
TOP_CATEGORIES = 50
OTHER = "__other__"
_EPS = 1e-4

# Conventional PSI reading (credit-scoring practice): < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant.
PSI_ALERT = 0.25
KS_ALERT = 0.2


def profile_frame(frame: pl.DataFrame) -> dict[str, Any]:
    """The profile of every column of ``frame``.

    >>> p = profile_frame(pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", None]}))
    >>> p["rows"], p["columns"]["x"]["kind"], round(p["columns"]["c"]["freq"]["a"], 3)
    (4, 'numeric', 0.667)
    """
    columns: dict[str, Any] = {}
    for name, dtype in frame.schema.items():
        col = frame.get_column(name)
        nulls = float(col.null_count() / max(frame.height, 1))
        if dtype.is_numeric() and dtype != pl.Boolean:
            values = col.cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            quantiles = np.quantile(values, PROBS, method="inverted_cdf")
            values.sort()
            columns[name] = {
                "kind": "numeric",
                "quantiles": [float(q) for q in quantiles],
                # Exact training CDF at each quantile: ties (common in real data) make it differ from PROBS.
                "cdf": [float(c) for c in np.searchsorted(values, quantiles, side="right") / values.size],
                "mean": float(values.mean()),
                "std": float(values.std()),
                "null_rate": nulls,
            }
        else:
            counts = col.cast(pl.String).drop_nulls().value_counts(sort=True)
            total = max(int(counts.get_column("count").sum()), 1)
            top = counts.head(TOP_CATEGORIES)
            freq = {str(k): float(v / total) for k, v in zip(top[name].to_list(), top["count"].to_list(), strict=True)}
            rest = 1.0 - sum(freq.values())
            if rest > 1e-12:
                freq[OTHER] = rest
            columns[name] = {"kind": "categorical", "freq": freq, "null_rate": nulls}
    return {"rows": frame.height, "columns": columns}


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors (each summing to 1).

    >>> round(psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])), 6)
    0.0
    """
    e = np.clip(np.asarray(expected, dtype=np.float64), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_at_quantiles(quantiles: list[float], cdf: list[float], values: np.ndarray) -> float:
    """KS distance between the training CDF (known exactly at its quantiles) and the empirical CDF of ``values``.

    >>> ks_at_quantiles([0.0, 1.0, 2.0], [0.2, 0.6, 1.0], np.array([5.0, 6.0]))
    1.0
    """
    q = np.asarray(quantiles, dtype=np.float64)
    values = np.sort(values)
    live = np.searchsorted(values, q, side="right") / max(values.size, 1)
    return float(np.max(np.abs(live - np.asarray(cdf, dtype=np.float64))))


def _numeric_drift(ref: dict[str, Any], values: np.ndarray) -> dict[str, float]:
    q = np.asarray(ref["quantiles"], dtype=np.float64)
    cdf = np.asarray(ref["cdf"], dtype=np.float64)
    # Distinct quantiles are the bin edges (ties merge bins); bins are (-inf, e0], (e0, e1], ..., (e_last, inf).
    edges = np.unique(q[:-1])
    last = np.searchsorted(q[:-1], edges, side="right") - 1
    expected = np.diff(np.concatenate([[0.0], cdf[last], [1.0]]))
    bins = np.searchsorted(edges, values, side="left")
    actual = np.bincount(bins, minlength=edges.size + 1) / max(values.size, 1)
    return {"psi": psi(expected, actual), "ks": ks_at_quantiles(ref["quantiles"], ref["cdf"], values)}


def _categorical_drift(ref: dict[str, Any], values: pl.Series) -> dict[str, float]:
    freq: dict[str, float] = ref["freq"]
    counts = values.cast(pl.String).drop_nulls().value_counts()
    total = max(int(counts.get_column("count").sum()), 1)
    live = dict(zip(counts[values.name].to_list(), counts["count"].to_list(), strict=True))
    keys = [k for k in freq if k != OTHER]
    actual = [live.get(k, 0) / total for k in keys]
    other = 1.0 - sum(actual)
    expected = [freq[k] for k in keys]
    expected.append(freq.get(OTHER, 0.0))
    actual.append(max(other, 0.0))
    return {"psi": psi(np.array(expected), np.array(actual))}


def drift_report(profile: dict[str, Any], frame: pl.DataFrame, *, min_rows: int = 50) -> dict[str, Any]:
    """PSI (and KS for numeric columns) of each profiled column of ``frame`` against ``profile``.

    Columns with an alert have ``"alert": True``; fewer than ``min_rows`` live rows give no statistics.
    """
    out: dict[str, Any] = {"rows": frame.height, "features": {}, "alerts": []}
    if frame.height < min_rows:
        out["note"] = f"only {frame.height} live rows; drift needs at least {min_rows}"
        return out
    for name, ref in profile.get("columns", {}).items():
        if name not in frame.columns:
            continue
        col = frame.get_column(name)
        if ref["kind"] == "numeric":
            values = col.cast(pl.Float64, strict=False).drop_nulls().drop_nans().to_numpy()
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            stats = _numeric_drift(ref, values)
        else:
            stats = _categorical_drift(ref, col)
        stats = {k: round(v, 6) for k, v in stats.items()}
        stats["alert"] = stats["psi"] > PSI_ALERT or stats.get("ks", 0.0) > KS_ALERT
        if stats["alert"]:
            out["alerts"].append(name)
        out["features"][name] = stats
    return out
