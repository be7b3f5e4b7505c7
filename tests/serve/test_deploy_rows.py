"""The server's rows come from the model's output arrays; they must equal ``Model.predict(...).to_dicts()``."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression

from assay._fitted import Model
from assay.models import LogisticRegressionGD
from assay.serve._deploy import Deployment

FEATURES = ["a", "b", "c"]


def _data() -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    return pl.DataFrame(X, schema=FEATURES, orient="row"), X


def _model(task: str, est: object, classes: list | None = None) -> Model:
    return Model([], est, task=task, target="y", input_schema=dict.fromkeys(FEATURES, "Float64"), features=FEATURES,
                 classes=classes)


class _ObjectLabels:
    """A classifier whose labels come back as an object array of NumPy scalars."""

    def __init__(self, est: LogisticRegression) -> None:
        self.est = est
        self.classes_ = est.classes_

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = np.empty(len(X), dtype=object)
        out[:] = list(self.est.predict(X))
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.est.predict_proba(X)


def _cases() -> list[tuple[str, Model]]:
    _, X = _data()
    words = np.where(X[:, 0] > 0, "是", "no")
    ints = (X[:, 1] > 0).astype(np.int64)
    gd = LogisticRegressionGD().fit(X, words)
    objects = _ObjectLabels(LogisticRegression().fit(X, ints))
    return [
        ("assay estimator, str labels", _model("classification", gd, list(gd.classes_))),
        ("sklearn, int labels", _model("classification", LogisticRegression().fit(X, ints), [0, 1])),
        ("sklearn, object labels", _model("classification", objects, [0, 1])),
        ("regression", _model("regression", LinearRegression().fit(X, X[:, 0] * 2))),
        ("clustering", _model("clustering", KMeans(3, n_init=2, random_state=0).fit(X))),
        ("anomaly", _model("anomaly", IsolationForest(random_state=0).fit(X))),
    ]


@pytest.mark.parametrize(("label", "model"), _cases(), ids=[c[0] for c in _cases()])
def test_served_rows_equal_predict_to_dicts(label: str, model: Model) -> None:
    frame, _ = _data()
    dep = Deployment("m", 1, model)
    results, _ = dep._run([frame.slice(0, 5), frame.slice(5, 1), frame.slice(6, 30)])
    expected = model.predict(frame.slice(0, 36)).to_dicts()
    served = [row for rows in results for row in rows]
    assert served == expected, label
    for row, want in zip(served, expected, strict=True):  # same Python types, so the same JSON
        assert [type(v) for v in row.values()] == [type(v) for v in want.values()], label
    inputs, outputs = dep.window()
    assert inputs.height == 36
    assert outputs.to_series(0).to_list() == [r[next(iter(r))] for r in expected]


class _NaNAbove:
    """A regressor that answers NaN for rows whose first feature is above 10 (an invalid output)."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.where(X[:, 0] > 10, np.nan, X[:, 0])


def test_invalid_output_fails_only_its_own_request() -> None:
    from assay.serve._deploy import InvalidOutput

    frame, _ = _data()
    model = _model("regression", _NaNAbove())
    bad = frame.slice(5, 2).with_columns(pl.Series("a", [1.0, 50.0]))
    dep = Deployment("m", 1, model)
    results, _ = dep._run([frame.slice(0, 5), bad, frame.slice(7, 3)])
    assert [len(r) for r in (results[0], results[2])] == [5, 3]
    assert isinstance(results[1], InvalidOutput)
    clean, _ = dep._run([frame.slice(0, 5), frame.slice(7, 3)])  # no NaN anywhere: every request answered
    assert [len(r) for r in clean] == [5, 3]
    assert [r["prediction"] for r in clean[1]] == frame.slice(7, 3).get_column("a").to_list()


class _RaisesAbove:
    """A regressor that raises on rows whose first feature is above 1e6 (as a float32 forest does on 1e308), or on
    every row once ``broken`` is set."""

    broken = False

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.broken or (X[:, 0] > 1e6).any():
            msg = "Input X contains infinity or a value too large for dtype('float32')."
            raise ValueError(msg)
        return X[:, 0]


def test_input_the_model_cannot_take_fails_only_that_request_as_input_error() -> None:
    from assay.serve._deploy import InputFailure, ModelFailure

    frame, _ = _data()
    est = _RaisesAbove()
    model = _model("regression", est)
    dep = Deployment("m", 1, model, example=frame.slice(0, 1))
    huge = frame.slice(5, 2).with_columns(pl.Series("a", [1.0, 1e308]))
    results, _ = dep._run([frame.slice(0, 5), huge, frame.slice(7, 3)])
    # the neighbours are answered; the request with 1e308 gets a 4xx error that names the model's complaint
    assert [r["prediction"] for r in results[0]] == frame.slice(0, 5).get_column("a").to_list()
    assert [len(r) for r in (results[0], results[2])] == [5, 3]
    assert isinstance(results[1], InputFailure)
    assert "too large" in str(results[1])
    alone, _ = dep._run([huge])  # a single request: the same answer
    assert isinstance(alone[0], InputFailure)
    # records (the plain JSON protocol) take the same path
    records, _ = dep._run([[{"a": 1.0, "b": 0.0, "c": 0.0}], [{"a": 1e308, "b": 0.0, "c": 0.0}]])
    assert records[0] == [{"prediction": 1.0}]
    assert isinstance(records[1], InputFailure)
    # a model that fails on its reference row too is failing itself: every request is a model failure
    est.broken = True
    failed, _ = dep._run([frame.slice(0, 5), huge])
    assert all(isinstance(r, ModelFailure) and not isinstance(r, InputFailure) for r in failed)
    # without a reference row nothing can be told apart: model failures, as before
    est.broken = False
    plain = Deployment("m", 1, model)
    assert isinstance(plain._run([huge])[0][0], ModelFailure)
