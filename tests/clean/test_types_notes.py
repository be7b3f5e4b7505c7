"""The types step says why a column that mostly reads as one kind stayed text."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import TypesStep


def _notes(values: list[str], caplog: pytest.LogCaptureFixture) -> str:
    with caplog.at_level("WARNING", logger="assay.clean._types"):
        step = TypesStep().fit(pl.DataFrame({"v": values}))
    assert step.state_["convert"]["v"]["kind"] == "text"
    return caplog.text


def test_a_datetime_column_kept_as_text_says_how_much_read(caplog: pytest.LogCaptureFixture) -> None:
    # The space between a date and its time counted as digits parted by spaces (a phone number), which silenced it.
    text = _notes(["2024-01-05 10:00:00"] * 8 + ["garbage", "junk"], caplog)
    assert "'v' kept as text: 8 of 10 value(s) (80%) read as datetime" in text


def test_phone_numbers_are_explained_once(caplog: pytest.LogCaptureFixture) -> None:
    text = _notes(["+1 555 0100", "+1 555 0101", "+1 555 0102"], caplog)
    assert "digits parted by spaces" in text
    assert "read as number, fewer than min_share" not in text
