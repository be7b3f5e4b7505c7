"""The types step's counts come from a staged number reduction and from date formats tried only on values shaped
for them; both must count exactly what parsing every value with every format counts."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from assay.clean import TypesStep
from assay.clean._types import (
    _INTEGER_TEXT,
    DATE_FORMATS,
    DATETIME_FORMATS,
    _clean_text,
    _number_text,
    _unit_of,
    parse_bool,
    parse_number,
    parse_temporal,
)


def _values(seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    out: list[str] = []
    for _ in range(300):
        d = dt.datetime(rnd.randint(1900, 2100), rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23),
                        rnd.randint(0, 59), rnd.randint(0, 59), rnd.randint(0, 999_999))
        out += [d.strftime(f) for f in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y",
                                         "%d-%m-%Y", "%d-%b-%Y", "%B %d, %Y", "%d %B %Y", "%Y-%m", "%Y/%m",
                                         "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y/%m/%d %H:%M", "%d/%m/%Y %H:%M",
                                         "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S+08:00",
                                         "%Y-%m-%d %H:%M+05", "%Y年%m月%d日")]
        out += [f"{d.month}/{d.day}/{d.year % 100}", f"{d.year}-{d.month}-{d.day}", f"{d.day}.{d.month}.{d.year}",
                f"{d.day} {d.strftime('%b').lower()} {d.year}", f"{d.strftime('%B').upper()}  {d.day}, {d.year}",
                f"{d.year}-{d.month}", f"{d.year}年{d.month}月", d.strftime("%Y年%m月"), f"{d.year}/{d.month}/x",
                d.strftime("%b %Y"), d.strftime("%B-%Y").upper(), d.strftime("%b. %Y")]
        x = rnd.uniform(-1e6, 1e6)
        out += [f"{x:.3f}", f"{x:,.2f}", f"({abs(x):.1f})", f"{x:e}", f"{int(x)}", f"{x:,.2f}".replace(",", " "),
                f"{abs(x):,.2f}".replace(",", "X").replace(".", ",").replace("X", "."), f"{x / 1e4:.2f}万",
                f"${abs(x):,.0f}", f"{rnd.random():.0%}", f"１２{rnd.randint(0, 9)}", f"−{rnd.randint(1, 99)}",
                f"{rnd.randint(1, 99)}kg", f"ID-{rnd.randint(0, 10**6)}", f"{rnd.randint(0, 9)}-{rnd.randint(0, 9)}",
                rnd.choice(["yes", "NO", "是", "否", "true", "?", "-", "", " ", "NA", "1e5", "inf", "abc", "12-ab"])]
    return out


@pytest.mark.parametrize("where", ["memory", "scan"])
def test_counts_equal_parsing_every_value(where: str) -> None:
    values = _values()
    frame = pl.DataFrame({"x": values})
    step = TypesStep()
    got = step.summarize(frame if where == "memory" else frame.lazy())["counts"]["x"]
    s = _clean_text("x", step._tokens())
    checks = {"n": s.is_not_null(), "number": parse_number(s).is_not_null(),
              "integer": _number_text(s).str.contains(_INTEGER_TEXT), "boolean": parse_bool(s).is_not_null(),
              "unit": _unit_of(s).is_not_null()}
    for kind, fmts in (("date", DATE_FORMATS), ("datetime", DATETIME_FORMATS)):
        checks.update({f"{kind}|{f}": parse_temporal(s, kind, f).is_not_null() for f in fmts})
    want = frame.select(flag.sum().alias(key) for key, flag in checks.items()).row(0, named=True)
    assert {k: got.get(k, 0) for k in want} == want
    assert want["date|%d-%b-%Y"] > 0
    assert want["datetime|%Y-%m-%d %H:%M:%S%z"] > 0
    assert want["date|%Y-%m"] > 0


def test_numbers_on_a_large_frame_equal_the_single_expression() -> None:
    values = [v for v in _values(3) if v.strip()] * 40  # more rows than a frame converted in one expression
    frame = pl.DataFrame({"x": values, "y": [str(i) for i in range(len(values))]})
    step = TypesStep(kinds={"x": "number"}).fit(frame)
    out = step.transform(frame)
    assert frame.height > 10_000
    want = frame.select(parse_number(_clean_text("x", step._tokens())).alias("x"),
                        parse_number(pl.col("y")).round(0).cast(pl.Int64).alias("y"))
    assert out.columns == ["x", "y"]
    assert out.schema["y"] == pl.Int64
    assert out.equals(want)
    assert out.head(50).equals(step.transform(frame.head(50)))


@pytest.mark.parametrize("months", [["1949-01", "1949-02", "1950-12"], ["1949-1", "1949/02", "1950-12"],
                                    ["1949年1月", "1949年2月", "1950年12月"],
                                    ["Jan 1949", "February-1949", "DEC 1950"]])
def test_year_and_month_read_as_the_first_of_the_month(months: list[str]) -> None:
    frame = pl.DataFrame({"Month": months, "n": ["112", "118", "140"]})
    out = TypesStep().fit_transform(frame)
    assert out.get_column("Month").to_list() == [dt.date(1949, 1, 1), dt.date(1949, 2, 1), dt.date(1950, 12, 1)]
