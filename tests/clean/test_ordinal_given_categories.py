"""Categories given to the ordinal step that miss some training values say so: those values become -1."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import OrdinalEncoder


def test_training_values_missing_from_the_given_order_are_named(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame({"cut": ["Fair", "Very Good", "Very Good", "Ideal", None]})
    with caplog.at_level("WARNING", logger="assay.clean._encode"):
        step = OrdinalEncoder(categories={"cut": ["Fair", "VeryGood", "Ideal"]}).fit(frame)
    assert step.transform(frame)["cut"].to_list() == [0, -1, -1, 2, -1]
    assert "2 training row(s) of 'cut' hold 1 value(s) not among the categories given ('Very Good')" in caplog.text


def test_a_complete_order_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    frame = pl.DataFrame({"size": ["S", "L", "M", None]})
    with caplog.at_level("WARNING", logger="assay.clean._encode"):
        step = OrdinalEncoder(categories={"size": ["S", "M", "L", "XL"]}).fit(frame)
    assert step.transform(frame)["size"].to_list() == [0, 2, 1, -1]
    assert "not among the categories given" not in caplog.text
