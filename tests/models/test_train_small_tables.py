"""Default candidates on tables of a few dozen rows, as `assay train` meets them (mtcars has 32)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assay.exceptions import SpecError
from assay.pipeline import train


def _small_table(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, rows)
    noise = rng.normal(0, 1, (rows, 2))
    return pl.DataFrame({"x": x, "z1": noise[:, 0], "z2": noise[:, 1], "y": 3 * x + rng.normal(0, 1, rows)})


def test_lgbm_learns_a_small_regression():
    # With LightGBM's 20-row leaves a fold of 20 training rows is never split (R² < 0: the mean everywhere).
    assert train(_small_table(32), "y", models=["lgbm"], report=False).leaderboard[0]["cv_mean"] > 0.3
    assert train(_small_table(60), "y", models=["lgbm"], report=False).leaderboard[0]["cv_mean"] > 0.8


def test_lgbm_classifies_a_small_table():
    frame = _small_table(40, seed=1).with_columns((pl.col("x") > 5).alias("big")).drop("y")
    result = train(frame, "big", models=["lgbm"], report=False)
    assert result.leaderboard[0]["cv_mean"] > 0.7


def test_larger_tables_keep_lightgbm_leaf_size():
    result = train(_small_table(400), "y", models=["lgbm"], report=False)
    assert result.model.estimator.get_params()["min_child_samples"] == 20


def _drifting(rows: int = 300, shift: float = 4.0) -> pl.DataFrame:
    """y follows x, and moves up by ``shift`` over the last tenth of the days (after the training period)."""
    rng = np.random.default_rng(2)
    day, x = np.arange(rows), rng.normal(size=rows)
    return pl.DataFrame({"day": day, "x": x, "y": 2 * x + shift * (day >= 0.9 * rows) + rng.normal(0, 0.3, rows)})


def test_a_test_score_far_below_cv_is_said():
    # Forward-chaining folds all lie before the change; the latest rows, the test split, come after it.
    result = train(_drifting(), "y", models=["linreg"], time="day", report=False)
    assert result.test_metrics["r2"] < result.leaderboard[0]["cv_mean"] - 0.3
    said = [n for n in result.notes if "far below the cross-validation mean" in n]
    assert len(said) == 1
    assert "latest rows" in said[0]


def test_a_test_score_like_cv_is_not_remarked():
    result = train(_drifting(shift=0.0), "y", models=["linreg"], time="day", report=False)
    assert not [n for n in result.notes if "cross-validation mean" in n]


def test_a_tiny_test_split_is_said_to_be_rough():
    result = train(_small_table(32), "y", models=["linreg"], report=False)
    said = [n for n in result.notes if "test split has only 7 rows" in n]
    assert len(said) == 1
    assert not [n for n in train(_small_table(400), "y", models=["linreg"], report=False).notes if "only" in n]


def test_mape_says_it_leaves_out_rows_of_zero():
    counts = _small_table(300).with_columns((pl.col("y") * (pl.col("z1") > 0)).alias("visits")).drop("y")
    result = train(counts, "visits", models=["linreg"], report=False)
    said = [n for n in result.notes if n.startswith("mape is the mean error in percent over the")]
    assert len(said) == 1
    assert not [n for n in train(_small_table(300), "y", models=["linreg"], report=False).notes if "mape" in n]


def test_a_learning_curve_on_a_sample_records_both_row_counts(monkeypatch):
    import assay.pipeline as pipeline

    monkeypatch.setattr(pipeline, "LEARNING_CURVE_ROWS", 100)
    result = train(_small_table(400), "y", models=["linreg"], report=False)
    curve = pipeline._learning_curve(result, result._report_inputs["prep"], result.model.estimator)
    assert curve["sampled"] == 100
    assert curve["training_rows"] == result.split["train_rows"]


def test_a_date_column_in_a_shuffled_split_suggests_a_time_split():
    days = pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 12, 31), eager=True)
    rng = np.random.default_rng(5)
    frame = pl.DataFrame({"day": days.dt.strftime("%Y-%m-%d"), "x": rng.normal(size=days.len())})
    frame = frame.with_columns((pl.col("x") + pl.int_range(pl.len()) / 50).alias("y"))
    hinted = [n for n in train(frame, "y", models=["linreg"], report=False).notes if "--time 'day'" in n]
    assert len(hinted) == 1
    split = train(frame, "y", models=["linreg"], time="day", report=False)
    assert not [n for n in split.notes if "--time 'day'" in n]


def test_a_test_size_that_leaves_too_few_training_rows_names_the_option():
    frame = _small_table(40).with_columns((pl.col("x") > 5).alias("big"))
    with pytest.raises(SpecError, match=r"leaving 1 to train on: too few for 5-fold .* use a smaller --test-size"):
        train(frame, "big", models=["logreg"], test_size=0.99, report=False)
