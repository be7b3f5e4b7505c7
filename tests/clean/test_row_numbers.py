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


def test_an_exported_index_of_a_subset_is_dropped_gaps_and_all() -> None:
    # R keeps a subset's original row names (2, 3, 5, ...) or ids (20040001, ...); pandas keeps a filtered index.
    df = pl.DataFrame({"": [2, 3, 5, 9], "Unnamed: 0": [20040001, 20040002, 20040007, 20040008],
                       "...1": [0, 1, 3, 4], "y": [0, 1, 0, 1]})
    assert DropUselessStep().fit(df, target="y").state_["dropped"] == {
        "": "row numbers", "Unnamed: 0": "row numbers", "...1": "row numbers"}


def test_what_only_looks_like_row_numbers_is_kept() -> None:
    df = pl.DataFrame({"": [3, 1, 2, 4],  # not in file order
                       "Unnamed: 0": [1, 1, 2, 3],  # repeats
                       "rownames": [1, 2, None, 4],  # a gap in the column itself
                       "index": [5, 6, 7, 8],  # a name people give their own columns: only 0/1, 2, 3, ... counts
                       "y": [0, 1, 0, 1]})
    assert DropUselessStep().fit(df, target="y").state_["dropped"] == {}


def test_row_numbers_can_be_kept() -> None:
    assert DropUselessStep(row_numbers=False).fit(_frame(), target="y").state_["dropped"] == {}


@pytest.mark.parametrize("size", [1, 3, 5])
@pytest.mark.parametrize("gaps", [False, True])
def test_fit_on_batches_in_order_equals_fit_on_the_frame(size: int, gaps: bool) -> None:
    df = _frame(13)
    if gaps:  # an exported subset: still row numbers, also when a batch boundary falls on a gap
        df = df.with_columns(pl.col("") * 2 + pl.col("") // 3)
    whole = DropUselessStep().fit(df, target="y").state_
    assert whole["dropped"][""] == "row numbers"
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
