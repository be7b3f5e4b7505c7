"""Clustering models: k-means (k-means++, mini-batch, k chosen by silhouette or elbow), DBSCAN/HDBSCAN with a
``predict`` for new rows, a Gaussian mixture with the component count chosen by BIC, and per-cluster profiles.

The algorithms are scikit-learn's; these wrappers add what a pipeline needs around them: choosing the number of
clusters when the user does not know it, and assigning clusters to rows seen after training (serving).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from assay.exceptions import ModelError, SpecError

__all__ = ["DBSCANClusterer", "GaussianMixtureAuto", "HDBSCANClusterer", "KMeansAuto", "cluster_profiles"]

# Above this many rows the choice of k is scored on a seeded sample (silhouette is quadratic in rows).
_SELECTION_ROWS = 5_000


def _threads_for(X: np.ndarray) -> Any:
    """One thread (BLAS and OpenMP) for small inputs: k-means/EM on a few thousand rows is dominated by thread
    wake-ups, which on a busy machine made a 400-row fit take seconds."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1) if X.size < 1_000_000 else nullcontext()


def _sample(X: np.ndarray, rows: int, seed: int | None) -> np.ndarray:
    if len(X) <= rows:
        return X
    rng = np.random.default_rng(seed)
    return X[rng.choice(len(X), size=rows, replace=False)]


def _k_candidates(k_range: tuple[int, int], n: int) -> list[int]:
    lo, hi = int(k_range[0]), int(k_range[1])
    if lo < 2 or hi < lo:
        msg = f"k_range={k_range} is not valid; give (low, high) with 2 <= low <= high, e.g. (2, 10)"
        raise SpecError(msg)
    ks = [k for k in range(lo, hi + 1) if k < n]
    if not ks:
        msg = f"too few rows ({n}) to form {lo} or more clusters"
        raise ModelError(msg)
    return ks


def _elbow(ks: list[int], inertias: list[float]) -> int:
    """The k farthest below the straight line from the first to the last (k, inertia) point (a 'kneedle' knee)."""
    if len(ks) < 3:
        return ks[0]
    x = np.asarray(ks, dtype=float)
    yv = np.asarray(inertias, dtype=float)
    x = (x - x[0]) / (x[-1] - x[0])
    yv = (yv - yv[-1]) / max(yv[0] - yv[-1], 1e-300)
    return ks[int(np.argmax((1.0 - x) - yv))]


