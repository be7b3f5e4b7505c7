"""Metrics agree with sklearn.metrics, splits have the promised properties, and the leaderboard ranks and tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as m

from assay.evaluate import (
    GREATER_IS_BETTER,
    METRICS,
    PRIMARY_METRIC,
    corrected_ttest,
    fold_indices,
    holdout_indices,
    leaderboard,
    score,
)
from assay.exceptions import SpecError


def test_classification_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    classes = np.array(["a", "b", "c"])
    y = classes[rng.integers(0, 3, 200)]
    proba = rng.dirichlet([1, 1, 1], size=200)
    pred = classes[proba.argmax(1)]
    s = score("classification", y, pred, proba=proba, classes=classes)
    assert s["accuracy"] == pytest.approx(m.accuracy_score(y, pred))
    assert s["f1_macro"] == pytest.approx(m.f1_score(y, pred, average="macro"))
    assert s["f1_weighted"] == pytest.approx(m.f1_score(y, pred, average="weighted"))
    assert s["mcc"] == pytest.approx(m.matthews_corrcoef(y, pred))
    assert s["balanced_accuracy"] == pytest.approx(m.balanced_accuracy_score(y, pred))
    assert s["roc_auc"] == pytest.approx(m.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert s["log_loss"] == pytest.approx(m.log_loss(y, proba))
    assert set(METRICS["classification"]) <= set(s)
    json.dumps(s, allow_nan=False)


def test_binary_auc_and_undefined_metrics_are_none() -> None:
    y = np.array([0, 1, 1, 0, 1])
    p1 = np.array([0.1, 0.8, 0.6, 0.4, 0.3])
    s = score("classification", y, (p1 > 0.5).astype(int), proba=np.column_stack([1 - p1, p1]), classes=[0, 1])
    assert s["roc_auc"] == pytest.approx(m.roc_auc_score(y, p1))
    one_class = score("classification", np.ones(3, int), np.ones(3, int), proba=np.tile([0.2, 0.8], (3, 1)),
                      classes=[0, 1])
    assert one_class["roc_auc"] is None
    json.dumps(one_class, allow_nan=False)


def test_regression_and_clustering_metrics() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=50) + 5
    pred = y + rng.normal(scale=0.2, size=50)
    s = score("regression", y, pred)
    assert s["rmse"] == pytest.approx(np.sqrt(m.mean_squared_error(y, pred)))
    assert s["r2"] == pytest.approx(m.r2_score(y, pred))
    assert s["mape"] == pytest.approx(m.mean_absolute_percentage_error(y, pred))
    X = np.vstack([rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 6])
    labels = np.repeat([0, 1], 30)
    c = score("clustering", None, labels, X=X)
    assert c["silhouette"] == pytest.approx(m.silhouette_score(X, labels))
    assert c["davies_bouldin"] == pytest.approx(m.davies_bouldin_score(X, labels))
    assert score("clustering", None, np.zeros(60, int), X=X)["silhouette"] is None
    # Noise (-1) counts as 0: a clusterer cannot raise its score by calling the hardest rows noise.
    noisy = labels.copy()
    noisy[[0, 1, 30]] = -1
    kept = noisy != -1
    c = score("clustering", None, noisy, X=X)
    assert c["silhouette_clustered"] == pytest.approx(m.silhouette_score(X[kept], noisy[kept]))
    assert c["silhouette"] == pytest.approx(c["silhouette_clustered"] * 57 / 60)
    assert c["noise_fraction"] == pytest.approx(3 / 60)
    for task, metric in PRIMARY_METRIC.items():
        assert metric in GREATER_IS_BETTER, task


def test_stratified_folds_partition_rows_and_keep_class_shares() -> None:
    y = np.array(["x"] * 40 + ["y"] * 20)
    splits = fold_indices(y, task="classification", folds=5, seed=3)
    tests = np.concatenate([te for _, te in splits])
    assert sorted(tests.tolist()) == list(range(60))
    for tr, te in splits:
        assert not set(tr) & set(te)
        assert (y[te] == "y").sum() == 4
    assert [te.tolist() for _, te in splits] == [te.tolist() for _, te in fold_indices(y, task="classification",
                                                                                        folds=5, seed=3)]


def test_too_few_members_says_which_class_and_what_to_do() -> None:
    y = np.array(["a"] * 10 + ["b"] * 2)
    with pytest.raises(SpecError, match=r"class 'b' has only 2 row\(s\), fewer than folds=5; use --folds 2"):
        fold_indices(y, task="classification", folds=5)


def test_group_and_time_series_folds() -> None:
    groups = np.repeat(np.arange(10), 3)
    y = np.tile([0, 1, 0], 10)
    for tr, te in fold_indices(y, task="classification", folds=5, groups=groups, kind="group"):
        assert not set(groups[tr]) & set(groups[te])
    for tr, te in fold_indices(np.arange(30.0), task="regression", folds=4, kind="timeseries"):
        assert tr.max() < te.min()
    with pytest.raises(SpecError, match="groups="):
        fold_indices(y, task="classification", kind="group")
    tr, te = holdout_indices(y, task="classification", test_size=0.2, seed=0)
    assert len(te) == 6
    assert not set(tr) & set(te)


def test_leaderboard_ranks_and_compares_over_the_same_folds() -> None:
    rng = np.random.default_rng(0)
    good = [{"f1_macro": 0.9 + e, "accuracy": 0.9, "fit_seconds": 0.1} for e in rng.normal(0, 0.01, 5)]
    close = [{"f1_macro": r["f1_macro"] - 0.001 + e, "accuracy": 0.9, "fit_seconds": 0.2}
             for r, e in zip(good, rng.normal(0, 0.01, 5), strict=True)]
    bad = [{"f1_macro": r["f1_macro"] - 0.2, "accuracy": 0.7, "fit_seconds": 0.3} for r in good]
    board = leaderboard({"bad": bad, "close": close, "good": good}, "f1_macro")
    assert [r["model"] for r in board][2] == "bad"
    best, runner, last = board
    assert best["cv_mean"] == pytest.approx(max(np.mean([r["f1_macro"] for r in good]),
                                                np.mean([r["f1_macro"] for r in close])))
    assert last["significant"] is True
    assert last["vs_best_p"] < 0.05
    assert runner["significant"] is False
    assert "not significantly better" in best["note"]
    assert {"accuracy_mean", "accuracy_std", "fit_seconds", "cv_std"} <= set(best)
    rmse = leaderboard({"a": [{"rmse": 2.0}, {"rmse": 2.2}], "b": [{"rmse": 1.0}, {"rmse": 1.1}]}, "rmse")
    assert rmse[0]["model"] == "b"


def test_corrected_ttest_is_more_conservative_than_plain() -> None:
    from scipy import stats

    a = [0.80, 0.82, 0.81, 0.84, 0.83]
    b = [0.79, 0.80, 0.80, 0.82, 0.81]
    _, p_corrected = corrected_ttest(a, b, test_train_ratio=0.25)
    assert p_corrected > stats.ttest_rel(a, b).pvalue


@pytest.mark.parametrize("seed", range(6))
def test_fast_label_metrics_equal_sklearn_on_random_labels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.array(["a", "b", "c", "d"])[: 2 + seed % 3]
    y = labels[rng.integers(0, len(labels), 40)]
    pred = labels[rng.integers(0, len(labels) - (seed % 2), 40)]  # odd seeds never predict the last class
    s = score("classification", y, pred)
    for avg in ("macro", "weighted"):
        p, r, f, _ = m.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        assert s[f"precision_{avg}"] == pytest.approx(p)
        assert s[f"recall_{avg}"] == pytest.approx(r)
        assert s[f"f1_{avg}"] == pytest.approx(f)
    assert s["mcc"] == pytest.approx(m.matthews_corrcoef(y, pred))
    assert s["balanced_accuracy"] == pytest.approx(m.balanced_accuracy_score(y, pred))


def test_fold_errors_suggest_a_fold_count_that_works():
    with pytest.raises(SpecError, match="use --folds 3 or fewer"):
        fold_indices(np.arange(3.0), task="regression", folds=5)
    with pytest.raises(SpecError, match="at least 2 training rows and 1 is available"):
        fold_indices(np.arange(1.0), task="regression", folds=2)


def test_rare_class_advice_matches_the_counts():
    y = np.array(["a"] * 10 + ["b"] * 2)
    with pytest.raises(SpecError, match="use --folds 2 or fewer"):
        fold_indices(y, task="classification", folds=5)
    y = np.array([0] * 10 + [1] * 10 + [2])
    with pytest.raises(SpecError, match="drop or merge the rare classes first, or use --task regression"):
        fold_indices(y, task="classification", folds=3)


def test_time_series_folds_keep_rows_of_one_time_on_one_side() -> None:
    times = np.repeat(np.arange(10), 3)  # 30 rows, 3 per time: row-count cuts at 5, 10, ... cut through times
    splits = fold_indices(np.zeros(30), task="regression", folds=5, kind="timeseries", times=times)
    tested = np.concatenate([te for _, te in splits])
    assert len(tested) == len(set(tested.tolist()))  # no row tested twice
    for tr, te in splits:
        assert times[tr].max() < times[te].min()
        assert np.array_equal(tr, np.arange(len(tr)))  # every earlier row trains
    # a fold whose rows all share the previous fold's time is merged into it: fewer folds, none empty
    few = fold_indices(np.zeros(12), task="regression", folds=5, kind="timeseries", times=np.repeat([0, 1], 6))
    assert [(len(tr), len(te)) for tr, te in few] == [(6, 6)]
    with pytest.raises(SpecError, match="times has 3 values"):
        fold_indices(np.zeros(12), task="regression", folds=3, kind="timeseries", times=[1, 2, 3])


def test_a_class_the_model_never_saw_counts_as_errors_and_leaves_probability_metrics_out() -> None:
    y_true = np.array(["a", "b", "c", "c"])
    y_pred = np.array(["a", "b", "a", "b"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    out = score("classification", y_true, y_pred, proba=proba, classes=["a", "b"])
    assert out["accuracy"] == 0.5
    assert out["recall_macro"] == pytest.approx((1 + 1 + 0) / 3)
    assert out["log_loss"] is None
    assert out["roc_auc"] is None
