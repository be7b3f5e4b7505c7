"""Suspected target leakage: a single input column that predicts the target (almost) exactly by itself.

Such a column is usually recorded after the outcome (a cause of death next to "died", a refund date next to
"churned", the total next to its parts) and makes a model look perfect in evaluation and useless in production.
:func:`leakage_suspects` checks each column alone on the training rows, the way a one-column lookup table would
predict:

- classification: the column's values (binned into quantiles when numeric; a missing value is a value of its own)
  each mapped to their most common class, and separately whether the value is missing at all; suspected when that
  lookup misclassifies at most ``max_error`` of the rows and at most a tenth of what always guessing the majority
  class does;
- regression: Pearson or Spearman correlation of a numeric column with the target, or the share of the target's
  variance the per-value means of a categorical column explain, at least ``1 - max_error``; and when no numeric
  column does alone, two or three together by a linear formula (R² of a least-squares fit), as a price does with
  its low and high bounds.

Columns with about one row per value (identifiers) are skipped: they "determine" any target trivially on the
rows they were seen on, and the automatic steps handle them. The checks run on a seeded sample of at most
``sample_rows`` rows (fewer for wide tables), so their cost does not grow with the data.

>>> import polars as pl
>>> rows = 400
>>> frame = pl.DataFrame({"age": [float(i % 37) for i in range(rows)],
...                       "died": [i % 3 == 0 for i in range(rows)],
...                       "cause": ["heart" if i % 6 == 0 else "cancer" if i % 3 == 0 else None for i in range(rows)]})
>>> [s["column"] for s in leakage_suspects(frame, "died", "classification")]
['cause']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

__all__ = ["leakage_suspects"]

MAX_ERROR = 0.005  # a one-column lookup wrong on at most 0.5% of the rows: "almost exactly"
MIN_ROWS = 50  # below this, a perfect lookup is too likely by chance to say anything
MIN_SAMPLE = 20_000
CELLS = 2_000_000  # rows x columns checked at most (but at least MIN_SAMPLE rows)
BINS = 20  # quantile bins of a numeric column for the classification lookup


def leakage_suspects(frame: pl.DataFrame, target: str, task: str, *, exclude: tuple[str, ...] = (),
                     max_error: float = MAX_ERROR, sample_rows: int = 200_000, seed: int = 0) -> list[dict[str, Any]]:
    """Columns that alone predict ``target`` almost exactly, strongest first.

    Each entry: ``column``, ``how`` (what predicts: ``"values"``, ``"missingness"``, ``"pearson"``,
    ``"spearman"``, ``"group means"``), ``score`` (share of rows right for classification, the correlation or
    explained variance for regression) and ``message`` (one line for the user). ``task`` other than
    classification or regression gives no suspects.
    """
    if task not in ("classification", "regression") or target not in frame.columns:
        return []
    schema = frame.schema
    columns = [c for c in frame.columns if c != target and c not in exclude and _usable(schema[c])]
    if not columns:
        return []
    frame = frame.select(*columns, target).filter(pl.col(target).is_not_null())
    # Fewer rows for wide tables: the checks cost about rows x columns, and 20,000 rows still pin an error rate
    # of 0.5% to within a few tenths of a percent.
    rows = max(MIN_SAMPLE, min(sample_rows, CELLS // len(columns)))
    if frame.height > rows:
        frame = frame.sample(rows, seed=seed)
    if frame.height < MIN_ROWS:
        return []
    # Float NaN is a missing value here, as everywhere in assay.
    frame = frame.with_columns(pl.when(pl.col(c).is_nan()).then(None).otherwise(pl.col(c)).alias(c)
                               for c in columns if schema[c].is_float())
    found = (_classification if task == "classification" else _regression)(frame, columns, target, max_error)
    return sorted(found, key=lambda h: -h["score"])


def _usable(dtype: pl.DataType) -> bool:
    return not (dtype.is_nested() or dtype in (pl.Null, pl.Object, pl.Binary))


def _codes(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """0, 1, 2, ... per distinct value (equal values equal codes), missing values null."""
    if dtype == pl.Boolean:
        expr = expr.cast(pl.UInt8)
    elif isinstance(dtype, pl.Categorical | pl.Enum):
        expr = expr.cast(pl.String)
    return (expr.rank("dense") - 1).cast(pl.Int64)


def _classification(frame: pl.DataFrame, columns: list[str], target: str, max_error: float) -> list[dict[str, Any]]:
    n = frame.height
    schema = frame.schema
    classes = frame.select(_codes(pl.col(target), schema[target])).to_series().to_numpy()
    n_classes = int(classes.max()) + 1
    majority = int(np.bincount(classes).max())
    # A lookup must beat both the tolerance and, by ten times, the majority guess: on a target with 99.8% of one
    # class, any column "predicts" 99.8% of the rows.
    allowed = min(max_error * n, 0.1 * (n - majority))
    shape = frame.select(*(pl.col(c).null_count().alias(f"{i}n") for i, c in enumerate(columns)),
                         *(pl.col(c).n_unique().alias(f"{i}d") for i, c in enumerate(columns))).row(0, named=True)
    # The keys of every lookup (a column's values, its rank bins, or whether it is missing) as integer codes in one
    # query, then counted per (key, class) with NumPy: one Polars group-by per column costs milliseconds each,
    # which adds up to seconds on a table with hundreds of columns.
    keys: list[tuple[str, str, str]] = []  # column, how, wording
    exprs: list[pl.Expr] = []
    for i, column in enumerate(columns):
        col, nulls, distinct = pl.col(column), shape[f"{i}n"], shape[f"{i}d"]
        if 0 < nulls < n:
            keys.append((column, "missingness", ""))
            exprs.append(col.is_null().cast(pl.Int64))
        if schema[column].is_numeric() and distinct > BINS:
            # Quantile bins by rank (equal values share a rank, so a bin); missing values a bin of their own.
            keys.append((column, "values", "its value range"))
            exprs.append(((col.rank("min") - 1) * BINS // (n - nulls)).cast(pl.Int64).fill_null(BINS))
        elif 2 <= distinct <= n / 10:  # about one row per value is an identifier, not evidence of leakage
            keys.append((column, "values", "its values"))
            exprs.append(_codes(col, schema[column]).fill_null(distinct))
    found: dict[str, dict[str, Any]] = {}
    if not exprs:
        return []
    matrix = frame.select(e.alias(str(j)) for j, e in enumerate(exprs)).to_numpy()
    for j, (column, how, what) in enumerate(keys):
        if column in found:
            continue
        key = matrix[:, j]
        counts = np.bincount(key * n_classes + classes, minlength=(int(key.max()) + 1) * n_classes)
        right = int(counts.reshape(-1, n_classes).max(axis=1).sum())
        if n - right > allowed:
            continue
        text = (f"whether '{column}' is missing alone predicts '{target}' for {right / n:.1%} of the training rows"
                if how == "missingness" else
                f"'{column}' alone ({what}) predicts '{target}' for {right / n:.1%} of the training rows")
        found[column] = _hit(column, how, right / n, text)
    return list(found.values())


def _regression(frame: pl.DataFrame, columns: list[str], target: str, max_error: float) -> list[dict[str, Any]]:
    if not frame.schema[target].is_numeric():
        return []
    y = pl.col(target).cast(pl.Float64)
    schema = frame.schema
    numeric = [c for c in columns if schema[c].is_numeric() or schema[c] == pl.Boolean]
    exprs: list[pl.Expr] = []
    for i, column in enumerate(numeric):
        x = pl.col(column).cast(pl.Float64)
        ok = x.is_finite() & y.is_finite()
        xm, ym = pl.when(ok).then(x), pl.when(ok).then(y)  # pl.corr leaves out the pairs with a null
        exprs += [ok.sum().alias(f"{i}n"), xm.n_unique().alias(f"{i}d"), pl.corr(xm, ym).alias(f"{i}pearson"),
                  pl.corr(xm, ym, method="spearman").alias(f"{i}spearman")]
    found: list[dict[str, Any]] = []
    row = frame.select(exprs).row(0, named=True) if exprs else {}
    for i, column in enumerate(numeric):
        if row[f"{i}n"] < MIN_ROWS or row[f"{i}d"] < 4:  # null counts as a distinct value here
            continue
        scores = [(abs(v), k) for k in ("pearson", "spearman")
                  if (v := row[f"{i}{k}"]) is not None and math.isfinite(v)]
        best = max(scores, default=None)
        if best is not None and best[0] >= 1 - max_error:
            found.append(_hit(column, best[1], best[0], f"'{column}' alone follows '{target}' almost exactly "
                                                        f"({best[1].capitalize()} correlation {best[0]:.4f})"))
    if not found:
        # The columns most correlated with the target first, at most 50 of them: the fits stay cheap on wide tables.
        strength = {c: abs(v) for i, c in enumerate(numeric)
                    if (v := row[f"{i}pearson"]) is not None and math.isfinite(v) and row[f"{i}n"] >= MIN_ROWS}
        found += _linear_combination(frame, sorted(strength, key=lambda c: -strength[c])[:50], target, max_error)
    ok = y.is_finite()
    total = frame.select(((y - y.filter(ok).mean()) ** 2).filter(ok).sum()).item()
    if not total:
        return found
    categorical = [c for c in columns if c not in numeric]
    shape = frame.select(pl.col(c).n_unique().alias(c) for c in categorical).row(0, named=True) if categorical else {}
    grouped = [c for c in categorical if 2 <= shape[c] <= frame.height / 10]
    if grouped:
        within = frame.filter(ok).select(((y - y.mean().over(c)) ** 2).sum().alias(c) for c in grouped)
        for column in grouped:
            explained = 1 - within.get_column(column).item() / total
            if explained >= 1 - max_error:
                text = f"'{column}' alone explains {explained:.2%} of the variance of '{target}' (its per-value means)"
                found.append(_hit(column, "group means", explained, text))
    return found


def _linear_combination(frame: pl.DataFrame, numeric: list[str], target: str, max_error: float,
                        most: int = 3) -> list[dict[str, Any]]:
    """Two or three numeric columns that together give the target almost exactly by a linear formula (a price and
    its low and high bounds, a total and its parts): chosen greedily, each time the column that raises R² of a
    least-squares fit (with intercept) the most, on the rows where all of them and the target are finite."""
    if len(numeric) < 2:
        return []
    data = frame.select(*(pl.col(c).cast(pl.Float64) for c in numeric), pl.col(target).cast(pl.Float64)).to_numpy()
    chosen: list[int] = []
    best_r2 = 0.0
    for _ in range(min(most, len(numeric))):
        candidates = []
        for j in range(len(numeric)):
            if j in chosen:
                continue
            cols = [*chosen, j]
            rows = np.isfinite(data[:, [*cols, -1]]).all(axis=1)
            if rows.sum() < MIN_ROWS:
                continue
            x, y = data[rows][:, cols], data[rows, -1]
            total = float(((y - y.mean()) ** 2).sum())
            if total == 0 or min(len(np.unique(x[:, k])) for k in range(x.shape[1])) < 4:
                continue
            design = np.column_stack([x, np.ones(len(y))])
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            candidates.append((1 - float(((y - design @ coef) ** 2).sum()) / total, j))
        if not candidates:
            return []
        best_r2, j = max(candidates)
        chosen.append(j)
        if best_r2 >= 1 - max_error:
            break
    if len(chosen) < 2 or best_r2 < 1 - max_error:
        return []
    names = [numeric[j] for j in chosen]
    listed = ", ".join(repr(c) for c in names)
    return [{"column": names[0], "columns": names, "how": "linear combination", "score": round(best_r2, 6),
             "message": f"suspected target leakage: {listed} together give '{target}' almost exactly by a linear "
                        f"formula (R² {best_r2:.4f}); if they are computed from it or not known when predicting, "
                        f"train again without them (--drop {','.join(names)!r})"}]


def _hit(column: str, how: str, value: float, text: str) -> dict[str, Any]:
    return {"column": column, "how": how, "score": round(float(value), 6),
            "message": f"suspected target leakage: {text}; if it is not known when predicting, train again without "
                       f"it (--drop {column!r})"}


ENTITY_MIN_GROUPS = 20  # values of a column that might name people or things measured again
# Pairs of rows agree with themselves by chance too often to tell (esoph's 88 rows: a count of controls, 2 rows per
# value, explained 67% of the cases against 37% shuffled): at least 3 rows per value and 200 rows in all.
ENTITY_MIN_ROWS = 200
ENTITY_MAX_ROWS = 50  # a value with more rows than this (median) is a category, not one thing measured again
ENTITY_GAIN = 0.25  # how much better the column's own values tell the target than the same values shuffled
ENTITY_AGREEMENT = 0.5  # and how well at least: a county's districts differ more than one man's eight years


def repeated_entities(frame: pl.DataFrame, target: str, task: str, *, exclude: tuple[str, ...] = (),
                      sample_rows: int = 200_000, seed: int = 0) -> list[dict[str, Any]]:
    """Whole-number or text columns whose values each recur on a few rows (3 to 50, at least 20 values) within which
    the target hardly changes: the same person, customer or machine measured again (Males' ``nr``: 545 men, 8 years
    each). A shuffled split puts each one's rows on both sides, so the model recognises them rather than learning
    anything that carries to new ones: Males' industry scored f1_macro 0.48 in shuffled folds, 0.21 with ``--group
    nr``. Judged against the same column shuffled, since small groups agree with themselves by chance.

    Each entry: ``column``, ``groups``, ``rows`` (the median per value), ``score`` (share of rows on their group's
    most common class, or of the target's variance the group means explain) and ``message``.
    """
    if task not in ("classification", "regression") or target not in frame.columns:
        return []
    schema = frame.schema
    columns = [c for c in frame.columns if c != target and c not in exclude
               and (schema[c].is_integer() or schema[c] == pl.String or isinstance(schema[c], pl.Categorical))]
    numeric = schema[target].is_numeric()
    if not columns or (task == "regression" and not numeric):
        return []
    frame = frame.select(*columns, target).filter(pl.col(target).is_not_null())
    if frame.height > sample_rows:
        frame = frame.sample(sample_rows, seed=seed)
    if frame.height < ENTITY_MIN_ROWS:
        return []
    found = []
    for column in columns:
        sizes = frame.get_column(column).drop_nulls().value_counts().get_column("count")
        if sizes.len() < ENTITY_MIN_GROUPS or not 3 <= sizes.median() <= ENTITY_MAX_ROWS:  # type: ignore[operator]
            continue
        rows = frame.filter(pl.col(column).is_not_null()).select(column, target)
        shuffled = rows.with_columns(pl.col(column).shuffle(seed=seed))
        own, chance = _agreement(rows, column, target, task), _agreement(shuffled, column, target, task)
        if own < ENTITY_AGREEMENT or own - chance < ENTITY_GAIN or _measured(rows, column, target, task):
            continue
        what = "rows on their value's most common class" if task == "classification" else \
            "of its variance in the means per value"
        found.append({"column": column, "groups": sizes.len(), "rows": float(sizes.median()), "score": round(own, 6),
                      "message": f"'{column}' repeats: {sizes.len():,} values with about {sizes.median():g} rows "
                                 f"each, within which '{target}' hardly changes ({own:.0%} {what}, {chance:.0%} with "
                                 f"the values shuffled). If one value is one person or thing measured again, a "
                                 f"shuffled split tests the model on ones it has seen and flatters the scores: train "
                                 f"with --group {column!r}"})
    return sorted(found, key=lambda h: -h["score"])


def _measured(rows: pl.DataFrame, column: str, target: str, task: str) -> bool:
    """Whether a whole-number column is a measurement rather than a key: the target's means per value follow the
    values' order (disk sizes and prices rise together; ids are numbered in no order of the target)."""
    if task != "regression" or not rows.schema[column].is_integer():
        return False
    means = rows.group_by(column).agg(pl.col(target).cast(pl.Float64).mean())
    rho = means.select(pl.corr(column, target, method="spearman")).item()
    return rho is not None and math.isfinite(rho) and abs(rho) >= 0.5


def _agreement(rows: pl.DataFrame, column: str, target: str, task: str) -> float:
    """Classification: the share of rows on their group's most common class; regression: R² of the group means."""
    if task == "classification":
        counts = rows.group_by(column, target).len().group_by(column).agg(pl.col("len").max())
        return float(counts.get_column("len").sum()) / rows.height
    y = pl.col(target).cast(pl.Float64)
    total, within = rows.select(((y - y.mean()) ** 2).sum().alias("total"),
                                ((y - y.mean().over(column)) ** 2).sum().alias("within")).row(0)
    return 1 - within / total if total else 0.0
