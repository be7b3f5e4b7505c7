"""An anomaly detector trained beside a text label column is scored against it."""

from __future__ import annotations

import numpy as np
import polars as pl

from assay.evaluate import score
from assay.pipeline import train


def _labelled(rows: int = 400) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 3))
    odd = np.arange(rows) < rows // 20
    X[odd] += 6  # the few far-out rows are the known anomalies
    return pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": np.where(odd, "fraud", "ok")})


def test_text_labels_score_the_rarer_value_as_anomalies():
    labels = np.array(["ok", "fraud", "ok", "ok"])
    metrics = score("anomaly", labels, np.array([0, 1, 0, 0]), proba=np.array([0.1, 0.9, 0.2, 0.3]))
    assert metrics["roc_auc"] == 1.0


def test_train_with_a_text_label_column_reports_roc_auc_and_says_which_value():
    result = train(_labelled(), "label", task="anomaly", models=["iforest"], report=False)
    assert result.test_metrics["roc_auc"] > 0.9
    assert result.leaderboard[0]["cv_mean"] > 0.9
    said = [n for n in result.notes if n.startswith("anomaly labels:")]
    assert len(said) == 1
    assert "'fraud', the rarer" in said[0]


def test_labels_of_three_texts_are_said_to_give_no_score():
    frame = _labelled().with_columns(pl.Series("label", ["x", "y", "z", "y"] * 100))
    result = train(frame, "label", task="anomaly", models=["iforest"], report=False)
    assert result.test_metrics["roc_auc"] is None
    assert any("holds 3 different texts" in n for n in result.notes)
