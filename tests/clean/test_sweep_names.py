"""Cleaning steps on awkward columns: names that collide with names used inside (count, len, v, n), and columns the
missing step is asked to fill but cannot."""

from __future__ import annotations

import logging
from datetime import date

import polars as pl
import pytest

from assay.clean import MissingStep

NAMES = ["count", "len", "v", "n"]


@pytest.mark.parametrize("strategy", ["mode", "median"])
@pytest.mark.parametrize("name", NAMES)
def test_missing_fills_a_column_named_like_a_count(name: str, strategy: str) -> None:
    frame = pl.DataFrame(
        {
            name: [1.0, 1.0, None, 3.0],
            f"{name}_text": ["a", "a", None, "b"],
        }
    ).rename({f"{name}_text": "count" if name != "count" else "len"})
    text = frame.columns[1]
    out = MissingStep(strategy=strategy).fit(frame).transform(frame)
    expected_number = 1.0
    assert out[name].to_list()[2] == expected_number
    assert out[text].to_list()[2] == "a"


def test_missing_says_which_asked_for_columns_it_leaves_missing(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame(
        {"day": [date(2024, 1, 1), None, date(2024, 1, 3)], "gone": [None, None, None], "x": [1.0, None, 3.0]},
        schema={"day": pl.Date, "gone": pl.Float64, "x": pl.Float64},
    )
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        out = MissingStep(columns=["day", "gone", "x"]).fit(frame).transform(frame)
    assert out["x"].null_count() == 0
    assert "1 missing value(s) of 'day' (Date) left as they are: dates and times are filled only" in caplog.text
    assert "3 missing value(s) of 'gone' (Float64) left as they are: it has no value to fill with" in caplog.text
    assert "'x'" not in caplog.text


def test_dates_filled_from_their_neighbours_get_no_note(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame({"day": [date(2024, 1, 1), None, date(2024, 1, 3)]})
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        out = MissingStep(columns=["day"], categorical="ffill").fit(frame).transform(frame)
    assert out["day"].to_list()[1] == date(2024, 1, 1)
    assert "left as they are" not in caplog.text


def test_a_column_given_as_a_number_gets_a_clear_error() -> None:
    from assay.clean import ScaleStep
    from assay.exceptions import SchemaError

    with pytest.raises(SchemaError, match=r"column 2024 not found; did you mean '2024'\?"):
        ScaleStep(columns=[2024]).fit(pl.DataFrame({"2024": [1.0, 2.0]}))
