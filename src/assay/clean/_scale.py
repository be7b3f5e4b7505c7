"""The ``scale`` step: standard, min-max, robust and max-abs scaling, and the log1p and Yeo-Johnson transforms.

Standard, min-max and max-abs come from exactly merged moments (count, mean, M2, min, max) and match
scikit-learn's ``StandardScaler`` (population standard deviation), ``MinMaxScaler`` and ``MaxAbsScaler``; robust
scaling uses the median and quartiles of :class:`~assay.clean._sketch.QuantileSummary` (exact up to 200,000
values, as ``RobustScaler``). A zero spread scales by 1, as scikit-learn does. ``log1p`` is the signed
``sign(x)·log(1+|x|)`` so negative values have a defined result. Yeo-Johnson fits λ by maximum likelihood
(SciPy's bounds and search) on a bottom-k hash sample of ``sample_size`` distinct values, each weighted by how many
rows hold it (so every value when there are fewer distinct ones, however many rows repeat them), and then standardises,
like scikit-learn's ``PowerTransformer``; a column whose range no power keeps finite (values near ±1e308) keeps
λ = 1, and finite input always gives finite output. NaN, null and ±inf pass through the arithmetic unchanged in kind.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from typing import TYPE_CHECKING, Any

import polars as pl

from assay.clean._base import Frame, Step, numeric_columns, resolve_columns
from assay.clean._sketch import QuantileSummary
from assay.clean._stats import (
    HASH_SEED,
    canonical_choice,
    check_at_least,
    check_choice,
    exact_quantiles,
    json_float,
    merge_moment_dicts,
    moments,
    std_of,
    union,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ScaleStep", "yeo_johnson"]

log = logging.getLogger(__name__)

FLOAT_MAX = sys.float_info.max
METHODS = ("standard", "minmax", "robust", "maxabs", "log1p", "yeo-johnson")


def yeo_johnson(x: pl.Expr, lmbda: float) -> pl.Expr:
    """The Yeo-Johnson power transform with parameter ``lmbda`` as a Polars expression."""
    pos = ((x + 1).pow(lmbda) - 1) * (1.0 / lmbda) if abs(lmbda) > 1e-12 else x.log1p()
    neg = -(((1 - x).pow(2 - lmbda) - 1) * (1.0 / (2 - lmbda))) if abs(lmbda - 2) > 1e-12 else -((-x).log1p())
    return pl.when(x >= 0).then(pos).otherwise(neg)


class ScaleStep(Step):
    """Scale numeric columns; output columns are Float64.

    Parameters
    ----------
    columns:
        Numeric columns to scale (default: every numeric column except the target).
    method:
        ``standard`` (default: ``(x - mean) / SD``, the population SD as scikit-learn's ``StandardScaler``),
        ``minmax`` (``(x - min) / (max - min)``: the training values land in [0, 1], new ones may fall outside),
        ``robust`` (``(x - median) / IQR``), ``maxabs`` (``x / max(abs(x))``: the training values land in
        [-1, 1]), ``log1p`` (``sign(x)·log(1 + abs(x))``, nothing learned) or ``yeo-johnson`` (the Yeo-Johnson power
        transform, its λ fitted per column by maximum likelihood, then standardised, as scikit-learn's
        ``PowerTransformer``). A column with no spread (SD, range or IQR 0) is only shifted, not divided.
    sample_size:
        With ``method=yeo-johnson``: how many distinct finite values of each column λ is fitted on, each weighted by
        its number of rows, chosen by a hash of each value so that the choice is the same however the data is
        batched; all of them when there are fewer. The other methods use every value.

    >>> import polars as pl
    >>> df = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> ScaleStep(method="minmax").fit(df).transform(df)["x"].to_list()
    [0.0, 0.5, 1.0]
    """

    name = "scale"

    def __init__(self, columns: list[str] | None = None, *, method: str = "standard",
                 sample_size: int = 20_000) -> None:
        self.columns = columns
        self.method = canonical_choice(method, METHODS)  # yeo_johnson, min-max, … spelled either way
        self.sample_size = sample_size

    @property
    def lazy_summary(self) -> bool:  # type: ignore[override]
        # Moments are one streaming aggregation over a lazy scan; quantiles and samples walk batches.
        return self.method in ("standard", "minmax", "maxabs", "log1p")

    def summarize(self, frame: Frame, target: str | None = None) -> dict[str, Any]:
        check_choice(self.name, "method", self.method, METHODS)
        schema = frame.collect_schema()
        columns = resolve_columns(self.columns, schema, numeric_columns(schema), exclude=[target] if target else [],
                                  step=self.name)
        out: dict[str, Any] = {"columns": columns}
        if self.method in ("standard", "minmax", "maxabs"):
            out["m"] = moments(frame, columns)
        elif self.method == "robust":
            out["q"] = {c: QuantileSummary.of(frame.get_column(c).cast(pl.Float64).to_numpy()) for c in columns}
        elif self.method == "yeo-johnson":
            check_at_least(self.name, "sample_size", self.sample_size, 1)
            out["s"] = {c: _value_sample(frame, c, int(self.sample_size)) for c in columns}
        return out

    def summarize_whole(self, frame: Frame, target: str | None = None) -> dict[str, Any] | None:
        """A whole in-memory frame in one Polars query: exact quartiles (robust) or moments (None: use summarize)."""
        if self.method not in ("robust", "standard", "minmax", "maxabs"):
            return None
        check_choice(self.name, "method", self.method, METHODS)
        schema = frame.collect_schema()
        columns = resolve_columns(self.columns, schema, numeric_columns(schema), exclude=[target] if target else [],
                                  step=self.name)
        if self.method == "robust":
            return {"columns": columns, "q": exact_quantiles(frame, columns)}
        # Moments stream (morsel by morsel) without materialising the chain before them; only quantiles need the
        # in-memory engine.
        return {"columns": columns, "m": moments(frame, columns)}

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        # A column may be missing from one side (all null, type Null, in that batch): the other side's stands.
        out = {"columns": union(a["columns"], b["columns"])}
        if "m" in a:
            out["m"] = merge_moment_dicts(a["m"], b["m"])
        if "q" in a:
            out["q"] = {c: a["q"][c].merge(b["q"][c]) if c in a["q"] and c in b["q"] else a["q"].get(c, b["q"].get(c))
                        for c in out["columns"]}
        if "s" in a:
            out["s"] = {c: _merge_value_samples(a["s"][c], b["s"][c], int(self.sample_size))
                        if c in a["s"] and c in b["s"] else a["s"].get(c, b["s"].get(c)) for c in out["columns"]}
        return out

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, dict[str, float | None]] = {}
        for col in summary["columns"]:
            if self.method == "standard":
                m = summary["m"][col]
                std = std_of(m)
                params[col] = {"center": m[1] if m[0] else 0.0, "scale": std if std else 1.0}
            elif self.method == "minmax":
                _, _, _, lo, hi = summary["m"][col]
                lo = 0.0 if lo is None else lo
                span = (hi - lo) if hi is not None and hi > lo else 1.0
                params[col] = {"center": lo, "scale": span}
            elif self.method == "maxabs":
                _, _, _, lo, hi = summary["m"][col]
                top = max(abs(lo or 0.0), abs(hi or 0.0))
                params[col] = {"center": 0.0, "scale": top or 1.0}
            elif self.method == "robust":
                q1, med, q3 = summary["q"][col].quantiles([0.25, 0.5, 0.75])
                iqr = (q3 - q1) if med is not None else 0.0
                params[col] = {"center": med if med is not None else 0.0, "scale": iqr or 1.0}
            elif self.method == "yeo-johnson":
                sample = summary["s"][col]
                params[col] = _fit_yeo_johnson(sample.get_column(col).to_numpy(), col,
                                               sample.get_column("__n__").to_numpy())
            else:
                params[col] = {}
            p = params[col]
            if any(isinstance(p.get(k), float) and not math.isfinite(p[k]) for k in ("center", "scale")):
                # Values near the float range: the mean or spread overflows float64 (past ±1.8e308). Divided by
                # the largest magnitude instead, the column still lands in [-1, 1].
                lo, hi = summary["m"][col][3:5] if "m" in summary else (None, None)
                top = max(abs(lo or 0.0), abs(hi or 0.0))
                top = top if math.isfinite(top) and top > 0 else 1.0
                log.warning("scale: column %r is too large for %s scaling in float64; divided by its largest "
                            "magnitude (%g) instead", col, self.method, top)
                p["center"], p["scale"] = 0.0, top
        return {"columns": summary["columns"],
                "params": {c: {k: json_float(v) for k, v in p.items()} for c, p in params.items()}}

    def _transform(self, frame: Frame) -> Frame:
        names = frame.collect_schema().names()
        exprs = []
        for col in self.state_["columns"]:
            if col not in names:
                continue
            x = pl.col(col).cast(pl.Float64)
            p = self.state_["params"][col]
            # Multiplying by the reciprocal (not dividing): Polars itself turns division by a scalar into that on
            # long arrays but not on one row, and one row must give bit-identical results to the batch.
            if self.method == "log1p":
                expr = x.sign() * x.abs().log1p()
            elif self.method == "yeo-johnson":
                # Centre and scale distributed (y/s - c/s): y - c alone overflows when y is near the float range
                # and c of the other sign. A finite value whose power overflows (far beyond what fit saw) is held
                # at the largest float, so finite input never gives inf or NaN.
                inv = 1.0 / p["scale"]
                expr = yeo_johnson(x, p["lambda"]) * inv - p["center"] * inv
                expr = pl.when(x.is_finite()).then(expr.clip(-FLOAT_MAX, FLOAT_MAX)).otherwise(expr)
            else:
                expr = (x - p["center"]) * (1.0 / p["scale"])
            exprs.append(expr.alias(col))
        return frame.with_columns(exprs) if exprs else frame


def _value_sample(frame: Frame, col: str, k: int) -> pl.DataFrame:
    """The ``k`` distinct finite values of ``col`` with the smallest hash, each with its row count (``__n__``).

    Mergeable and independent of batching, like :func:`~assay.clean._stats.hash_sample`, but over distinct values:
    a bottom-k of rows by a hash of their value would keep every copy of a few values and none of the others (a
    column of prices or sizes repeats its values), a sample of a handful of values that misstates λ.
    """
    x = pl.col(col).cast(pl.Float64)
    hashes = pl.col("__hash__")
    out = (frame.select(x).filter(x.is_finite())
           .with_columns(pl.struct(pl.col(col).cast(pl.Float32)).hash(seed=HASH_SEED).alias("__hash__"))
           .filter(hashes <= hashes.unique().bottom_k(k).max())  # only the values that may be kept are grouped
           .group_by([col, "__hash__"]).agg(pl.len().cast(pl.Int64).alias("__n__")).select([col, "__n__", "__hash__"])
           .sort(["__hash__", col]).head(k))
    return out.collect() if isinstance(out, pl.LazyFrame) else out


def _merge_value_samples(a: pl.DataFrame, b: pl.DataFrame, k: int) -> pl.DataFrame:
    """Two :func:`_value_sample` summaries as one: the counts of a value in both add up."""
    col = a.columns[0]
    return (pl.concat([a, b.select(a.columns)], how="vertical_relaxed").group_by([col, "__hash__"])
            .agg(pl.col("__n__").sum()).select(a.columns).sort(["__hash__", col]).head(k))


def _weighted_normmax(values: np.ndarray, weights: np.ndarray) -> float:
    """SciPy's ``yeojohnson_normmax`` (same bounds, same search) with each value counted ``weights`` times."""
    import numpy as np
    from scipy import optimize, stats

    if np.all(values == 0):
        return 1.0
    total = float(weights.sum())
    w = weights / total
    signed_log = float(np.sum(w * np.sign(values) * np.log1p(np.abs(values))))

    def neg_llf(lmbda: float) -> float:
        y = stats.yeojohnson(values, lmbda)
        var = float(np.sum(w * (y - np.sum(w * y)) ** 2))
        if not math.isfinite(var) or var < np.finfo(np.float64).smallest_normal:
            return math.inf
        # The log-likelihood over ``total`` rows, divided by ``total`` (the maximum is where it is).
        return 0.5 * math.log(var) - (lmbda - 1) * signed_log

    log1p_max_x = np.log1p(20 * np.max(np.abs(values)))
    eps = np.finfo(np.float64).eps
    log_tiny = (np.log(np.finfo(np.float64).tiny) - np.log(eps)) / 2
    log_max = (np.log(np.finfo(np.float64).max) + np.log(eps)) / 2
    lb, ub = log_tiny / log1p_max_x, log_max / log1p_max_x
    if np.all(values < 0):
        lb, ub = 2 - ub, 2 - lb
    elif np.any(values < 0):
        lb, ub = max(2 - ub, lb), min(2 - lb, ub)
    if lb > ub:
        raise ValueError("no λ keeps this range finite")
    return float(optimize.fminbound(neg_llf, lb, ub, xtol=1.48e-08))


def _fit_yeo_johnson(values: np.ndarray, col: str = "", weights: np.ndarray | None = None) -> dict[str, float]:
    """λ by maximum likelihood (SciPy's bounds and search), then the mean and standard deviation of the transformed
    values; ``weights`` counts each value that many times (all 1 when not given).

    SciPy bounds its search for λ so that values up to 20 times the largest seen stay finite; past about 1e145 on
    both sides of zero (or 9e306 on one) no λ meets that bound. Such a column keeps λ = 1 (Yeo-Johnson is then the
    identity) and is only standardised, with a warning. Mean and spread are taken after dividing by the largest
    magnitude, as squaring the values overflows from about 1e154.
    """
    import numpy as np
    from scipy import stats

    weights = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(values)
    values, weights = values[keep], weights[keep]
    if values.size == 0:
        return {"lambda": 1.0, "center": 0.0, "scale": 1.0}
    lo, hi = float(values.min()), float(values.max())
    if weights.sum() < 2 or lo == hi:  # np.ptp would overflow on -1e308 and 1e308
        return {"lambda": 1.0, "center": lo, "scale": 1.0}
    lmbda: float | None = None
    with np.errstate(all="ignore"):
        if math.isfinite(20 * max(abs(lo), abs(hi))):
            with contextlib.suppress(ValueError):  # the λ bounds cross: no λ keeps this range finite
                lmbda = _weighted_normmax(values, weights)
        transformed = stats.yeojohnson(values, lmbda) if lmbda is not None and math.isfinite(lmbda) else None
        if transformed is None or not np.isfinite(transformed).all():
            log.warning("scale: column %r ranges from %g to %g, too wide for a Yeo-Johnson power in float64; kept "
                        "as it is (lambda 1) and only standardised", col, lo, hi)
            lmbda, transformed = 1.0, values
        top = float(np.abs(transformed).max())
        unit = transformed / top
        mean = float(np.average(unit, weights=weights))
        center, std = mean * top, math.sqrt(float(np.average((unit - mean) ** 2, weights=weights))) * top
    return {"lambda": lmbda, "center": center, "scale": std if std > 0 and math.isfinite(std) else 1.0}
