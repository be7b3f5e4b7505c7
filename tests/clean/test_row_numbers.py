"""drop_useless drops the row index a table export leaves behind, and nothing that merely looks like one."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import DropUselessStep
from assay.clean._auto import auto_steps


def _frame(n: int = 12) -> pl.DataFrame:
    return pl.DataFrame({
        "": list(range(1, n + 1)),  # R write.csv's row names, read back by Polars
        "Unnamed: 0": list(range(n)),  # the same file read by pandas
        "X": list(range(1, n + 1)),  # R's read.csv names it X: too common a name to guess from, kept
        "count": list(range(1, n + 1)),  # an ordinary column that happens to count up: kept
        "index": [3, 1, 2, *range(4, n + 1)],  # not in file order: kept
        "x1": [float((7 * i) % 5) for i in range(n)],
        "y": [i % 2 for i in range(n)],
    })


def test_exported_row_numbers_are_dropped() -> None:
    df = _frame()
    step = DropUselessStep().fit(df, target="y")
    assert step.state_["dropped"] == {"": "row numbers", "Unnamed: 0": "row numbers"}
    assert step.transform(df).columns == ["X", "count", "index", "x1", "y"]


def test_row_numbers_that_do_not_start_at_0_or_1_or_have_gaps_are_kept() -> None:
    df = pl.DataFrame({"": [5, 6, 7, 8], "Unnamed: 0": [0, 1, 3, 4], "index": [1, 2, None, 4], "y": [0, 1, 0, 1]})
    assert DropUselessStep().fit(df, target="y").state_["dropped"] == {}


def test_row_numbers_can_be_kept() -> None:
    assert DropUselessStep(row_numbers=False).fit(_frame(), target="y").state_["dropped"] == {}


@pytest.mark.parametrize("size", [1, 3, 5])
def test_fit_on_batches_in_order_equals_fit_on_the_frame(size: int) -> None:
    df = _frame(13)
    whole = DropUselessStep().fit(df, target="y").state_
    batched = DropUselessStep().fit([df.slice(i, size) for i in range(0, df.height, size)], target="y").state_
    assert batched == whole
    streamed = DropUselessStep()
    for i in range(0, df.height, size):
        streamed.partial_fit(df.slice(i, size), target="y")
    assert streamed.state_ == whole


def test_the_automatic_steps_leave_an_exported_index_out_of_the_features() -> None:
    df = _frame()
    out = df
    for step in auto_steps(df.schema, target="y"):
        out = step.fit(out, target="y").transform(out)
    assert "" not in out.columns
    assert "Unnamed: 0" not in out.columns
    assert "count" in out.columns