class KMeansAuto(ClusterMixin, BaseEstimator):
    """k-means with k-means++ seeding; ``n_clusters="auto"`` picks k in ``k_range`` by silhouette or elbow.

    Args:
        n_clusters: a number, or ``"auto"`` to choose it.
        k_range: inclusive ``(low, high)`` range of k tried when choosing.
        selection: ``"silhouette"`` (highest mean silhouette, on a sample of at most 5,000 rows) or ``"elbow"``
            (knee of the inertia curve).
        minibatch: use ``MiniBatchKMeans`` (for large data).

    Fitted: ``labels_``, ``cluster_centers_``, ``n_clusters_``, ``inertia_``, ``k_scores_`` (per k tried:
    silhouette and inertia).
    """

    def __init__(
        self,
        n_clusters: int | Literal["auto"] = "auto",
        *,
        k_range: tuple[int, int] = (2, 10),
        selection: Literal["silhouette", "elbow"] = "silhouette",
        minibatch: bool = False,
        batch_size: int = 4096,
        n_init: int = 3,
        random_state: int | None = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.selection = selection
        self.minibatch = minibatch
        self.batch_size = batch_size
        self.n_init = n_init
        self.random_state = random_state

    def _make(self, k: int) -> Any:
        from sklearn.cluster import KMeans, MiniBatchKMeans

        if self.minibatch:
            return MiniBatchKMeans(n_clusters=k, batch_size=self.batch_size, n_init=self.n_init,
                                   random_state=self.random_state)
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)

    def fit(self, X: Any, y: Any = None) -> KMeansAuto:
        """Cluster the rows of ``X``; returns ``self``."""
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        with _threads_for(X):
            return self._fit(X)

    def _fit(self, X: np.ndarray) -> KMeansAuto:
        from sklearn.metrics import silhouette_score

        if self.selection not in ("silhouette", "elbow"):
            msg = f"KMeansAuto: selection={self.selection!r} is not valid; choose 'silhouette' or 'elbow'"
            raise SpecError(msg)
        self.k_scores_: dict[int, dict[str, float | None]] = {}
        if self.n_clusters == "auto":
            ks = _k_candidates(self.k_range, len(X))
            sample = _sample(X, _SELECTION_ROWS, self.random_state)
            fits = {}
            for k in ks:
                model = self._make(k).fit(X)
                labels = model.predict(sample)
                sil = (float(silhouette_score(sample, labels)) if 1 < len(np.unique(labels)) < len(sample)
                       else None)
                self.k_scores_[k] = {"silhouette": sil, "inertia": float(model.inertia_)}
                fits[k] = model
            if self.selection == "elbow":
                best = _elbow(ks, [self.k_scores_[k]["inertia"] for k in ks])
            else:
                best = max(ks, key=lambda k: -np.inf if self.k_scores_[k]["silhouette"] is None
                           else self.k_scores_[k]["silhouette"])
            self.model_ = fits[best]
        else:
            k = int(self.n_clusters)
            if not 1 <= k <= len(X):
                msg = f"KMeansAuto: n_clusters={k} is not valid for {len(X)} rows"
                raise SpecError(msg)
            self.model_ = self._make(k).fit(X)
        self.n_clusters_ = int(self.model_.n_clusters)
        self.cluster_centers_ = self.model_.cluster_centers_
        self.labels_ = self.model_.labels_
        self.inertia_ = float(self.model_.inertia_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The nearest centre's cluster for each row."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.model_.predict(X)


class GaussianMixtureAuto(ClusterMixin, BaseEstimator):
    """Gaussian mixture; ``n_components="auto"`` picks the count in ``k_range`` with the lowest BIC."""

    def __init__(
        self,
        n_components: int | Literal["auto"] = "auto",
        *,
        k_range: tuple[int, int] = (1, 8),
        covariance_type: Literal["full", "tied", "diag", "spherical"] = "full",
        random_state: int | None = 0,
    ) -> None:
        self.n_components = n_components
        self.k_range = k_range
        self.covariance_type = covariance_type
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> GaussianMixtureAuto:
        """Fit the mixture (choosing the component count by BIC when asked); returns ``self``."""
        X = validate_data(self, X, dtype=[np.float64])
        with _threads_for(X):
            return self._fit(X)

    def _fit(self, X: np.ndarray) -> GaussianMixtureAuto:
        from sklearn.mixture import GaussianMixture

        counts = (range(max(int(self.k_range[0]), 1), min(int(self.k_range[1]), len(X)) + 1)
                  if self.n_components == "auto" else [int(self.n_components)])
        self.bic_: dict[int, float] = {}
        best = None
        for k in counts:
            gm = GaussianMixture(n_components=k, covariance_type=self.covariance_type, reg_covar=1e-6,
                                 random_state=self.random_state).fit(X)
            self.bic_[k] = float(gm.bic(X))
            if best is None or self.bic_[k] < self.bic_[best[0]]:
                best = (k, gm)
        if best is None:
            msg = f"GaussianMixtureAuto: no component count to try in k_range={self.k_range} for {len(X)} rows"
            raise SpecError(msg)
        self.n_components_, self.model_ = best
        self.labels_ = self.model_.predict(X)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The most probable component per row."""
        check_is_fitted(self, "model_")
        return self.model_.predict(validate_data(self, X, reset=False, dtype=[np.float64]))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Membership probability per component."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(validate_data(self, X, reset=False, dtype=[np.float64]))


def _auto_eps(X: np.ndarray, min_samples: int, seed: int = 0) -> float:
    """DBSCAN's eps from the knee of the sorted distances to the ``min_samples``-th neighbour (on a sample)."""
    from sklearn.neighbors import NearestNeighbors

    sample = _sample(X, _SELECTION_ROWS, seed)
    k = min(min_samples, len(sample) - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(sample).kneighbors(sample)
    kd = np.sort(dist[:, -1])
    x = np.linspace(0.0, 1.0, len(kd))
    span = max(kd[-1] - kd[0], 1e-300)
    knee = int(np.argmax(x - (kd - kd[0]) / span))  # farthest below the chord = where the curve turns upward
    return float(max(kd[knee], 1e-12))


class DBSCANClusterer(ClusterMixin, BaseEstimator):
    """DBSCAN (density clusters, label -1 = noise) with ``eps="auto"`` from the k-distance knee and a ``predict``
    that gives a new row the cluster of its nearest core sample within ``eps`` (else -1)."""

    def __init__(self, eps: float | Literal["auto"] = "auto", *, min_samples: int = 5) -> None:
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, X: Any, y: Any = None) -> DBSCANClusterer:
        """Cluster the rows of ``X``; returns ``self``."""
        from sklearn.cluster import DBSCAN

        X = validate_data(self, X, dtype=[np.float64])
        self.eps_ = _auto_eps(X, self.min_samples) if self.eps == "auto" else float(self.eps)
        model = DBSCAN(eps=self.eps_, min_samples=self.min_samples).fit(X)
        self.labels_ = model.labels_
        self.components_ = X[model.core_sample_indices_]
        self.component_labels_ = model.labels_[model.core_sample_indices_]
        self.n_clusters_ = len(np.unique(self.labels_[self.labels_ >= 0]))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of the nearest core sample within ``eps``; -1 (noise) otherwise."""
        from sklearn.neighbors import NearestNeighbors

        check_is_fitted(self, "components_")
        X = validate_data(self, X, reset=False, dtype=[np.float64])
        if len(self.components_) == 0:
            return np.full(len(X), -1, dtype=np.int64)
        dist, idx = NearestNeighbors(n_neighbors=1).fit(self.components_).kneighbors(X)
        return np.where(dist[:, 0] <= self.eps_, self.component_labels_[idx[:, 0]], -1).astype(np.int64)


class HDBSCANClusterer(ClusterMixin, BaseEstimator):
    """HDBSCAN (no eps to choose; label -1 = noise); ``predict`` gives a new row the label of its nearest training
    row when it lies within that row's core distance, else -1 (an approximation of HDBSCAN's membership)."""

    def __init__(self, *, min_cluster_size: int = 5, min_samples: int | None = None) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples

    def fit(self, X: Any, y: Any = None) -> HDBSCANClusterer:
        """Cluster the rows of ``X``; returns ``self``."""
        from sklearn.cluster import HDBSCAN
        from sklearn.neighbors import NearestNeighbors

        X = validate_data(self, X, dtype=[np.float64])
        model = HDBSCAN(min_cluster_size=self.min_cluster_size, min_samples=self.min_samples, copy=True).fit(X)
        self.labels_ = model.labels_
        self.train_X_ = X
        k = min(self.min_samples or self.min_cluster_size, len(X) - 1)
        dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
        self.core_distances_ = dist[:, -1]
        self.n_clusters_ = len(np.unique(self.labels_[self.labels_ >= 0]))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Label of the nearest training row if within its core distance, else -1."""
        from sklearn.neighbors import NearestNeighbors

        check_is_fitted(self, "train_X_")
        X = validate_data(self, X, reset=False, dtype=[np.float64])
        dist, idx = NearestNeighbors(n_neighbors=1).fit(self.train_X_).kneighbors(X)
        near = idx[:, 0]
        return np.where(dist[:, 0] <= self.core_distances_[near], self.labels_[near], -1).astype(np.int64)


def cluster_profiles(X: Any, labels: Any, feature_names: list[str] | None = None, *, top: int = 3) -> list[dict]:
    """One profile per cluster: size, share, feature means, and the features that set it apart most
    (mean difference from the overall mean in overall standard deviations).

    >>> X = np.array([[0.0, 1.0], [0.2, 1.0], [5.0, 1.0], [5.2, 1.0]])
    >>> [p["size"] for p in cluster_profiles(X, [0, 0, 1, 1], ["a", "b"])]
    [2, 2]
    >>> cluster_profiles(X, [0, 0, 1, 1], ["a", "b"])[1]["distinctive"][0]["feature"]
    'a'
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    names = feature_names or [f"x{i}" for i in range(X.shape[1])]
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0
    out = []
    for label in np.unique(labels):
        rows = X[labels == label]
        cmean = rows.mean(axis=0)
        z = (cmean - mean) / std
        order = np.argsort(-np.abs(z))[:top]
        out.append({
            "cluster": label.item() if hasattr(label, "item") else label,
            "size": len(rows),
            "share": len(rows) / len(X),
            "means": {n: float(v) for n, v in zip(names, cmean, strict=True)},
            "distinctive": [{"feature": names[i], "z": float(z[i])} for i in order],
        })
    return out
