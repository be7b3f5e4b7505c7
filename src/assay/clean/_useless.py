"""The ``drop_useless`` step: drop feature columns that are entirely missing or hold a single value, and the row
numbers a table export leaves behind.

Such a column carries no information for a model; dropping it is not an error. The step records what it dropped and
why in ``state_["dropped"]`` and logs it through :mod:`logging` (not :mod:`warnings`, which callers may turn into
errors). Constant detection is mergeable: a column is constant when its non-null minimum equals its maximum, and
min/max merge exactly. With ``unsupported=True`` it also drops columns no model can use (lists, structs, binary,
objects), which the automatic defaults rely on so that every remaining feature can become a number.

Row numbers: R's ``write.csv`` and pandas' ``to_csv`` write the row index as a first column with an empty header
(read back as ``""``, ``"Unnamed: 0"`` or ``"...1"``). As a feature it only tells a model where a row sat in
the file, which leaks whatever order the file was sorted in. An integer column with such a header whose values
only go up in file order is dropped as ``"row numbers"``: rows removed before the export leave gaps (R keeps the
original row names of a subset: 2, 3, 5, …, or ids such as 20040001, 20040002, …). A column named ``index``
(a name people also give their own columns) is dropped only when it is exactly 0, 1, 2, … or 1, 2, 3, …. The
check merges exactly over batches taken in order (first, last, count, whether each batch steps by one and
whether it only goes up).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import polars as pl

from assay.clean._base import Frame, Step, resolve_columns
from assay.clean._stats import collect_row

__all__ = ["DropUselessStep"]

log = logging.getLogger(__name__)

# Names a table export gives its row index (lower-cased): R write.csv / pandas to_csv headers, read back by Polars
# (""), pandas ("Unnamed: 0") or readr ("...1"); and the usual names of a written-out index. R's read.csv names it
# "X", but x is also the usual name of a real predictor that runs 1, 2, 3, … (y ~ x over time): not listed.
ROW_NUMBER_NAMES = frozenset({"", "unnamed: 0", "...1", "index", "rownames", "row.names"})
# Of those, the headers only an export gives its row index: increasing numbers with gaps count as row numbers.
EXPORT_INDEX_NAMES = ROW_NUMBER_NAMES - {"index"}

_ORDERABLE = (pl.Boolean, pl.String, pl.Categorical, pl.Enum, pl.Date, pl.Datetime, pl.Time, pl.Duration,
              pl.Decimal)


def _orderable(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or isinstance(dtype, _ORDERABLE) or dtype in _ORDERABLE


def _unsupported(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object | pl.Binary) or dtype in (
        pl.Binary, pl.Object, pl.Null)


class DropUselessStep(Step):
    """Drop columns that are all missing or constant (and, optionally, of a type no model can use).

    Parameters
    ----------
    columns:
        Columns to check (default: every column except the target).
    constant:
        Drop a column whose non-missing values are all equal (one value, with or without missing values).
    all_missing:
        Drop a column with no value at all (only nulls, or NaN in a float column).
    unsupported:
        Also drop columns of a type no model can use: lists, arrays, structs, binary, Python objects and the
        all-null Null type.
    row_numbers:
        Drop a row index that a table export wrote as a column (R's ``write.csv``, pandas' ``to_csv``): an
        integer column headed ``""``, ``Unnamed: 0``, ``...1``, ``rownames`` or ``row.names`` (in any case) whose
        values only go up in file order, gaps allowed, or one named ``index`` that is exactly 0, 1, 2, … or
        1, 2, 3, …. As a feature it only tells a model where a row sat in the file.

    The fit logs each dropped column with the reason, which ``state_["dropped"]`` keeps (``"all missing"``,
    ``"constant"``, ``"row numbers"``, ``"unsupported type <dtype>"``). The target column is never dropped. Fitted
    on fewer than two rows (a 0- or 1-row file), where every column would look empty or constant, it drops only
    columns of an unusable type, and says so.

    >>> import polars as pl
    >>> df = pl.DataFrame({"a": [1, 2, 3], "empty": [None, None, None], "same": ["x", "x", None]})
    >>> step = DropUselessStep().fit(df)
    >>> step.state_["dropped"]
    {'empty': 'all missing', 'same': 'constant'}
    >>> step.transform(df).columns
    ['a']
    >>> DropUselessStep().fit(pl.DataFrame({"": [1, 2, 3], "x1": [5.0, 1.0, 2.0]})).state_["dropped"]
    {'': 'row numbers'}
    """

    name = "drop_useless"
    lazy_summary = True

    def __init__(self, columns: list[str] | None = None, *, constant: bool = True, all_missing: bool = True,
                 unsupported: bool = False, row_numbers: bool = True) -> None:
        self.columns = columns
        self.constant = constant
        self.all_missing = all_missing
        self.unsupported = unsupported
        self.row_numbers = row_numbers

    def summarize(self, frame: Frame, target: str | None = None) -> dict[str, Any]:
        schema = frame.collect_schema()
        columns = resolve_columns(self.columns, schema, list(schema), exclude=[target] if target else [],
                                  step=self.name)
        exprs: list[pl.Expr] = []
        kinds: dict[str, str] = {}
        for i, col in enumerate(columns):
            dtype = schema[col]
            if _unsupported(dtype):
                kinds[col] = f"unsupported type {dtype}"
                exprs.append(pl.col(col).is_not_null().sum().alias(f"{i}n"))
                continue
            x = pl.col(col)
            if dtype.is_float():
                x = x.fill_nan(None)
            elif isinstance(dtype, pl.Categorical | pl.Enum):
                x = x.cast(pl.String)
            exprs.append(x.is_not_null().sum().alias(f"{i}n"))
            if _orderable(dtype):
                exprs += [x.min().alias(f"{i}lo"), x.max().alias(f"{i}hi")]
            if self.row_numbers and dtype.is_integer() and col.strip().lower() in ROW_NUMBER_NAMES:
                exprs += [x.first().alias(f"{i}first"), x.last().alias(f"{i}last"),
                          (x.diff().drop_nulls() == 1).all().alias(f"{i}step"),
                          (x.diff().drop_nulls() >= 1).all().alias(f"{i}up"), pl.len().alias(f"{i}len")]
        row = collect_row(frame, [*exprs, pl.len().alias("__rows__")]) if columns else {}
        cols: dict[str, Any] = {}
        for i, col in enumerate(columns):
            lo, hi = row.get(f"{i}lo"), row.get(f"{i}hi")
            cols[col] = {"n": int(row[f"{i}n"] or 0), "lo": lo, "hi": hi, "kind": kinds.get(col),
                         "orderable": f"{i}lo" in row}
            if f"{i}first" in row:  # a row-number candidate: in order, stepping by one, no nulls
                rows = int(row[f"{i}len"])
                whole = cols[col]["n"] == rows
                cols[col]["seq"] = (row[f"{i}first"], row[f"{i}last"], bool(row[f"{i}step"]) and whole,
                                    bool(row[f"{i}up"]) and whole, col.strip().lower()) if rows else None
        return {"columns": columns, "stats": cols, "rows": int(row.get("__rows__") or 0)}

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        stats = {}
        for col in a["columns"]:
            x, y = a["stats"][col], b["stats"][col]
            lo = [v for v in (x["lo"], y["lo"]) if v is not None]
            hi = [v for v in (x["hi"], y["hi"]) if v is not None]
            stats[col] = {"n": x["n"] + y["n"], "lo": min(lo) if lo else None, "hi": max(hi) if hi else None,
                          "kind": x["kind"], "orderable": x["orderable"]}
            if "seq" in x:  # batches in order: still one run when the second continues the first
                first, then = x["seq"], y["seq"]
                stats[col]["seq"] = (first if then is None else then if first is None else
                                     (first[0], then[1], first[2] and then[2] and then[0] == first[1] + 1,
                                      first[3] and then[3] and then[0] > first[1], first[4]))
        return {"columns": a["columns"], "stats": stats, "rows": a.get("rows", 2) + b.get("rows", 2)}

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        dropped: dict[str, str] = {}
        # One row makes every column look constant, and none makes every column look empty: with fewer than two
        # rows there is nothing to judge by, and only columns of a type no model can use are dropped.
        rows = summary.get("rows", 2)
        if rows < 2 and summary["columns"]:
            log.warning("drop_useless: fitted on %d row(s), too few to tell a constant or empty column; kept every "
                        "column", rows)
        for col in summary["columns"]:
            s = summary["stats"][col]
            if s["kind"] is not None and self.unsupported:
                dropped[col] = s["kind"]
            elif rows < 2:
                continue
            elif s["n"] == 0 and self.all_missing:
                dropped[col] = "all missing"
            elif self.constant and s["orderable"] and s["n"] > 0 and s["lo"] == s["hi"]:
                dropped[col] = "constant"
            elif _row_numbers(s):
                dropped[col] = "row numbers"
        if dropped:
            log.warning("drop_useless: dropped %d column(s): %s", len(dropped),
                        "; ".join(f"{c!r} ({why})" for c, why in dropped.items()))
        return {"dropped": dropped}

    def _transform(self, frame: Frame) -> Frame:
        return frame.drop(list(self.state_["dropped"]), strict=False)


def _row_numbers(stats: dict[str, Any]) -> bool:
    seq = stats.get("seq")
    if not seq:
        return False
    if seq[4] in EXPORT_INDEX_NAMES:
        return bool(seq[3])
    return bool(seq[2]) and seq[0] in (0, 1)


def row_index_columns(frame: pl.DataFrame, exclude: str | None = None) -> list[str]:
    """The columns of a whole table that are an exported row index (the ``drop_useless`` rule), found without
    fitting or logging anything; ``exclude``: a column never to name (the target)."""
    candidates = [c for c, t in frame.schema.items()
                  if c != exclude and t.is_integer() and c.strip().lower() in ROW_NUMBER_NAMES]
    if not candidates:
        return []
    stats = DropUselessStep(candidates).summarize(frame)["stats"]
    return [c for c in candidates if _row_numbers(stats[c])]


# What the label cell of a report's totals row says ("合计" and friends; "Total", "Grand total", "Sum").
_TOTAL_LABEL = re.compile(r"^\s*(合\s*计|总\s*计|小\s*计|总和|汇总|共计|total|totals|grand total|sum|all)\s*[:：]?\s*$",
                          re.IGNORECASE)


def total_row(frame: pl.DataFrame, numeric: list[str] | None = None,
              text: list[str] | None = None) -> dict[str, Any] | None:
    """The last row of a spreadsheet export when it holds the column totals ("合计" under the names, the sums under
    the numbers): ``{"row": its 1-based number, "label": (column, text) or None, "columns": the sums}``, else None.

    Its numbers equal the sums of the rows above (within 0.5%), and a text cell says total, or two numeric columns
    or more are such sums (by chance, practically never). ``numeric``/``text``: the columns to look at (default:
    the numeric and the text ones).

    >>> report = pl.DataFrame({"城市": ["北京", "上海", "合计"], "销售额": [100.5, 200.0, 300.5]})
    >>> total_row(report)
    {'row': 3, 'label': ('城市', '合计'), 'columns': ['销售额']}
    """
    if frame.height < 3:
        return None
    schema = frame.schema
    if numeric is None:
        numeric = [c for c, t in schema.items() if t.is_numeric()]
    if text is None:
        text = [c for c, t in schema.items() if t in (pl.String, pl.Categorical)]
    if not numeric:
        return None
    last = frame.tail(1)
    above = frame.head(frame.height - 1).select(pl.col(numeric).cast(pl.Float64).sum()).row(0, named=True)
    values = last.select(pl.col(numeric).cast(pl.Float64)).row(0, named=True)
    sums = [c for c in numeric if values[c] is not None and above[c]
            and abs(values[c] - above[c]) <= 0.005 * abs(above[c])]
    label = next(((c, str(last[c][0])) for c in text if last[c][0] is not None
                  and _TOTAL_LABEL.match(str(last[c][0]))), None)
    if not sums or (label is None and len(sums) < 2):
        return None
    return {"row": frame.height, "label": label, "columns": sums}
