"""A column with no value at all is left missing (null, not NaN) by every fill strategy, and the fit says so."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import MissingStep

FRAME = pl.DataFrame({"a": [1.0, None, 3.0, 4.0], "empty": [None] * 4, "c": [1.0, 2.0, None, 4.0]},
                     schema={"a": pl.Float64, "empty": pl.Float64, "c": pl.Float64})


@pytest.mark.parametrize("strategy", ["knn", "ffill", "bfill", "interpolate", "median"])
def test_an_empty_column_stays_null_and_is_named(strategy: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="assay.clean._missing"):
        step = MissingStep(strategy=strategy, k=2).fit(FRAME)
    out = step.transform(FRAME)
    assert out["empty"].null_count() == 4  # knn wrote NaN, which counts as a value
    assert out["a"].null_count() == 0
    assert "4 missing value(s) of 'empty' (Float64) left as they are: it has no value to fill with" in caplog.text
