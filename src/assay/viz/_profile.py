"""Data profiling: what is in a table, computed with lazy Polars aggregations and summarised as a JSON-ready dict.

Statistics (counts, missing, distinct, moments, quantiles, histograms, top categories, IQR outliers, duplicate rows)
come from two aggregation passes over the whole data, run by Polars' streaming engine so a file larger than memory
is profiled in bounded memory. What needs rows side by side (correlations, Cramér's V, the missingness matrix,
target-leakage checks, sample rows) comes from a seeded random sample of at most ``sample_rows`` rows; the result
says so (``"sampled"``, ``"sample_rows"``). Drawing and HTML live in ``_figures`` and ``_report``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assay.exceptions import SchemaError, SpecError, did_you_mean

__all__ = ["PROFILE_VERSION", "QUANTILES", "jsonable", "profile"]

PROFILE_VERSION = 1
QUANTILES: dict[str, float] = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id-like", "empty", "other")

# Thresholds of the warnings; named so the report can quote them.
HIGH_CARDINALITY = 50  # distinct values above which a categorical is hard to one-hot encode
ID_RATIO = 0.95  # share of distinct values among non-missing values that makes a column look like an identifier
SKEW_LIMIT = 2.0  # |sample skewness| above which a numeric column is "heavily skewed"
MANY_MISSING = 0.5  # share of missing values worth a warning
MIXED_SHARE = 0.05  # numbers must be at least this share of a text column's values to call it mixed
LEAK_LIMIT = 0.95  # |correlation| / Cramér's V / correlation ratio with the target that looks like leakage
MAX_CORR_COLUMNS = 40  # numeric columns in a correlation matrix (those most correlated with another are kept)
MAX_ASSOC_COLUMNS = 30  # categorical columns in the Cramér's V matrix
MAX_ASSOC_LEVELS = 100  # categoricals with more distinct values are left out of Cramér's V
MISSING_BLOCKS = 120  # row blocks of the missingness matrix
PREVIEW_ROWS = 10
# Files up to this size, or up to an eighth of the memory available, are parsed once and profiled in memory;
# bigger ones are streamed, parsed again by each pass.
IN_MEMORY_BYTES = 512 * 1024 * 1024


def _available_memory() -> int:
    """Bytes of memory available to this process (Linux's MemAvailable), or 0 where it cannot be told."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0

_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|pk|code|编号|序号)$|^id[_\s-]|编号|序号|账号", re.IGNORECASE)

Progress = Callable[[str, float], None]


