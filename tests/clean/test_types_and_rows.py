"""Type conversion, text tidying, useless columns, duplicates, datetime parts and the clustering step."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from assay.clean import ClusterStep, DatetimePartsStep, DedupeStep, DropUselessStep, TextStep, TypesStep
from assay.exceptions import SchemaError, SpecError


def test_numbers_in_business_formats() -> None:
    df = pl.DataFrame({"金额": ["1,234.5", "$2,000", "¥3,000", "１２３", "45%", "(7.5)", "1 000", "-", "€9"]})
    out = TypesStep().fit(df).transform(df)["金额"].to_list()
    assert out == [1234.5, 2000.0, 3000.0, 123.0, 0.45, -7.5, 1000.0, None, 9.0]


def test_integers_booleans_dates_and_datetimes() -> None:
    df = pl.DataFrame({
        "count": ["1", "2", "3", "NA"],
        "flag": ["是", "否", "YES", "no"],
        "day": ["2024-01-31", "2024-02-29", "", "2023-12-01"],
        "eu_day": ["31.01.2024", "29.02.2024", "01.12.2023", None],
        "at": ["2024-01-31T10:00:00", "2024-02-01T11:30:00", "2024-02-02T00:00:00", "?"],
        "zoned": ["2024-01-31T10:00:00+0800", "2024-02-01T11:30:00+0000", None, None],
        "word": ["a", "b", "c", "d"],
    })
    step = TypesStep(time_zone="Asia/Shanghai").fit(df)
    out = step.transform(df)
    assert out.schema["count"] == pl.Int64
    assert out["count"].to_list() == [1, 2, 3, None]
    assert out["flag"].to_list() == [True, False, True, False]
    assert out["day"].to_list() == [date(2024, 1, 31), date(2024, 2, 29), None, date(2023, 12, 1)]
    assert out["eu_day"].to_list()[0] == date(2024, 1, 31)
    assert out.schema["at"] == pl.Datetime("us", "Asia/Shanghai")
    assert out["zoned"].dt.hour().to_list()[:2] == [10, 19]  # converted from their own offsets to Shanghai time
    assert out.schema["word"] == pl.String
    assert json.loads(json.dumps(step.state_))["convert"]["eu_day"] == {"kind": "date", "format": "%d.%m.%Y"}


def test_unparsed_values_are_counted_not_hidden(caplog: pytest.LogCaptureFixture) -> None:
    df = pl.DataFrame({"v": [str(i) for i in range(99)] + ["oops"]})
    with caplog.at_level(logging.WARNING, logger="assay.clean._types"):  # a warning: the CLI shows it as a note
        step = TypesStep().fit(df)
    assert step.state_["unparsed"] == {"v": 1}
    assert "1 of 100 value(s) of 'v' did not read as integer and became missing" in caplog.text
    strict = TypesStep(min_share=1.0).fit(df)
    assert strict.state_["convert"]["v"]["kind"] == "text"


def test_types_forced_kinds_formats_and_errors() -> None:
    df = pl.DataFrame({"d": ["20240131", "20240201"], "code": ["001", "002"]})
    out = TypesStep(kinds={"code": "text", "d": "date"}, formats={"d": "%Y%m%d"}, categorical=["code"]).fit(
        df).transform(df)
    assert out["d"].to_list() == [date(2024, 1, 31), date(2024, 2, 1)]
    assert out.schema["code"] == pl.Categorical
    with pytest.raises(SpecError, match="valid values"):
        TypesStep(kinds={"d": "dat"}).fit(df)
    with pytest.raises(SchemaError, match="'dd' not found; did you mean 'd'"):
        TypesStep(kinds={"dd": "date"}).fit(df)


def test_text_trims_normalises_and_case_folds() -> None:
    df = pl.DataFrame({"城市": ["  Beijing", "ＢＥＩＪＩＮＧ ", "beijing"], "n": [1, 2, 3]})
    assert TextStep().fit(df).transform(df)["城市"].n_unique() == 1


def test_drop_useless_logs_instead_of_warning(caplog: pytest.LogCaptureFixture) -> None:
    df = pl.DataFrame({"keep": [1.0, 2.0, 3.0], "nan_only": [float("nan")] * 3, "empty": pl.Series([None] * 3,
                      dtype=pl.String), "same": [7, 7, None], "lists": [[1], [2], [3]], "y": [1, 1, 1]})
    with caplog.at_level(logging.WARNING, logger="assay.clean._useless"):
        step = DropUselessStep(unsupported=True).fit(df, target="y")
    assert step.state_["dropped"] == {"nan_only": "all missing", "empty": "all missing", "same": "constant",
                                      "lists": "unsupported type List(Int64)"}
    assert step.transform(df).columns == ["keep", "y"]  # the constant target is kept
    assert "dropped 4 column(s)" in caplog.text


def test_dedupe_exact_and_by_key() -> None:
    df = pl.DataFrame({"id": [1, 1, 2, 3, 3], "v": ["a", "a", "b", "c", "d"]})
    assert DedupeStep().fit(df).transform_train(df)["v"].to_list() == ["a", "b", "c", "d"]
    step = DedupeStep(key=["id"], keep="last").fit(df)
    assert step.transform_train(df)["v"].to_list() == ["a", "b", "d"]
    assert step.dropped_ == 2
    assert step.transform(df).height == 5


def test_datetime_parts() -> None:
    df = pl.DataFrame({"at": [datetime(2024, 3, 9, 14, 30), None], "t": [time(8, 15), time(23, 0)],
                       "took": [timedelta(minutes=2), timedelta(seconds=1.5)]})
    out = DatetimePartsStep().fit(df).transform(df)
    assert out.row(0, named=True) == {"at_year": 2024, "at_month": 3, "at_day": 9, "at_weekday": 6, "at_hour": 14,
                                      "at_elapsed_days": 0.0, "t_hour": 8, "t_minute": 15, "took_seconds": 120.0}
    assert out["at_year"][1] is None
    assert out["at_elapsed_days"][1] is None
    with pytest.raises(SchemaError, match="convert it first with the 'types' step"):
        DatetimePartsStep(columns=["t"]).fit(pl.DataFrame({"t": ["x"]}))


def test_cluster_recovers_blobs_and_is_a_feature() -> None:
    x, labels = make_blobs(n_samples=600, centers=4, cluster_std=0.6, random_state=0)
    df = pl.DataFrame({"a": x[:, 0], "b": x[:, 1] * 100})  # different scales: the step standardises
    out = ClusterStep(k=4).fit(list(df.iter_slices(200))).transform(df)
    assert adjusted_rand_score(labels, out["cluster"].to_numpy()) > 0.95
    assert out["cluster_distance"].min() >= 0
    assert out.schema["cluster"] == pl.Int32
    assert np.isfinite(out["cluster_distance"].to_numpy()).all()


def test_cluster_says_when_the_data_has_fewer_distinct_rows_than_k(caplog) -> None:
    df = pl.DataFrame({"a": [1.0, 1.0, 2.0, 2.0], "b": [5.0, 5.0, 6.0, 6.0]})
    with caplog.at_level("WARNING", logger="assay.clean._cluster"):
        out = ClusterStep(k=3).fit(df).transform(df)
    assert "cluster: 2 distinct row(s) to cluster: 2 cluster(s) instead of k=3" in caplog.text
    assert out["cluster"].n_unique() == 2
    caplog.clear()
    with caplog.at_level("WARNING", logger="assay.clean._cluster"):
        ClusterStep(k=3).fit(pl.DataFrame({"name": ["x", "y"]}))
    assert "no numeric column to cluster: 1 cluster(s) instead of k=3" in caplog.text


def test_unreadable_counts_what_transform_turns_missing() -> None:
    train = pl.DataFrame({"day": ["2024-01-31", "2024-02-29", "NA"], "n": ["1", "2", "3"], "word": ["a", "b", "c"]})
    step = TypesStep().fit(train)
    new = pl.DataFrame({"day": ["31/01/2024", "2024-03-01", "NA", None, "soon"], "n": ["4", "x7", "", "5", "6"],
                        "word": ["z", "y", "x", "w", "v"]})
    assert step.unreadable(new) == {"day": (2, "31/01/2024"), "n": (1, "x7")}  # tokens, empty and null are missing
    out = step.transform(new)
    assert out["day"].null_count() == 4  # what unreadable() counted, plus the missing ones
    assert out["n"].null_count() == 2
    assert step.unreadable(new.head(0)) == {}


def test_dates_written_several_ways_in_one_column() -> None:
    df = pl.DataFrame({
        "day": ["2024-01-05", "2024/01/06", "2024-01-07", "2024年1月8日", "07.01.2024", None],
        "us": ["01/31/2024", "2024-02-01", "02/13/2024", "2024-02-03", "2024-02-04", "02/05/2024"],
    })
    step = TypesStep().fit(df)
    out = step.transform(df)
    assert out["day"].to_list() == [date(2024, 1, 5), date(2024, 1, 6), date(2024, 1, 7), date(2024, 1, 8),
                                    date(2024, 1, 7), None]
    assert step.state_["convert"]["day"]["format"].split(" | ")[0] == "%Y-%m-%d"  # the most-read format first
    # Day-first and month-first both read 02/05/2024: only month-first, which reads every such value here, is kept.
    assert out["us"].to_list() == [date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 13), date(2024, 2, 3),
                                   date(2024, 2, 4), date(2024, 2, 5)]
    assert "%d/%m/%Y" not in step.state_["convert"]["us"]["format"]
    assert step.state_["unparsed"] == {}
    strict = TypesStep(formats={"day": "%Y-%m-%d"}).fit(df)  # an explicit format is not widened
    assert strict.state_["convert"]["day"]["kind"] == "text"
    several = TypesStep(formats={"day": "%Y-%m-%d | %Y/%m/%d | %Y年%m月%d日 | %d.%m.%Y"}).fit(df)
    assert several.transform(df)["day"].to_list() == out["day"].to_list()


def test_times_written_several_ways_in_one_column(caplog: pytest.LogCaptureFixture) -> None:
    df = pl.DataFrame({"at": ["2024-01-05 10:30:00+08:00", "2024/01/06 11:00", "2024年1月7日", "2024-01-08T09:15:00Z",
                              "08.01.2024", "2024-01-09", "2024-01-10 08:00:00.250", None],
                       "local": ["2024-01-05 10:30:00", "2024-01-05 10:30:00.5", "2024/01/06 11:00", "2024-01-07",
                                 "2024-01-08", "2024-01-09 12:00", "2024-01-10", "2024-01-11"]})
    with caplog.at_level(logging.WARNING, logger="assay.clean._types"):
        step = TypesStep().fit(df)
    out = step.transform(df)
    utc = ZoneInfo("UTC")
    assert out["at"].to_list() == [datetime(2024, 1, 5, 2, 30, tzinfo=utc), datetime(2024, 1, 6, 11, 0, tzinfo=utc),
                                   datetime(2024, 1, 7, tzinfo=utc), datetime(2024, 1, 8, 9, 15, tzinfo=utc),
                                   datetime(2024, 1, 8, tzinfo=utc), datetime(2024, 1, 9, tzinfo=utc),
                                   datetime(2024, 1, 10, 8, 0, 0, 250_000, tzinfo=utc), None]
    assert "'at' mixes times with and without a UTC offset" in caplog.text
    assert "did not read" not in caplog.text
    assert step.state_["unparsed"] == {}
    # Without offsets the column stays naive; a format and its fractional-seconds twin are one format.
    assert out.schema["local"] == pl.Datetime("us")
    assert out["local"].to_list()[:3] == [datetime(2024, 1, 5, 10, 30), datetime(2024, 1, 5, 10, 30, 0, 500_000),
                                          datetime(2024, 1, 6, 11, 0)]
    assert out["local"].null_count() == 0
    assert "%Y-%m-%d %H:%M:%S |" not in step.state_["convert"]["local"]["format"]
    shanghai = TypesStep(time_zone="Asia/Shanghai").fit(df).transform(df)
    assert shanghai["at"][0] == datetime(2024, 1, 5, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert shanghai["at"][1] == datetime(2024, 1, 6, 11, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_a_column_of_m_and_f_is_not_called_almost_boolean(caplog: pytest.LogCaptureFixture) -> None:
    df = pl.DataFrame({"sex": ["M", "F", "F", "M", "F"], "n": ["1", "2", "3", "4", "x5"]})
    with caplog.at_level(logging.WARNING, logger="assay.clean._types"):
        step = TypesStep().fit(df)
    assert step.state_["convert"]["sex"]["kind"] == "text"
    assert "'sex'" not in caplog.text  # F reads as false, M as nothing: a category, not a nearly-boolean column
    assert "'n' kept as text: 4 of 5 value(s) (80%) read as number" in caplog.text


def test_dates_with_month_names() -> None:
    df = pl.DataFrame({
        "excel": ["05-Jan-2024", "30-Sep-2023", None],
        "us": ["January 5, 2024", "Sep 30, 2023", "Feb 29, 2024"],
        "uk": ["5 January 2024", "30 Sep 2023", "29 Feb 2024"],
    })
    out = TypesStep().fit(df).transform(df)
    assert out["excel"].to_list() == [date(2024, 1, 5), date(2023, 9, 30), None]
    assert out["us"].to_list() == [date(2024, 1, 5), date(2023, 9, 30), date(2024, 2, 29)]
    assert out["uk"].to_list() == out["us"].to_list()


@pytest.mark.parametrize("rows", [0, 1])
def test_drop_useless_keeps_every_column_of_a_table_too_short_to_judge(rows, caplog):
    """A 1-row table makes every column look constant and a 0-row table every column empty: nothing is dropped."""
    frame = pl.DataFrame({"a": [1], "b": ["x"], "c": [None]}, schema={"a": pl.Int64, "b": pl.String, "c": pl.Float64})
    frame = frame.head(rows)
    with caplog.at_level("WARNING", logger="assay.clean._useless"):
        step = DropUselessStep().fit(frame)
    assert step.state_["dropped"] == {}
    assert step.transform(frame).columns == ["a", "b", "c"]
    assert f"fitted on {rows} row(s), too few to tell a constant or empty column" in caplog.text


def test_drop_useless_judges_two_rows_and_batches_of_one_row():
    frame = pl.DataFrame({"a": [1, 1], "b": ["x", "y"], "c": [None, None]}, schema_overrides={"c": pl.Float64})
    assert DropUselessStep().fit(frame).state_["dropped"] == {"a": "constant", "c": "all missing"}
    batches = [frame.slice(0, 1), frame.slice(1, 1)]
    assert DropUselessStep().fit(batches).state_["dropped"] == {"a": "constant", "c": "all missing"}
