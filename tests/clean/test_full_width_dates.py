"""Dates and times written with full-width digits and marks (as East Asian input methods type them) read as dates,
as full-width numbers read as numbers; ASCII text is left as it is."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from assay.clean import TypesStep
from assay.clean._types import parse_temporal


def _fit(values: list[str | None], **params: object) -> tuple[TypesStep, list]:
    frame = pl.DataFrame({"v": values})
    step = TypesStep(**params).fit(frame)
    return step, step.transform(frame)["v"].to_list()


def test_full_width_iso_dates_read_as_dates() -> None:
    step, out = _fit(["２０２４-０３-０１", "２０２４－１２－３１", "2024-01-05", None])
    assert step.state_["convert"]["v"] == {"kind": "date", "format": "%Y-%m-%d"}
    assert step.state_["unparsed"] == {}
    assert out == [date(2024, 3, 1), date(2024, 12, 31), date(2024, 1, 5), None]


def test_full_width_chinese_dates_read_as_dates() -> None:
    step, out = _fit(["２０２４年３月１日", "２０２４年１２月３１日", "2023年1月9日"])
    assert step.state_["convert"]["v"] == {"kind": "date", "format": "%Y年%m月%d日"}
    assert out == [date(2024, 3, 1), date(2024, 12, 31), date(2023, 1, 9)]


def test_full_width_slashes_and_times_read_as_datetimes() -> None:
    step, out = _fit(["２０２４／０３／０１ １２：３０", "２０２４/03/02 08:05", "2024/03/03 23:59"])
    assert step.state_["convert"]["v"] == {"kind": "datetime", "format": "%Y/%m/%d %H:%M"}
    assert out == [datetime(2024, 3, 1, 12, 30), datetime(2024, 3, 2, 8, 5), datetime(2024, 3, 3, 23, 59)]


def test_a_step_fitted_on_ascii_dates_reads_full_width_ones() -> None:
    step = TypesStep().fit(pl.DataFrame({"v": ["2024-03-01", "2024-03-02"]}))
    out = step.transform(pl.DataFrame({"v": ["２０２４-０３-０４", "2024-03-05"]}))
    assert out["v"].to_list() == [date(2024, 3, 4), date(2024, 3, 5)]
    assert step.unreadable(pl.DataFrame({"v": ["２０２４-０３-０４"]})) == {}


def test_full_width_dates_read_in_a_scan() -> None:
    lazy = pl.LazyFrame({"v": ["２０２４-０３-０１", "２０２４-０３-０２"]})
    step = TypesStep().fit(lazy)
    assert step.state_["convert"]["v"]["kind"] == "date"
    assert step.transform(lazy).collect()["v"].to_list() == [date(2024, 3, 1), date(2024, 3, 2)]


def test_full_width_offset_reads_as_an_offset() -> None:
    text = pl.Series(["２０２４-０３-０１ ０８:００:００＋０８:００"])
    out = pl.select(parse_temporal(pl.lit(text), "datetime", "%Y-%m-%d %H:%M:%S%z")).to_series()
    assert out.to_list() == [datetime(2024, 3, 1, 0, 0, tzinfo=UTC)]


def test_full_width_text_that_is_not_a_date_stays_as_written() -> None:
    step, out = _fit(["ＢＥＩＪＩＮＧ", "上海", "ｔｏｋｙｏ"])
    assert step.state_["convert"]["v"]["kind"] == "text"
    assert out == ["ＢＥＩＪＩＮＧ", "上海", "ｔｏｋｙｏ"]
