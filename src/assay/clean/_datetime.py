"""The ``datetime_parts`` step: dates, datetimes, times and durations become numeric feature columns.

A date or datetime column ``d`` becomes ``d_year``, ``d_month``, ``d_day``, ``d_weekday`` (1 = Monday, ISO),
``d_elapsed_days`` (days since the earliest value seen in fit, a float: the smooth time trend the calendar parts
cannot give) and, for datetimes, ``d_hour`` (other parts on request: ``quarter``, ``dayofyear``, ``minute``,
``second``, ``is_weekend``, ``epoch`` in seconds). A time of day becomes ``t_hour`` and ``t_minute``; a duration
becomes ``x_seconds``. The original column is dropped. The state is the column list and each column's earliest
value (as microseconds since 1970, an integer, so merging batches takes an exact minimum); null gives null parts
(a later ``missing`` step fills them).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from assay.clean._base import Frame, Step, refuse_overwrite, resolve_columns
from assay.clean._stats import check_choice
from assay.exceptions import SchemaError

__all__ = ["DatetimePartsStep"]

PARTS = ("year", "quarter", "month", "day", "weekday", "dayofyear", "hour", "minute", "second", "is_weekend",
         "epoch", "elapsed_days")
CALENDAR = ("year", "month", "day", "weekday")
DATE_DEFAULT = (*CALENDAR, "elapsed_days")
DATETIME_DEFAULT = (*CALENDAR, "hour", "elapsed_days")
MICROSECONDS_PER_DAY = 86_400_000_000


def _kind(dtype: pl.DataType) -> str | None:
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Time:
        return "time"
    if isinstance(dtype, pl.Duration):
        return "duration"
    return None


def _part(x: pl.Expr, part: str) -> pl.Expr:
    if part == "year":
        return x.dt.year().cast(pl.Int32)
    if part == "quarter":
        return x.dt.quarter().cast(pl.Int8)
    if part == "month":
        return x.dt.month().cast(pl.Int8)
    if part == "day":
        return x.dt.day().cast(pl.Int8)
    if part == "weekday":
        return x.dt.weekday().cast(pl.Int8)
    if part == "dayofyear":
        return x.dt.ordinal_day().cast(pl.Int16)
    if part == "hour":
        return x.dt.hour().cast(pl.Int8)
    if part == "minute":
        return x.dt.minute().cast(pl.Int8)
    if part == "second":
        return x.dt.second().cast(pl.Int8)
    if part == "is_weekend":
        return (x.dt.weekday() >= 6).cast(pl.Int8)
    return x.dt.epoch("s").cast(pl.Float64)  # epoch


class DatetimePartsStep(Step):
    """Split date/datetime/time/duration columns into numeric parts.

    Parameters
    ----------
    columns:
        Date, datetime, time and duration columns to split (default: every such column except the target); a
        column of another type is an error (the ``types`` step reads text as dates first).
    parts:
        The parts each date or datetime column ``d`` gives, as ``d_<part>`` columns in the order listed; any of
        ``year``, ``quarter``, ``month``, ``day``, ``weekday`` (1 = Monday … 7 = Sunday), ``dayofyear``, ``hour``,
        ``minute``, ``second``, ``is_weekend`` (1 on Saturday and Sunday, else 0), ``epoch`` (seconds since
        1970-01-01) or ``elapsed_days`` (days since the earliest value seen in fit, a float: the smooth time trend
        the calendar parts cannot give). Default: ``year``, ``month``, ``day``, ``weekday`` and ``elapsed_days``,
        and ``hour`` for datetimes. Dates leave out ``hour``, ``minute`` and ``second``. ``parts`` does not
        apply to the others: a time of day ``t`` gives ``t_hour`` and ``t_minute``, a duration ``x`` gives
        ``x_seconds``.
    drop_original:
        Drop each split column once its parts are made; ``false`` keeps it beside them.

    A missing value gives missing parts (a later ``missing`` step fills them).

    >>> import polars as pl
    >>> from datetime import date
    >>> df = pl.DataFrame({"day": [date(2024, 3, 9)]})
    >>> step = DatetimePartsStep().fit(df)
    >>> step.transform(df).row(0, named=True)
    {'day_year': 2024, 'day_month': 3, 'day_day': 9, 'day_weekday': 6, 'day_elapsed_days': 0.0}
    >>> step.transform(pl.DataFrame({"day": [date(2024, 3, 24)]}))["day_elapsed_days"].to_list()
    [15.0]
    """

    name = "datetime_parts"
    lazy_summary = True

    def __init__(self, columns: list[str] | None = None, *, parts: list[str] | None = None,
                 drop_original: bool = True) -> None:
        self.columns = columns
        self.parts = parts
        self.drop_original = drop_original

    def summarize(self, frame: Frame, target: str | None = None) -> dict[str, Any]:
        for part in self.parts or ():
            check_choice(self.name, "parts", part, PARTS)
        schema = frame.collect_schema()
        default = [c for c, t in schema.items() if _kind(t) is not None]
        columns = resolve_columns(self.columns, schema, default, exclude=[target] if target else [], step=self.name)
        kinds = {}
        for col in columns:
            kind = _kind(schema[col])
            if kind is None:
                msg = (f"{self.name}: column {col!r} is {schema[col]}, not a date, datetime, time or duration; "
                       "convert it first with the 'types' step")
                raise SchemaError(msg)
            kinds[col] = kind
        # The earliest value of each date or datetime column, for elapsed_days (an exact integer minimum).
        dated = [c for c, k in kinds.items() if k in ("date", "datetime")] \
            if "elapsed_days" in (self.parts or DATE_DEFAULT) else []
        origin: dict[str, int | None] = {}
        if dated:
            row = frame.select([pl.col(c).dt.epoch("us").min().alias(c) for c in dated])
            origin = (row.collect() if isinstance(row, pl.LazyFrame) else row).row(0, named=True)
        return {"kinds": kinds, "names": list(schema), "origin": origin}

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        origin = dict(a.get("origin", {}))
        for col, first in b.get("origin", {}).items():
            if first is not None and (origin.get(col) is None or first < origin[col]):
                origin[col] = first
        return {**a, "origin": origin}

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        parts: dict[str, list[str]] = {}
        for col, kind in summary["kinds"].items():
            if kind == "time":
                parts[col] = ["hour", "minute"]
            elif kind == "duration":
                parts[col] = ["seconds"]
            elif self.parts:
                parts[col] = [p for p in self.parts if kind == "datetime" or p not in ("hour", "minute", "second")]
            else:
                parts[col] = list(DATETIME_DEFAULT if kind == "datetime" else DATE_DEFAULT)
        made = {f"{col}_{part}": f"the {part} of {col!r}" for col, ps in parts.items() for part in ps}
        refuse_overwrite(self.name, made, summary.get("names", []))
        origin = summary.get("origin", {})
        return {"parts": parts, "origin": {c: origin.get(c) for c, ps in parts.items() if "elapsed_days" in ps}}

    def _transform(self, frame: Frame) -> Frame:
        names = frame.collect_schema().names()
        exprs = []
        cols = [c for c in self.state_["parts"] if c in names]
        for col in cols:
            for part in self.state_["parts"][col]:
                if part == "seconds":
                    expr = pl.col(col).dt.total_microseconds().cast(pl.Float64) * (1.0 / 1e6)
                elif part == "elapsed_days":
                    # The integer difference is exact; one conversion to float then gives the days.
                    first = self.state_["origin"].get(col)
                    expr = ((pl.col(col).dt.epoch("us") - first).cast(pl.Float64) * (1.0 / MICROSECONDS_PER_DAY)
                            if first is not None else pl.lit(None, dtype=pl.Float64))
                else:
                    expr = _part(pl.col(col), part)
                exprs.append(expr.alias(f"{col}_{part}"))
        if not exprs:
            return frame
        out = frame.with_columns(exprs)
        return out.drop(cols) if self.drop_original else out
