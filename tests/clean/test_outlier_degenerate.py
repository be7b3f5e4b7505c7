"""Outlier rules leave alone what they cannot judge: flags (two values), columns with no spread, and groups too
small or too uniform for a rule of their own."""

from __future__ import annotations

import json
import logging

import numpy as np
import polars as pl
import pytest

from assay.clean import OutlierStep, Step

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


# Group a lives around 0; each small group lives around 100, on its own scale. The overall bounds (of mostly a's)
# would call every one of their rows an outlier.
SMALL_GROUPS = {
    "two-rows": [100.0, 101.0],
    "one-row": [100.0],
    "two-values": [100.0] * 10 + [101.0] * 3,  # a flag-like group: IQR and MAD 0, z-score sees two values only
    "no-spread": [100.0] * 12 + [100.5, 101.0, 140.0],  # IQR and MAD 0 within the group
}


def _with_group(values: list[float]) -> pl.DataFrame:
    a = [float(v) for v in np.random.default_rng(0).normal(0.0, 1.0, 60)] + [9.0]  # 9.0: an outlier among the a's
    return pl.DataFrame({"g": ["a"] * len(a) + ["b"] * len(values), "v": a + values})


@pytest.mark.parametrize("method", ["iqr", "mad", "zscore"])
@pytest.mark.parametrize("case", list(SMALL_GROUPS))
def test_a_group_too_small_to_judge_is_left_alone(method: str, case: str, caplog: pytest.LogCaptureFixture):
    frame = _with_group(SMALL_GROUPS[case])
    with caplog.at_level(logging.WARNING, logger="assay"):
        step = OutlierStep(method=method, by="g", action="flag").fit(frame)
    b = pl.col("g") == "b"
    flags = step.transform(frame)
    if case == "no-spread" and method == "zscore":  # 16 values with a spread: the z-score rule judges them
        assert step.state_["groups_left_alone"] == {}
        return
    assert step.state_["groups_left_alone"] == {"v": ["b"]}
    assert not flags.filter(b)["v__outlier"].any()
    assert flags.filter(~b)["v__outlier"].to_list()[-1]  # the judged group's outlier is still found
    # Clip and replace leave the group's values as they are; drop keeps its rows.
    for action in ("clip", "replace", "drop"):
        fitted = OutlierStep(method=method, by="g", action=action).fit(frame)
        out = fitted.transform_train(frame)
        assert out.filter(b)["v"].to_list() == frame.filter(b)["v"].to_list()
    # The fit's note counts the groups it left alone.
    assert "groups left alone" in caplog.text
    assert "'v' in 1 of 2 groups" in caplog.text
    # An unseen group still gets the overall bounds.
    unseen = step.transform(pl.DataFrame({"g": ["zzz"], "v": [1e6]}))
    assert unseen["v__outlier"].to_list() == [True]


def test_groups_left_alone_merge_over_batches_and_travel_in_the_state():
    frame = _with_group(SMALL_GROUPS["two-values"]).sample(fraction=1.0, shuffle=True, seed=3)
    whole = OutlierStep(method="zscore", by="g").fit(frame)
    batched = OutlierStep(method="zscore", by="g").fit([frame.slice(i, 9) for i in range(0, frame.height, 9)])
    assert batched.state_["groups_left_alone"] == whole.state_["groups_left_alone"] == {"v": ["b"]}
    restored = Step.from_dict(json.loads(whole.to_json()))
    assert restored.transform(frame).equals(whole.transform(frame))


def test_a_state_without_groups_left_alone_keeps_the_overall_fallback():
    """A step saved before groups could be left alone still applies as it did: its groups without bounds use the
    overall ones."""
    frame = _with_group(SMALL_GROUPS["two-rows"])
    saved = OutlierStep(method="zscore", by="g", action="flag").fit(frame).to_dict()
    del saved["state"]["groups_left_alone"]
    old = Step.from_dict(saved).transform(frame)
    assert old.filter(pl.col("g") == "b")["v__outlier"].all()


def test_a_constant_column_has_no_zscore_rule(caplog: pytest.LogCaptureFixture):
    frame = pl.DataFrame({"k": [4.0] * 20, "x": [float(i) for i in range(19)] + [500.0]})
    with caplog.at_level(logging.WARNING, logger="assay"):
        step = OutlierStep(method="zscore").fit(frame)
    assert step.state_["bounds"]["k"] == [None, None, None]
    assert "'k' (SD 0:" in caplog.text
    # A later value other than the constant is not clipped to it.
    assert step.transform(pl.DataFrame({"k": [5.0], "x": [1.0]}))["k"].to_list() == [5.0]


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


def test_a_huge_value_among_small_counts_is_a_zscore_outlier():
    # Its mean of (x-lo)(hi-x) is tiny beside range² (1e24), so the column passed for two-valued and got no rule.
    values = [float(i % 10) for i in range(1000)] + [1e12]
    frame = pl.DataFrame({"x": values})
    step = OutlierStep(method="zscore", action="flag").fit(frame)
    flagged = step.transform(frame)["x__outlier"]
    assert flagged.to_list() == [False] * 1000 + [True]


@pytest.mark.parametrize("offset", [0.0, 1e6, 1e9])
def test_a_flag_far_from_zero_is_still_two_valued(offset: float):
    frame = pl.DataFrame({"x": [offset] * 900 + [offset + 0.5] * 100})
    step = OutlierStep(method="zscore", action="flag").fit(frame)
    assert step.state_["bounds"]["x"] == [None, None, None]
