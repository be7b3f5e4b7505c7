"""Clustering picks the right k and predicts for new rows; anomaly detectors flag planted outliers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import make_blobs

from assay.evaluate import score
from assay.models import cluster_profiles, make_model
from assay.models._anomaly import RobustZDetector


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=400, centers=4, cluster_std=0.6, random_state=3)
    return X, y


@pytest.mark.parametrize(("name", "params"), [("kmeans", {}), ("kmeans", {"selection": "elbow"}),
                                              ("minibatch_kmeans", {}), ("gmm", {})])
def test_number_of_clusters_is_found(blobs: tuple[np.ndarray, np.ndarray], name: str, params: dict) -> None:
    X, y = blobs
    model = make_model(name, "clustering", seed=0, k_range=(2, 6), **params).fit(X)
    labels = model.predict(X)
    assert len(np.unique(labels)) == 4
    # Every true blob maps to one cluster.
    assert all(len(np.unique(labels[y == c])) == 1 for c in range(4))
    assert score("clustering", None, labels, X=X)["silhouette"] > 0.6


@pytest.mark.parametrize("name", ["dbscan", "hdbscan"])
def test_density_clusterers_predict_new_rows(blobs: tuple[np.ndarray, np.ndarray], name: str) -> None:
    X, _ = blobs
    model = make_model(name, "clustering").fit(X)
    assert model.n_clusters_ == 4
    new = X[:20] + 0.01
    np.testing.assert_array_equal(model.predict(new), model.labels_[:20])
    assert model.predict(np.array([[100.0, 100.0]]))[0] == -1


def test_cluster_profiles_name_the_distinguishing_feature(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = blobs
    Xw = np.column_stack([X, np.random.default_rng(0).normal(size=len(X))])
    labels = make_model("kmeans", "clustering", n_clusters=4).fit(Xw[:, :2]).labels_
    profiles = cluster_profiles(Xw, labels, ["a", "b", "noise"])
    assert sum(p["size"] for p in profiles) == len(X)
    assert all(p["distinctive"][0]["feature"] in ("a", "b") for p in profiles)


@pytest.mark.parametrize("name", ["iforest", "robust_anomaly"])
def test_anomaly_detectors_flag_planted_outliers(name: str) -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(500, 3)), rng.normal(loc=8.0, size=(5, 3))])
    truth = np.r_[np.zeros(500), np.ones(5)]
    model = make_model(name, "anomaly", contamination=0.01).fit(X)
    labels = model.predict(X)
    assert labels[-5:].tolist() == [1] * 5
    assert labels.sum() <= 8
    result = score("anomaly", truth, labels, proba=model.score_samples(X))
    assert result["roc_auc"] > 0.99


def test_isolation_forest_auto_flags_the_unusual_few_not_a_tenth_of_plain_data():
    from assay.clean import OutlierStep

    rng = np.random.default_rng(0)
    plain = rng.normal(size=(5000, 5))
    planted = np.vstack([plain, rng.normal(6, 1, size=(50, 5))])  # 1% far away
    detector = make_model("iforest", "anomaly")
    assert detector.fit(plain).predict(plain).mean() < 0.02  # the paper's 0.5 threshold alone: 13.6% here
    labels = detector.fit(planted).predict(planted)
    assert labels[-50:].all()
    assert labels.mean() < 0.04
    # The outliers step's isolation_forest method uses the same "auto" threshold.
    frame = pl.DataFrame(planted[:, :3], schema=["a", "b", "c"])
    flags = OutlierStep(method="isolation_forest", action="flag").fit(frame).transform(frame)["__outlier__"]
    assert flags.tail(50).all()
    # The step fits its forest on a hash sample of the rows: over 8 data seeds it flags 2.3-4.4% (median 3.0%).
    assert flags.mean() < 0.05


def test_robust_z_does_not_flag_common_values_of_yes_no_columns() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=2000), rng.random(2000) < 0.1, rng.random(2000) < 0.3,
                         rng.random(2000) < 0.0002]).astype(float)
    X[0, 0] = 9.0  # one planted far value
    X[1, 3], X[2, 3] = 0.0, 0.0
    X[1999, 3] = 1.0  # a 'yes' in 1 of 2,000 rows
    detector = RobustZDetector().fit(X)
    flags = detector.predict(X)
    assert flags[0] == 1
    assert flags.mean() < 0.01  # before: every row with the 10% 'yes' (a z-score of 8), about 10% of them
    assert detector.score_samples(X[1999:])[0] > 3.0  # the 1-in-2,000 value: about as rare as z = 3.5


def test_robust_detector_on_long_tailed_and_grouped_features() -> None:
    """Long tails are scored on a log scale and a value a quarter of the rows share is no anomaly: exponential
    columns and a two-group column flag few rows, while rows planted far out are still all flagged."""
    rng = np.random.default_rng(4)
    n = 4_000
    X = np.column_stack([rng.exponential(size=n), rng.exponential(size=n), rng.normal(size=n),
                         np.where(rng.random(n) < 0.25, 24.0, rng.integers(1, 8, n))])  # Boston's rad
    before = RobustZDetector().fit(X).predict(X).mean()
    assert before < 0.01
    planted = X.copy()
    planted[:8, 0] = 200.0  # far beyond an exponential tail
    planted[8:16, 2] = 9.0
    detector = RobustZDetector().fit(planted)
    assert detector.predict(planted)[:16].tolist() == [1] * 16
    assert detector.predict(planted)[16:].mean() < 0.01


def test_robust_detector_saved_before_tails_were_learnt_still_predicts() -> None:
    X = np.random.default_rng(1).normal(size=(200, 2))
    detector = RobustZDetector().fit(X)
    expected = detector.predict(X)
    for name in ("tail_", "end_", "unit_", "common_"):
        delattr(detector, name)  # as unpickled from an artifact made by an earlier version
    assert detector.predict(X).tolist() == expected.tolist()  # normal data: no tails, no common values
