"""Compact training profiles and the drift statistics computed against them.

A profile is small JSON stored with each registered version: for every numeric input column its quantiles at
fixed probabilities (plus null rate, mean, std), for every other column the relative frequency of its most common
categories (the rest pooled as ``__other__``). It is all drift detection needs: PSI over the quantile bins or
category shares, and a KS distance evaluated at the stored quantiles (the training CDF is known exactly there).
The same shape profiles the model's predictions on the training data, for prediction drift. Dates and datetimes
(typed, or text that reads in one date format, as CSV training data brings them) are numeric in days since 1970, so
that a window of newer dates than any seen in training is drift, not a share of unseen categories.

Missing values are a bin of their own in every PSI, so a column that starts arriving empty is drift too. A small live
window differs from the training data by chance alone (n rows over k bins give a PSI of about (k - 1) / n, 0.4 at 50
rows), so an alert needs a statistic that is both large (PSI > 0.25, KS > 0.2) and beyond what sampling explains at
this window and training size (the chi-square and Kolmogorov limits at ``ALPHA``).
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
# Chance of an alert on one feature of a window drawn from the training distribution itself.
ALPHA = 0.001


def _date_candidates() -> tuple[str, ...]:
    from assay.clean._types import DATE_FORMATS, DATETIME_FORMATS

    iso_t = tuple(f.replace(" ", "T", 1) for f in DATETIME_FORMATS if f.startswith("%Y-%m-%d "))
    return (*DATE_FORMATS, *DATETIME_FORMATS, *iso_t)


def _parse_as(col: pl.Series, fmt: str) -> pl.Series:
    """``col`` (text) read in ``fmt`` as a datetime; what does not read is null."""
    return col.str.strip_chars().str.to_datetime(fmt, strict=False)


def _date_format(col: pl.Series) -> str | None:
    """The date or datetime format every value of the text column ``col`` reads in, if there is one."""
    values = col.drop_nulls()
    head = values.head(200)
    if values.len() == 0 or not head.str.contains(r"\d").all():  # (every date format has digits)
        return None
    for fmt in _date_candidates():
        try:
            if _parse_as(head, fmt).null_count() == 0 and _parse_as(values, fmt).null_count() == 0:
                return fmt
        except (pl.exceptions.PolarsError, ValueError):  # a format this polars cannot parse with
            continue
    return None


def _days(col: pl.Series, fmt: str | None) -> pl.Series:
    """A date, datetime or (with ``fmt``) date-text column as float days since 1970-01-01 (unreadable: null)."""
    if col.dtype == pl.String:  # (text for a column typed in training: the format of its first value)
        col = _parse_as(col, fmt) if fmt is not None else col.str.strip_chars().str.to_datetime(strict=False)
    if col.dtype == pl.Date:
        return col.cast(pl.Int64).cast(pl.Float64)
    if isinstance(col.dtype, pl.Datetime):
        return col.dt.epoch("ms").cast(pl.Float64) / 86_400_000.0
    return pl.Series(col.name, [None] * col.len(), pl.Float64)


def profile_frame(frame: pl.DataFrame) -> dict[str, Any]:
    """The profile of every column of ``frame``.

    >>> p = profile_frame(pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", None]}))
    >>> p["rows"], p["columns"]["x"]["kind"], round(p["columns"]["c"]["freq"]["a"], 3)
    (4, 'numeric', 0.667)
    >>> profile_frame(pl.DataFrame({"d": ["2024-01-31", "2024-02-01"]}))["columns"]["d"]["quantiles"][-1]
    19754.0
    """
    columns: dict[str, Any] = {}
    for name, dtype in frame.schema.items():
        col = frame.get_column(name)
        nulls = float(col.null_count() / max(frame.height, 1))
        date_format = _date_format(col) if dtype == pl.String else None
        temporal = dtype.is_temporal() and dtype != pl.Time and dtype != pl.Duration
        example = None
        if temporal or date_format is not None:
            raw, col = col, _days(col, date_format)
            if col.null_count() < col.len():  # the median date as written (a valid input row for the server)
                example = str(raw[int(col.arg_sort(nulls_last=True)[(col.len() - col.null_count()) // 2])])
        if (dtype.is_numeric() and dtype != pl.Boolean) or temporal or date_format is not None:
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
            if temporal or date_format is not None:
                columns[name]["days"] = date_format or "temporal"
                columns[name]["example"] = example
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


def _shares(counts: np.ndarray) -> np.ndarray:
    """Bin shares of ``counts`` with half a row added to each bin (an empty bin is rare, not impossible)."""
    counts = np.asarray(counts, dtype=np.float64)
    return (counts + 0.5) / (counts.sum() + 0.5 * counts.size)


def _reference_counts(shares: list[float], null_rate: float, rows: int) -> np.ndarray:
    """Training row counts per bin (the missing-value bin last) from the profile's shares (a profile that does not
    say how many rows it saw is taken as exact)."""
    return np.append(np.asarray(shares, dtype=np.float64) * (1.0 - null_rate), null_rate) * (rows or 1_000_000)


def _limits(live: int, reference: int, bins: int) -> tuple[float, float]:
    """The PSI and KS an alert needs: the conventional thresholds, or what two samples of these sizes from one
    distribution exceed with probability ``ALPHA`` when that is larger (n * PSI is about chi-square, k - 1 degrees
    of freedom; KS has Kolmogorov's limit), with n the effective size of a live and a training sample."""
    from scipy.stats import chi2

    n = live * reference / (live + reference) if reference > 0 else float(live)
    psi_limit = float(chi2.ppf(1.0 - ALPHA, max(bins - 1, 1))) / n
    ks_limit = float(np.sqrt(-np.log(ALPHA / 2) / 2) / np.sqrt(n))
    return max(PSI_ALERT, psi_limit), max(KS_ALERT, ks_limit)


def _numeric_drift(ref: dict[str, Any], values: np.ndarray, missing: int, rows: int) -> dict[str, Any]:
    q = np.asarray(ref["quantiles"], dtype=np.float64)
    cdf = np.asarray(ref["cdf"], dtype=np.float64)
    # Distinct quantiles are the bin edges (ties merge bins); bins are (-inf, e0], (e0, e1], ..., (e_last, inf),
    # then the missing values.
    edges = np.unique(q[:-1])
    last = np.searchsorted(q[:-1], edges, side="right") - 1
    expected = _reference_counts(np.diff(np.concatenate([[0.0], cdf[last], [1.0]])), ref.get("null_rate", 0.0), rows)
    bins = np.searchsorted(edges, values, side="left")
    actual = np.append(np.bincount(bins, minlength=edges.size + 1), missing)
    psi_limit, _ = _limits(int(actual.sum()), rows, actual.size)
    stats: dict[str, Any] = {"psi": psi(_shares(expected), _shares(actual)), "psi_limit": psi_limit}
    if values.size:
        stats["ks"] = ks_at_quantiles(ref["quantiles"], ref["cdf"], values)
        stats["ks_limit"] = _limits(values.size, rows, actual.size)[1]
    return stats


def _categorical_drift(ref: dict[str, Any], values: pl.Series, rows: int) -> dict[str, Any]:
    freq: dict[str, float] = ref["freq"]
    counts = values.cast(pl.String).drop_nulls().value_counts()
    live = dict(zip(counts[values.name].to_list(), counts["count"].to_list(), strict=True))
    keys = [k for k in freq if k != OTHER]
    seen = [live.get(k, 0) for k in keys]
    # (unseen categories go to __other__; missing values to a bin of their own)
    actual = np.array([*seen, int(counts.get_column("count").sum()) - sum(seen), values.null_count()])
    expected = _reference_counts([*(freq[k] for k in keys), freq.get(OTHER, 0.0)], ref.get("null_rate", 0.0), rows)
    psi_limit, _ = _limits(int(actual.sum()), rows, actual.size)
    return {"psi": psi(_shares(expected), _shares(actual)), "psi_limit": psi_limit}


def drift_report(profile: dict[str, Any], frame: pl.DataFrame, *, min_rows: int = 50) -> dict[str, Any]:
    """PSI (and KS for numeric columns) of each profiled column of ``frame`` against ``profile``.

    Columns with an alert have ``"alert": True``; fewer than ``min_rows`` live rows give no statistics.
    """
    out: dict[str, Any] = {"rows": frame.height, "features": {}, "alerts": []}
    if frame.height < min_rows:
        out["note"] = f"only {frame.height} live rows; drift needs at least {min_rows}"
        return out
    rows = int(profile.get("rows") or 0)
    for name, ref in profile.get("columns", {}).items():
        if name not in frame.columns:
            continue
        col = frame.get_column(name)
        if ref["kind"] == "numeric":
            if "days" in ref:  # a date column (a value that does not read in the training format counts as missing)
                col = _days(col, None if ref["days"] == "temporal" else ref["days"])
            values = col.cast(pl.Float64, strict=False).drop_nulls().drop_nans().to_numpy()
            values = values[np.isfinite(values)]
            stats = _numeric_drift(ref, values, frame.height - values.size, rows)
        else:
            stats = _categorical_drift(ref, col, rows)
        stats = {k: round(v, 6) for k, v in stats.items()}
        stats["null_rate"] = round(col.null_count() / frame.height, 6)
        stats["alert"] = stats["psi"] > stats["psi_limit"] or stats.get("ks", 0.0) > stats.get("ks_limit", 1.0)
        if stats["alert"]:
            out["alerts"].append(name)
        out["features"][name] = stats
    return out
