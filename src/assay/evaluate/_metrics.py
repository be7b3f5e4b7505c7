"""Metrics per task as plain dicts of JSON-safe floats, the primary metric of each task and its direction.

A metric that is undefined for the data at hand (ROC-AUC with one class in the fold, silhouette with one cluster)
is ``None``, never NaN, so results always serialise to JSON. Scores come from ``sklearn.metrics`` so they match what
users compare against.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from assay.exceptions import SpecError, did_you_mean

__all__ = ["GREATER_IS_BETTER", "METRICS", "PRIMARY_METRIC", "score"]

PRIMARY_METRIC: dict[str, str] = {
    "classification": "f1_macro",
    "regression": "r2",
    "clustering": "silhouette",
    "anomaly": "roc_auc",
    "recommendation": "ndcg@10",
}

METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro",
                       "precision_weighted", "recall_weighted", "f1_weighted", "mcc", "roc_auc", "log_loss"),
    "regression": ("rmse", "mae", "r2", "mape"),
    "clustering": ("silhouette", "davies_bouldin", "calinski_harabasz"),
    "anomaly": ("roc_auc", "average_precision", "anomaly_rate"),
    "recommendation": ("precision@10", "recall@10", "ndcg@10", "map@10", "coverage"),
}

GREATER_IS_BETTER: dict[str, bool] = {
    "accuracy": True, "balanced_accuracy": True, "precision_macro": True, "recall_macro": True, "f1_macro": True,
    "precision_weighted": True, "recall_weighted": True, "f1_weighted": True, "mcc": True, "roc_auc": True,
    "log_loss": False, "rmse": False, "mae": False, "r2": True, "mape": False, "silhouette": True,
    "davies_bouldin": False, "calinski_harabasz": True, "average_precision": True, "anomaly_rate": True,
    "precision@10": True, "recall@10": True, "ndcg@10": True, "map@10": True, "coverage": True,
}


def _safe(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _confusion_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Label metrics from one confusion matrix, with scikit-learn's definitions (labels = union of both arrays,
    zero_division=0). Computed here because sklearn's per-call validation costs ~10 ms, which dominates tuning."""
    labels, inverse = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    k = len(labels)
    n = len(y_true)
    t, p = inverse[:n], inverse[n:]
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
    weights = support / n
    out = {
        "accuracy": float(tp.sum() / n),
        "balanced_accuracy": float(recall[support > 0].mean()),
        "precision_macro": float(precision.mean()), "recall_macro": float(recall.mean()), "f1_macro": float(f1.mean()),
        "precision_weighted": float(precision @ weights), "recall_weighted": float(recall @ weights),
        "f1_weighted": float(f1 @ weights),
    }
    cov_tp = tp.sum() * n - support @ predicted
    cov_pp = n * n - predicted @ predicted
    cov_tt = n * n - support @ support
    out["mcc"] = 0.0 if cov_pp * cov_tt == 0 else float(cov_tp / np.sqrt(cov_tt * cov_pp))
    return out


def _classification(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None,
                    classes: np.ndarray | None) -> dict[str, float | None]:
    from sklearn import metrics as m

    out: dict[str, float | None] = dict(_confusion_scores(y_true, y_pred))
    out["roc_auc"] = None
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
        if classes is None:
            msg = "score(): pass classes= (the column order of proba) together with proba"
            raise SpecError(msg)
        classes = np.asarray(classes)
        present = np.unique(y_true)
        if not np.isin(present, classes).all():
            # A class the model never saw in training (say, a group split that holds out its only group): the
            # model gave it no probability, so log loss and AUC are undefined; the label metrics above count it.
            return {k: None if v is None else _safe(v) for k, v in out.items()} | {"log_loss": None}
        if proba.ndim == 1:
            proba = np.column_stack([1.0 - proba, proba])
        with warnings.catch_warnings():
            # A class absent from a fold is routine in CV; sklearn's defined values are right.
            warnings.simplefilter("ignore")
            out["log_loss"] = m.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=classes)
            if len(present) >= 2:
                if len(classes) == 2:
                    out["roc_auc"] = m.roc_auc_score(y_true == classes[1], proba[:, 1])
                else:
                    # Macro one-vs-rest over the classes present in y_true (a fold can miss a rare class).
                    cols = np.searchsorted(classes, present)
                    sub = proba[:, cols]
                    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-300, None)
                    out["roc_auc"] = (m.roc_auc_score(y_true, sub, multi_class="ovr", average="macro",
                                                      labels=present)
                                      if len(present) > 2 else m.roc_auc_score(y_true == present[1], sub[:, 1]))
    return {k: None if v is None else _safe(v) for k, v in out.items()}


