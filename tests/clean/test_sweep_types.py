"""The types step on columns a person would have to think about: dates that read both day first and month first."""

from __future__ import annotations

import logging
from datetime import date

import polars as pl
import pytest

from assay.clean import TypesStep


def test_dates_that_read_day_or_month_first_say_which_was_taken(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame({"day": ["01/02/2024", "03/04/2024", "05/06/2024"]})
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        out = TypesStep().fit(frame).transform(frame)
    assert out["day"].to_list()[0] == date(2024, 2, 1)
    assert "read day first (%d/%m/%Y)" in caplog.text
    assert "formats={day: '%m/%d/%Y'}" in caplog.text


def test_datetimes_that_read_day_or_month_first_say_so(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame({"at": ["01/02/2024 10:00", "03/04/2024 11:30"]})
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        TypesStep().fit(frame)
    assert "'at' read day first (%d/%m/%Y %H:%M)" in caplog.text


@pytest.mark.parametrize("values", [["13/02/2024", "01/02/2024"], ["02/13/2024", "01/02/2024"]])
def test_a_day_past_twelve_settles_the_order_without_a_note(
    values: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    frame = pl.DataFrame({"day": values})
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        TypesStep().fit(frame)
    assert "first" not in caplog.text


def test_a_given_format_gets_no_note(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame({"day": ["01/02/2024", "03/04/2024"]})
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        out = TypesStep(formats={"day": "%m/%d/%Y"}).fit(frame).transform(frame)
    assert out["day"].to_list()[0] == date(2024, 1, 2)
    assert "first" not in caplog.text


def test_codes_with_leading_zeros_stay_text(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame(
        {
            "zip": ["02134", "10001", "94105", "00501"],
            "month": ["01", "02", "11", "12"],
            "n": ["0", "10", "200", "3000"],
        }
    )
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        out = TypesStep().fit(frame).transform(frame)
    assert out["zip"].to_list() == ["02134", "10001", "94105", "00501"]
    assert out["month"].to_list() == [1, 2, 11, 12]
    assert out["n"].to_list() == [0, 10, 200, 3000]
    assert "'zip' kept as text: 2 of its 4 values are codes written with leading zeros" in caplog.text
    assert "min_share" not in caplog.text
    forced = TypesStep(kinds={"zip": "integer"}).fit(frame).transform(frame)
    assert forced["zip"].to_list() == [2134, 10001, 94105, 501]


def test_phone_numbers_stay_text_and_thousands_parted_by_spaces_still_read(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame(
        {
            "phone": ["+1 555 0100", "+86 138 0013 8000", "555 0103"],
            "amount": ["1 234,56", "12 345", "1 000 000"],
            "swiss": ["1'234", "2'000'000", "5"],
        }
    )
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        out = TypesStep().fit(frame).transform(frame)
    assert out["phone"].to_list() == ["+1 555 0100", "+86 138 0013 8000", "555 0103"]
    assert out["amount"].to_list() == [1234.56, 12345.0, 1_000_000.0]
    assert out["swiss"].to_list() == [1234, 2_000_000, 5]
    assert "'phone' kept as text: 3 of its 3 values have digits parted by spaces or commas not in thousands" in (
        caplog.text
    )


def test_lists_of_digits_stay_text_and_comma_numbers_still_read() -> None:
    frame = pl.DataFrame(
        {
            "ids": ["1,2,3", "4,5,6", "7,8"],
            "lakh": ["12,34,567", "1,00,000", "5"],
            "euro": ["3,5", "1.234,56", "12,75"],
            "usd": ["$1,234.50", "2,000", "(1,000)"],
        }
    )
    out = TypesStep().fit(frame).transform(frame)
    assert out["ids"].to_list() == ["1,2,3", "4,5,6", "7,8"]
    assert out["lakh"].to_list() == [1_234_567, 100_000, 5]
    assert out["euro"].to_list() == [3.5, 1234.56, 12.75]
    assert out["usd"].to_list() == [1234.5, 2000.0, -1000.0]


@pytest.mark.parametrize("values", [["1.2.3", "2.0.1", "3.1.4"], ["1/2/3", "4/5/6", "7/8/9"]])
def test_versions_and_short_triples_are_not_dates_of_the_first_centuries(values: list[str]) -> None:
    frame = pl.DataFrame({"v": values})
    assert TypesStep().fit(frame).state_["convert"]["v"]["kind"] == "text"


def test_dates_written_with_dots_still_read() -> None:
    frame = pl.DataFrame({"a": ["2024.01.05", "2023.12.31"], "b": ["05.01.2024", "31.12.2023"]})
    out = TypesStep().fit(frame).transform(frame)
    assert out["a"].to_list() == [date(2024, 1, 5), date(2023, 12, 31)]
    assert out["b"].to_list() == [date(2024, 1, 5), date(2023, 12, 31)]
