"""Cleaning steps on columns whose names collide with names Polars or the steps use inside (count, len, v, n)."""

from __future__ import annotations

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
