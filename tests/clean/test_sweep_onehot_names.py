"""New columns (one-hot, datetime parts, cluster ids) never overwrite a column of the data, or each other, without a
word."""

from __future__ import annotations

import polars as pl
import pytest

from assay.clean import OneHotEncoder
from assay.exceptions import SchemaError


@pytest.mark.parametrize("kept", [pl.Float64, pl.String])
def test_a_one_hot_column_named_like_an_existing_column_is_refused(kept: pl.DataType) -> None:
    # color_red is data of its own (kept as it is), or text the encoder would encode and drop after making color_red.
    frame = pl.DataFrame({"color": ["red", "blue", "red"], "color_red": ["10", "20", "30"]}).with_columns(
        pl.col("color_red").cast(kept)
    )
    with pytest.raises(SchemaError, match=r"encoding 'color' would make a column 'color_red', which the data"):
        OneHotEncoder().fit(frame)


def test_two_encoded_columns_making_the_same_column_are_refused() -> None:
    frame = pl.DataFrame({"a": ["b_c", "x"], "a_b": ["c", "y"]})
    with pytest.raises(SchemaError, match=r"'a_b' and 'a' would both make the column 'a_b_c'"):
        OneHotEncoder().fit(frame)


def test_columns_left_out_of_the_encoding_do_not_clash() -> None:
    frame = pl.DataFrame({"color": ["red", "blue"], "size": ["s", "m"]})
    out = OneHotEncoder().fit(frame).transform(frame)
    assert out.columns == ["color_blue", "color_red", "size_m", "size_s"]


def test_cluster_and_datetime_parts_refuse_to_overwrite_a_column() -> None:
    from datetime import date

    from assay.clean import ClusterStep, DatetimePartsStep

    with pytest.raises(SchemaError, match=r"the cluster id would go to a column 'cluster'.*or give another prefix="):
        ClusterStep(k=2).fit(pl.DataFrame({"x": [1.0, 2.0, 9.0], "cluster": [1, 1, 2]}))
    fitted = ClusterStep(k=2, prefix="segment").fit(pl.DataFrame({"x": [1.0, 2.0, 9.0], "cluster": [1, 1, 2]}))
    assert fitted.state_["columns"] == ["x", "cluster"]
    with pytest.raises(SchemaError, match=r"the year of 'd' would go to a column 'd_year', which the data already"):
        DatetimePartsStep().fit(pl.DataFrame({"d": [date(2024, 1, 1)], "d_year": [1999]}))
