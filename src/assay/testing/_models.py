"""``check_model``: the contract every model assay can train must keep, run over each one in the tests.

The checks: parameters round-trip through ``get_params``/``clone``; ``fit`` returns the estimator itself;
predictions have one value per row (class probabilities sum to one); and the payload written by
``save_estimator`` loads back (without pickle) into an estimator that predicts exactly the same.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["check_model", "model_check_data"]


def model_check_data(task: str, *, seed: int = 0, n: int = 120) -> tuple[np.ndarray, np.ndarray | None]:
    """Small seeded data for ``task``: string class labels for classification, floats for regression."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    if task == "classification":
        score = X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.3, size=n)
        y = np.where(score > 0.5, "high", np.where(score < -0.5, "low", "mid"))
        return X, y
    if task == "regression":
        return X, X @ np.array([1.0, -2.0, 0.5, 0.0]) + 3.0 + rng.normal(scale=0.1, size=n)
    if task in ("clustering", "anomaly"):
        centers = np.array([[0, 0, 0, 0], [4, 4, 0, 0], [0, 4, 4, 0]], dtype=float)
        return X + centers[np.arange(n) % 3], None
    msg = f"no check data for task {task!r}"
    raise ValueError(msg)


def check_model(estimator: Any, task: str, X: Any = None, y: Any = None) -> None:
    """Raise AssertionError when ``estimator`` breaks assay's model contract on ``task``.

    >>> from assay.models import make_model
    >>> check_model(make_model("logreg", "classification"), "classification")
    """
    from sklearn.base import clone

    from assay.models import load_estimator, save_estimator

    if X is None:
        X, y = model_check_data(task)
    X = np.asarray(X, dtype=np.float64)
    params = estimator.get_params()
    twin = clone(estimator)
    assert twin.get_params().keys() == params.keys(), "clone() changed the parameter names"
    fitted = estimator.fit(X) if y is None else estimator.fit(X, y)
    assert fitted is estimator, "fit() must return self"
    pred = np.asarray(estimator.predict(X))
    assert pred.shape == (len(X),), f"predict() returned shape {pred.shape}, expected ({len(X)},)"
    proba = None
    if hasattr(estimator, "predict_proba") and task == "classification":
        proba = np.asarray(estimator.predict_proba(X))
        assert proba.shape == (len(X), len(estimator.classes_)), f"predict_proba shape {proba.shape}"
        assert np.allclose(proba.sum(axis=1), 1.0), "class probabilities must sum to 1"
        assert set(np.unique(pred)) <= set(estimator.classes_.tolist()), "predict() returned an unknown class"
    with tempfile.TemporaryDirectory() as tmp:
        meta = save_estimator(estimator, Path(tmp))
        import json

        json.dumps(meta)  # the description goes into a JSON manifest
        assert meta.get("class"), "save_estimator() must name the class"
        loaded = load_estimator(Path(tmp), json.loads(json.dumps(meta)))
    np.testing.assert_array_equal(np.asarray(loaded.predict(X)), pred, err_msg="reloaded model predicts differently")
    if proba is not None:
        np.testing.assert_array_equal(np.asarray(loaded.predict_proba(X)), proba,
                                      err_msg="reloaded model gives different probabilities")
    if hasattr(estimator, "score_samples") and task == "anomaly":
        np.testing.assert_array_equal(loaded.score_samples(X), estimator.score_samples(X))
