"""datetime_parts' elapsed_days: days since the earliest date seen in fit, learned from an exact mergeable minimum."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from assay.clean import DatetimePartsStep, Step


def _dates(n: int = 200, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 3000, n)
    seconds = rng.integers(0, 86_400, n)
    return pl.DataFrame({
        "d": [date(2015, 6, 1) + timedelta(days=int(x)) for x in days],
        "ts": [datetime(2015, 6, 1) + timedelta(days=int(x), seconds=int(s)) for x, s in zip(days, seconds,
                                                                                               strict=True)],
    })


def test_elapsed_days_is_on_by_default_and_counts_from_the_earliest_date():
    df = _dates()
    step = DatetimePartsStep().fit(df)
    out = step.transform(df)
    first_day = df["d"].min()
    first_ts = df["ts"].min()
    expected_d = [(x - first_day).days for x in df["d"].to_list()]
    expected_ts = [(x - first_ts).total_seconds() / 86_400 for x in df["ts"].to_list()]
    assert out.schema["d_elapsed_days"] == pl.Float64
    assert out["d_elapsed_days"].to_list() == pytest.approx(expected_d, abs=0)
    assert out["ts_elapsed_days"].to_list() == pytest.approx(expected_ts, rel=1e-12, abs=1e-9)
    assert out["d_elapsed_days"].min() == 0.0
    # A trend the calendar parts cannot give: it grows with the date, across months and years.
    order = np.argsort(df["d"].to_numpy())
    assert (np.diff(out["d_elapsed_days"].to_numpy()[order]) >= 0).all()


def test_later_and_earlier_dates_extend_the_trend():
    df = pl.DataFrame({"d": [date(2024, 1, 10), date(2024, 1, 20)]})
    step = DatetimePartsStep(parts=["elapsed_days"]).fit(df)
    out = step.transform(pl.DataFrame({"d": [date(2025, 1, 10), date(2024, 1, 1), None]}))
    assert out["d_elapsed_days"].to_list() == [366.0, -9.0, None]


@pytest.mark.parametrize("size", [1, 7, 50])
def test_the_earliest_date_merges_exactly_over_batches(size: int):
    df = _dates(seed=4).sample(fraction=1.0, shuffle=True, seed=2)
    whole = DatetimePartsStep().fit(df)
    batches = [df.slice(i, size) for i in range(0, df.height, size)]
    batched = DatetimePartsStep().fit(batches)
    incremental = DatetimePartsStep()
    for batch in batches:
        incremental.partial_fit(batch)
    assert batched.state_ == whole.state_ == incremental.state_
    assert whole.state_["origin"]["ts"] == int(df["ts"].dt.epoch("us").min())
    lazy = DatetimePartsStep().fit(df.lazy())
    assert lazy.state_ == whole.state_


def test_the_state_is_json_and_applies_to_one_row():
    df = _dates()
    step = DatetimePartsStep().fit(df)
    restored = Step.from_dict(json.loads(step.to_json()))
    assert restored.transform(df).equals(step.transform(df))
    one = restored.transform(df.slice(17, 1))
    assert one.row(0, named=True) == step.transform(df).row(17, named=True)


def test_time_zones_and_units_count_real_time():
    utc = pl.DataFrame({"ts": [datetime(2024, 3, 30, 12), datetime(2024, 4, 1, 12)]})
    paris = utc.with_columns(pl.col("ts").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Paris")
                             .dt.cast_time_unit("ns"))
    out = DatetimePartsStep(parts=["elapsed_days"]).fit(paris).transform(paris)
    assert out["ts_elapsed_days"].to_list() == [0.0, 2.0]  # across the change to summer time: still 48 hours


def test_a_column_with_no_dates_in_fit_gives_null_elapsed_days():
    df = pl.DataFrame({"d": [None, None]}, schema={"d": pl.Date})
    step = DatetimePartsStep().fit(df)
    assert step.state_["origin"] == {"d": None}
    out = step.transform(pl.DataFrame({"d": [date(2024, 1, 1)]}))
    assert out["d_elapsed_days"].to_list() == [None]
    assert out["d_year"].to_list() == [2024]


def test_parts_without_elapsed_days_learn_nothing():
    df = _dates()
    step = DatetimePartsStep(parts=["year", "month"]).fit(df)
    assert step.state_["origin"] == {}
    assert "d_elapsed_days" not in step.transform(df).columns
