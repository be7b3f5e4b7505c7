"""Categorical encoders: ``onehot``, ``ordinal``, ``frequency`` and out-of-fold ``target`` encoding.

All learn mergeable value counts per column (values compared as text, so categoricals, enums and strings behave
alike). Defined results for what training never saw:

- ``onehot``: an unseen category or null gives all zeros. ``weight="sqrt_levels"`` (for distance-based clustering)
  writes 1/sqrt(L) instead of 1 in a block of L columns. With rare-category bucketing (``min_frequency`` or
  ``max_categories``) the bucketed categories *and* unseen ones go to ``<column>___other`` instead
  (scikit-learn's ``handle_unknown="infrequent_if_exist"``).
- ``ordinal``: categories numbered 0.. in sorted order (as ``OrdinalEncoder``); unseen or null gives -1.
- ``frequency``: the share of training rows with that value; unseen or null gives 0.0.
- ``target``: the smoothed mean of the target per category (one column per class for a text target); unseen or
  null gives the prior. ``transform_train`` uses out-of-fold values (row hash picks the fold) so a training row
  never sees its own target.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from assay.clean._base import Frame, Step, resolve_columns, string_columns
from assay.clean._stats import HASH_SEED, category_counts, check_at_least, check_choice, json_float, merge_counts, union
from assay.exceptions import SchemaError, SpecError

__all__ = ["FrequencyEncoder", "OneHotEncoder", "OrdinalEncoder", "TargetEncoder"]

log = logging.getLogger(__name__)

OTHER = "__other"
# One-hot columns made from one column at most, unless max_categories says otherwise: past it the most frequent
# categories are kept and the rest bucketed (a 100k-category identifier would otherwise make 100k columns).
MAX_ONEHOT_COLUMNS = 1000
ONEHOT_WEIGHTS = ("none", "sqrt_levels")


def _sort_key(value: str) -> tuple[int, float, str]:
    """Numbers sort as numbers, then text; so '2' < '10' as a user expects."""
    try:
        return 0, float(value), value
    except ValueError:
        return 1, 0.0, value


def _say_unseen(step: Any, frame: pl.DataFrame, columns: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for col in columns:
        text = frame.get_column(col).cast(pl.String).drop_nulls()
        new = text.filter(~text.is_in(step._known(col)))
        if new.len():
            found[col] = new.len()
            examples = new.unique(maintain_order=True).head(3).to_list()
            log.warning("%s: %s value(s) of %r were never seen when the step was fitted (%s%s): %s", step.name,
                        f"{new.len():,}", col, ", ".join(repr(v) for v in examples),
                        ", …" if new.n_unique() > len(examples) else "", step.unseen_becomes)
    return found


def may_hold_unseen(step: Any, checked: pl.DataFrame) -> bool:
    """Whether an encoder's columns, as read (before the steps trim or fill them), hold a value it does not know: the
    cheap first look of ``assay predict`` (and of Dask batch scoring) before the steps are applied to find them."""
    for col in step.state_.get("columns", []):
        known = step._known(col)
        if known is None:
            continue
        if col not in checked.columns:  # made by an earlier step: only the steps can tell
            return True
        if not checked.get_column(col).cast(pl.String).drop_nulls().is_in(known).all():
            return True
    return False


class _CountingEncoder(Step):
    """Shared fitting: value counts per column, merged by addition."""

    lazy_summary = True
    max_levels: int | None = None

    def _auto_columns(self, schema: pl.Schema) -> list[str]:
        return string_columns(schema)

    def summarize(self, frame: Frame, target: str | None = None) -> dict[str, Any]:
        schema = frame.collect_schema()
        columns = resolve_columns(self.columns, schema, self._auto_columns(schema), exclude=[target] if target else [],
                                  step=self.name)
        return {"columns": columns, "auto": self.columns is None, "counts": category_counts(frame, columns),
                "names": list(schema)}

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        columns = union(a["columns"], b["columns"])
        return {**a, "columns": columns,
                "counts": {c: merge_counts(a["counts"].get(c, {}), b["counts"].get(c, {})) for c in columns}}

    def _levels(self, counts: dict[str | None, int]) -> list[str]:
        return sorted((k for k in counts if k is not None), key=_sort_key)

    def _present(self, frame: Frame) -> list[str]:
        names = frame.collect_schema().names()
        return [c for c in self.state_["columns"] if c in names]

    # What an unseen value becomes, and the values known per column (None: every value has a defined column).
    unseen_becomes = ""

    def _known(self, col: str) -> list[str] | None:
        return None

    def say_unseen(self, frame: pl.DataFrame) -> dict[str, int]:
        """Note, per encoded column of ``frame``, the values the fit never saw (applying fitted steps to new data),
        which the step gives its defined value; returns their counts per column."""
        return _say_unseen(self, frame, [c for c in self._present(frame) if self._known(c) is not None])


class OneHotEncoder(_CountingEncoder):
    """One 0/1 (Int8) column ``<column>_<category>`` per category; the original column is dropped.

    Parameters
    ----------
    columns:
        Columns to encode (default: every text and categorical column except the target).
    max_levels:
        Only when ``columns`` is not given: a column with more distinct values than this is not encoded but left
        as it is, for a later step (``frequency``, ``target``).
    min_frequency:
        Categories seen fewer times than this in training go to ``<column>___other``: a count, or below 1 a share
        of the column's non-missing values (0.01: under 1% of them).
    max_categories:
        At most this many columns per encoded column, ``<column>___other`` included: the most frequent categories
        are kept (ties in sorted order) and the others go to ``___other``. Without it a column keeps at most 1000
        (its 999 most frequent categories and ``___other``); such columns are logged and named in
        ``state_["capped"]`` with their category count.
    weight:
        ``none`` (0/1, Int8) or ``sqrt_levels``: ``1/sqrt(L)`` (Float64) instead of 1 in a block of ``L`` columns,
        for k-means and other distances over standardised numbers: two rows of different categories are then
        ``sqrt(2/L)`` apart rather than ``sqrt(2)``, so a categorical does not outweigh the numeric columns, and a
        many-level one (whose levels are tight, equally spaced lumps) does not pull the clusters onto its levels.

    A null gives all zeros, and so does a category training never saw, unless rare categories were bucketed
    (``min_frequency``, ``max_categories`` or the cap of 1000): then it goes to ``<column>___other``.

    >>> import polars as pl
    >>> df = pl.DataFrame({"c": ["a", "b", "a", "d"]})
    >>> step = OneHotEncoder().fit(df)
    >>> step.transform(pl.DataFrame({"c": ["b", "zzz"]})).to_dict(as_series=False)
    {'c_a': [0, 0], 'c_b': [1, 0], 'c_d': [0, 0]}
    >>> OneHotEncoder(weight="sqrt_levels").fit(df).transform(df)["c_a"].to_list()
    [0.5773502691896258, 0.0, 0.5773502691896258, 0.0]
    """

    name = "onehot"

    def __init__(self, columns: list[str] | None = None, *, max_levels: int | None = None,
                 min_frequency: float | None = None, max_categories: int | None = None,
                 weight: str = "none") -> None:
        self.columns = columns
        self.max_levels = max_levels
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.weight = weight

    def summarize(self, frame: Frame, target: str | None = None) -> dict[str, Any]:
        check_choice(self.name, "weight", self.weight, ONEHOT_WEIGHTS)
        if self.max_categories is not None:
            check_at_least(self.name, "max_categories", self.max_categories, 1)
        if self.min_frequency is not None:
            check_at_least(self.name, "min_frequency", self.min_frequency, 0, above=True,
                           hint=" (a count, or below 1 a share of the rows)")
        if self.max_levels is not None:
            check_at_least(self.name, "max_levels", self.max_levels, 0)
        return super().summarize(frame, target)

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        categories: dict[str, list[str]] = {}
        other: dict[str, bool] = {}
        capped: dict[str, int] = {}
        for col in summary["columns"]:
            counts = summary["counts"][col]
            levels = self._levels(counts)
            if summary["auto"] and self.max_levels is not None and len(levels) > self.max_levels:
                continue
            kept = levels
            if self.min_frequency is not None:
                total = sum(v for k, v in counts.items() if k is not None)
                need = self.min_frequency * total if self.min_frequency < 1 else self.min_frequency
                kept = [v for v in kept if counts[v] >= need]
            limit = self.max_categories
            if limit is None and len(kept) > MAX_ONEHOT_COLUMNS:
                # An identifier-like column would give one column per row and exhaust memory: keep the most frequent.
                limit = MAX_ONEHOT_COLUMNS
                capped[col] = len(kept)
                log.warning("onehot: %r has %d categories; kept the %d most frequent and put the rest in %r (set "
                            "max_categories to choose, or use the frequency or target step)", col, len(kept),
                            MAX_ONEHOT_COLUMNS - 1, f"{col}_{OTHER}")
            if limit is not None and len(kept) > limit:
                # Most frequent first; ties broken by the sort order so the choice is deterministic.
                ranked = sorted(kept, key=lambda v: (-counts[v], _sort_key(v)))
                keep = set(ranked[: max(0, int(limit) - 1)])
                kept = [v for v in kept if v in keep]
            categories[col] = kept
            other[col] = len(kept) < len(levels)
        self._check_names(categories, other, summary.get("names", []))
        state = {"columns": list(categories), "categories": categories, "other": other, "capped": capped}
        if self.weight == "sqrt_levels":
            state["weight"] = {c: 1.0 / (len(cats) + other[c]) ** 0.5 for c, cats in categories.items()
                               if len(cats) + other[c]}
        return state

    def _check_names(self, categories: dict[str, list[str]], other: dict[str, bool], names: list[str]) -> None:
        """Refuse one-hot columns that would overwrite a column the data keeps (``color_red`` next to ``color``) or
        each other: with_columns would replace one silently."""
        kept = set(names)  # an encoded column's name too: it is dropped after the new columns are made
        made: dict[str, str] = {}
        for col, cats in categories.items():
            for out in [f"{col}_{cat}" for cat in cats] + ([f"{col}_{OTHER}"] if other[col] else []):
                clash = out if out in kept else None
                if clash is None and out in made:
                    msg = (f"{self.name}: {col!r} and {made[out]!r} would both make the column {out!r}; rename one "
                           "of them first")
                    raise SchemaError(msg)
                if clash is not None:
                    msg = (f"{self.name}: encoding {col!r} would make a column {out!r}, which the data already has "
                           "(it would be overwritten); rename it first, or leave it out with columns=[…]")
                    raise SchemaError(msg)
                made[out] = col

    def _transform(self, frame: Frame) -> Frame:
        exprs: list[pl.Expr] = []
        cols = self._present(frame)
        weights = self.state_.get("weight", {})
        for col in cols:
            text = pl.col(col).cast(pl.String)
            cats = self.state_["categories"][col]
            hits = [(text == cat).fill_null(False).alias(f"{col}_{cat}") for cat in cats]
            if self.state_["other"][col]:
                hits.append((text.is_not_null() & ~text.is_in(cats)).alias(f"{col}_{OTHER}"))
            if col in weights:
                exprs += [hit.cast(pl.Float64) * weights[col] for hit in hits]
            else:
                exprs += [hit.cast(pl.Int8) for hit in hits]
        if not cols:
            return frame
        return frame.with_columns(exprs).drop(cols)

    unseen_becomes = "all of their one-hot columns are 0"

    def _known(self, col: str) -> list[str] | None:
        # With rare categories bucketed, unseen values go to <column>___other as the rare ones do.
        return None if self.state_["other"][col] else self.state_["categories"][col]


class OrdinalEncoder(_CountingEncoder):
    """Categories numbered 0, 1, … in sorted order, or in the order ``categories`` gives (Int32); unseen or null
    gives -1.

    Parameters
    ----------
    columns:
        Columns to encode (default: every text and categorical column except the target; with ``categories``,
        only the columns it names).
    categories:
        The order of each column's categories, e.g. ``{"size": ["S", "M", "L", "XL"]}``: numbered 0, 1, … in that
        order, and a value not listed gives -1. Other columns are numbered in sorted order (numbers as numbers,
        then text: ``"2"`` before ``"10"``).

    >>> import polars as pl
    >>> OrdinalEncoder().fit(pl.DataFrame({"c": ["b", "a"]})).transform(
    ...     pl.DataFrame({"c": ["a", "b", "new", None]}))["c"].to_list()
    [0, 1, -1, -1]
    """

    name = "ordinal"

    def __init__(self, columns: list[str] | None = None, *, categories: dict[str, list[str]] | None = None) -> None:
        self.columns = columns
        self.categories = categories

    def _auto_columns(self, schema: pl.Schema) -> list[str]:
        # Orders given for some columns name the columns meant: the other text columns are left to later steps.
        if self.categories:
            return [c for c in self.categories if c in schema]
        return super()._auto_columns(schema)

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        given = self.categories or {}
        cats = {c: [str(v) for v in given[c]] if c in given else self._levels(summary["counts"][c])
                for c in summary["columns"]}
        for col in summary["columns"]:
            if col not in given:
                continue
            listed = set(cats[col])
            unlisted = {v: n for v, n in summary["counts"][col].items() if v is not None and str(v) not in listed}
            if unlisted:  # (a misspelt category, or the wrong column, turned every value into -1 without a word)
                rows = sum(unlisted.values())
                shown = ", ".join(repr(str(v)) for v in sorted(unlisted, key=lambda v: (-unlisted[v], str(v)))[:5])
                log.warning("ordinal: %s training row(s) of %r hold %d value(s) not among the categories given (%s%s): "
                            "they are encoded as -1", f"{rows:,}", col, len(unlisted), shown,
                            ", …" if len(unlisted) > 5 else "")
        return {"columns": summary["columns"], "categories": cats}

    def _transform(self, frame: Frame) -> Frame:
        exprs = []
        for col in self._present(frame):
            mapping = {v: i for i, v in enumerate(self.state_["categories"][col])}
            exprs.append(pl.col(col).cast(pl.String).replace_strict(mapping, default=-1, return_dtype=pl.Int32)
                         .fill_null(-1).alias(col))
        return frame.with_columns(exprs) if exprs else frame

    unseen_becomes = "encoded as -1"

    def _known(self, col: str) -> list[str] | None:
        return self.state_["categories"][col]


class FrequencyEncoder(_CountingEncoder):
    """Each value replaced by its share of the training rows (Float64); unseen or null gives 0.0.

    Parameters
    ----------
    columns:
        Columns to encode (default: every text and categorical column except the target). The shares are of all
        training rows, those with a missing value included.

    >>> import polars as pl
    >>> FrequencyEncoder().fit(pl.DataFrame({"c": ["a", "a", "b", None]})).transform(
    ...     pl.DataFrame({"c": ["a", "b", "x"]}))["c"].to_list()
    [0.5, 0.25, 0.0]
    """

    name = "frequency"

    def __init__(self, columns: list[str] | None = None) -> None:
        self.columns = columns

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        shares = {}
        for col in summary["columns"]:
            counts = summary["counts"][col]
            total = sum(counts.values())
            shares[col] = {k: v / total for k, v in counts.items() if k is not None} if total else {}
        return {"columns": summary["columns"], "shares": shares}

    def _transform(self, frame: Frame) -> Frame:
        exprs = []
        for col in self._present(frame):
            shares = self.state_["shares"][col]
            expr = (pl.col(col).cast(pl.String).replace_strict(shares, default=0.0, return_dtype=pl.Float64)
                    if shares else pl.lit(0.0, dtype=pl.Float64))
            exprs.append(expr.fill_null(0.0).alias(col))
        return frame.with_columns(exprs) if exprs else frame

    unseen_becomes = "encoded as 0.0, the share of a value never seen"

    def _known(self, col: str) -> list[str] | None:
        return list(self.state_["shares"][col])


class TargetEncoder(Step):
    """Out-of-fold target encoding: a category becomes the smoothed mean of the target.

    Parameters
    ----------
    columns:
        Columns to encode (default: every text and categorical column except the target).
    smoothing:
        The m-estimate weight ``m``: a category becomes ``(sum + m·prior) / (count + m)``, where ``count`` is its
        number of training rows, ``sum`` their target total and ``prior`` the target's mean over all training rows.
        0 gives each category's plain mean; a larger ``m`` pulls rare categories further towards the prior.
    folds:
        How many out-of-fold groups (at least 2) the training rows are split into, by a hash of the whole row.
        On the data it was fitted on (``transform_train``, as ``assay clean`` does when it fits) each row is
        encoded from the other groups only, so its own target never leaks into its value; new data is encoded from
        all training rows.

    The target column must be named (``fit(data, target=...)``, ``assay clean --target``); rows with a missing
    target are left out of the fit. A numeric or Boolean target gives one Float64 column in place of each encoded
    column; a text target gives ``<column>_te_<class>`` columns (the smoothed share of each class, the prior being
    its share of all training rows; with two classes only the second's, as the first is one minus it). Unseen or
    null gives the prior.
    """

    name = "target"

    def __init__(self, columns: list[str] | None = None, *, smoothing: float = 10.0, folds: int = 5) -> None:
        self.columns = columns
        self.smoothing = smoothing
        self.folds = folds

    def _fold(self, frame: Frame) -> pl.Expr:
        names = frame.collect_schema().names()
        return (pl.struct([pl.col(c) for c in names]).hash(seed=HASH_SEED) % int(self.folds)).cast(pl.Int64)

    def summarize(self, frame: pl.DataFrame, target: str | None = None) -> dict[str, Any]:
        if target is None:
            msg = (f"{self.name}: target encoding needs the target column: --target COLUMN with assay clean, "
                   "fit(data, target='<column>') in Python")
            raise SpecError(msg)
        if int(self.folds) < 2:
            msg = f"{self.name}: folds={self.folds!r} must be at least 2"
            raise SpecError(msg)
        check_at_least(self.name, "smoothing", self.smoothing, 0)
        schema = frame.collect_schema()
        if target not in schema:
            msg = f"{self.name}: target column {target!r} not found"
            raise SchemaError(msg)
        columns = resolve_columns(self.columns, schema, string_columns(schema), exclude=[target], step=self.name)
        numeric = schema[target].is_numeric() or schema[target] == pl.Boolean
        known = pl.col(target).is_not_null()
        if schema[target].is_float():  # a NaN or infinite target teaches nothing and would make every mean NaN
            known = known & pl.col(target).is_finite()
        keyed = frame.filter(known).with_columns(self._fold(frame).alias("__fold__"))
        if numeric:
            ys = {"__mean__": pl.col(target).cast(pl.Float64)}
        else:
            classes = keyed.get_column(target).cast(pl.String).unique().to_list()
            ys = {str(k): (pl.col(target).cast(pl.String) == k).cast(pl.Float64) for k in classes}
        cells: dict[str, dict[tuple[str | None, int], list[float]]] = {}
        for col in columns:
            agg = keyed.group_by(pl.col(col).cast(pl.String).alias("__v__"), "__fold__").agg(
                pl.len().alias("__n__"), *[y.sum().alias(f"y{i}") for i, y in enumerate(ys.values())])
            cells[col] = {(r[0], r[1]): [float(r[2]), *map(float, r[3:])] for r in agg.iter_rows()}
        totals = keyed.select(pl.len().alias("n"), *[y.sum().alias(f"y{i}") for i, y in enumerate(ys.values())]).row(0)
        return {"columns": columns, "numeric": numeric, "classes": list(ys), "cells": cells,
                "total": {k: float(totals[i + 1] or 0.0) for i, k in enumerate(ys)}, "n": int(totals[0])}

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        classes = sorted(set(a["classes"]) | set(b["classes"]))

        def widen(part: dict[str, Any], key: tuple[str | None, int], col: str) -> list[float]:
            row = part["cells"].get(col, {}).get(key)
            if row is None:
                return [0.0] * (len(classes) + 1)
            index = {k: i for i, k in enumerate(part["classes"])}
            return [row[0], *[row[1 + index[k]] if k in index else 0.0 for k in classes]]

        cells = {}
        columns = union(a["columns"], b["columns"])
        for col in columns:
            keys = set(a["cells"].get(col, {})) | set(b["cells"].get(col, {}))
            cells[col] = {k: [x + y for x, y in zip(widen(a, k, col), widen(b, k, col), strict=True)] for k in keys}
        total = {k: a["total"].get(k, 0.0) + b["total"].get(k, 0.0) for k in classes}
        return {**a, "columns": columns, "classes": classes, "cells": cells, "total": total, "n": a["n"] + b["n"]}

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        classes = sorted(summary["classes"])
        index = {k: i for i, k in enumerate(summary["classes"])}
        n = summary["n"]
        prior = [summary["total"].get(k, 0.0) / n if n else 0.0 for k in classes]
        stats: dict[str, dict[str, list[list[float]]]] = {}
        for col in summary["columns"]:
            per: dict[str, list[list[float]]] = {}
            for (value, fold), row in summary["cells"][col].items():
                if value is None:
                    continue
                slots = per.setdefault(value, [[0.0] * (len(classes) + 1) for _ in range(int(self.folds))])
                slots[fold] = [row[0], *[row[1 + index[k]] for k in classes]]
            stats[col] = per
        return {"columns": summary["columns"], "numeric": summary["numeric"], "classes": classes,
                "prior": [json_float(p) for p in prior], "stats": stats, "binary_one_column": True}

    def _outputs(self, col: str) -> list[tuple[int, str]]:
        """(class index, output column) pairs: one column for a numeric target, one per class for a text target,
        but only the second class's share for two classes (the first is 1 minus it)."""
        if self.state_["numeric"]:
            return [(0, col)]
        classes = self.state_["classes"]
        # States saved before ``binary_one_column`` keep both columns, so the models fitted on them still load.
        if len(classes) == 2 and self.state_.get("binary_one_column"):
            return [(1, f"{col}_te_{classes[1]}")]
        return [(j, f"{col}_te_{k}") for j, k in enumerate(classes)]

    def _encoded(self, col: str, out_of_fold: bool, frame: Frame) -> list[pl.Expr]:
        m = float(self.smoothing)
        prior = [p or 0.0 for p in self.state_["prior"]]
        per = self.state_["stats"][col]
        exprs = []
        for j, name in self._outputs(col):
            full = {}
            oof = {}
            for value, slots in per.items():
                count = sum(s[0] for s in slots)
                total = sum(s[1 + j] for s in slots)
                full[value] = (total + m * prior[j]) / (count + m) if count + m > 0 else prior[j]
                for f, s in enumerate(slots):
                    c, t = count - s[0], total - s[1 + j]
                    oof[f"{value}\x1f{f}"] = (t + m * prior[j]) / (c + m) if c + m > 0 else prior[j]
            text = pl.col(col).cast(pl.String)
            if out_of_fold:
                key = pl.concat_str([text, pl.lit("\x1f"), self._fold(frame).cast(pl.String)])
                expr = key.replace_strict(oof, default=prior[j], return_dtype=pl.Float64) if oof else pl.lit(prior[j])
            else:
                expr = text.replace_strict(full, default=prior[j], return_dtype=pl.Float64) if full else pl.lit(
                    prior[j])
            exprs.append(expr.fill_null(prior[j]).cast(pl.Float64).alias(name))
        return exprs

    def _apply(self, frame: Frame, out_of_fold: bool) -> Frame:
        names = frame.collect_schema().names()
        cols = [c for c in self.state_["columns"] if c in names]
        if not cols:
            return frame
        exprs = [e for col in cols for e in self._encoded(col, out_of_fold, frame)]
        out = frame.with_columns(exprs)
        drop = [c for c in cols if not self.state_["numeric"]]
        return out.drop(drop) if drop else out

    def _transform(self, frame: Frame) -> Frame:
        return self._apply(frame, out_of_fold=False)

    def transform_train(self, frame: Frame) -> Frame:
        self._check_fitted()
        return self._apply(frame, out_of_fold=True)

    # transform_train differs from transform only for the rows the step was fitted on (their out-of-fold values):
    # other data, even when cleaned with training-time behaviour, takes transform's values.
    out_of_fold = True
    unseen_becomes = "encoded as the prior (the target's mean over all training rows)"

    def _known(self, col: str) -> list[str]:
        return list(self.state_["stats"][col])

    def say_unseen(self, frame: pl.DataFrame) -> dict[str, int]:
        """As the other encoders': notes on the values of ``frame`` the fit never saw; their counts per column."""
        names = frame.collect_schema().names()
        return _say_unseen(self, frame, [c for c in self.state_["columns"] if c in names])