def _regression(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    from sklearn import metrics as m

    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    nonzero = y_true != 0
    # MAPE over rows whose truth is not zero (sklearn divides by eps there and returns ~1e15).
    mape = float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) / y_true[nonzero]))) if nonzero.any() else None
    r2 = m.r2_score(y_true, y_pred) if len(y_true) >= 2 else None
    return {
        "rmse": _safe(np.sqrt(m.mean_squared_error(y_true, y_pred))),
        "mae": _safe(m.mean_absolute_error(y_true, y_pred)),
        "r2": None if r2 is None else _safe(r2),
        "mape": None if mape is None else _safe(mape),
    }


def _clustering(X: np.ndarray | None, labels: np.ndarray, seed: int = 0) -> dict[str, float | None]:
    from sklearn import metrics as m

    if X is None:
        msg = "score(task='clustering') needs X= (the features that were clustered)"
        raise SpecError(msg)
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    mask = labels != -1  # noise points of DBSCAN/HDBSCAN are not a cluster
    k = len(np.unique(labels[mask]))
    out: dict[str, float | None] = {"silhouette": None, "silhouette_clustered": None, "davies_bouldin": None,
                                    "calinski_harabasz": None, "n_clusters": float(k),
                                    "noise_fraction": float(1.0 - mask.mean())}
    if 2 <= k < mask.sum():
        Xm, lm = X[mask], labels[mask]
        # Silhouette is O(n²): above 10k rows it is estimated on a seeded sample, as sklearn allows.
        size = 10_000 if len(lm) > 10_000 else None
        clustered = m.silhouette_score(Xm, lm, sample_size=size, random_state=seed)
        # Noise points count as 0 (assigned to no cluster, neither well nor badly): scored over the clustered rows
        # alone, DBSCAN would win by calling the hardest rows noise (iris: 13% noise, 0.62 against k-means' 0.58).
        out["silhouette"] = _safe(clustered * mask.mean())
        out["silhouette_clustered"] = _safe(clustered)
        out["davies_bouldin"] = _safe(m.davies_bouldin_score(Xm, lm))
        out["calinski_harabasz"] = _safe(m.calinski_harabasz_score(Xm, lm))
    return out


def anomaly_truth(y_true: Any) -> np.ndarray | None:
    """Which rows a label column marks as anomalies: non-zero numbers and True; of text with two values, the rarer
    one ('malignant' among 'benign'), as every non-empty text would otherwise count as an anomaly and leave no
    normal row to score against. None for text of any other number of values.

    >>> anomaly_truth(np.array(["ok", "fraud", "ok", "ok"])).tolist()
    [False, True, False, False]
    """
    y = np.asarray(y_true)
    if y.dtype.kind in "biuf":
        return np.nan_to_num(y.astype(np.float64)) != 0
    text = y.astype(str)
    values, counts = np.unique(text, return_counts=True)
    if len(values) != 2:
        return None
    return text == values[int(np.argmin(counts))]


def _anomaly(y_true: np.ndarray | None, y_pred: np.ndarray, proba: np.ndarray | None) -> dict[str, float | None]:
    from sklearn import metrics as m

    labels = np.asarray(y_pred)
    out: dict[str, float | None] = {"anomaly_rate": float(np.mean(labels == 1)), "roc_auc": None,
                                    "average_precision": None}
    truth = None if y_true is None or proba is None else anomaly_truth(y_true)
    if truth is not None and 0 < truth.sum() < len(truth):
        out["roc_auc"] = _safe(m.roc_auc_score(truth, proba))
        out["average_precision"] = _safe(m.average_precision_score(truth, proba))
    return out


def score(
    task: str,
    y_true: Any,
    y_pred: Any,
    *,
    proba: Any = None,
    classes: Any = None,
    X: Any = None,
) -> dict[str, float | None]:
    """Every metric of ``task`` for one set of predictions; undefined metrics are ``None``.

    Args:
        task: ``"classification"``, ``"regression"``, ``"clustering"`` (``y_pred`` = cluster labels, ``X`` the
            clustered features, ``y_true`` ignored) or ``"anomaly"`` (``y_pred`` = 1 for anomalies, ``proba`` =
            anomaly scores, ``y_true`` optional known anomalies).
        proba: class probabilities (columns in the order of ``classes``) for ROC-AUC and log-loss.

    >>> score("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])["mae"]
    0.3333333333333333
    >>> s = score("classification", ["a", "b", "b"], ["a", "b", "a"], proba=[[.9, .1], [.2, .8], [.6, .4]],
    ...           classes=["a", "b"])
    >>> s["accuracy"], s["roc_auc"]
    (0.6666666666666666, 1.0)
    """
    if task == "classification":
        return _classification(np.asarray(y_true), np.asarray(y_pred), proba, classes)
    if task == "regression":
        return _regression(np.asarray(y_true), np.asarray(y_pred))
    if task == "clustering":
        return _clustering(X, np.asarray(y_pred))
    if task == "anomaly":
        return _anomaly(None if y_true is None else np.asarray(y_true), np.asarray(y_pred), proba)
    valid = [t for t in PRIMARY_METRIC if t != "recommendation"]
    msg = f"score(): unknown task {task!r}{did_you_mean(task, valid)}; valid: {', '.join(valid)}"
    raise SpecError(msg)
