"""Messy real-world values: decimal commas, currency prefixes, ISO 'Z' times, daylight-saving gaps, count columns
that look boolean, time splits with shared timestamps and identifier columns given to one-hot encoding."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assay.clean import (
    DedupeStep,
    MissingStep,
    OneHotEncoder,
    OutlierStep,
    TypesStep,
    fit_transform_steps,
    train_test_split,
)
from assay.clean._encode import MAX_ONEHOT_COLUMNS


def _types(values: list[str], **params: object) -> tuple[TypesStep, list]:
    frame = pl.DataFrame({"v": values})
    step = TypesStep(**params).fit(frame)
    return step, step.transform(frame)["v"].to_list()


def test_decimal_comma_numbers_read_as_decimals() -> None:
    step, out = _types(["1.234,56", "3,5", "12,75", "0,125", "1.234.567", "€ 2.500,00", "(1,5)", "12,5%"])
    assert step.state_["convert"]["v"]["kind"] == "number"
    assert out == pytest.approx([1234.56, 3.5, 12.75, 0.125, 1234567.0, 2500.0, -1.5, 0.125])


def test_thousands_commas_still_read_as_grouping() -> None:
    step, out = _types(["1,234", "1,234,567", "1,234.5", "$12,000", "-7", "１，２３４"])
    assert step.state_["convert"]["v"]["kind"] == "number"
    assert out == pytest.approx([1234.0, 1234567.0, 1234.5, 12000.0, -7.0, 1234.0])


def test_a_decimal_comma_column_is_not_read_as_integers() -> None:
    # Removing the comma would read every value as a whole number ('3,5' as 35) and round them.
    step, out = _types(["3,5", "2,25", "10,0", "7,75"])
    assert step.state_["convert"]["v"]["kind"] == "number"
    assert out == pytest.approx([3.5, 2.25, 10.0, 7.75])


def test_prefixed_dollar_signs_and_currency_codes() -> None:
    step, out = _types(["US$ 20", "HK$1,000", "GBP 7.5", "CHF 3", "20 JPY"])
    assert step.state_["unparsed"] == {}
    assert out == pytest.approx([20.0, 1000.0, 7.5, 3.0, 20.0])


def test_numbers_scaled_by_a_word_after_them() -> None:
    step, out = _types(["9800", "1.2万", "3.5万", "2亿", "1.5千", "2百万", "１２万", "$1.5K", "2M", "0.4bn"])
    assert step.state_["convert"]["v"]["kind"] == "number"
    assert step.state_["unparsed"] == {}
    assert out == pytest.approx([9800, 12_000, 35_000, 2e8, 1500, 2e6, 120_000, 1500, 2e6, 4e8])
    _, words = _types(["万", "K", "M", "abc"])
    assert words == ["万", "K", "M", "abc"]  # a scale word alone is no number


def test_numbers_with_a_unit_after_them(caplog: pytest.LogCaptureFixture) -> None:
    df = pl.DataFrame({"weight": ["12kg", "3.5 kg", "7 KG", "1Kg", None, "2 kg"], "days": ["3天", "5 天", "1天", "2天",
                       "10天", "NA"], "size": ["S", "M", "L", "XL", "M", "S"], "mixed": ["1kg", "2 lb", "3kg", "4 lb",
                       "5kg", "6 lb"]})
    with caplog.at_level("WARNING", logger="assay.clean._types"):
        step = TypesStep().fit(df)
    out = step.transform(df)
    assert out["weight"].to_list() == [12.0, 3.5, 7.0, 1.0, None, 2.0]
    assert out["days"].to_list() == [3.0, 5.0, 1.0, 2.0, 10.0, None]
    assert "'weight' read as numbers in 'kg' (the unit written after its values)" in caplog.text
    assert "'days' read as numbers in '天'" in caplog.text
    assert out.schema["size"] == pl.String  # sizes are no numbers
    assert out.schema["mixed"] == pl.String  # two units: kept as text, not half converted
    ids = TypesStep().fit(pl.DataFrame({"subject": [str(i) for i in range(100, 160)] + ["207a", "208a", "209a",
                                                                                       "207b"]}))
    assert ids.state_["convert"]["subject"]["kind"] == "text"  # a letter after a few ids is no unit
    assert step.state_["unparsed"] == {}
    # Applied to new data, another unit is an unreadable value (counted), not a number in the wrong unit.
    new = pl.DataFrame({"weight": ["4 kg", "5 lb"], "days": ["6天", "7天"], "size": ["S", "M"], "mixed": ["1kg", "x"]})
    assert step.transform(new)["weight"].to_list() == [4.0, None]
    assert step.unreadable(new) == {"weight": (1, "5 lb")}


def test_iso_utc_z_suffix_parses_as_utc_datetime() -> None:
    step, out = _types(["2021-03-28T00:30:00Z", "2021-10-31T01:30:00Z", "2021-12-01T23:59:59Z", "NA"])
    assert step.state_["convert"]["v"]["kind"] == "datetime"
    utc = UTC
    assert out[:3] == [datetime(2021, 3, 28, 0, 30, tzinfo=utc), datetime(2021, 10, 31, 1, 30, tzinfo=utc),
                       datetime(2021, 12, 1, 23, 59, 59, tzinfo=utc)]
    assert out[3] is None
    frame = pl.DataFrame({"v": ["2021-06-01T12:00:00Z"]})
    converted = TypesStep(time_zone="Asia/Shanghai").fit(frame).transform(frame)["v"]
    assert converted.dtype == pl.Datetime("us", "Asia/Shanghai")
    assert converted.dt.hour().to_list() == [20]


def test_iso_times_mixing_t_and_space_and_offset_styles_all_parse() -> None:
    values = ["2024-03-01T10:00:00+08:00", "2024-03-01T03:00:00Z", "2024-03-02 09:15:00+0100",
              "2024-03-02 09:15:00.250-05:00", "2024-03-03T00:00:00+00"]
    step, out = _types(values)
    assert step.state_["unparsed"] == {}
    assert out == [datetime(2024, 3, 1, 2, 0, tzinfo=UTC), datetime(2024, 3, 1, 3, 0, tzinfo=UTC),
                   datetime(2024, 3, 2, 8, 15, tzinfo=UTC), datetime(2024, 3, 2, 14, 15, 0, 250000, tzinfo=UTC),
                   datetime(2024, 3, 3, 0, 0, tzinfo=UTC)]
    naive = ["2024-03-01T10:00:00", "2024-03-01 11:30:00", "2024-03-02T09:15:00"]
    step, out = _types(naive)
    assert step.state_["convert"]["v"]["kind"] == "datetime"
    assert out == [datetime(2024, 3, 1, 10), datetime(2024, 3, 1, 11, 30), datetime(2024, 3, 2, 9, 15)]


def test_naive_times_in_a_daylight_saving_gap_become_counted_nulls_not_a_crash() -> None:
    start = datetime(2021, 3, 27, 0, 30)
    values = [(start + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S") for h in range(48)]
    values.append("2021-10-31 01:30:00")  # repeated when London's clocks go back: the earlier (BST) one is taken
    step, out = _types(values, time_zone="Europe/London")
    assert step.state_["convert"]["v"] == {"kind": "datetime", "format": "%Y-%m-%d %H:%M:%S"}
    # 2021-03-28 01:30 does not exist in London (clocks jump from 01:00 to 02:00).
    assert step.state_["unparsed"] == {"v": 1}
    assert out[25] is None
    assert sum(v is None for v in out) == 1
    assert out[-1].utcoffset() == timedelta(hours=1)


def test_counts_that_are_mostly_zero_or_one_stay_numbers() -> None:
    step, out = _types(["0"] * 50 + ["1"] * 48 + ["2", "3", "NA"])
    assert step.state_["convert"]["v"]["kind"] == "integer"
    assert step.state_["unparsed"] == {}
    assert out[-3:] == [2, 3, None]
    step, out = _types(["0", "1", "1", "0"])
    assert step.state_["convert"]["v"]["kind"] == "boolean"


def test_time_split_keeps_rows_of_one_time_on_one_side() -> None:
    # A panel: 10 firms observed each year 1935-1954; 22% of 200 rows is 44, which would cut the year 1950 in two.
    panel = pl.DataFrame({"firm": [f for f in range(10) for _ in range(20)],
                          "year": [y for _ in range(10) for y in range(1935, 1955)]})
    train, test = train_test_split(panel, time="year", test_size=0.22)
    assert set(train["year"]).isdisjoint(set(test["year"]))
    assert train["year"].max() < test["year"].min()
    assert test.height == 50
    assert train.height + test.height == panel.height
    # All rows at one time: the test part is empty rather than the training part.
    same = pl.DataFrame({"t": [1, 1, 1, 1], "v": [1, 2, 3, 4]})
    train, test = train_test_split(same, time="t", test_size=0.5)
    assert (train.height, test.height) == (4, 0)


def test_time_split_with_unique_times_takes_exactly_the_latest_rows() -> None:
    frame = pl.DataFrame({"t": [5, 3, None, 9, 1, 7, 2, 8, 4, 6], "v": list(range(10))})
    train, test = train_test_split(frame, time="t", test_size=0.3)
    assert sorted(test["t"].to_list()) == [7, 8, 9]
    assert train["t"].null_count() == 1


def test_onehot_of_an_identifier_column_is_capped_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    n = MAX_ONEHOT_COLUMNS * 3
    frame = pl.DataFrame({"id": [f"c{i}" for i in range(n)], "k": ["a", "b", "c"] * MAX_ONEHOT_COLUMNS})
    with caplog.at_level("WARNING"):
        step = OneHotEncoder().fit(frame)
    assert step.state_["capped"] == {"id": n}
    assert "'id' has 3000 categories" in caplog.text
    out = step.transform(frame)
    assert out.width == MAX_ONEHOT_COLUMNS + 3
    assert out["id___other"].sum() == n - (MAX_ONEHOT_COLUMNS - 1)
    assert out.select(pl.sum_horizontal(pl.col("^id_.*$"))).to_series().to_list() == [1] * n
    # An explicit max_categories is the user's choice and is not capped.
    step = OneHotEncoder(max_categories=MAX_ONEHOT_COLUMNS + 5).fit(frame)
    assert step.state_["capped"] == {}
    assert len(step.state_["categories"]["id"]) == MAX_ONEHOT_COLUMNS + 4


def _panel_with_gaps() -> pl.DataFrame:
    # Two firms, five years each, rows of firm 1 first; firm 2's first year and firm 1's 2003 are missing.
    return pl.DataFrame({
        "firm": [1] * 5 + [2] * 5,
        "year": list(range(2000, 2005)) * 2,
        "inv": [10.0, 12.0, 14.0, None, 18.0, None, 102.0, 104.0, 106.0, 108.0],
    })


@pytest.mark.parametrize("strategy", ["ffill", "interpolate"])
def test_sequential_fill_by_group_never_crosses_groups(strategy: str) -> None:
    panel = _panel_with_gaps()
    step = MissingStep(columns=["inv"], strategy=strategy, by="firm",
                       order_by="year" if strategy == "interpolate" else None).fit(panel)
    out = step.transform(panel)["inv"].to_list()
    # Firm 2's leading gap has no earlier row of its own: it takes firm 2's median, never firm 1's last value (18).
    assert out[5] == pytest.approx(105.0)
    assert out[3] == pytest.approx(14.0 if strategy == "ffill" else 16.0)
    if strategy == "interpolate":  # by the time column, so row order does not matter
        shuffled = panel.sample(fraction=1.0, shuffle=True, seed=3)
        again = step.transform(shuffled).sort("firm", "year")["inv"].to_list()
        assert again == pytest.approx(out)


def test_interpolating_by_a_time_shared_across_groups_leaves_no_nan() -> None:
    # Without by=, each year appears three times; Polars interpolates the gap between two rows of one time (0/0).
    panel = pl.DataFrame({"year": [1, 2, 3] * 3, "inv": [1.0, 2.0, 3.0, 10.0, None, 30.0, 5.0, 6.0, 7.0]})
    out = MissingStep(columns=["inv"], strategy="interpolate", order_by="year").fit(panel).transform(panel)["inv"]
    assert out.is_nan().sum() == 0
    assert out.null_count() == 0
    assert out[4] == pytest.approx(5.5)  # the median of the other values: the fallback fill


@pytest.mark.parametrize(("key", "keep"), [(None, "first"), (["g"], "first"), (["g"], "last")])
def test_dedupe_over_batches_equals_dedupe_over_the_whole(key: list[str] | None, keep: str) -> None:
    frame = pl.DataFrame({"g": ["a", "b", None, "a", "c", "b", None, "a", "d"],
                          "v": [1, 2, 3, 1, 5, 6, 3, 8, 9]})
    batches = [frame.slice(0, 3), frame.slice(3, 3), frame.slice(6, 3)]
    _, whole = fit_transform_steps([DedupeStep(key, keep=keep)], frame)
    steps, parts = fit_transform_steps([DedupeStep(key, keep=keep)], batches)
    assert [p.height for p in parts] != [0, 0, 0]
    assert_frame_equal(pl.concat(parts), whole.collect())
    assert steps[0].dropped_ == frame.height - whole.collect().height


def test_a_one_row_frame_keeps_its_row_for_training() -> None:
    frame = pl.DataFrame({"x": [1.0], "y": [2.0]})
    for kwargs in ({"target": "y", "stratify": False}, {"time": "x"}, {"group": "x"}, {}):
        train, test = train_test_split(frame, test_size=0.2, **kwargs)
        assert (train.height, test.height) == (1, 0), kwargs


def test_test_share_is_not_inflated_by_floating_point() -> None:
    frame = pl.DataFrame({"x": range(100)})
    _, test = train_test_split(frame, test_size=0.07)
    assert test.height == 7
    _, test = train_test_split(frame, time="x", test_size=0.07)
    assert test["x"].to_list() == list(range(93, 100))


def test_an_explicit_date_only_format_gives_dates() -> None:
    step, out = _types(["24.12.2023", "01.02.2024", "?"], formats={"v": "%d.%m.%Y"})
    assert step.state_["convert"]["v"] == {"kind": "date", "format": "%d.%m.%Y"}
    assert out == [date(2023, 12, 24), date(2024, 2, 1), None]
    step, out = _types(["24.12.2023 10:30", "01.02.2024 23:00"], formats={"v": "%d.%m.%Y %H:%M"})
    assert step.state_["convert"]["v"]["kind"] == "datetime"
    assert out == [datetime(2023, 12, 24, 10, 30), datetime(2024, 2, 1, 23, 0)]


def _penguins() -> pl.DataFrame:
    from palmerpenguins import load_penguins

    return pl.from_pandas(load_penguins())


@pytest.mark.parametrize("method", ["iqr", "zscore", "mad"])
def test_per_group_outlier_counts_match_an_independent_count(method: str, tmp_path: Path) -> None:
    import numpy as np

    penguins = _penguins()
    cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    expected = dict.fromkeys(cols, 0)
    outlier_rows: set[int] = set()
    indexed = penguins.with_row_index("__i__")
    for (_,), part in indexed.group_by("species"):
        for col in cols:
            values = part[col].to_numpy().astype(float)
            finite = values[np.isfinite(values)]
            if method == "iqr":
                q1, q3 = np.quantile(finite, [0.25, 0.75])
                lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
            elif method == "zscore":
                lo, hi = finite.mean() - 3 * finite.std(), finite.mean() + 3 * finite.std()
            else:
                med = np.median(finite)
                spread = 3 * 1.4826 * np.median(np.abs(finite - med))
                lo, hi = med - spread, med + spread
            with np.errstate(invalid="ignore"):
                hit = (values < lo) | (values > hi)
            expected[col] += int(hit.sum())
            outlier_rows.update(part["__i__"].to_numpy()[hit].tolist())
    path = tmp_path / "quarantine.csv"
    step = OutlierStep(cols, method=method, action="quarantine", by="species", quarantine=str(path))
    kept = step.fit(penguins).transform_train(penguins)
    assert step.touched_ == expected
    assert step.rows_removed_ == len(outlier_rows) == penguins.height - kept.height
    written = pl.read_csv(path)
    assert written.height == len(outlier_rows)
    assert written["__reason__"].str.count_matches(";").sum() + written.height == sum(expected.values())


NULL_FIRST = pl.DataFrame({"x": [None, None], "c": [None, None], "k": [1.0, 2.0]})  # x and c of type Null
VALUES_LATER = pl.DataFrame({"x": [1.5, 2.5], "c": ["a", "b"], "k": [3.0, 4.0]})


@pytest.mark.parametrize(("name", "params"), [
    ("types", {}), ("text", {}), ("onehot", {}), ("ordinal", {}), ("target", {}),
    ("missing", {}), ("missing", {"strategy": "mean", "indicator": True}), ("scale", {}),
    ("scale", {"method": "robust"}), ("scale", {"method": "yeo-johnson"}), ("outliers", {}),
    ("outliers", {"method": "zscore", "by": "c"}), ("drop_useless", {}), ("datetime_parts", {}),
])
@pytest.mark.parametrize("null_batch_first", [True, False])
def test_batches_where_a_column_is_all_null_merge_like_the_whole(name: str, params: dict,
                                                                 null_batch_first: bool) -> None:
    from assay.clean import get_step

    batches = [NULL_FIRST, VALUES_LATER] if null_batch_first else [VALUES_LATER, NULL_FIRST]
    whole = get_step(name)(**params).fit(pl.concat(batches, how="vertical_relaxed"), target="k")
    merged = get_step(name)(**params).fit(batches, target="k")
    assert merged.state_ == whole.state_
    streamed = get_step(name)(**params)
    for batch in batches:
        streamed.partial_fit(batch, target="k")
    assert streamed.state_ == whole.state_


@pytest.mark.parametrize(("name", "params"), [
    ("missing", {"strategy": "knn"}), ("outliers", {"method": "isolation_forest", "action": "flag"}),
    ("cluster", {"k": 2}), ("frequency", {}),
])
def test_sampling_steps_fit_batches_with_an_all_null_column(name: str, params: dict) -> None:
    # The bottom-k sample of a batch where the column was all null lacks it, and the frequency encoder does not
    # count the nulls of a column it did not see as text, so these states may differ from the whole fit; the fit
    # must still work and cover the column.
    from assay.clean import get_step

    for batches in ([NULL_FIRST, VALUES_LATER], [VALUES_LATER, NULL_FIRST]):
        step = get_step(name)(**params).fit(batches, target="k")
        out = step.transform(pl.concat(batches, how="vertical_relaxed"))
        assert out.height == 4
        covered = step.state_.get("columns", []) + step.state_.get("knn", {}).get("columns", [])
        assert ("c" if name == "frequency" else "x") in covered


def test_steps_on_a_frame_without_columns_to_work_on() -> None:
    from assay.clean import ClusterStep

    only_target = pl.DataFrame({"y": [1.0, 2.0, 3.0]})
    assert MissingStep().fit(only_target, target="y").transform(only_target).equals(only_target)
    text_only = pl.DataFrame({"c": ["a", "b", "a"]})
    out = ClusterStep(k=2).fit(text_only).transform(text_only)
    assert out["cluster"].to_list() == [0, 0, 0]


def test_typographic_minus_sign_reads_as_negative() -> None:
    step, out = _types(["\u22125", "\u22121,234.5", "3", "\u221212%"])
    assert step.state_["unparsed"] == {}
    assert out == pytest.approx([-5.0, -1234.5, 3.0, -0.12])


def test_time_split_treats_nan_and_null_times_as_unknown() -> None:
    frame = pl.DataFrame({"t": [1.0, float("nan"), 2.0, 3.0, None], "v": range(5)})
    train, test = train_test_split(frame, time="t", test_size=0.2)
    assert test["v"].to_list() == [3]
    # Every timed row at one date, one row untimed: the timed rows are not all sent to test.
    frame = pl.DataFrame({"t": [date(2024, 1, 1)] * 3 + [None], "v": range(4)})
    train, test = train_test_split(frame, time="t", test_size=0.3)
    assert (train.height, test.height) == (4, 0)


def test_postgres_style_offsets_parse() -> None:
    step, out = _types(["2024-01-01 10:00:00+00", "2024-01-02 11:00:00-05", "2024-01-02 11:00:00+05:30"])
    assert step.state_["convert"]["v"] == {"kind": "datetime", "format": "%Y-%m-%d %H:%M:%S%z"}
    assert out == [datetime(2024, 1, 1, 10, tzinfo=UTC), datetime(2024, 1, 2, 16, tzinfo=UTC),
                   datetime(2024, 1, 2, 5, 30, tzinfo=UTC)]
    step, out = _types(["2024-01-01 10:00:00.123456+00", "2024-01-01 10:00:00.5+01"])
    assert step.state_["convert"]["v"]["kind"] == "datetime"
    assert out == [datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC),
                   datetime(2024, 1, 1, 9, 0, 0, 500000, tzinfo=UTC)]


@pytest.mark.parametrize("lazy", [False, True])
def test_a_chain_fits_on_a_zero_row_frame(lazy: bool) -> None:
    empty = _penguins().head(0)
    steps = [MissingStep(strategy="knn"), OutlierStep(method="zscore", action="drop", by="island"),
             OneHotEncoder(["sex"])]
    fitted, out = fit_transform_steps(steps, empty.lazy() if lazy else empty, target="species")
    assert out.collect().height == 0
    assert fitted[1].state_["columns"] == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
                                           "year"]
    scored = empty.head(0)
    for step in fitted:
        scored = step.transform(scored)
    assert scored.height == 0


def test_missing_drop_rows_says_how_many_rows_went() -> None:
    penguins = _penguins()
    step = MissingStep(drop_rows=0.0).fit(penguins, target="species")
    kept = step.transform_train(penguins)
    incomplete = penguins.drop("species").select(pl.any_horizontal(pl.all().is_null())).to_series().sum()
    assert step.rows_removed_ == incomplete == penguins.height - kept.height
    assert incomplete == 11  # 2 penguins without measurements, 9 more without a recorded sex


def test_interpolation_by_time_with_missing_or_narrow_times() -> None:
    # A null time (here on a row with a value and on a row without) and an Int16 time column.
    frame = pl.DataFrame({"day": pl.Series([3, 1, None, 2, 5, None], dtype=pl.Int16),
                          "v": [3.0, 1.0, 7.0, None, None, None]})
    step = MissingStep(columns=["v"], strategy="interpolate", order_by="day").fit(frame)
    # day 2 lies between days 1 and 3; day 5 is past the last value and the untimed gap has no neighbours: both get
    # the median of 3, 1 and 7; the untimed 7 stays.
    assert step.transform(frame)["v"].to_list() == [3.0, 1.0, 7.0, 2.0, 3.0, 3.0]
    assert step.transform(frame.slice(5, 1))["v"].to_list() == [3.0]  # one row at predict time


def test_interpolation_by_a_text_column_is_refused_at_fit() -> None:
    from assay.exceptions import SchemaError

    frame = pl.DataFrame({"day": ["2024-01-01", "2024-01-02"], "v": [1.0, None]})
    with pytest.raises(SchemaError, match="order_by column 'day' is String"):
        MissingStep(strategy="interpolate", order_by="day").fit(frame)


def test_an_unknown_time_zone_is_a_spec_error_with_a_suggestion() -> None:
    from assay.exceptions import SpecError

    frame = pl.DataFrame({"ts": ["2024-01-01 10:00:00"]})
    with pytest.raises(SpecError, match="unknown time zone 'Europe/Londn'; did you mean 'Europe/London'"):
        TypesStep(time_zone="Europe/Londn").fit(frame)


def test_filled_categorical_columns_keep_their_type() -> None:
    df = pl.DataFrame({"c": pl.Series(["a", None, "a", "b"], dtype=pl.Categorical),
                       "e": pl.Series(["x", "y", None, "x"], dtype=pl.Enum(["x", "y"])),
                       "g": ["p", "q", "p", "q"]})
    out = MissingStep().fit(df).transform(df)
    assert out.schema["c"] == pl.Categorical
    assert out.schema["e"] == pl.Enum(["x", "y"])
    assert out["c"].to_list() == ["a", "a", "a", "b"]
    assert out["e"].to_list() == ["x", "y", "x", "x"]
    assert MissingStep(by="g").fit(df).transform(df).schema["e"] == pl.Enum(["x", "y"])
    # A fill value outside an Enum's categories cannot be one of them: the filled column is text.
    constant = MissingStep(categorical="constant").fit(df).transform(df)
    assert constant.schema["c"] == pl.Categorical
    assert constant.schema["e"] == pl.String
    assert constant["e"].to_list() == ["x", "y", "__missing__", "x"]


def test_whole_number_columns_stay_whole_when_every_fill_is_whole() -> None:
    df = pl.DataFrame({"g": ["a", "a", "a", "b", "b", "b"], "kids": [1, None, 3, 2, 2, None],
                       "half": [1, 2, None, 4, 5, 6]})
    by_group = MissingStep(by="g").fit(df).transform(df)
    assert by_group.schema["kids"] == pl.Int64  # group medians 2 and 2
    assert by_group["kids"].to_list() == [1, 2, 3, 2, 2, 2]
    assert by_group.schema["half"] == pl.Float64  # group a's median is 1.5: not a whole number
    assert by_group["half"].to_list() == [1.0, 2.0, 1.5, 4.0, 5.0, 6.0]
    forward = MissingStep(strategy="ffill").fit(df).transform(df)
    assert forward.schema["kids"] == pl.Int64
    assert forward["kids"].to_list() == [1, 1, 3, 2, 2, 2]
    assert MissingStep(strategy="interpolate").fit(df).transform(df).schema["kids"] == pl.Float64


@pytest.mark.parametrize("rows", [3, 12_000])  # small frames and those whose numbers are reduced stage by stage
def test_long_integer_ids_written_as_text_keep_every_digit(rows: int):
    # Read through a float, 9007199254740993 (2**53 + 1) became 9007199254740992 and 18-digit ids lost digits.
    ids = ["9007199254740993", "123456789012345678", "-", *[str(10**17 + i) for i in range(rows - 3)]]
    df = pl.DataFrame({"id": ids})
    out = TypesStep().fit(df).transform(df)["id"]
    assert out.dtype == pl.Int64
    assert out[:3].to_list() == [9007199254740993, 123456789012345678, None]
    assert out[3:].to_list() == [10**17 + i for i in range(rows - 3)]


def test_twelve_hour_times_read_as_datetimes():
    # "2024-03-01 10:00 PM" and "3/1/2024 10:00:05 PM" (US exports) stayed text: no format read AM/PM.
    df = pl.DataFrame({"iso": ["2024-03-01 10:00 PM", "2024-03-01 09:15 AM", "2024-03-02 12:00 PM",
                               "2024-03-02 12:30 am"],
                       "us": ["3/1/2024 10:00:05 PM", "12/25/2023 9:15:00 am", "1/15/2024 12:00:00 PM", None]})
    out = TypesStep().fit(df).transform(df)
    assert out["iso"].to_list() == [datetime(2024, 3, 1, 22), datetime(2024, 3, 1, 9, 15), datetime(2024, 3, 2, 12),
                                    datetime(2024, 3, 2, 0, 30)]
    assert out["us"].to_list() == [datetime(2024, 3, 1, 22, 0, 5), datetime(2023, 12, 25, 9, 15),
                                   datetime(2024, 1, 15, 12), None]


def test_full_width_booleans_and_missing_tokens_are_read():
    # ＹＥＳ / Ｎｏ (full-width, as East Asian input methods type them) did not read as booleans, so the column
    # stayed text; ＮＡ was not a missing token and made a number column lose a value as unparsed.
    df = pl.DataFrame({"ok": ["是", "否", "ＹＥＳ", "Ｎｏ", "是"], "n": ["１２", "３", "４．５", "ＮＡ", "７"]})
    step = TypesStep().fit(df)
    out = step.transform(df)
    assert out["ok"].to_list() == [True, False, True, False, True]
    assert out["n"].to_list() == [12.0, 3.0, 4.5, None, 7.0]
    assert step.unreadable(df) == {}


def test_chinese_dates_with_a_time_read_as_datetimes():
    # 2024年3月1日 read as a date, but with a time after it the column stayed text.
    df = pl.DataFrame({"hm": ["2024年3月1日 10:00", "2024年3月2日 11:30", "2024年12月3日 09:00"],
                       "hms": ["2024年3月1日 10:00:05", "2024年3月2日 11:30:00", None]})
    out = TypesStep().fit(df).transform(df)
    assert out["hm"].to_list() == [datetime(2024, 3, 1, 10), datetime(2024, 3, 2, 11, 30), datetime(2024, 12, 3, 9)]
    assert out["hms"].to_list() == [datetime(2024, 3, 1, 10, 0, 5), datetime(2024, 3, 2, 11, 30), None]


def test_month_day_year_without_a_comma_reads_as_dates():
    # "Jan 8 2024" (as `date` and many logs write it) stayed text; "Jan 8, 2024" read.
    df = pl.DataFrame({"d": ["Jan 8 2024", "March 10 2024", "Dec 31 2023"],
                       "mixed": ["Jan 8, 2024", "Jan 9 2024", None]})
    out = TypesStep().fit(df).transform(df)
    assert out["d"].to_list() == [date(2024, 1, 8), date(2024, 3, 10), date(2023, 12, 31)]
    assert out["mixed"].to_list() == [date(2024, 1, 8), date(2024, 1, 9), None]
