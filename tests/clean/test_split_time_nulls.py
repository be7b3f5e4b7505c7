"""A time-ordered split says how many rows have no time (they go to train)."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import train_test_split


def test_rows_without_a_time_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame({"t": [1.0, 2.0, None, float("nan"), 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], "v": range(10)})
    with caplog.at_level("WARNING", logger="assay.clean._split"):
        train, test = train_test_split(frame, test_size=0.2, time="t")
    assert test["t"].to_list() == [9.0, 10.0]
    assert train.height == 8
    assert "2 of 10 row(s) have no time in 't'" in caplog.text


def test_a_complete_time_column_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame({"t": range(10), "v": range(10)})
    with caplog.at_level("WARNING", logger="assay.clean._split"):
        train_test_split(frame, test_size=0.2, time="t")
    assert "have no time" not in caplog.text