def profile(
    data: Any,
    *,
    target: str | None = None,
    sample_rows: int = 200_000,
    top_n: int = 20,
    bins: int = 30,
    seed: int = 0,
    exact_distinct_rows: int = 20_000_000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Profile a table: a JSON-serialisable dict of statistics, figure data and warnings.

    ``data`` is a Polars ``DataFrame`` or ``LazyFrame`` (``open_source(uri).scan()``), a list of frames
    (micro-batches), a Source, or a path/URI.
    Statistics cover every row; correlations, the missingness matrix, leakage checks and preview rows use a seeded
    random sample of at most ``sample_rows`` rows. Distinct counts are exact up to ``exact_distinct_rows`` rows and
    HyperLogLog estimates above (``"distinct_approximate": true``).

    >>> import polars as pl
    >>> p = profile(pl.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": ["a", "b", "a", "a"]}))
    >>> p["rows"], p["columns"], p["variables"]["x"]["missing"], p["variables"]["c"]["kind"]
    (4, 2, 1, 'categorical')
    """
    notify = progress or (lambda _msg, _frac: None)
    if sample_rows < 1:
        msg = f"sample_rows must be at least 1, got {sample_rows}"
        raise SpecError(msg)
    lf, source, frame = _as_lazy(data)
    schema = lf.collect_schema()
    names = list(schema)
    if target is not None and target not in schema:
        msg = f"target column {target!r} not found in {source or 'the data'}{did_you_mean(target, names)}"
        raise SchemaError(msg)
    lf, frame, times = _read_times(lf, frame, schema)
    schema = lf.collect_schema()

    notify("counting rows", 0.02)
    # A frame already in memory is aggregated by the in-memory engine (about 20% faster here); only data that is
    # scanned from a file or a database goes through the streaming engine, which keeps memory bounded.
    streaming = frame is None
    rows = frame.height if frame is not None else int(_collect(lf.select(pl.len())).item())
    approx = rows > exact_distinct_rows
    groups = {name: _dtype_group(dtype) for name, dtype in schema.items()}
    # A prepared figure process draws each figure as soon as what it shows is final, while the profile goes on.
    from assay.viz._report import figures_ready

    sample = missing_matrix = None
    if frame is not None and names:
        # In memory, the sample and each column's missing count are at hand before the first pass: the
        # missing-values figure is drawn meanwhile (the figure process would otherwise wait for that pass).
        sample = _sample(lf, frame, rows, sample_rows, seed)
        missing_matrix = _missing_matrix(sample, names)
        nulls = [int(n) for n in frame.null_count().row(0)]
        figures_ready("missing", {
            "missing_matrix": missing_matrix, "sampled": sample.height < rows,
            "variables": {name: {"name": name, "missing": n, "missing_pct": _pct(n, rows)}
                          for name, n in zip(names, nulls, strict=True)}})

    notify("pass 1/2: moments, quantiles, missing, distinct", 0.1)
    first = _first_pass(lf, schema, groups, rows, approx, streaming) if names else {}
    variables = {name: _describe_first(i, name, schema[name], groups[name], first, rows, approx)
                 for i, name in enumerate(names)}
    for name, read in times.items():
        how = f" ({read['format']})" if read["format"] else ""
        variables[name]["dtype"] = f"{read['kind'].capitalize()} read from text{how}"
        variables[name]["read_from_text"] = read
    dup_distinct = first.get("__rows_distinct")
    complete_rows = first.get("__complete", rows if not names else 0)

    notify("sampling rows", 0.4)
    if sample is None:
        sample = _sample(lf, frame, rows, sample_rows, seed)
    sampled = sample.height < rows
    if approx:
        _quantiles_from_sample(sample, variables)

    result: dict[str, Any] = {
        "assay_profile_version": PROFILE_VERSION,
        "source": source,
        "rows": rows,
        "columns": len(names),
        "target": target,
        "sampled": sampled,
        "sample_rows": sample.height,
        "statistics_from": "all rows (streaming aggregation)" if streaming else "all rows (read once, in memory)",
        "figures_from": (f"a random sample of {sample.height:,} of {rows:,} rows" if sampled else "all rows"),
        "distinct_approximate": approx,
        "kinds": _count_kinds(variables),
        "duplicate_rows": (rows - int(dup_distinct)) if dup_distinct is not None else None,
        "complete_rows": int(complete_rows) if complete_rows is not None else None,
        "missing_cells": int(sum(v["missing"] for v in variables.values())),
        "cells": rows * len(names),
        "variables": variables,
    }
    result["duplicate_rows_pct"] = _pct(result["duplicate_rows"], rows)
    result["missing_cells_pct"] = _pct(result["missing_cells"], result["cells"])
    result["missing_matrix"] = missing_matrix if missing_matrix is not None else _missing_matrix(sample, names)
    figures_ready("overview", result)

    notify("pass 2/2: histograms, top values, outliers", 0.55)
    if names and rows:
        _second_pass(lf, variables, top_n, bins, streaming, frame)
    figures_ready("columns", {"variables": variables, "rows": rows})

    notify("correlations and associations", 0.75)
    num_cols = [n for n, v in variables.items()
                if (v["kind"] == "numeric" and (v.get("std") or 0) > 0) or (n == target and v["kind"] == "numeric")]
    nums = _Numbers(sample, num_cols)
    result["correlations"] = _correlations(sample, variables, target, nums)
    figures_ready("correlations", {"correlations": result["correlations"]})
    result["outliers"] = {name: v["outliers"] for name, v in variables.items() if v.get("outliers")}
    if target is not None:
        result["target_summary"] = _target_summary(variables[target])
        result["target_association"] = _target_association(sample, variables, target, nums)
    result["preview"] = _preview(lf, frame, sample)
    result["total_row"] = _total_row(frame, variables) if frame is not None else None
    result["warnings"] = _warnings(result, variables, target)
    notify("profile done", 0.85)
    return jsonable(result)


# --------------------------------------------------------------------------------------------------- input


TIME_CHECK_ROWS = 2_000  # first rows of each text column tried as dates and datetimes


def _read_times(lf: pl.LazyFrame, frame: pl.DataFrame | None, schema: pl.Schema
                ) -> tuple[pl.LazyFrame, pl.DataFrame | None, dict[str, dict[str, Any]]]:
    """Text columns that hold dates, datetimes or numbers written for people (``¥1,234.50``, ``12%``, ``1.234,5``;
    CSV files have no date type), read as such, so that they are profiled as times (range, histogram over time) or
    numbers rather than as thousands of categories.

    A column qualifies when the types step (the one training uses) reads its first rows as a date, datetime or
    number; every row is then read that way. Values that do not read become missing and are counted
    (``read_from_text["unreadable"]``, with a warning), never dropped silently.
    """
    text = [name for name, dtype in schema.items() if dtype == pl.String]
    if not text:
        return lf, frame, {}
    head = frame.head(TIME_CHECK_ROWS) if frame is not None else lf.select(text).head(TIME_CHECK_ROWS).collect()
    # Only columns with a digit among their first values go to the types step (importing and fitting it costs
    # ~40 ms, a few per cent of a whole profile, for text that is plainly neither dates nor numbers).
    looks = head.select(pl.col(text).str.contains(r"[0-9０-９]").any()).row(0, named=True)
    text = [name for name in text if looks[name]]
    if not text:
        return lf, frame, {}
    from assay.clean._base import steps_quiet
    from assay.clean._types import TypesStep, _clean_text

    with steps_quiet():  # its notes are about its own fit: the profile has its warnings
        step = TypesStep(columns=text).fit(head.select(text))
    found = {c: spec for c, spec in step.state_["convert"].items()
             if spec["kind"] in ("date", "datetime", "number", "integer")}
    tokens = step.state_["missing_tokens"]
    numbers = [c for c, spec in found.items() if spec["kind"] in ("number", "integer")]
    if numbers:
        # Plain numbers kept as text by a few codes among them ('c118') stay text: the mixed-types warning names
        # both kinds. Only numbers written for people (currency, separators, percent) are read.
        plain = head.select(
            (_clean_text(c, tokens).cast(pl.Float64, strict=False).is_not_null().sum()
             >= 0.95 * _clean_text(c, tokens).is_not_null().sum()).alias(c) for c in numbers).row(0, named=True)
        found = {c: spec for c, spec in found.items() if not plain.get(c, False)}
    if not found:
        return lf, frame, {}
    parsed = {c: step._expr(c, spec, tokens) for c, spec in found.items()}
    counts = (frame.lazy() if frame is not None else lf).select(
        *((_clean_text(c, tokens).is_not_null() & parsed[c].is_null()).sum().alias(c) for c in found),
        *(pl.when(_clean_text(c, tokens).is_not_null() & parsed[c].is_null()).then(pl.col(c)).drop_nulls()
          .first().alias(f"{c}|example") for c in found)).collect().row(0, named=True)
    times = {c: {"kind": spec["kind"], "format": spec["format"], "unreadable": int(counts[c] or 0),
                 "example": counts[f"{c}|example"]} for c, spec in found.items()}
    converted = [parsed[c].alias(c) for c in found]
    if frame is not None:
        frame = frame.with_columns(converted)
        return frame.lazy(), frame, times
    return lf.with_columns(converted), None, times


def _as_lazy(data: Any) -> tuple[pl.LazyFrame, str | None, pl.DataFrame | None]:
    """The data as a lazy frame, a printable name for it, and the in-memory frame when there is one."""
    if isinstance(data, pl.LazyFrame):
        return data, None, None
    if isinstance(data, pl.DataFrame):
        return data.lazy(), None, data
    if isinstance(data, list | tuple) and data and all(isinstance(b, pl.DataFrame) for b in data):
        frame = pl.concat(data, how="vertical_relaxed")  # micro-batches of one table
        return frame.lazy(), None, frame
    if isinstance(data, str | Path):
        from assay.sources import open_source

        data = open_source(str(data))
    if hasattr(data, "scan") and hasattr(data, "uri"):
        from assay.sources import mask_uri

        name = mask_uri(str(data.uri))
        path = getattr(data, "path", None)
        limit = max(IN_MEMORY_BYTES, _available_memory() // 8)
        if isinstance(path, Path) and path.is_file() and path.stat().st_size <= limit:
            # A file that fits easily is parsed once and profiled in memory: one parse instead of one per pass.
            frame = data.read()
            return frame.lazy(), name, frame
        return data.scan(), name, None
    msg = (f"cannot profile a {type(data).__name__}; pass a Polars DataFrame or LazyFrame, a Source, "
           "or a file path / URI")
    raise SpecError(msg)


def _collect(lf: pl.LazyFrame, streaming: bool = True) -> pl.DataFrame:
    # The streaming engine keeps memory bounded on files larger than RAM; Polars falls back to the in-memory
    # engine by itself for any operation it cannot stream.
    return lf.collect(engine="streaming" if streaming else "in-memory")


def _dtype_group(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_numeric():
        return "num"
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return "time"
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "str"
    if dtype == pl.Null:
        return "null"
    return "other"


# ---------------------------------------------------------------------------------------------- pass one


def _first_pass(lf: pl.LazyFrame, schema: pl.Schema, groups: dict[str, str], rows: int,
                approx: bool, streaming: bool = True) -> dict[str, Any]:
    exprs: list[pl.Expr] = []
    for i, (name, dtype) in enumerate(schema.items()):
        c = pl.col(name)
        p = f"{i}|"
        group = groups[name]
        exprs.append(c.null_count().alias(p + "null"))
        if group in ("other", "null"):
            continue
        # A numeric column in memory is sorted once for its distinct count and its quantiles (both read the sorted
        # values, the sort shared): about half the work of hashing it and sorting it apart. Streamed data keeps the
        # hash count, whose memory is bounded by the distinct values.
        ordered = c.drop_nulls().sort() if group == "num" and not approx and not streaming else None
        if ordered is not None:
            distinct = ordered.n_unique()
        else:
            distinct = c.drop_nulls().approx_n_unique() if approx else c.drop_nulls().n_unique()
        exprs.append(distinct.alias(p + "distinct"))
        if group == "num":
            x = c.cast(pl.Float64)
            f = x.filter(x.is_finite())
            fq = f
            if ordered is not None:
                xs = ordered.cast(pl.Float64)
                fq = xs.filter(xs.is_finite())
            exprs += [
                f.min().alias(p + "min"), f.max().alias(p + "max"), f.mean().alias(p + "mean"),
                f.std().alias(p + "std"), f.skew().alias(p + "skew"),
                *([] if approx else [fq.quantile(list(QUANTILES.values()), interpolation="linear").alias(p + "q")]),
                x.is_nan().sum().alias(p + "nan"), (x == math.inf).sum().alias(p + "posinf"),
                (x == -math.inf).sum().alias(p + "neginf"), (x == 0).sum().alias(p + "zeros"),
                (x < 0).sum().alias(p + "negative"),
            ]
            if dtype.is_integer():
                exprs.append(c.diff().min().alias(p + "mindiff"))  # > 0: strictly increasing, like a counter
            else:  # whole numbers written as floats (1.0, 2.0: a CSV column with gaps, from pandas) bin as integers
                exprs.append((f != f.round(0)).sum().alias(p + "fractional"))
        elif group == "bool":
            exprs.append(c.sum().alias(p + "true"))
        elif group == "time":
            exprs += [c.min().alias(p + "min"), c.max().alias(p + "max"),
                      c.to_physical().cast(pl.Float64).mean().alias(p + "mean_phys")]
        elif group == "str":
            s = c.cast(pl.String)
            length = s.str.len_chars()
            stripped = s.str.strip_chars()
            exprs += [
                length.min().alias(p + "len_min"), length.mean().alias(p + "len_mean"),
                length.max().alias(p + "len_max"),
                stripped.cast(pl.Float64, strict=False).is_not_null().sum().alias(p + "numeric_like"),
                (stripped == "").sum().alias(p + "blank"),
                s.str.contains(r"\s").mean().alias(p + "has_space"),
            ]
    exprs.append(pl.all_horizontal(pl.all().is_not_null()).sum().alias("__complete"))
    hashable = all(g != "other" for g in groups.values())
    rows_distinct = pl.struct(pl.all()).hash(20_240_611).n_unique().alias("__rows_distinct")
    # In memory, the rows are hashed for the duplicate count only when no column tells every row apart already (a
    # column with as many distinct values as rows, none missing, leaves no two rows alike): hashing every cell of
    # every row is a fifth of this pass. Streamed data is hashed in the same pass (a second pass reads it again).
    later = hashable and not streaming and not approx
    if hashable and not later:
        exprs.append(rows_distinct)
    try:
        out = _collect(lf.select(exprs), streaming).row(0, named=True)
    except pl.exceptions.PolarsError:
        if not hashable or later:
            raise
        out = _collect(lf.select(exprs[:-1]), streaming).row(0, named=True)  # a type that cannot be hashed
    if later:
        if any(out.get(f"{i}|distinct") == rows and out[f"{i}|null"] == 0 for i in range(len(schema))):
            out["__rows_distinct"] = rows
        else:
            with suppress(pl.exceptions.PolarsError):  # a column type that cannot be hashed: no duplicate count
                out["__rows_distinct"] = _collect(lf.select(rows_distinct), streaming).item()
    return out


def _describe_first(i: int, name: str, dtype: pl.DataType, group: str, first: dict[str, Any], rows: int,
                    approx: bool) -> dict[str, Any]:
    p = f"{i}|"
    missing = int(first.get(p + "null", rows) or 0)
    count = rows - missing
    v: dict[str, Any] = {
        "name": name, "index": i, "dtype": str(dtype), "kind": "other", "count": count,
        "missing": missing, "missing_pct": _pct(missing, rows),
    }
    distinct = first.get(p + "distinct")
    if distinct is not None:
        distinct = min(int(distinct), count)
        v["distinct"] = distinct
        v["distinct_pct"] = _pct(distinct, count)
        v["distinct_approximate"] = approx
    if group == "null" or (count == 0 and group != "other"):
        v["kind"] = "empty"
        return v
    if group == "num":
        q = first.get(p + "q") or [None] * len(QUANTILES)
        v.update({
            "min": first[p + "min"], "max": first[p + "max"], "mean": first[p + "mean"], "std": first[p + "std"],
            "skew": first[p + "skew"], "quantiles": dict(zip(QUANTILES, q, strict=True)),
            "nan": int(first[p + "nan"] or 0), "inf": int((first[p + "posinf"] or 0) + (first[p + "neginf"] or 0)),
            "zeros": int(first[p + "zeros"] or 0), "negative": int(first[p + "negative"] or 0),
        })
        v["finite"] = count - v["nan"] - v["inf"]
        if first.get(p + "fractional") == 0:
            v["_whole"] = True  # (for the histogram's edges; not part of the profile)
        v["kind"] = _numeric_kind(name, dtype, v, first.get(p + "mindiff"))
        mindiff = first.get(p + "mindiff")
        if v["kind"] == "id-like" and mindiff is not None and mindiff > 0 and v["missing"] == 0:
            # Numbers that only go up under an export's index header: the file's row numbers.
            v["row_index"] = _export_index_name(name)
    elif group == "bool":
        v["kind"] = "boolean"
        v["true"] = int(first[p + "true"] or 0)
        v["true_pct"] = _pct(v["true"], count)
    elif group == "time":
        v["kind"] = "datetime"
        v.update(min=first[p + "min"], max=first[p + "max"])
    elif group == "str":
        v.update({
            "length": {"min": first[p + "len_min"], "mean": first[p + "len_mean"], "max": first[p + "len_max"]},
            "numeric_like": int(first[p + "numeric_like"] or 0), "blank": int(first[p + "blank"] or 0),
            "has_space_pct": _pct(first[p + "has_space"] or 0.0, 1.0),
        })
        v["kind"] = _string_kind(name, dtype, v)
    return v


def _quantiles_from_sample(sample: pl.DataFrame, variables: dict[str, dict[str, Any]]) -> None:
    # Exact quantiles hold a whole column in memory; past ``exact_distinct_rows`` rows they come from the sample
    # (rank error about 1/sqrt(sample rows)) and the profile says so.
    cols = [n for n, v in variables.items() if "quantiles" in v and n in sample.columns]
    if not cols:
        return
    exprs = []
    for i, name in enumerate(cols):
        x = pl.col(name).cast(pl.Float64)
        exprs.append(x.filter(x.is_finite()).quantile(list(QUANTILES.values()), interpolation="linear")
                     .alias(str(i)))
    row = sample.select(exprs).row(0)
    for name, q in zip(cols, row, strict=True):
        variables[name]["quantiles"] = dict(zip(QUANTILES, q or [None] * len(QUANTILES), strict=True))
        variables[name]["quantiles_from"] = "sample"


def _numeric_kind(name: str, dtype: pl.DataType, v: dict[str, Any], mindiff: Any) -> str:
    distinct, count = v.get("distinct", 0), v["count"]
    if v["finite"] == 0:
        return "numeric"
    if distinct == 2 and v["min"] == 0 and v["max"] == 1 and v["nan"] == 0:  # one value alone is a constant
        return "boolean"
    if dtype.is_integer() and count >= 20 and distinct >= ID_RATIO * count:
        span = v["max"] - v["min"] + 1
        dense = span <= 2 * count  # 1..n style counters
        increasing = mindiff is not None and mindiff > 0
        # Numbers that only go up down the file are a counter when their gaps are small (ids of deleted rows) or
        # when they sit under a table export's index header (the kept rows' numbers); sorted measurements (galaxy
        # velocities 9,172 … 34,279 in 82 rows) go up too but spread far wider than a counter.
        counter = increasing and (span <= 10 * count or _export_index_name(name))
        if _ID_NAME.search(name) or dense or counter:
            return "id-like"
    return "numeric"


def _total_row(frame: pl.DataFrame, variables: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A report's totals row at the end (``assay.clean._useless.total_row``) among the columns profiled as numbers
    and text."""
    from assay.clean._useless import total_row  # here only: the cleaning package is not needed otherwise

    numeric = [n for n, v in variables.items() if v["kind"] == "numeric"]
    text = [n for n, v in variables.items() if v["kind"] in ("categorical", "id-like", "text")
            and frame.schema[n] in (pl.String, pl.Categorical)]
    return total_row(frame, numeric, text)


def _count(n: int, noun: str) -> str:
    """``1 value``, ``2 values``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _export_index_name(name: str) -> bool:
    from assay.clean._useless import EXPORT_INDEX_NAMES  # here only: the cleaning package is not needed

    return name.strip().lower() in EXPORT_INDEX_NAMES


def _string_kind(name: str, dtype: pl.DataType, v: dict[str, Any]) -> str:
    count, distinct = v["count"], v.get("distinct", 0)
    long_text = (v["length"]["mean"] or 0) > 40 and v["has_space_pct"] > 50
    if count >= 20 and distinct >= ID_RATIO * count:
        return "text" if long_text else "id-like"
    if long_text and distinct > HIGH_CARDINALITY:
        return "text"
    return "categorical"


# ---------------------------------------------------------------------------------------------- pass two


def _second_pass(lf: pl.LazyFrame, variables: dict[str, dict[str, Any]], top_n: int, bins: int,
                 streaming: bool = True, frame: pl.DataFrame | None = None) -> None:
    """Histograms, top values, IQR outliers and mixed-type examples; ``frame``: the data when it is in memory (``lf``
    is then that frame's), whose numeric histograms are counted with NumPy (:func:`_histogram_counts`)."""
    exprs: list[pl.Expr] = []
    plan: list[tuple[str, str, Any]] = []
    for name, v in variables.items():
        c = pl.col(name)
        p = f"{v['index']}|"
        kind = v["kind"]
        whole = v.pop("_whole", False) or v["dtype"].startswith(("Int", "UInt"))
        if kind in ("empty", "other"):
            continue
        if kind == "numeric" and v.get("finite", 0) > 0:
            x = c.cast(pl.Float64)
            f = x.filter(x.is_finite())
            lo, hi = float(v["min"]), float(v["max"])
            p1, p99 = v["quantiles"]["p1"], v["quantiles"]["p99"]
            if hi > lo and not math.isfinite(hi - lo):
                # From near -1.8e308 to near +1.8e308: no axis can span it (its width overflows), so no histogram.
                v["no_histogram"] = "its values span more than the float range (their spread overflows)"
            elif hi > lo:
                if p1 is not None and p99 is not None and p99 > p1 and hi - lo > 4 * (p99 - p1):
                    # A few extreme values would squash every other bar into one: bin the p1–p99 range (widened
                    # a little) and count what falls outside separately.
                    pad = 0.05 * (p99 - p1)
                    lo, hi = max(lo, p1 - pad), min(hi, p99 + pad)
                    clipped = True
                else:
                    clipped = False
                skew = v.get("skew") or 0.0
                log = lo > 0 and skew > SKEW_LIMIT and hi / lo >= 100
                # Positive, long right tail over orders of magnitude: log-spaced bins show its shape.
                edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)
                if log:
                    v["_log_bins"] = True
                elif whole and hi - lo < 2.0**52:
                    edges = _integer_edges(lo, hi, bins)
                if clipped:
                    exprs += [(f < edges[0]).sum().alias(p + "below"), (f > edges[-1]).sum().alias(p + "above")]
                if frame is None:
                    exprs.append(f.filter((f >= edges[0]) & (f <= edges[-1])).hist(bins=edges.tolist()).implode()
                                 .alias(p + "hist"))
                plan.append((name, "hist", edges))
            q1, q3 = v["quantiles"]["p25"], v["quantiles"]["p75"]
            if q1 is not None and q3 is not None:
                iqr = q3 - q1
                low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
                exprs += [(f < low_fence).sum().alias(p + "out_lo"), (f > high_fence).sum().alias(p + "out_hi")]
                plan.append((name, "outliers", (low_fence, high_fence)))
        elif kind == "datetime" and v["min"] is not None and v["max"] is not None and v["max"] > v["min"]:
            phys = c.to_physical().cast(pl.Float64)
            exprs += [phys.min().alias(p + "pmin"), phys.max().alias(p + "pmax")]
            plan.append((name, "time", None))
        if kind in ("categorical", "boolean", "id-like", "text") or (kind == "numeric" and v["distinct"] <= top_n):
            vc = c.alias("value").value_counts(sort=True, name="count")
            exprs.append(vc.head(top_n).implode().alias(p + "top"))
            plan.append((name, "top", None))
        if kind == "categorical" and v.get("distinct", 0) >= 2 and v["dtype"] in ("String", "Categorical"):
            # Spellings of one value that differ only in case or in spaces around it ('Male', ' male', 'MALE'):
            # the distinct values whose stripped, case-folded form another distinct value shares.
            values = c.cast(pl.String).drop_nulls().unique()
            key = values.str.strip_chars().str.to_lowercase()
            shared = values.filter(key.is_duplicated())
            exprs += [shared.len().alias(p + "variants"), key.n_unique().alias(p + "variant_keys"),
                      shared.sort_by([shared.str.strip_chars().str.to_lowercase(), shared]).head(4).implode()
                      .alias(p + "variant_ex")]
            plan.append((name, "variants", None))
        if kind in ("categorical", "text", "id-like") and v["count"] and v.get("numeric_like") == v["count"]:
            # Text of numbers only: codes with leading zeros (zip 02134, 007) are text on purpose.
            exprs.append(c.cast(pl.String).str.strip_chars().str.contains(r"^0\d{2,}$").sum().alias(p + "zero"))
            plan.append((name, "zero_codes", None))
        if kind in ("categorical", "text", "id-like") and 0 < v.get("numeric_like", 0) < v["count"]:
            s = c.cast(pl.String)
            is_num = s.str.strip_chars().cast(pl.Float64, strict=False).is_not_null()
            # The first examples in the data's order: the same ones on every run.
            exprs += [s.filter(is_num).unique(maintain_order=True).head(3).implode().alias(p + "ex_num"),
                      s.filter(~is_num & s.is_not_null()).unique(maintain_order=True).head(3).implode()
                      .alias(p + "ex_text")]
            plan.append((name, "mixed", None))
    if not plan:
        return
    out = _collect(lf.select(exprs), streaming).row(0, named=True) if exprs else {}
    time_exprs: list[pl.Expr] = []
    for name, what, extra in plan:
        v = variables[name]
        p = f"{v['index']}|"
        if what == "hist":
            counts = (_histogram_counts(frame.get_column(name), extra, bool(v.get("_log_bins")))
                      if frame is not None else out[p + "hist"])
            v["histogram"] = {"edges": extra.tolist(), "counts": [int(n) for n in counts],
                              "below": int(out.get(p + "below") or 0), "above": int(out.get(p + "above") or 0),
                              "log": bool(v.pop("_log_bins", False))}
        elif what == "outliers":
            low, high = int(out[p + "out_lo"]), int(out[p + "out_hi"])
            v["outliers"] = {"rule": "IQR 1.5", "low_fence": extra[0], "high_fence": extra[1], "low": low,
                             "high": high, "count": low + high, "pct": _pct(low + high, v["finite"])}
        elif what == "top":
            top = out[p + "top"] or []
            v["top"] = [{"value": t["value"], "count": int(t["count"])} for t in top]
            shown = sum(t["count"] for t in v["top"] if t["value"] is not None)
            v["other_count"] = max(v["count"] - shown, 0)
            v["top"] = [t for t in v["top"] if t["value"] is not None]
            if any(a["count"] == b["count"] for a, b in zip(v["top"], v["top"][1:], strict=False)):
                # equally frequent values in natural order (grade 2 before grade 10), not in whichever order the
                # counting threads finished
                from assay.viz._style import natural_key

                v["top"].sort(key=lambda t: (-t["count"], natural_key(t["value"])))
        elif what == "mixed":
            v["mixed_examples"] = {"numeric": out[p + "ex_num"] or [], "text": out[p + "ex_text"] or []}
        elif what == "zero_codes" and out[p + "zero"]:
            v["zero_codes"] = int(out[p + "zero"])
        elif what == "variants" and out[p + "variants"]:
            v["spelling_variants"] = {"values": int(out[p + "variants"]),
                                      "merged": v["distinct"] - int(out[p + "variant_keys"]),
                                      "examples": out[p + "variant_ex"] or []}
        elif what == "time":
            lo, hi = out[p + "pmin"], out[p + "pmax"]
            calendar = _calendar_edges(lo, hi, bins, v["dtype"])
            edges, counted, bar, last = calendar if calendar else (np.linspace(lo, hi, bins + 1),) * 2 + (None, None)
            time_exprs.append(pl.col(name).to_physical().cast(pl.Float64).hist(bins=counted.tolist()).implode()
                              .alias(p + "hist"))
            v["_time_edges"] = edges, bar, last
    if time_exprs:
        # Datetime bins need the physical min/max first; one small extra pass over the datetime columns only.
        out2 = _collect(lf.select(time_exprs), streaming).row(0, named=True)
        for v in variables.values():
            edges, bar, last = v.pop("_time_edges", (None, None, None))
            if edges is not None:
                labels = _physical_to_iso(edges, v["dtype"])
                v["histogram"] = {"edges": labels, "counts": [int(n) for n in out2[f"{v['index']}|hist"]],
                                  "edges_are_dates": True}
                if bar:
                    v["histogram"]["bar"] = bar
                if last:
                    v["histogram"]["last_bar"] = last


def _calendar_edges(lo: float, hi: float, bins: int, dtype: str) -> tuple[np.ndarray, np.ndarray, str, str | None] \
        | None:
    """Edges on calendar months or years for times spanning at least two months per bar: at most ``bins`` bars,
    each holding the same number of whole months (or years), as ``(edges, counted, bar, last)``: the edges at the
    first instant of their months, the same edges half a day (a date) or a microsecond (a datetime) earlier (what
    the values are counted against: a value on the 1st of a month falls inside its bar, not on an edge; a
    histogram's bins are closed on the right), what one bar spans ("16 months"), and what the last bar spans when it
    holds fewer months ("14 months"; else None). Evenly spaced edges give bars holding 15 or 16 of a monthly
    series' months in turn, a comb that draws a steady series as dips. The last bar ends with the last value's
    month: a full bar ran up to 15 months past the data's end, as if there were data there. None for shorter spans
    (evenly spaced edges then).

    ``lo`` and ``hi`` are physical values: days since 1970 for a date, else the datetime's time unit.

    >>> edges, counted, bar, last = _calendar_edges(-916.0, 13603.0, 30, "Date")  # 1967-06-30 .. 2007-03-31
    >>> bar, last, len(edges) - 1, _physical_to_iso(edges[:2], "Date"), float(counted[0] - edges[0])
    ('16 months', '14 months', 30, ['1967-06-01', '1968-10-01'], -0.5)
    >>> _physical_to_iso(edges[-2:], "Date")  # the last bar ends where the data's last month does
    ['2006-02-01', '2007-04-01']
    >>> _calendar_edges(-916.0, 30000.0, 30, "Date")[2:], _calendar_edges(0.0, 40.0, 30, "Date") is None
    (('3 years', '14 months'), True)
    """
    if dtype == "Date" or dtype.startswith("Date read from text"):
        unit, before = "D", 0.5
    else:
        found = re.search(r"time_unit='?(\w+)'?", dtype)
        unit = found.group(1) if found else "us"
        if unit not in ("ns", "us", "ms"):
            return None
        # the edge's instant less one microsecond (ns as Float64 keep steps of 256 ns): 23:00 on a month's last day
        # is the month's, where half a day before the edge counted it in the next month's bar
        before = 1e3 if unit == "ns" else 1.0
    first = np.datetime64(math.floor(lo), unit).astype("datetime64[M]")
    end = np.datetime64(math.ceil(hi), unit).astype("datetime64[M]") + 1  # (the month after the last value's)
    months = int((end - first).astype(np.int64))
    if months < 2 * bins:
        return None
    width = math.ceil(months / bins)
    if width >= 24:  # whole years, from the start of the first one (at most a third fewer bars)
        width = 12 * math.ceil(width / 12)
        first = first.astype("datetime64[Y]").astype("datetime64[M]")
    n = math.ceil(int((end - first).astype(np.int64)) / width)
    starts = first + width * np.arange(n + 1)
    short = int((end - starts[-2]).astype(np.int64))  # months of the last bar
    starts[-1] = end
    edges = starts.astype(f"datetime64[{unit}]").astype(np.int64).astype(np.float64)
    counted = edges - before
    counted[-1] = edges[-1]  # (a value in the last half day of the last month is the last bar's)
    return edges, counted, _months(width), _months(short) if short < width else None


def _months(n: int) -> str:
    """A count of months in words, in years when it is whole years.

    >>> _months(1), _months(16), _months(24), _months(25), _months(12)
    ('1 month', '16 months', '2 years', '25 months', '1 year')
    """
    count, unit = (n // 12, "year") if n % 12 == 0 else (n, "month")
    return f"{count} {unit}" + ("" if count == 1 else "s")


def _integer_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """Edges for whole numbers from ``lo`` to ``hi``: at most ``bins`` bars, each holding the same count of whole
    numbers, edges half-way between them. Evenly spaced edges from ``lo`` to ``hi`` give bars holding 3 or 4 whole
    numbers in turn (0-99 in 30 bars), a comb that draws a uniform column as alternating tall and short bars.

    >>> _integer_edges(0, 99, 30).tolist()[:3], len(_integer_edges(0, 99, 30)) - 1
    ([-0.5, 3.5, 7.5], 25)
    >>> _integer_edges(1, 5, 30).tolist()
    [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    """
    lo, hi = math.ceil(lo), math.floor(hi)
    width = max(math.ceil((hi - lo + 1) / bins), 1)
    n = max(math.ceil((hi - lo + 1) / width), 1)
    return lo - 0.5 + width * np.arange(n + 1, dtype=np.float64)


def _histogram_counts(column: pl.Series, edges: np.ndarray, log: bool = False) -> list[int]:
    """How many finite values of ``column`` fall in each bin between consecutive ``edges`` (evenly spaced, or
    evenly on a log scale with ``log``), as Polars' ``hist`` counts them: the first bin closed on both sides, every
    other one open on the left, values outside left out.

    For a column in memory: each value's bin is worked out from its distance to the first edge, then moved by one
    where a value lies within rounding of an edge, until each value is in the bin whose edges hold it (checked
    against the edges themselves, so the counts are exact). A fifth of the CPU time of Polars' ``hist`` with given
    edges here, and half of a binary search among the edges (Polars' ``hist`` is kept for data streamed from a file).

    >>> _histogram_counts(pl.Series([0.0, 0.5, 1.0, 1.5, 2.0, None, float("nan"), 9.0]), np.array([0.0, 1.0, 2.0]))
    [3, 2]
    """
    x = column.cast(pl.Float64).to_numpy()  # missing values as NaN
    x = x[(x >= edges[0]) & (x <= edges[-1])]  # (NaN and ±inf fail one of these: the edges are finite)
    n = len(edges) - 1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if log:
            guess = (np.log(x) - math.log(edges[0])) * (n / (math.log(edges[-1]) - math.log(edges[0])))
        else:
            guess = (x - edges[0]) * (n / (edges[-1] - edges[0]))
        where = np.nan_to_num(guess, copy=False, nan=0.0, posinf=n - 1, neginf=0.0).astype(np.intp)
    np.clip(where, 0, n - 1, out=where)
    lower = edges.astype(np.float64)  # each bin's left edge, the first bin's moved to -inf: nothing moves below it
    lower[0] = -np.inf
    upper = edges[1:]
    for _ in range(4):
        down = x <= lower[where]
        up = x > upper[where]
        if not (down.any() or up.any()):
            break
        where += up
        where -= down
    else:  # (edges far from evenly spaced): a binary search for each value, edges[where - 1] < x <= edges[where]
        where = np.maximum(np.searchsorted(edges, x, side="left") - 1, 0)
    return np.bincount(where, minlength=n).tolist()


def _physical_to_iso(edges: np.ndarray, dtype: str) -> list[str]:
    if dtype == "Date" or dtype.startswith("Date read from text"):  # days since 1970 (the dtype may say its source)
        return [(dt.date(1970, 1, 1) + dt.timedelta(days=float(e))).isoformat() for e in edges]
    unit = {"ns": 1e9, "us": 1e6, "ms": 1e3}.get(re.search(r"time_unit='?(\w+)'?", dtype).group(1)
                                                  if "time_unit" in dtype else "us", 1e6)
    return [(dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(e) / unit)).isoformat(sep=" ") for e in edges]


# ------------------------------------------------------------------------------------------------ sample


def _sample(lf: pl.LazyFrame, frame: pl.DataFrame | None, rows: int, sample_rows: int, seed: int) -> pl.DataFrame:
    if rows <= sample_rows:
        return frame if frame is not None else _collect(lf)
    # Keep a row when the hash of its position falls under a threshold: a seeded uniform sample drawn while
    # streaming, without materialising the data or knowing which rows come last.
    keep = int(sample_rows * 1.02) + 16
    idx = "__assay_row__"
    picked = lf.with_row_index(idx).filter(pl.col(idx).hash(seed) % rows < keep).drop(idx)
    return _collect(picked.head(sample_rows))


def _missing_matrix(sample: pl.DataFrame, names: list[str]) -> dict[str, Any]:
    n = sample.height
    if n == 0 or not names:
        return {"blocks": 0, "rows_per_block": 0, "columns": names, "fraction": []}
    nulls = sample.select(pl.all().is_null()).to_numpy().astype(np.float32)  # n × m
    blocks = min(MISSING_BLOCKS, n)
    starts = np.linspace(0, n, blocks + 1).astype(int)[:-1]
    sums = np.add.reduceat(nulls, starts, axis=0)
    sizes = np.diff(np.append(starts, n))[:, None]
    frac = sums / sizes
    return {"blocks": int(blocks), "rows_per_block": float(n / blocks), "columns": names,
            "fraction": np.round(frac.T, 4).tolist()}  # m × blocks


# ----------------------------------------------------------------------------------- correlations, leakage


def _numeric_matrix(sample: pl.DataFrame, cols: list[str]) -> np.ndarray:
    if not cols:
        return np.empty((sample.height, 0))
    # Polars hands over a fresh column-major array (each column contiguous, as the per-column ranking wants); it is
    # copied only when it is a read-only view.
    arr = sample.select([pl.col(c).cast(pl.Float64) for c in cols]).to_numpy()
    if not arr.flags.writeable:
        arr = arr.copy(order="F")
    bad = ~np.isfinite(arr)
    if bad.any():
        arr[bad] = np.nan
    return arr


def pairwise_pearson(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlations of the columns of ``x`` over rows where both are finite; also the pair counts.

    Written with one matrix product rather than a loop over pairs: the sums each pair needs are entries of ``XᵀX``
    (missing values as 0), column sums, and corrections from the few rows each column with gaps misses.

    >>> r, n = pairwise_pearson(np.array([[1.0, 2.0], [2.0, 4.1], [3.0, np.nan], [4.0, 8.0]]))
    >>> round(float(r[0, 1]), 3), int(n[0, 1])
    (1.0, 3)
    """
    mask = np.isfinite(x)
    if x.shape[0] >= 3 and mask.all():
        # Every value present (the usual case): one product of the standardised columns is enough.
        z = x - x.mean(axis=0)
        norm = np.sqrt((z * z).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            z /= norm
            r = z.T @ z
        r[~np.isfinite(r)] = np.nan
        np.clip(r, -1.0, 1.0, out=r)
        return r, np.full(r.shape, float(x.shape[0]))
    # Each column centred on the mean of its present values, a missing value set to 0 so that it adds nothing to
    # any sum. Against a complete column j, "rows where j is present" is every row: plain column sums. For a column
    # p with gaps, a sum over the rows where p is present is the column sum less the sum over p's missing rows, which
    # are few (and never more than all rows): one small gather per such column instead of masked passes over the
    # whole matrix.
    rows, k = x.shape
    counts = mask.sum(axis=0).astype(np.float64)
    part = np.flatnonzero(counts < rows)
    with np.errstate(invalid="ignore"):  # inf - inf in a column with gaps: its sum is taken again below
        sums = x.sum(axis=0)
    for p in part:
        sums[p] = x[mask[:, p], p].sum()
    x0 = x - sums / np.maximum(counts, 1.0)
    for p in part:
        x0[~mask[:, p], p] = 0.0
    sxy = x0.T @ x0
    colsum, sqsum = x0.sum(axis=0), np.diagonal(sxy).copy()
    n = np.repeat(counts[:, None], k, axis=1)  # n[i, j]: rows where both columns are present
    sx = np.repeat(colsum[:, None], k, axis=1)  # sx[i, j]: sum of column i over rows where j is present
    sxx = np.repeat(sqsum[:, None], k, axis=1)
    for p in part:
        gone = np.flatnonzero(~mask[:, p])
        g = x0[gone]
        n[:, p] = n[p, :] = counts - mask[gone].sum(axis=0)
        sx[:, p] = colsum - g.sum(axis=0)
        sxx[:, p] = sqsum - (g * g).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_x = sxx - sx * sx / n
        r = cov / np.sqrt(var_x * var_x.T)
    r[(n < 3) | ~np.isfinite(r)] = np.nan
    np.clip(r, -1.0, 1.0, out=r)
    return r, n


def average_ranks(x: np.ndarray, frame: pl.DataFrame | None = None) -> np.ndarray:
    """Column-wise ranks (1-based, ties get their average rank, NaN stays NaN), as Spearman's rho needs.

    ``frame``: the same columns as a Polars frame, ``x`` being their values as floats with every non-finite value
    (and null) as NaN; without it, one is made from ``x``.

    One sort per column, of 64-bit integers that order as the values do, their last bits replaced by the row's
    position: a plain sort of numbers, much faster than an argsort (whose result says which row went where), and
    several times faster than Polars' ``rank`` or SciPy's ``rankdata``. Polars makes the keys and sorts them, all
    columns in one query over its threads (its sort is three times faster than NumPy's here; the keys are made from
    ``frame`` because a frame made from NumPy arrays would load ``numpy.ma``, ~10 ms). Where the sorted keys differ
    in their value bits everywhere, the values are in order and none tie; else values that differ only in the last
    bits may have come out of order: the sorted values are checked, and put in order when they are not.
    Whole numbers within a range of at most twice the rows (counts, ratings, codes) are not sorted: each value's
    rank comes from how many rows hold each smaller value (a count per value, in one pass).

    >>> average_ranks(np.array([[3.0, 0.5], [1.0, 0.25], [3.0, 0.5], [np.nan, 2.0]])).tolist()
    [[2.5, 2.5], [1.0, 1.0], [2.5, 2.5], [nan, 4.0]]
    """
    # Column-major like the input: each column's ranks are scattered within one contiguous column (a few MB that
    # stay in cache) rather than one element per row of a row-major matrix, and the Spearman products read columns.
    # Every element is written below (a rank or NaN): not filled beforehand.
    out = np.empty(x.shape, order="F")
    if x.size == 0:
        return out
    n = x.shape[0]
    bits = max(1, (n - 1).bit_length())  # enough low bits for a row position
    nan = np.isnan(x)
    finite = n - nan.sum(axis=0)
    sort: list[int] = []  # the columns ranked by sorting
    for j in range(x.shape[1]):
        if finite[j] < n:
            out[nan[:, j], j] = np.nan
        if finite[j] and not _rank_by_counting(x[:, j], nan[:, j], out[:, j]):
            sort.append(j)
    if not sort:
        return out
    if bits > 24 or x.dtype != np.float64:  # (more rows than the keys hold): an argsort per column
        for j in sort:
            idx = np.argsort(x[:, j])[:finite[j]]  # NaN sorts last; the order within ties does not matter
            _rank_sorted(x[:, j], idx, out[:, j])
        return out
    if frame is None:
        frame = pl.DataFrame(x[:, sort], schema=[str(j) for j in sort], orient="row")
        names = frame.columns
    else:
        names = [frame.columns[j] for j in sort]
    low = (1 << bits) - 1
    keys = frame.select(_sort_key(pl.col(name), low).alias(str(i)) for i, name in enumerate(names))
    for i, j in enumerate(sort):
        # One column at a time, on one thread: less CPU time than sorting them all in one query over Polars' threads
        # (which keep a core busy waiting for work), and the other core has figures to draw meanwhile.
        ordered = keys.get_column(str(i)).sort(multithreaded=False).to_numpy()[:finite[j]]
        idx = (ordered & np.uint64(low)).astype(np.intp)
        high = ordered >> np.uint64(bits)
        if (high[1:] != high[:-1]).all():
            # Neighbours apart in the bits kept (continuous values, most often): the values are in order and none
            # tie, without looking at them. The ranks are 1..k in sorted order.
            out[idx, j] = np.arange(1.0, len(idx) + 1.0)
            continue
        col = x[:, j]
        v = col[idx]
        if not (v[1:] >= v[:-1]).all():
            # Values apart by less than the bits given up (a few neighbours among many values): put in order by a
            # merge sort, which goes through almost sorted values in one pass.
            idx = idx[np.argsort(v, kind="stable")]
        _rank_sorted(col, idx, out[:, j])
    return out


_SIGN = 1 << 63


def _sort_key(x: pl.Expr, low: int) -> pl.Expr:
    """:func:`average_ranks`' sorted keys of a column: 64-bit integers that order as the values do (a negative value's
    bits flipped, a positive value's sign bit set; -0.0 as 0.0, which it equals; NaN, ±inf and null last), their
    ``low`` bits replaced by the row's position."""
    x = x.cast(pl.Float64)
    b = x.reinterpret(dtype=pl.Int64)
    key = (pl.when(~x.is_finite().fill_null(False)).then(pl.lit(2**64 - 1, pl.UInt64))
           .when(x == 0.0).then(pl.lit(_SIGN, pl.UInt64))
           .when(b < 0).then((~b).reinterpret(dtype=pl.UInt64))
           .otherwise(b.reinterpret(dtype=pl.UInt64) | pl.lit(_SIGN, pl.UInt64)))
    position = pl.int_range(pl.len(), dtype=pl.UInt64)
    return (key & pl.lit(2**64 - 1 - low, pl.UInt64)) | position


def _rank_by_counting(col: np.ndarray, nan: np.ndarray, out: np.ndarray) -> bool:
    """Rank a column of whole numbers within a range of at most twice the rows (counts, ratings, codes) into
    ``out`` (NaN rows left alone): each value's rank from how many rows hold each smaller value, in one pass. False
    (nothing written) for other columns."""
    n = len(col)
    head = col[:64]
    if not _whole_numbers(head[~np.isnan(head)]):  # (a first look: most columns of measurements stop here)
        return False
    some = nan.any()
    values = col[~nan] if some else col
    low, high = values.min(), values.max()
    if high - low > 2 * n or not _whole_numbers(values):
        return False
    codes = (values - low).astype(np.intp)
    counts = np.bincount(codes)
    ends = np.cumsum(counts)  # rows holding this value or a smaller one
    # The same arithmetic as _rank_sorted: ties share the mean of their 1-based positions in sorted order.
    ranked = ((ends - counts + ends + 1) / 2.0)[codes]
    if some:
        out[~nan] = ranked
    else:
        out[:] = ranked
    return True


def _rank_sorted(col: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """Write into ``out`` the average ranks of ``col``'s rows ``idx``, given in sorted order of their values."""
    v = col[idx]
    k = len(idx)
    change = np.empty(k, dtype=bool)
    change[0] = True
    np.not_equal(v[1:], v[:-1], out=change[1:])
    if change.all():  # no ties (continuous values): the ranks are 1..k in sorted order
        out[idx] = np.arange(1.0, k + 1.0)
        return
    starts = np.flatnonzero(change)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = k
    out[idx] = ((starts + ends + 1) / 2.0)[np.cumsum(change) - 1]


def _whole_numbers(values: np.ndarray) -> bool:
    """Every value is a whole number (NaN is not; ±inf are left out too)."""
    with np.errstate(invalid="ignore"):
        return bool(np.all(values == np.floor(values)) and np.isfinite(values).all())


class _Numbers:
    """The sample's numeric columns as one float matrix (non-finite → NaN) and its column ranks, built once."""

    def __init__(self, sample: pl.DataFrame, cols: list[str]) -> None:
        self.sample = sample
        self.cols = cols
        self.pos = {c: i for i, c in enumerate(cols)}
        self.values = _numeric_matrix(sample, cols)
        self.ranks = average_ranks(self.values, sample.select(cols))
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def codes(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """:func:`_codes` of a sample column, computed once (Cramér's V and the target checks both need them)."""
        if name not in self._codes:
            self._codes[name] = _codes(self.sample, name)
        return self._codes[name]

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.pos[name]]

    def rank(self, name: str) -> np.ndarray:
        return self.ranks[:, self.pos[name]]


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013) of two integer-coded categorical arrays.

    >>> a = np.array([0, 0, 1, 1] * 25); round(cramers_v(a, a), 3)
    1.0
    """
    n = len(a)
    if n < 2:
        return float("nan")
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(np.float64)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    r, k = table.shape
    if r < 2 or k < 2:
        return float("nan")
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    rc, kc = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denom = min(kc - 1, rc - 1)
    return float(math.sqrt(phi2 / denom)) if denom > 0 else float("nan")


def correlation_ratio(groups: np.ndarray, values: np.ndarray) -> float:
    """η: how much of a numeric variable's variance the categories explain (0 none … 1 all), bias-corrected as
    Cramér's V is (ε², the within-group variance per degree of freedom): categories that split the rows into many
    small groups explain much of any variable by chance, and a column with one value per row (an id) would have
    η = 1 with every numeric target. NaN when there are no fewer groups than values.

    >>> round(correlation_ratio(np.array([0, 0, 1, 1]), np.array([1.0, 1.0, 5.0, 5.0])), 3)
    1.0
    >>> correlation_ratio(np.arange(50), np.random.default_rng(0).normal(size=50))
    nan
    """
    ok = np.isfinite(values)
    g, y = (groups, values) if ok.all() else (groups[ok], values[ok])
    if len(y) < 3:
        return float("nan")
    counts = np.bincount(g)
    sums = np.bincount(g, weights=y)
    present = counts > 0
    means = sums[present] / counts[present]
    mean = y.mean()
    total = ((y - mean) ** 2).sum()
    if total == 0:
        return float("nan")
    between = (counts[present] * (means - mean) ** 2).sum()
    n, k = len(y), int(present.sum())
    if n <= k:
        return float("nan")
    within = max(0.0, total - between)
    return float(math.sqrt(min(1.0, max(0.0, 1.0 - (within / (n - k)) / (total / (n - 1))))))


def _codes(sample: pl.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Dense integer codes 0..k-1 of a column (nulls get 0 and are excluded by the mask) and the not-null mask."""
    s = sample.get_column(name)
    mask = s.is_not_null().to_numpy()
    if not mask.any():
        return np.zeros(len(s), dtype=np.int64), mask
    if s.dtype == pl.Boolean or s.dtype in (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32):
        # Integers and booleans are their own ids (no detour through strings), shifted to start at 0 below.
        ints = s.cast(pl.Int64)
        low, high = int(ints.min()), int(ints.max())
        codes = ints.fill_null(low).to_numpy()
    else:
        codes = s.cast(pl.String).cast(pl.Categorical).to_physical().fill_null(0).to_numpy()
        low, high = 0, int(codes.max())
    if high - low < 50_000_000:
        # Renumber the ids 0..k-1 through a lookup table: a pass over the rows instead of the sort that
        # np.unique(return_inverse=True) does (same numbering: ids in increasing order).
        codes = np.where(mask, codes - low, 0).astype(np.int64)
        used = np.zeros(high - low + 1, dtype=bool)
        used[codes[mask]] = True
        codes = (np.cumsum(used) - 1)[codes]
        codes[~mask] = 0
    else:
        _, codes = np.unique(np.where(mask, codes, low), return_inverse=True)
    return codes.astype(np.int64, copy=False), mask


def _correlations(sample: pl.DataFrame, variables: dict[str, dict[str, Any]], target: str | None,
                  nums: _Numbers) -> dict[str, Any]:
    out: dict[str, Any] = {"computed_on": "sample", "rows": sample.height}
    numeric = [n for n in nums.cols if variables[n]["kind"] == "numeric"]
    if len(numeric) > MAX_CORR_COLUMNS:
        # The columns in the strongest relationships (the largest |r| with any other column), so that the figure
        # of a wide table shows its structure rather than its first columns; ties go to the most distinct values.
        full, _ = pairwise_pearson(nums.values[:, [nums.pos[n] for n in numeric]])
        strength = np.nan_to_num(np.abs(np.asarray(full, dtype=np.float64)), nan=0.0)
        np.fill_diagonal(strength, 0.0)
        best = strength.max(axis=0)
        order = sorted(range(len(numeric)), key=lambda i: (-round(float(best[i]), 12),
                                                            -(variables[numeric[i]].get("distinct") or 0), i))
        keep = {numeric[i] for i in order[:MAX_CORR_COLUMNS]}
        numeric = [n for n in numeric if n in keep]
        out["note"] = (f"showing {MAX_CORR_COLUMNS} of {len(nums.cols)} numeric columns (those most correlated with "
                       "another)")
    if len(numeric) >= 2 and sample.height >= 3:
        idx = [nums.pos[n] for n in numeric]
        if idx == list(range(len(nums.cols))):  # every column, in order (the usual case): no copies of the matrices
            pearson, _ = pairwise_pearson(nums.values)
            spearman, _ = pairwise_pearson(nums.ranks)
        else:
            pearson, _ = pairwise_pearson(nums.values[:, idx])
            spearman, _ = pairwise_pearson(nums.ranks[:, idx])
        out["pearson"] = {"columns": numeric, "matrix": _round_matrix(pearson)}
        out["spearman"] = {"columns": numeric, "matrix": _round_matrix(spearman)}
        if "note" in out:  # a figure of the kept columns says so in its title
            out["pearson"]["of"] = out["spearman"]["of"] = len(nums.cols)
    cats = [n for n, v in variables.items()
            if v["kind"] in ("categorical", "boolean") and 2 <= (v.get("distinct") or 0) <= MAX_ASSOC_LEVELS]
    if target in cats:
        cats.remove(target)
        cats.insert(0, target)
    cats = cats[:MAX_ASSOC_COLUMNS]
    if len(cats) >= 2 and sample.height >= 3:
        coded = {c: nums.codes(c) for c in cats}
        mat = np.eye(len(cats))
        for i, a in enumerate(cats):
            for j in range(i + 1, len(cats)):
                b = cats[j]
                both = coded[a][1] & coded[b][1]
                val = cramers_v(coded[a][0][both], coded[b][0][both]) if both.sum() > 2 else float("nan")
                mat[i, j] = mat[j, i] = val
        out["cramers_v"] = {"columns": cats, "matrix": _round_matrix(mat)}
    return out


def _skew_advice(skew: float, low: Any) -> str:
    """Which transform may help a heavily skewed column: a log only for a long right tail of values above zero (a
    log of a long left tail stretches it further, and there is none of zero or less).

    >>> _skew_advice(12.2, 1701)
    'a log or Yeo-Johnson transform may help linear models'
    >>> _skew_advice(3.0, 0)
    'a log(1 + x) or Yeo-Johnson transform may help linear models'
    >>> _skew_advice(-5.5, 10.7)
    'its long tail is on the left, where a log would stretch it further: a Yeo-Johnson transform may help linear models'
    """
    if skew < 0:
        how = "its long tail is on the left, where a log would stretch it further: a Yeo-Johnson transform"
    elif isinstance(low, (int, float)) and low > 0:
        how = "a log or Yeo-Johnson transform"
    elif isinstance(low, (int, float)) and low == 0:
        how = "a log(1 + x) or Yeo-Johnson transform"
    else:
        how = "a Yeo-Johnson transform (a log needs values above zero)"
    return how + " may help linear models"


def _target_summary(v: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"name": v["name"], "kind": v["kind"], "missing": v["missing"]}
    few_values = v["kind"] in ("categorical", "boolean") or (v["kind"] == "numeric" and v.get("distinct", 99) <= 20)
    if v.get("top") and few_values:
        total = sum(t["count"] for t in v["top"]) + v.get("other_count", 0)
        summary["classes"] = [{"value": t["value"], "count": t["count"], "pct": _pct(t["count"], total)}
                              for t in v["top"]]
        if len(summary["classes"]) >= 2:
            summary["minority_pct"] = min(c["pct"] for c in summary["classes"])
    return summary


def _target_association(sample: pl.DataFrame, variables: dict[str, dict[str, Any]], target: str,
                        nums: _Numbers) -> dict[str, Any]:
    """Strength of each feature's link with the target on the sample, and the measure used."""
    tv = variables[target]
    result: dict[str, Any] = {}
    if sample.height < 3 or tv["kind"] in ("empty", "other", "id-like", "text"):
        return result
    t_numeric = tv["kind"] == "numeric"
    t_series = sample.get_column(target)
    t_mask = t_series.is_not_null().to_numpy()
    if t_numeric:
        t_values, t_ranks = nums.column(target), nums.rank(target)
    else:
        t_codes, _ = nums.codes(target)
        ranges = _ClassRanges(t_codes, t_mask, nums.values) if nums.cols else None
    for name, v in variables.items():
        if name == target or v["kind"] in ("empty", "other", "text"):
            continue
        entry: dict[str, Any] | None = None
        if v["kind"] == "numeric" and name in nums.pos:
            x = nums.column(name)
            if t_numeric:
                r, _ = pairwise_pearson(np.column_stack([x, t_values]))
                rs, _ = pairwise_pearson(np.column_stack([nums.rank(name), t_ranks]))
                best = max((abs(r[0, 1]), "pearson"), (abs(rs[0, 1]), "spearman"), key=lambda t: np.nan_to_num(t[0]))
                entry = {"measure": best[1], "value": float(best[0])}
            else:
                ok = t_mask & np.isfinite(x)
                g, y = (t_codes, x) if ok.all() else (t_codes[ok], x[ok])  # no copies when nothing is missing
                entry = {"measure": "correlation ratio", "value": correlation_ratio(g, y)}
                separates = ranges.separates(nums.pos[name]) if ranges is not None else None
                entry["separates_classes"] = _separates(g, y) if separates is None else separates
        elif v["kind"] in ("categorical", "boolean", "id-like"):
            codes, mask = nums.codes(name)
            ok = mask & t_mask
            if ok.sum() < 3:
                continue
            if t_numeric:
                ok &= np.isfinite(t_values)
                entry = {"measure": "correlation ratio", "value": correlation_ratio(codes[ok], t_values[ok])}
            else:
                entry = {"measure": "Cramér's V", "value": cramers_v(codes[ok], t_codes[ok])}
                entry["determines_target"] = _determines(codes[ok], t_codes[ok])
        elif v["kind"] == "datetime":
            continue
        if entry is not None:
            entry["kind"] = v["kind"]
            result[name] = entry
    return dict(sorted(result.items(), key=lambda kv: -np.nan_to_num(kv[1]["value"])))


def _determines(feature: np.ndarray, target: np.ndarray) -> bool:
    """Every value of the feature (seen at least twice) maps to a single target value, over most rows."""
    if len(feature) < 10:
        return False
    # Both are codes 0..k-1 (:func:`_codes`): counted with NumPy, per feature value its rows and its distinct targets
    # (a frame built from NumPy arrays would load numpy.ma, a good part of this check's time).
    rows = np.bincount(feature)
    classes = int(target.max()) + 1
    pairs = feature.astype(np.int64) * classes + target
    if rows.size * classes <= 4 * len(feature):
        seen = np.bincount(pairs, minlength=rows.size * classes).reshape(rows.size, classes) > 0
        targets = seen.sum(axis=1)
    else:
        targets = np.bincount(np.unique(pairs) // classes, minlength=rows.size)
    kept = rows >= 2
    if kept.sum() < 2 or rows[kept].sum() < 0.5 * len(feature):
        return False  # an id-like column trivially "determines" everything; not evidence of leakage
    return bool((targets[kept] == 1).all())


class _ClassRanges:
    """Each class's min and max of every numeric column at once, for :func:`_separates` on all the columns.

    One row gather per class for the whole matrix instead of one boolean mask per class and column; used up to
    ``MAX_CLASSES`` classes (beyond, :func:`_separates` groups per column).
    """

    MAX_CLASSES = 16

    def __init__(self, classes: np.ndarray, mask: np.ndarray, values: np.ndarray) -> None:
        present = np.flatnonzero(np.bincount(classes[mask])) if mask.any() else np.empty(0, dtype=np.int64)
        self.usable = 0 < len(present) <= self.MAX_CLASSES
        if not self.usable:
            return
        k = values.shape[1]
        self.lo = np.empty((len(present), k))
        self.hi = np.empty((len(present), k))
        self.n = np.empty((len(present), k))
        rows = [np.flatnonzero(mask & (classes == c)) for c in present]
        # Column by column: gathering a class's rows of one (contiguous) column is several times faster than
        # gathering whole rows of the column-major matrix.
        for j in range(k):
            column = values[:, j]
            for i, r in enumerate(rows):
                v = column[r]
                # fmin/fmax skip NaN (the non-finite values): the same rows _separates sees for each column.
                self.lo[i, j] = np.fmin.reduce(v, initial=np.inf)
                self.hi[i, j] = np.fmax.reduce(v, initial=-np.inf)
                self.n[i, j] = np.count_nonzero(np.isfinite(v))

    def separates(self, j: int) -> bool | None:
        """:func:`_separates` of the target classes and column ``j``; None when not computed here."""
        if not self.usable:
            return None
        seen = self.n[:, j] > 0
        if self.n[:, j].sum() < 10 or seen.sum() < 2:
            return False
        lo, hi = np.array(sorted(zip(self.lo[seen, j], self.hi[seen, j], strict=True))).T
        return bool(np.all(lo[1:] > hi[:-1]))


def _separates(classes: np.ndarray, x: np.ndarray) -> bool:
    """The value ranges of the classes do not overlap: one threshold per class boundary predicts perfectly."""
    if len(x) < 10:
        return False
    present = np.flatnonzero(np.bincount(classes))
    if len(present) < 2:
        return False
    if len(present) <= 16:
        # A few classes (the usual target): one masked min/max per class beats building a frame to group.
        ranges = [(float(x[sel].min()), float(x[sel].max())) for sel in (classes == c for c in present)]
        lo, hi = np.array(sorted(ranges)).T
    else:
        frame = pl.DataFrame({"c": classes, "x": x}).group_by("c").agg(lo=pl.col("x").min(), hi=pl.col("x").max())
        frame = frame.sort("lo")
        lo, hi = frame["lo"].to_numpy(), frame["hi"].to_numpy()
    return bool(np.all(lo[1:] > hi[:-1]))


# ------------------------------------------------------------------------------------------------ preview


def _preview(lf: pl.LazyFrame, frame: pl.DataFrame | None, sample: pl.DataFrame) -> dict[str, Any]:
    head = frame.head(PREVIEW_ROWS) if frame is not None else _collect(lf.head(PREVIEW_ROWS))
    random = sample.sample(min(PREVIEW_ROWS, sample.height), seed=0) if sample.height else sample
    return {"columns": head.columns, "head": _records(head), "random": _records(random)}


def _records(frame: pl.DataFrame) -> list[list[Any]]:
    # Rows as lists of display-ready values: NaN/inf are kept visible as text rather than turned into null.
    rows = []
    for row in frame.iter_rows():  # at most PREVIEW_ROWS rows
        rows.append([_preview_value(x) for x in row])
    return rows


def _preview_value(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, str) and len(x) > 200:
        return x[:199] + "…"
    return x


# ----------------------------------------------------------------------------------------------- warnings


def _warnings(result: dict[str, Any], variables: dict[str, dict[str, Any]], target: str | None) -> list[dict]:
    out: list[dict[str, Any]] = []

    def add(kind: str, column: str | None, message: str, severity: str = "warning") -> None:
        out.append({"type": kind, "column": column, "severity": severity, "message": message})

    rows = result["rows"]
    if rows == 0:
        add("empty", None, "the data has no rows: only the column names and types are known", "error")
    elif rows == 1:
        add("one_row", None, "the data has a single row: statistics describe one value per column", "info")
    if result["columns"] == 0:
        add("no_columns", None, "the data has no columns", "error")
    total = result.get("total_row")
    if total:
        said = f"{total['label'][0]!r} is {total['label'][1]!r}; " if total["label"] else ""
        cols = ", ".join(repr(c) for c in total["columns"][:3]) + (", …" if len(total["columns"]) > 3 else "")
        add("total_row", None, f"the last row (row {total['row']:,}) looks like a totals row, not data ({said}{cols} "
                               "equal the sums of the rows above): it inflates sums, means and maxima; drop it before "
                               "modelling")
    dups = result.get("duplicate_rows")
    if dups:
        from assay.viz._report import fmt_pct  # the share as the overview's card writes it (3.8%, not 3.85%)

        add("duplicates", None, f"{_count(dups, 'duplicate row')} ({fmt_pct(result['duplicate_rows_pct'])} of rows)")
    for name, v in variables.items():
        kind = v["kind"]
        if rows == 0:
            continue
        if kind == "empty":
            add("all_missing", name, f"'{name}' is entirely missing ({rows:,} of {rows:,} rows)", "error")
            continue
        if v["missing_pct"] >= MANY_MISSING * 100:
            add("many_missing", name, f"'{name}' is {v['missing_pct']:.1f}% missing ({_count(v['missing'], 'row')})")
        distinct = v.get("distinct")
        no_finite = kind == "numeric" and v.get("count") and not v.get("finite")
        if no_finite:  # NaN or ±inf in every non-missing row: said once here, not as a 'single value' of nan
            add("no_finite", name, f"'{name}' has no finite value: its {_count(v['count'], 'non-missing value')} "
                                   f"are NaN ({v.get('nan', 0):,}) or infinite ({v.get('inf', 0):,})", "error")
        elif distinct == 1 and rows > 1:
            value = v["top"][0]["value"] if v.get("top") else v.get("min")
            add("constant", name, f"'{name}' has a single value ({value!r}) in every non-missing row")
        if kind == "id-like" and v.get("row_index"):
            add("id_like", name, f"'{name}' is the row index a table export left (its numbers only go up down the "
                                 "file): not data; assay train leaves it out")
        elif kind == "id-like" and name != target:  # (an identifier as the target is said below)
            add("id_like", name, f"'{name}' looks like an identifier ({distinct:,} distinct of {v['count']:,} "
                                 "values): exclude it from model features")
        if kind == "text" and (distinct or 0) > HIGH_CARDINALITY:
            # Whole sentences as categories: target encoding of (nearly) unique texts learns each row's own label.
            mean_len = (v.get("length") or {}).get("mean") or 0
            add("high_cardinality", name, f"'{name}' is free text ({distinct:,} distinct values, {mean_len:,.0f} "
                                          "characters on average): encoding whole texts as categories (one-hot, "
                                          "frequency or target encoding) would not generalise; derive features "
                                          "from its words instead")
        elif kind == "categorical" and (distinct or 0) > HIGH_CARDINALITY:
            add("high_cardinality", name, f"'{name}' has {distinct:,} distinct values (high cardinality): "
                                          "one-hot encoding would be wide; use frequency or target encoding")
        skew = v.get("skew")
        if kind == "numeric" and skew is not None and math.isfinite(skew) and abs(skew) > SKEW_LIMIT:
            add("skewed", name, f"'{name}' is heavily skewed (skewness {skew:.2f}); {_skew_advice(skew, v.get('min'))}")
        if v.get("inf") and not no_finite:
            add("infinite", name, f"'{name}' has {_count(v['inf'], 'infinite value')}")
        if v.get("nan") and not no_finite:
            add("nan", name, f"'{name}' has {_count(v['nan'], 'NaN value')} (not-a-number, distinct from missing)")
        if kind in ("categorical", "text", "id-like") and v.get("numeric_like"):
            n_num, n = v["numeric_like"], v["count"]
            if n_num == n and v.get("zero_codes"):
                add("numeric_text", name, f"'{name}' holds only numbers, and {_count(v['zero_codes'], 'value')} "
                                          "written with leading zeros (as codes are): keep it as text", "info")
            elif n_num == n:
                add("numeric_text", name, f"'{name}' is stored as text but every value is a number: "
                                          "convert it to a numeric type", "info")
            elif n_num >= MIXED_SHARE * n:  # a few numbers among words are names ('1941', '10'), not a mix
                ex = v.get("mixed_examples", {})
                add("mixed_types", name, f"'{name}' mixes numbers ({_count(n_num, 'value')}, e.g. "
                                         f"{ex.get('numeric', [])[:2]}) and text ({_count(n - n_num, 'value')}, e.g. "
                                         f"{ex.get('text', [])[:2]})")
        variants = v.get("spelling_variants")  # (per column; the totals row is said once, below the loop)
        if variants:
            ex = " and ".join(repr(x) for x in variants["examples"][:2])
            add("spelling_variants", name, f"'{name}' spells some values in several ways that differ only in case or "
                                           f"in spaces around them (e.g. {ex}): {variants['values']:,} spellings of "
                                           f"{_count(variants['values'] - variants['merged'], 'value')}; the text step "
                                           "(assay clean -s text:case=lower) makes them one")
        read = v.get("read_from_text")
        if read and read["unreadable"]:
            how = f" (format {read['format']})" if read["format"] else ""
            add("unreadable_times", name, f"'{name}' reads as {read['kind']}{how} but for "
                                          f"{_count(read['unreadable'], 'value')}, e.g. {read['example']!r}, counted "
                                          "as missing")
        if v.get("blank"):
            add("blank_strings", name, f"'{name}' has {_count(v['blank'], 'empty or blank string')} (not counted as "
                                       "missing)", "info")
        outl = v.get("outliers")
        if outl and outl["pct"] >= 5:
            add("outliers", name, f"'{name}' has {_count(outl['count'], 'value')} ({outl['pct']:.1f}%) outside the IQR "
                                  f"fences [{_num(outl['low_fence'])}, {_num(outl['high_fence'])}]", "info")
    if target is not None:
        ts = result.get("target_summary", {})
        if variables[target]["kind"] == "empty":
            add("target_missing", target, f"target '{target}' is entirely missing: nothing can be learned", "error")
        elif variables[target]["kind"] == "id-like":
            tv = variables[target]
            add("target_id_like", target, f"target '{target}' has a different value in almost every row "
                                          f"({tv.get('distinct') or 0:,} distinct of {tv['count']:,}): it looks like "
                                          "an identifier, not something to predict", "error")
        elif variables[target].get("distinct") == 1:
            add("target_constant", target, f"target '{target}' has one value only: nothing can be learned",
                "error")
        if ts.get("minority_pct") is not None and ts["minority_pct"] < 5:
            add("imbalanced", target, f"target '{target}' is imbalanced: the rarest class is "
                                      f"{ts['minority_pct']:.2f}% of rows")
        if variables[target]["missing"]:
            add("target_has_missing", target, f"target '{target}' is missing in {variables[target]['missing']:,} "
                                              "rows; they cannot be used for training")
        for name, a in result.get("target_association", {}).items():
            value = a.get("value")
            strong = value is not None and math.isfinite(value) and value > LEAK_LIMIT
            if strong or a.get("determines_target") or a.get("separates_classes"):
                why = (f"{a['measure']} {value:.3f}" if strong else
                       "each of its values maps to a single target value" if a.get("determines_target") else
                       "its value ranges per class do not overlap")
                add("target_leakage", name, f"'{name}' may leak the target '{target}' ({why}); check that it is "
                                            "known before the target is", "error")
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda w: rank[w["severity"]])  # stable: column order within a severity


# ------------------------------------------------------------------------------------------------ helpers


def _num(x: float) -> str:
    """A number for a message: 4 significant digits, thousands separated when large.

    >>> _num(11940.6), _num(-30.6312), _num(0.000123)
    ('11,941', '-30.63', '0.000123')
    """
    return f"{x:,.0f}" if 1000 <= abs(x) < 1e15 else f"{x:.4g}"


def _count_kinds(variables: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for v in variables.values():
        counts[v["kind"]] += 1
    return {k: n for k, n in counts.items() if n}


def _pct(part: float | None, whole: float) -> float | None:
    if part is None:
        return None
    return round(100.0 * part / whole, 4) if whole else 0.0


def _round_matrix(m: np.ndarray) -> list[list[float | None]]:
    return [[None if not np.isfinite(x) else round(float(x), 4) for x in row] for row in m]


def jsonable(obj: Any) -> Any:
    """``obj`` with every value turned into plain JSON: NaN/inf → None, dates → ISO text, NumPy → Python.

    >>> jsonable({"a": float("nan"), "b": [np.int64(2), dt.date(2024, 1, 31)]})
    {'a': None, 'b': [2, '2024-01-31']}
    """
    kind = type(obj)  # the plain types first, by exact type: most of a profile (called on it several times)
    if kind is str or kind is int or obj is None:
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else None
    if kind is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in obj.items()}
    if kind is list:
        return [jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, Decimal):
        return jsonable(float(obj))
    if isinstance(obj, bytes):
        return obj.hex()
    if obj is None or isinstance(obj, int | str):
        return obj
    return str(obj)
