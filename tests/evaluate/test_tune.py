"""Optuna tuning is seeded and reproducible, automl returns a fitted winner, thresholds are optimal."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

from assay.evaluate import automl, best_threshold, cross_validate, fold_indices, tune
from assay.exceptions import SpecError


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), np.where(y == 1, "benign", "malignant")


def test_tune_is_reproducible_and_starts_from_defaults(cancer: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = cancer
    p1, s1 = tune("logreg", "classification", X, y, folds=3, seed=5, time_budget=None, n_trials=8)
    p2, s2 = tune("logreg", "classification", X, y, folds=3, seed=5, time_budget=None, n_trials=8)
    assert p1 == p2
    assert [t["params"] for t in s1["trials"]] == [t["params"] for t in s2["trials"]]
    assert s1["trials"][0]["params"]["alpha"] == pytest.approx(1e-4)  # defaults are trial 0
    assert s1["n_trials"] == 8
    defaults_value = s1["trials"][0]["value"]
    assert s1["best_value"] >= defaults_value
    assert len(s1["fold_scores"]) == 3


def test_tune_rejects_untunable_model(cancer: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = cancer
    with pytest.raises(SpecError, match="no search space"):
        tune("kmeans", "classification", X, y, n_trials=1)


def test_automl_returns_leaderboard_and_fitted_best(cancer: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = cancer
    result = automl(X, y, "classification", time_budget=8, seed=0, folds=3, models=["logreg", "lgbm"])
    names = [row["model"] for row in result.leaderboard]
    assert sorted(names) == ["lgbm", "logreg"]
    assert result.best_name == names[0]
    assert result.leaderboard[0]["cv_mean"] >= result.leaderboard[1]["cv_mean"]
    assert "vs_best_p" in result.leaderboard[1]
    assert (result.best_estimator.predict(X) == y).mean() > 0.95


def test_automl_regression_and_cross_validate() -> None:
    X, y = load_diabetes(return_X_y=True)
    splits = fold_indices(y, task="regression", folds=3, seed=0)
    rows = cross_validate("ridge", "regression", X, y, splits=splits)
    assert len(rows) == 3
    assert all(0.2 < r["r2"] < 0.7 for r in rows)
    result = automl(X, y, "regression", time_budget=5, seed=0, folds=3, models=["linreg", "ridge"])
    assert result.leaderboard[0]["r2_mean"] > 0.4


def test_best_threshold_beats_every_other_cut() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.normal(0.35, 0.2, 300), 0, 1)
    t, f1 = best_threshold(y, p)
    assert f1 == pytest.approx(f1_score(y, p >= t))
    for cut in np.linspace(0.05, 0.95, 19):
        assert f1_score(y, p >= cut) <= f1 + 1e-12
    t_cost, cost = best_threshold(y, p, objective="cost", cost_fp=1.0, cost_fn=5.0)
    pred = p >= t_cost
    assert cost == pytest.approx(((pred == 1) & (y == 0)).sum() + 5 * ((pred == 0) & (y == 1)).sum())
    assert t_cost <= t  # expensive misses push the cut down
