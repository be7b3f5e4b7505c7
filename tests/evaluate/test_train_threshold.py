"""`--threshold` and `--time-budget` as `assay train` applies them: refusals before any fit, and the fit times shown."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assay.exceptions import SpecError
from assay.pipeline import train


def _three_classes(rows: int = 90) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({"x": rng.normal(size=rows), "kind": ["a", "b", "c"] * (rows // 3)})


def test_threshold_on_three_classes_is_refused_before_the_folds():
    said: list[str] = []
    with pytest.raises(SpecError, match=r"binary classifier; this is classification with 3 classes"):
        train(
            _three_classes(),
            "kind",
            models=["logreg"],
            threshold="f1",
            report=False,
            progress=lambda message, _share: said.append(message),
        )
    assert not [m for m in said if m.startswith("fold")]


def test_an_unreadable_threshold_is_refused_before_the_folds():
    said: list[str] = []
    with pytest.raises(SpecError, match=r"cannot read --threshold 'f2'"):
        train(
            _three_classes(),
            "kind",
            models=["logreg"],
            threshold="f2",
            report=False,
            progress=lambda message, _share: said.append(message),
        )
    assert not [m for m in said if m.startswith("fold")]


def test_fit_seconds_are_the_whole_cv_with_a_time_budget_too(monkeypatch: pytest.MonkeyPatch):
    import assay.evaluate

    real = assay.evaluate.automl

    def timed(*args, **kwargs):
        found = real(*args, **kwargs)
        for rows in found.fold_scores.values():
            for k, row in enumerate(rows):
                row["fit_seconds"] = 0.5 + k  # 0.5, 1.5, ... per fold: 12.5 s over five
        return found

    monkeypatch.setattr(assay.evaluate, "automl", timed)
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    result = train(
        frame.with_columns((pl.col("x") > 0).alias("y")), "y", models=["logreg"], time_budget=1, report=False
    )
    assert result.leaderboard[0]["fit_seconds"] == 12.5


def test_a_time_budget_search_gives_lightgbm_leaves_a_small_table_can_split():
    from assay.evaluate import automl

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 40)
    X = np.column_stack([x, rng.normal(size=40)])
    found = automl(X, 3 * x + rng.normal(0, 1, 40), "regression", time_budget=0.01, models=["lgbm"])
    # LightGBM's 20-row leaves never split a 32-row fold: R² below 0 (the mean everywhere)
    assert found.leaderboard[0]["cv_mean"] > 0.5
    assert found.best_estimator.get_params()["min_child_samples"] == 4
