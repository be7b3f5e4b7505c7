"""Fitted steps applied to new data (``clean(..., refit=False)``, ``assay clean --apply``): the values serving would
give, and a note for every category the fit never saw."""

from __future__ import annotations

import logging

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assay.clean import FrequencyEncoder, OneHotEncoder, OrdinalEncoder, TargetEncoder, clean

TRAIN = pl.DataFrame({"c": ["a", "a", "b", "b", "a", "b", "a", "c"] * 5, "y": [1, 0, 1, 1, 1, 0, 0, 1] * 5})
NEW = pl.DataFrame({"c": ["a", "b", "c", "a", "zz", None], "y": [0, 0, 0, 1, 1, 0]})


def test_target_encoding_of_new_rows_is_the_serving_value_not_an_out_of_fold_one() -> None:
    step = TargetEncoder().fit(TRAIN, target="y")
    out, _, _ = clean(NEW, [step], target="y", refit=False)
    assert_frame_equal(out, step.transform(NEW))


def test_target_encoding_of_the_training_rows_stays_out_of_fold() -> None:
    step = TargetEncoder()
    out, _, _ = clean(TRAIN, [step], target="y")
    assert_frame_equal(out, step.transform_train(TRAIN))
    assert out["c"].to_list() != step.transform(TRAIN)["c"].to_list()


@pytest.mark.parametrize(
    ("step", "becomes"),
    [
        (OneHotEncoder(), "all of their one-hot columns are 0"),
        (OrdinalEncoder(), "encoded as -1"),
        (FrequencyEncoder(), "encoded as 0.0"),
        (TargetEncoder(), "encoded as the prior"),
    ],
)
def test_values_never_seen_by_the_fit_are_named_when_applied(
    step, becomes: str, caplog: pytest.LogCaptureFixture
) -> None:
    step.fit(TRAIN, target="y")
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        clean(NEW, [step], target="y", refit=False)
    assert f"{step.name}: 1 value(s) of 'c' were never seen when the step was fitted ('zz'): {becomes}" in caplog.text


def test_bucketed_onehot_takes_unseen_values_into_other_without_a_note(caplog: pytest.LogCaptureFixture) -> None:
    step = OneHotEncoder(min_frequency=0.2).fit(TRAIN)
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        out, _, _ = clean(NEW, [step], refit=False)
    assert out["c___other"].to_list() == [0, 0, 1, 0, 1, 0]
    assert "never seen" not in caplog.text


def test_values_all_seen_give_no_note(caplog: pytest.LogCaptureFixture) -> None:
    step = OrdinalEncoder().fit(TRAIN)
    with caplog.at_level(logging.WARNING, logger="assay.clean"):
        clean(TRAIN.head(5), [step], refit=False)
    assert "never seen" not in caplog.text


def test_rows_with_a_nan_or_infinite_target_are_left_out_of_the_means() -> None:
    frame = pl.DataFrame({"c": ["a", "a", "b", "b", "a"], "y": [1.0, float("nan"), 2.0, float("inf"), 3.0]})
    step = TargetEncoder(smoothing=0.0).fit(frame, target="y")
    assert step.state_["prior"] == [2.0]
    out = step.transform(pl.DataFrame({"c": ["a", "b"]}))
    assert out["c"].to_list() == [2.0, 2.0]


def test_a_missing_group_and_an_empty_text_group_are_two_groups() -> None:
    from assay.clean import train_test_split

    frame = pl.DataFrame({"g": [None, None, "", "", "a", "a", "b", "b"], "v": range(8)})
    sides = set()
    for seed in range(20):
        _train, test = train_test_split(frame, test_size=0.25, group="g", seed=seed)
        assert test.height == 2
        sides.add(tuple(test["v"].to_list()))
    assert (0, 1) in sides
    assert (2, 3) in sides
