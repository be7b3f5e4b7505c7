"""The ``outliers`` step: detect outliers (IQR, z-score, robust MAD, Isolation Forest) and clip, replace, drop,
flag or quarantine them.

Bounds are learned from mergeable summaries: quartiles and MAD from
:class:`~assay.clean._sketch.QuantileSummary`, mean and standard deviation from exactly merged moments, optionally per
group (``by=``; unseen groups use the overall bounds, and a group seen with too few values or no spread of its own
is left alone). Isolation Forest (multivariate) is fitted on a bottom-k hash
sample kept in the state and rebuilt deterministically from it, so the JSON state is all that travels.
``transform`` never drops rows: ``drop`` and ``quarantine`` remove rows in ``transform_train`` only (quarantine
writes them, with the reason, to a file) and leave rows untouched at predict time. ``report(frame)`` and, after
``transform_train`` on an in-memory frame, ``touched_`` say how many rows each rule touched; with drop or quarantine
``rows_removed_`` says how many rows left (a row outside the bounds of two columns is touched by two rules).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from assay.clean._base import Frame, Step, numeric_columns, resolve_columns
from assay.clean._sketch import QuantileSummary
from assay.clean._stats import (
    ExactQuantiles,
    canonical_choice,
    check_at_least,
    check_choice,
    exact_quantiles,
    group_key,
    hash_sample,
    json_float,
    merge_hash_samples,
    merge_moments,
    moments,
    sample_matrix,
    std_of,
    union,
)
from assay.exceptions import SpecError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["OutlierStep"]

log = logging.getLogger(__name__)

METHODS = ("iqr", "zscore", "mad", "isolation_forest")
ACTIONS = ("clip", "replace", "drop", "flag", "quarantine")
FOREST_COLUMN = "__outlier__"
# A group with fewer finite values than this is left alone: of two values neither stands apart from the other.
MIN_GROUP_VALUES = 3
# 1.4826 turns a MAD into a standard-deviation estimate for normal data (the usual "modified z-score" scaling).
MAD_SCALE = 1.4826


WHY = {"two values only": "two values only: a flag has no outliers",
       "SD 0": "SD 0: all its values are equal, so every other value would be one",
       "IQR 0": "IQR 0: the middle half of its values are equal, so every other value would be one",
       "MAD 0": "MAD 0: half of its values are equal, so every other value would be one",
       "too few values": f"fewer than {MIN_GROUP_VALUES} values"}


def _flag_name(col: str) -> str:
    return f"{col}__outlier"


class OutlierStep(Step):
    """Detect and handle outliers in numeric columns.

    Parameters
    ----------
    columns:
        Numeric columns (default: every numeric column except the target and ``by``).
    method:
        ``iqr`` (outside ``[Q1 - k·IQR, Q3 + k·IQR]``), ``zscore`` (``|x - mean| > threshold·std``), ``mad``
        (``|x - median| > threshold·1.4826·MAD``) or ``isolation_forest`` (rows the forest calls anomalies, judged
        on all the columns together).
    action:
        ``clip`` to the bounds, ``replace`` by the centre (median, or mean for z-score), ``drop`` the rows, ``flag``
        them in a Boolean ``<column>__outlier`` column (``__outlier__`` for Isolation Forest), or ``quarantine``
        (drop and write the rows, with a ``__reason__`` column, to ``quarantine``). ``drop`` and ``quarantine``
        remove rows in training only (``transform_train``, as ``assay clean`` does); ``transform`` keeps every row.
        Isolation Forest has no bounds: ``drop``, ``flag`` or ``quarantine``.
    k:
        With ``method=iqr``: the fence multiplier. Values more than ``k`` interquartile ranges below the first
        quartile or above the third are outliers (1.5 is Tukey's usual fence, 3 his "far out" one).
    threshold:
        With ``method=zscore``: how many standard deviations from the mean a value may lie; with ``mad``: how many
        scaled MADs (1.4826·MAD, the standard deviation of normal data) from the median.
    by:
        Learn bounds (or, for Isolation Forest, a forest) per group of this column; unseen groups use the overall one.
        A group with fewer than 3 values, two values only or no spread (SD, IQR or MAD 0) is left alone, and the fit
        says how many groups that was.
    quarantine:
        With ``action=quarantine``: the file the removed rows are written to (CSV for a ``.csv`` path, else
        Parquet), replaced at each cleaning, with a ``__reason__`` column naming each rule that caught the row
        (``price: iqr``). ``assay clean`` without one writes them next to ``--out``, e.g.
        ``clean.quarantine.csv`` for ``clean.csv``.
    contamination:
        With ``method=isolation_forest``: the share of the training sample's rows taken to be anomalies, a number in
        (0, 0.5] as scikit-learn's ``IsolationForest`` takes it, or ``auto``: rows whose anomaly score is above
        0.5 (scikit-learn's ``auto``, the threshold of the Isolation Forest paper) and above the upper Tukey fence
        of the sample's scores (Q3 + 1.5·IQR).
    sample_size:
        With ``method=isolation_forest``: how many training rows the forest is fitted on (per group with ``by``),
        chosen by a hash of each row so that the choice is the same however the data is batched, and kept in the
        fitted state; all rows when there are fewer. The other methods use every value.
    seed:
        With ``method=isolation_forest``: the forest's random seed; the same seed and sample give the same forest.

    NaN and null are never outliers and pass through; ±inf are outliers (clipped to the bounds by ``clip``). ``clip``
    keeps an integer column's type: its values are clipped to the whole numbers within the bounds.

    >>> import polars as pl
    >>> df = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0]})
    >>> OutlierStep(method="iqr").fit(df).transform(df)["x"].to_list()
    [1.0, 2.0, 3.0, 4.0, 7.0]
    """

    name = "outliers"
    # Exact quantiles of input columns already known (column -> ExactQuantiles): set by fit_transform_steps from the
    # ``missing`` step before it, whose pass has them at hand; summarize_whole computes only the other columns.
    _known_quantiles: dict[str, ExactQuantiles] = {}  # noqa: RUF012 (read-only class default)

    def __init__(self, columns: list[str] | None = None, *, method: str = "iqr", action: str = "clip",
                 k: float = 1.5, threshold: float = 3.0, by: str | None = None, quarantine: str | None = None,
                 contamination: float | str = "auto", sample_size: int = 4096, seed: int = 0) -> None:
        self.columns = columns
        self.method = canonical_choice(method, METHODS)  # isolation-forest, z-score, … spelled either way
        self.action = canonical_choice(action, ACTIONS)
        self.k = k
        self.threshold = threshold
        self.by = by
        self.quarantine = quarantine
        self.contamination = contamination
        self.sample_size = sample_size
        self.seed = seed

    @property
    def changes_rows(self) -> bool:  # type: ignore[override]
        return self.action in ("drop", "quarantine")

    def _validate(self) -> None:
        check_choice(self.name, "method", self.method, METHODS)
        check_choice(self.name, "action", self.action, ACTIONS)
        if self.method == "isolation_forest" and self.action in ("clip", "replace"):
            msg = (f"{self.name}: action={self.action!r} needs per-column bounds; "
                   "with isolation_forest use drop, flag or quarantine")
            raise SpecError(msg)
        if self.action == "quarantine" and not self.quarantine:
            msg = f"{self.name}: action='quarantine' needs quarantine=<path.parquet|path.csv> to write the rows to"
            raise SpecError(msg)
        # A negative fence or a threshold of 0 makes every value an outlier: k=-1 clipped whole columns to a point.
        if self.method == "iqr" and not float(self.k) >= 0:
            msg = f"{self.name}: k={self.k!r} must be 0 or more (1.5 is Tukey's fence, 3 his far-out one)"
            raise SpecError(msg)
        if self.method in ("zscore", "mad") and not float(self.threshold) > 0:
            msg = f"{self.name}: threshold={self.threshold!r} must be above 0 (3 is usual)"
            raise SpecError(msg)
        if self.method == "isolation_forest":
            check_at_least(self.name, "sample_size", self.sample_size, 1)
            if self.contamination != "auto" and (isinstance(self.contamination, bool | str)
                                                 or not 0 < float(self.contamination) <= 0.5):
                msg = (f"{self.name}: contamination={self.contamination!r} must be 'auto' or a share of rows above 0 "
                       "and at most 0.5")
                raise SpecError(msg)

    # -- fitting ------------------------------------------------------------------------------------------------
    def _part(self, frame: pl.DataFrame, columns: list[str]) -> dict[str, Any]:
        if self.method == "zscore":
            return {"m": moments(frame, columns)}
        if self.method == "isolation_forest":
            return {"sample": hash_sample(frame, columns, int(self.sample_size))}
        return {"q": {c: QuantileSummary.of(frame.get_column(c).cast(pl.Float64).to_numpy()) for c in columns}}

    def _merge_part(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        # A column may be missing from one side (all null, type Null, in that batch): the other side's stands.
        if "m" in a:
            return {"m": {c: merge_moments(a["m"][c], b["m"][c]) if c in a["m"] and c in b["m"]
                          else a["m"].get(c, b["m"].get(c)) for c in union(list(a["m"]), list(b["m"]))}}
        if "sample" in a:
            return {"sample": merge_hash_samples(a["sample"], b["sample"], int(self.sample_size))}
        return {"q": {c: a["q"][c].merge(b["q"][c]) if c in a["q"] and c in b["q"] else a["q"].get(c, b["q"].get(c))
                      for c in union(list(a["q"]), list(b["q"]))}}

    def summarize(self, frame: pl.DataFrame, target: str | None = None) -> dict[str, Any]:
        self._validate()
        schema = frame.collect_schema()
        if self.by:
            resolve_columns([self.by], schema, [], step=self.name)
        exclude = [c for c in (target, self.by) if c]
        columns = resolve_columns(self.columns, schema, numeric_columns(schema), exclude=exclude, step=self.name)
        out = {"columns": columns, "all": self._part(frame, columns), "groups": {}}
        if self.by:
            keyed = frame.with_columns(group_key(self.by).alias("__group__"))
            for key, part in keyed.partition_by("__group__", as_dict=True).items():
                out["groups"][key[0]] = self._part(part, columns)
        return out

    def summarize_whole(self, frame: Frame, target: str | None = None) -> dict[str, Any] | None:
        """The summary of a whole in-memory frame in one Polars query, with exact quartiles/MAD (None: unsupported).

        Used by :func:`assay.clean.fit_steps`; per-group bounds and Isolation Forest fall back to ``summarize``.
        """
        if self.by or self.method == "isolation_forest":
            return None
        self._validate()
        schema = frame.collect_schema()
        columns = resolve_columns(self.columns, schema, numeric_columns(schema), exclude=[target] if target else [],
                                  step=self.name)
        probs = (0.25, 0.75, 0.5) if self.method == "iqr" and self.action == "replace" else (
            (0.25, 0.75) if self.method == "iqr" else (0.5,))
        if self.method == "zscore":
            part = {"m": moments(frame, columns)}
        else:
            mad = self.method == "mad"
            known = {} if mad else {c: q for c, q in self._known_quantiles.items() if c in columns and q.has(probs)}
            rest = [c for c in columns if c not in known]
            found = {**(exact_quantiles(frame, rest, mad=mad, probs=probs) if rest else {}), **known}
            part = {"q": {c: found[c] for c in columns}}
        return {"columns": columns, "all": part, "groups": {}}

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        groups = {g: self._merge_part(a["groups"][g], b["groups"][g]) if g in a["groups"] and g in b["groups"]
                  else a["groups"].get(g, b["groups"].get(g)) for g in {**a["groups"], **b["groups"]}}
        return {"columns": union(a["columns"], b["columns"]), "all": self._merge_part(a["all"], b["all"]),
                "groups": groups}

    def _bounds(self, part: dict[str, Any], columns: list[str], skipped: dict[str, str] | None = None,
                min_values: int = 1) -> dict[str, list[float | None]]:
        """``{column: [low, high, centre]}``; None where the column had no finite values, or where the rule cannot
        judge (named in ``skipped`` with the reason): a column of two values (a 0/1 flag: its rarer value is not an
        outlier), with no spread (SD, IQR or MAD 0, when all, a quarter or half of the values are equal: every other
        value would be an outlier, and clipping would flatten the column) or with fewer than ``min_values`` values."""
        skipped = {} if skipped is None else skipped
        out: dict[str, list[float | None]] = {}
        for col in columns:
            if col not in part["m" if self.method == "zscore" else "q"]:  # all null (type Null) where seen
                out[col] = [None, None, None]
                continue
            count = part["m"][col][0] if self.method == "zscore" else part["q"][col].n
            if 0 < count < min_values:
                out[col] = [None, None, None]
                skipped[col] = "too few values"
                continue
            if self.method == "zscore":
                n, mean, ss, lo, hi = part["m"][col]
                std = std_of(part["m"][col])
                if not n or std is None:
                    out[col] = [None, None, None]
                    continue
                if std == 0:
                    out[col] = [None, None, None]
                    skipped[col] = "SD 0"
                    continue
                # Values within [lo, hi] with this mean have at most the variance (mean-lo)(hi-mean), reached only
                # when every value is lo or hi: that is a two-valued column (moments merge exactly, so this does).
                # The gap is the mean of (x-lo)(hi-x), compared with the rounding of the mean's size times the range:
                # 1,000 counts of 0-9 and one 1e12 fell within 1e-9·range² of it and got no rule at all.
                if lo is not None and hi is not None and hi > lo and \
                        abs(ss / n - (mean - lo) * (hi - mean)) <= 1e-13 * (abs(mean) + abs(lo) + abs(hi)) * (hi - lo):
                    out[col] = [None, None, None]
                    skipped[col] = "two values only"
                    continue
                spread = float(self.threshold) * std
                out[col] = [mean - spread, mean + spread, mean]
                continue
            q: QuantileSummary = part["q"][col]
            if self.method == "iqr":
                # The centre (median) is only used by action="replace"; skipping it saves a pass on big data.
                q1, q3 = q.quantiles([0.25, 0.75])
                med = q.quantiles([0.5])[0] if self.action == "replace" else None
                iqr = (q3 - q1) if q1 is not None else None
                if iqr == 0:
                    skipped[col] = "IQR 0"
                out[col] = ([None, None, None] if not iqr
                            else [q1 - float(self.k) * iqr, q3 + float(self.k) * iqr, med])
                continue
            med = q.quantiles([0.5])[0]
            if med is None:
                out[col] = [None, None, None]
            else:
                spread = float(self.threshold) * MAD_SCALE * (q.mad(med) or 0.0)
                if spread == 0:
                    skipped[col] = "MAD 0"
                out[col] = [med - spread, med + spread, med] if spread else [None, None, None]
        return {c: [json_float(v) for v in b] for c, b in out.items()}

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        columns = summary["columns"]
        state: dict[str, Any] = {"columns": columns}
        if self.method == "isolation_forest":
            state.update(self._forest_state(summary["all"]["sample"], columns))
            state["groups"] = {g: self._forest_state(p["sample"], columns) for g, p in summary["groups"].items()}
            return state
        skipped: dict[str, str] = {}
        state["bounds"] = self._bounds(summary["all"], columns, skipped)
        state["group_bounds"] = {}
        # A group seen in fit whose own values cannot be judged is left alone: the overall bounds (which unseen
        # groups get) describe the other groups, and would flag every row of a small group on its own scale.
        left_alone: dict[str, list[str]] = {}
        reasons: dict[str, set[str]] = {}
        for g, p in summary["groups"].items():
            group_skipped: dict[str, str] = {}
            state["group_bounds"][g] = self._bounds(p, columns, group_skipped, min_values=MIN_GROUP_VALUES)
            for c, reason in group_skipped.items():
                left_alone.setdefault(c, []).append(g)
                reasons.setdefault(c, set()).add(reason)
        state["groups_left_alone"] = {c: sorted(gs) for c, gs in left_alone.items()}
        if skipped:
            by_reason: dict[str, list[str]] = {}
            for c, reason in skipped.items():
                by_reason.setdefault(reason, []).append(repr(c))
            log.warning("outliers (%s): no rule for %s", self.method,
                        "; ".join(f"{', '.join(cols)} ({WHY[reason]})" for reason, cols in by_reason.items()))
        if left_alone:
            log.warning("outliers (%s, by %r): groups left alone, too small or too uniform to judge: %s",
                        self.method, self.by, "; ".join(
                            f"{c!r} in {len(gs):,} of {len(summary['groups']):,} groups "
                            f"({', '.join(sorted(reasons[c]))})" for c, gs in left_alone.items()))
        return state

    # -- applying -----------------------------------------------------------------------------------------------
    def _bound_exprs(self, col: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
        lo, hi, centre = self.state_["bounds"][col]
        lits = [pl.lit(v, dtype=pl.Float64) for v in (lo, hi, centre)]
        if not self.by or not self.state_.get("group_bounds"):
            return lits[0], lits[1], lits[2]
        # Groups left alone map to no bound (null: nothing is outside it); states saved before this key existed
        # sent those groups to the overall bounds.
        alone = dict.fromkeys(self.state_.get("groups_left_alone", {}).get(col, []))
        out = []
        for i in range(3):
            known = {g: b[col][i] for g, b in self.state_["group_bounds"].items() if b[col][i] is not None}
            mapping = {**alone, **known}
            out.append(group_key(self.by).replace_strict(mapping, default=lits[i], return_dtype=pl.Float64)
                       if mapping else lits[i])
        return out[0], out[1], out[2]

    def _is_outlier(self, col: str) -> pl.Expr:
        lo, hi, _ = self._bound_exprs(col)
        x = pl.col(col).cast(pl.Float64)
        # Polars orders NaN above every number; NaN is missing, not an outlier.
        return ((x < lo) | ((x > hi) & ~x.is_nan())).fill_null(False)

    def _forest_state(self, sample: pl.DataFrame, columns: list[str]) -> dict[str, Any]:
        import numpy as np

        matrix = sample_matrix(sample, columns, int(self.sample_size))
        medians = [json_float(np.nanmedian(matrix[:, j])) if matrix.shape[0] and np.isfinite(matrix[:, j]).any()
                   else None for j in range(len(columns))]
        return {"sample": [[json_float(v) for v in row] for row in matrix], "medians": medians}

    def _build_forest(self, part: dict[str, Any]) -> tuple[Any, np.ndarray]:
        import numpy as np
        from sklearn.ensemble import IsolationForest

        width = len(self.state_["columns"])
        if width == 0:  # no numeric column to look at: nothing is an outlier
            return None, np.zeros(0)
        sample = np.array([[np.nan if v is None else v for v in row] for row in part["sample"]],
                          dtype=np.float64).reshape(-1, width)
        medians = np.array([0.0 if m is None else m for m in part["medians"]]).reshape(width)
        sample = np.where(np.isfinite(sample), sample, medians)
        forest = None
        if sample.shape[0] >= 2:
            forest = IsolationForest(contamination=self.contamination, random_state=int(self.seed)).fit(sample)
            if self.contamination == "auto":
                # scikit-learn's "auto" (score above 0.5, the paper's threshold) flags 13.6% of plain Gaussian rows;
                # also require the upper Tukey fence of the sample's scores, as assay's anomaly detector does.
                scores = -forest.score_samples(sample)
                q1, q3 = np.quantile(scores, [0.25, 0.75])
                forest.offset_ = -max(0.5, float(q3 + 1.5 * (q3 - q1)))
        return forest, medians

    def _forests(self) -> tuple[tuple[Any, np.ndarray], dict[str, tuple[Any, np.ndarray]]]:
        """The overall forest and one per group, rebuilt deterministically from the state's samples (cached)."""
        cached = getattr(self, "_forest_cache", None)
        if cached is not None and cached[0] is self.state_:
            return cached[1]
        overall = self._build_forest(self.state_)
        groups = {g: self._build_forest(p) for g, p in self.state_.get("groups", {}).items()}
        self._forest_cache = (self.state_, (overall, groups))
        return overall, groups

    def _forest_flag(self) -> pl.Expr:
        import numpy as np

        cols = self.state_["columns"]
        if not cols:
            return pl.lit(False).alias(FOREST_COLUMN)
        overall, groups = self._forests()
        width = len(cols)

        def flag(forest: Any, medians: np.ndarray, x: np.ndarray) -> np.ndarray:
            x = np.where(np.isfinite(x), x, medians)
            if forest is None or x.shape[0] == 0:
                return np.zeros(x.shape[0], dtype=bool)
            return forest.predict(x) == -1

        def score(s: pl.Series) -> pl.Series:
            frame = s.struct.unnest()
            x = frame.select(cols).to_numpy().astype(np.float64).reshape(-1, width)
            if not groups:
                return pl.Series(s.name, flag(*overall, x), dtype=pl.Boolean)
            keys = frame.get_column("__group__").to_numpy()
            out = np.zeros(x.shape[0], dtype=bool)
            for key in np.unique(keys):  # one call per group present in the batch, not per row
                rows = keys == key
                out[rows] = flag(*groups.get(str(key), overall), x[rows])
            return pl.Series(s.name, out, dtype=pl.Boolean)

        fields = [pl.col(c).cast(pl.Float64) for c in cols]
        if groups:
            fields.append(group_key(self.by).alias("__group__"))
        return pl.struct(fields).map_batches(score, return_dtype=pl.Boolean, is_elementwise=True).alias(FOREST_COLUMN)

    def _any_outlier(self, cols: list[str]) -> pl.Expr:
        if self.method == "isolation_forest":
            return self._forest_flag()
        return pl.any_horizontal([self._is_outlier(c) for c in cols]) if cols else pl.lit(False)

    def _reason(self, cols: list[str]) -> pl.Expr:
        if self.method == "isolation_forest":
            return pl.lit("isolation_forest")
        parts = [pl.when(self._is_outlier(c)).then(pl.lit(f"{c}: {self.method}")) for c in cols]
        if not parts:  # no numeric column: no row is an outlier, and the reason column is empty
            return pl.lit(None, dtype=pl.String)
        return pl.concat_str(parts, separator="; ", ignore_nulls=True)

    def _judged(self, col: str) -> bool:
        """Whether any bound (overall or of a group) exists for ``col``."""
        bounds = [self.state_["bounds"][col], *(g[col] for g in self.state_.get("group_bounds", {}).values())]
        return any(b[0] is not None or b[1] is not None for b in bounds)

    def _present(self, frame: Frame) -> list[str]:
        names = frame.collect_schema().names()
        return [c for c in self.state_["columns"] if c in names]

    def _transform(self, frame: Frame) -> Frame:
        cols = self._present(frame)
        if self.action == "flag":
            if self.method == "isolation_forest":
                if cols != self.state_["columns"]:
                    return frame.with_columns(pl.lit(False).alias(FOREST_COLUMN))
                return frame.with_columns(self._forest_flag())
            return frame.with_columns([self._is_outlier(c).alias(_flag_name(c)) for c in cols])
        if self.action in ("clip", "replace"):  # a column no rule judges keeps its values and its type
            cols = [c for c in cols if self._judged(c)]
        if self.action == "clip":
            schema = frame.collect_schema()
            exprs = []
            for col in cols:
                lo, hi, _ = self._bound_exprs(col)
                if schema[col].is_integer():
                    # A count stays a count: clipped to the whole numbers inside the bounds, keeping its type.
                    # The bounds, whole, are kept within what the type holds (an IQR fence below 0 of a UInt8).
                    dtype = schema[col]
                    lo, hi = (b.clip(dtype.min(), dtype.max()) for b in (lo.ceil(), hi.floor()))
                    exprs.append(pl.col(col).clip(lo, hi).cast(dtype).alias(col))
                    continue
                # Polars' clip keeps NaN and null as they are and sends ±inf to the bounds.
                exprs.append(_same_float(pl.col(col).cast(pl.Float64).clip(lo, hi), schema[col]).alias(col))
            return frame.with_columns(exprs)
        if self.action == "replace":
            schema = frame.collect_schema()
            exprs = []
            for col in cols:
                _, _, centre = self._bound_exprs(col)
                x = pl.col(col).cast(pl.Float64)
                dtype = schema[col]
                if dtype.is_integer():  # a count replaced by a count: the centre, rounded
                    centre = centre.round(0).clip(dtype.min(), dtype.max())
                replaced = pl.when(self._is_outlier(col)).then(centre).otherwise(x)
                exprs.append((replaced.cast(dtype) if dtype.is_integer() else _same_float(replaced, dtype)).alias(col))
            return frame.with_columns(exprs)
        return frame  # drop / quarantine: rows are only removed from training data

    def report(self, frame: Frame) -> dict[str, int]:
        """How many rows of ``frame`` each rule touches (per column; ``__outlier__`` for Isolation Forest)."""
        self._check_fitted()
        cols = self._present(frame)
        if self.method == "isolation_forest":
            exprs = [self._forest_flag().sum().alias(FOREST_COLUMN)] if cols == self.state_["columns"] else []
        else:
            exprs = [self._is_outlier(c).sum().alias(c) for c in cols]
        if not exprs:
            return {}
        out = frame.select(exprs)
        if isinstance(out, pl.LazyFrame):
            out = out.collect()
        return {k: int(v) for k, v in out.row(0, named=True).items()}

    def touched_note(self) -> str:
        """What the fit said about the training rows (``touched_``), in words:

        >>> step = OutlierStep(method="iqr", action="clip")
        >>> step.touched_ = {"price": 12, "speed": 0, "ram": 3}
        >>> step.touched_note()
        "outliers (iqr, clip): 15 values outside the fences, in 'price' 12, 'ram' 3"
        >>> step = OutlierStep(method="isolation_forest", action="flag")
        >>> step.touched_ = {FOREST_COLUMN: 18}
        >>> step.touched_note()
        'outliers (isolation_forest, flag): 18 rows that the isolation forest finds anomalous'
        """
        touched = {c: n for c, n in self.touched_.items() if n}
        head = f"outliers ({self.method}, {self.action}): "
        if set(touched) == {FOREST_COLUMN}:
            return head + f"{touched[FOREST_COLUMN]:,} rows that the isolation forest finds anomalous"
        shown = ", ".join(f"{c!r} {n:,}" for c, n in list(touched.items())[:8])
        more = f", … ({len(touched) - 8} more columns)" if len(touched) > 8 else ""
        return head + f"{sum(touched.values()):,} values outside the fences, in {shown}{more}"

    def transform_train(self, frame: Frame) -> Frame:
        self._check_fitted()
        if isinstance(frame, pl.DataFrame):
            self.touched_ = self.report(frame)
            if any(self.touched_.values()):
                log.warning(self.touched_note())
        if self.action not in ("drop", "quarantine"):
            return self.transform(frame)
        cols = self._present(frame)
        flagged = frame.with_columns(self._any_outlier(cols).alias("__is_outlier__"))
        if self.action == "quarantine":
            bad = flagged.filter(pl.col("__is_outlier__")).with_columns(self._reason(cols).alias("__reason__"))
            _write_atomic(bad.drop("__is_outlier__"), Path(str(self.quarantine)))
        kept = flagged.filter(~pl.col("__is_outlier__")).drop("__is_outlier__")
        if isinstance(frame, pl.DataFrame):
            # A row outside several columns' bounds counts once here and once per column in touched_.
            self.rows_removed_ = frame.height - kept.height
            if self.rows_removed_:
                log.warning("outliers (%s, %s): removed %d row(s)", self.method, self.action,
                            self.rows_removed_)
        return kept


def _same_float(x: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``x`` (Float64) back in its column's type when that is Float32 or Decimal (values changed are rounded to
    it); other columns, Float64 or not numbers before, stay Float64."""
    if dtype == pl.Float32 or isinstance(dtype, pl.Decimal):
        return x.cast(dtype, strict=False)
    return x


def _write_atomic(frame: Frame, path: Path) -> None:
    """Write rows aside (Parquet or CSV by extension) through a temporary file and a rename."""
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".quarantine-", suffix=path.suffix)
    os.close(fd)
    try:
        if path.suffix.lower() == ".csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.warning("outliers: wrote %d quarantined row(s), with the reason, to %s", frame.height, path)
