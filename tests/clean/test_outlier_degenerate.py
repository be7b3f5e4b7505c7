"""Outlier rules leave alone what they cannot judge: flags (two values) and columns with no spread."""

from __future__ import annotations

import logging

import polars as pl
import pytest

from assay.clean import OutlierStep

FRAME = pl.DataFrame({
    "flag": [0] * 90 + [1] * 10,  # a 0/1 indicator: IQR and MAD are 0, and z-scores call its 1s outliers
    "kids": [0] * 80 + [1, 2, 3, 1, 2, 1, 1, 4, 5, 1, 2, 3, 1, 1, 2, 1, 3, 2, 1, 9],  # mostly 0: IQR and MAD 0
    "x": [float(i) for i in range(99)] + [1000.0],
})


@pytest.mark.parametrize("method", ["iqr", "mad", "zscore"])
@pytest.mark.parametrize("action", ["clip", "replace", "drop"])
def test_flags_are_never_outliers(method: str, action: str):
    step = OutlierStep(method=method, action=action).fit(FRAME)
    out = step.transform_train(FRAME)
    assert step.state_["bounds"]["flag"] == [None, None, None]
    if action != "drop":
        assert out["flag"].to_list() == FRAME["flag"].to_list()
        assert out.schema["flag"] == pl.Int64  # untouched, not cast
        assert out["x"].max() < 1000.0  # the real outlier is still handled
    else:
        assert step.report(FRAME)["flag"] == 0  # no row leaves because of its flag
        assert out["x"].max() < 1000.0


@pytest.mark.parametrize(("method", "reason"), [("iqr", "IQR 0"), ("mad", "MAD 0")])
def test_no_spread_means_no_rule_with_a_note(method: str, reason: str, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="assay"):
        step = OutlierStep(method=method).fit(FRAME)
    assert step.state_["bounds"]["kids"] == [None, None, None]
    assert step.transform(FRAME)["kids"].to_list() == FRAME["kids"].to_list()
    assert step.report(FRAME)["kids"] == 0
    assert f"no rule for 'flag', 'kids' ({reason}:" in caplog.text  # one reason, named once for both columns


def test_zscore_names_two_valued_columns_and_still_judges_counts(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="assay"):
        step = OutlierStep(method="zscore").fit(FRAME)
    assert "'flag' (two values only: a flag has no outliers)" in caplog.text
    assert step.state_["bounds"]["kids"][1] is not None  # counts with a spread keep their rule
    assert step.transform(FRAME)["kids"].max() < 9


def test_two_valued_detection_merges_over_batches():
    batches = [FRAME.slice(i, 7) for i in range(0, FRAME.height, 7)]
    whole = OutlierStep(method="zscore").fit(FRAME).state_
    merged = OutlierStep(method="zscore").fit(batches).state_
    assert merged["bounds"]["flag"] == whole["bounds"]["flag"] == [None, None, None]
    assert merged["bounds"]["x"] == pytest.approx(whole["bounds"]["x"])


def test_a_group_without_spread_falls_back_to_the_overall_bounds():
    frame = pl.DataFrame({"g": ["a"] * 40 + ["b"] * 40,
                          "v": [5.0] * 39 + [50.0] + [float(i) for i in range(40)]})
    out = OutlierStep(method="iqr", by="g").fit(frame).transform(frame)
    # group a has IQR 0: its 50.0 is judged by the overall fences, which it lies outside
    assert out.filter(pl.col("g") == "a")["v"].max() < 50.0
    assert out.filter(pl.col("g") == "a")["v"].min() == 5.0


@pytest.mark.parametrize("rows", [0, 2])
@pytest.mark.parametrize("action", ["flag", "drop"])
def test_isolation_forest_with_no_numeric_column_flags_nothing(rows: int, action: str):
    frame = pl.DataFrame({"a": ["x", "y"][:rows], "城市": ["北京", "上海"][:rows]}, schema={"a": pl.String,
                                                                                      "城市": pl.String})
    step = OutlierStep(method="isolation_forest", action=action).fit(frame)
    assert step.state_["columns"] == []
    out = step.transform_train(frame)
    if action == "flag":
        assert out["__outlier__"].to_list() == [False] * rows
    else:
        assert out.equals(frame)
    assert step.report(frame) == {"__outlier__": 0}


def test_clip_keeps_an_integer_column_whole() -> None:
    df = pl.DataFrame({"n": [3, 5, 8, 13, 21, 34, 500, -300, None], "x": [1.0, 2, 3, 4, 5, 6, 7, 8, 99]})
    step = OutlierStep(method="iqr", action="clip").fit(df)
    out = step.transform(df)
    assert out.schema["n"] == pl.Int64
    assert out.schema["x"] == pl.Float64
    # The fences are 53.875 and -25.125 (what a float column is clipped to); a count is clipped to 53 and -25.
    floats = step.transform(df.with_columns(pl.col("n").cast(pl.Float64)))["n"].to_list()
    assert floats[6:8] == [53.875, -25.125]
    assert out["n"].to_list() == [3, 5, 8, 13, 21, 34, 53, -25, None]


@pytest.mark.parametrize("method", ["iqr", "zscore", "mad", "isolation_forest"])
def test_quarantine_with_no_numeric_column_keeps_every_row(method: str, tmp_path):
    frame = pl.DataFrame({"word": ["commands", "model"], "url": ["http://a", "http://b"]})
    aside = tmp_path / "q.csv"
    step = OutlierStep(method=method, action="quarantine", quarantine=str(aside)).fit(frame)
    assert step.transform_train(frame).equals(frame)
    assert pl.read_csv(aside).height == 0
