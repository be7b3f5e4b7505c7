"""Clustering candidates are ranked over every fold, a fold where one found a single cluster included."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assay.models._cluster import KMeansAuto
from assay.pipeline import train


def test_a_fold_with_one_cluster_counts_as_no_separation(monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 8])
    frame = pl.DataFrame({"a": X[:, 0], "b": X[:, 1]})
    calls = {"n": 0}
    predict = KMeansAuto.predict

    def every_other_fold_one_cluster(self, X_):
        calls["n"] += 1
        labels = predict(self, X_)
        return np.zeros_like(labels) if calls["n"] in (1, 3) else labels

    monkeypatch.setattr(KMeansAuto, "predict", every_other_fold_one_cluster)
    result = train(frame, task="clustering", models=["kmeans"], folds=4, report=False)
    scores = result.cv_scores["kmeans"]
    assert scores[0] == 0.0
    assert scores[2] == 0.0
    assert result.leaderboard[0]["cv_mean"] == pytest.approx(np.mean(scores))
    assert result.leaderboard[0]["cv_mean"] < 0.5 * max(scores)


def test_a_target_given_for_clustering_is_kept_out_of_the_features():
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 6])
    frame = pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "species": ["x", "y", "z"] * 40})
    result = train(frame, "species", task="clustering", models=["kmeans"], report=False)
    assert result.model.features == ["a", "b"]
    assert "species" not in result.model.input_schema
    assert any("'species' is left out of the features" in n for n in result.notes)
