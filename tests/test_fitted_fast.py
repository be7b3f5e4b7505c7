"""Model.predict's one-pass path (one score computation, no repeated checks) gives exactly what the checked
estimator methods give: same labels (ties and the tuned threshold included) and bit-identical probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_iris

from assay._fitted import Model, apply_threshold, dtype_from_str
from assay.exceptions import SchemaError
from assay.models import LinearRegressionGD, LogisticRegressionGD

FEATURES = ["a", "b", "c", "d"]


def _reference(model: Model, frame: pl.DataFrame) -> dict[str, Any]:
    """What predict returned before the fast path: Polars casts + select, then the estimator's public methods."""
    checked = frame.select([pl.col(n).cast(dtype_from_str(t), strict=False) for n, t in model.input_schema.items()])
    X = checked.select([pl.col(f).cast(pl.Float64) for f in model.features]).to_numpy(writable=True)
    X[~np.isfinite(X)] = np.nan
    if model.feature_fill is not None and np.isnan(X).any():
        rows, cols = np.nonzero(np.isnan(X))
        X[rows, cols] = np.asarray(model.feature_fill)[cols]
    est = model.estimator
    if model.task == "regression":
        return {"prediction": est.predict(X)}
    labels, proba = est.predict(X), est.predict_proba(X)
    if model.threshold is not None:
        labels = apply_threshold(proba, list(est.classes_), model.threshold, labels.dtype)
    return {"prediction": labels, **{f"proba_{c}": proba[:, j] for j, c in enumerate(est.classes_)}}


def _assert_identical(model: Model, frame: pl.DataFrame) -> None:
    got, want = model.predict(frame), _reference(model, frame)
    assert got.columns == list(want)
    for name, values in want.items():
        column = got.get_column(name).to_numpy()
        if values.dtype.kind == "f":
            assert column.dtype == np.float64
            assert column.tobytes() == np.ascontiguousarray(values).tobytes(), name  # bit for bit
        else:
            assert column.tolist() == values.tolist(), name


def _classifier(y: np.ndarray, X: np.ndarray, **kw: Any) -> Model:
    est = LogisticRegressionGD().fit(X, y)
    return Model([], est, task="classification", target="y", input_schema=dict.fromkeys(FEATURES, "Float64"),
                 features=FEATURES, classes=[str(c) for c in est.classes_], **kw)


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, np.asarray(["setosa", "versicolor", "virginica"])[y]


@pytest.mark.parametrize("n", [1, 2, 16, 64, 150])
def test_multiclass_identical_for_every_batch_size(iris: tuple[np.ndarray, np.ndarray], n: int) -> None:
    X, y = iris
    _assert_identical(_classifier(y, X), pl.DataFrame(X[:n], schema=FEATURES, orient="row"))


@pytest.mark.parametrize("threshold", [None, 0.3, 0.5, 0.9])
def test_binary_identical_with_and_without_a_tuned_threshold(iris: tuple[np.ndarray, np.ndarray],
                                                              threshold: float | None) -> None:
    X, y = iris
    model = _classifier(np.where(y == "virginica", "yes", "no"), X,
                        threshold=None if threshold is None else {"value": threshold})
    _assert_identical(model, pl.DataFrame(X, schema=FEATURES, orient="row"))


@pytest.mark.parametrize("binary", [True, False])
def test_ties_break_as_predict_does(iris: tuple[np.ndarray, np.ndarray], binary: bool) -> None:
    X, y = iris
    model = _classifier(np.where(y == "virginica", "yes", "no") if binary else y, X,
                        threshold={"value": 0.5} if binary else None)
    est = model.estimator
    est.coef_ = np.zeros_like(est.coef_)  # every score 0: exact ties between classes, p == 0.5 == the threshold
    est.intercept_ = np.zeros_like(est.intercept_)
    frame = pl.DataFrame(X[:8], schema=FEATURES, orient="row")
    _assert_identical(model, frame)
    if not binary:  # argmax keeps the first class on a tie
        assert set(model.predict(frame)["prediction"]) == {"setosa"}
    model.threshold = None  # without the threshold, score 0 is not > 0: the first class
    _assert_identical(model, frame)


def test_inputs_that_need_casting_filling_or_reordering(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    model = _classifier(y, X, feature_fill=[5.8, 3.0, 4.3, 1.2])
    frame = pl.DataFrame({"d": [0.2, None, 2.0], "extra": ["x", "y", "z"], "c": [1, 4, 6], "b": ["3.5", "2.9", "3"],
                          "a": [5.1, float("inf"), float("nan")]})
    _assert_identical(model, frame)


def test_missing_values_without_a_fill_are_still_refused(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    model = _classifier(y, X)
    frame = pl.DataFrame({"a": [None, 5.0], "b": [3.0, 3.0], "c": [1.0, 1.0], "d": [0.2, 0.2]})
    with pytest.raises(ValueError, match="NaN"):  # scikit-learn's own check, as before
        model.predict(frame)
    with pytest.raises(SchemaError, match="lacks column"):
        model.predict(frame.drop("d"))


def test_regression_identical(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = iris
    est = LinearRegressionGD().fit(X[:, :3], X[:, 3])
    model = Model([], est, task="regression", target="d", input_schema=dict.fromkeys(FEATURES[:3], "Float64"),
                  features=FEATURES[:3])
    for n in (1, 16, 150):
        _assert_identical(model, pl.DataFrame(X[:n, :3], schema=FEATURES[:3], orient="row"))


def test_server_path_equals_predict_on_a_validated_frame(iris: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = iris
    model = _classifier(y, X)
    frame = pl.DataFrame({**{f: X[:5, j] for j, f in enumerate(FEATURES)}, "c": [1, 4, 6, 2, 3]})
    assert model._predict_checked(model.validate(frame)).equals(model.predict(frame))


@pytest.mark.parametrize("kind", ["forest", "extra_trees", "tree", "lgbm"])
def test_labels_from_one_probability_call_equal_predict(kind: str) -> None:
    """Forests, trees and LightGBM answer labels and probabilities from one predict_proba call: same labels."""
    import lightgbm
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    X[:, 2] = np.round(X[:, 2])  # coarse values: leaves with tied class shares
    y = np.where(X[:, 0] + rng.normal(scale=0.8, size=300) > 0, "yes", np.where(X[:, 1] > 0.5, "maybe", "no"))
    est = {"forest": RandomForestClassifier(n_estimators=15, max_depth=3, random_state=0),
           "extra_trees": ExtraTreesClassifier(n_estimators=15, max_depth=3, random_state=0),
           "tree": DecisionTreeClassifier(max_depth=4, random_state=0),
           "lgbm": lightgbm.LGBMClassifier(n_estimators=20, verbose=-1)}[kind].fit(X, y)
    features = ["a", "b", "c"]
    model = Model([], est, task="classification", target="y", input_schema=dict.fromkeys(features, "Float64"),
                  features=features, classes=list(est.classes_))
    calls = []
    original = type(est).predict_proba

    def counted(self: object, data: np.ndarray) -> np.ndarray:
        calls.append(len(data))
        return original(self, data)

    type(est).predict_proba = counted
    try:
        out = model.predict(pl.DataFrame(X, schema=features, orient="row"))
    finally:
        type(est).predict_proba = original
    assert calls == [300]  # one probability pass, no second one inside predict()
    assert out.get_column("prediction").to_list() == est.predict(X).tolist()
    assert np.allclose(out.select(f"proba_{c}" for c in est.classes_).to_numpy(), est.predict_proba(X))


@pytest.mark.parametrize("kind", ["forest_regressor", "forest_classifier", "gradient_boosting", "isolation_forest"])
def test_float32_tree_models_take_values_beyond_float32(kind: str) -> None:
    """1e308 is a valid float64; scikit-learn's trees cast to float32 and refused it. Clipped, it predicts as the
    largest value the trees saw would (every threshold lies inside the training range)."""
    from sklearn.ensemble import (
        GradientBoostingRegressor,
        IsolationForest,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 2)) * 100
    y = X[:, 0] * 2 + X[:, 1]
    features = ["a", "b"]
    task, est = {"forest_regressor": ("regression", RandomForestRegressor(n_estimators=10, random_state=0)),
                 "forest_classifier": ("classification", RandomForestClassifier(n_estimators=10, random_state=0)),
                 "gradient_boosting": ("regression", GradientBoostingRegressor(n_estimators=20, random_state=0)),
                 "isolation_forest": ("anomaly", IsolationForest(random_state=0))}[kind]
    est.fit(X, (y > 0).astype(int) if task == "classification" else y)
    model = Model([], est, task=task, target="y" if task != "anomaly" else None,
                  input_schema=dict.fromkeys(features, "Float64"), features=features,
                  classes=[0, 1] if task == "classification" else None)
    huge = pl.DataFrame({"a": [1e308, -1e308, 3.5e38], "b": [0.0, 0.0, 1.0]})
    big = pl.DataFrame({"a": [1e30, -1e30, 1e30], "b": [0.0, 0.0, 1.0]})  # beyond the data, inside float32
    out = model.predict(huge)
    assert out.equals(model.predict(big))
    assert out.height == 3


@pytest.mark.parametrize(("value", "kind"), [(["N"], "a list"), ({"x": 1}, "an object")])
@pytest.mark.parametrize("column", ["a", "b"])
def test_a_list_or_object_where_one_value_is_expected_is_refused(value: object, kind: str, column: str) -> None:
    """JSON [..] or {..} for one column's value: a SchemaError naming the column and value (an object used to be
    turned into text and predicted; a list gave Polars' own cast message)."""
    from sklearn.linear_model import LogisticRegression

    model = Model([], LogisticRegression(), task="classification", target="y",
                  input_schema={"a": "String", "b": "Float64"}, features=["b"])
    record = {"a": "N", "b": 1.0, column: value}
    with pytest.raises(SchemaError, match=rf"column '{column}': value .* at row 1 is {kind}, not one value; the model "
                                          rf"takes one (String|Float64) per row"):
        model.validate(pl.DataFrame([{"a": None, "b": None}, record]))


def test_text_input_blanks_and_missing_tokens_are_missing_and_dates_are_parsed() -> None:
    """JSON producers send "" or "NA" for a missing number and dates as text: read as the types step would."""
    from sklearn.linear_model import LinearRegression

    model = Model([], LinearRegression(), task="regression", target="y",
                  input_schema={"a": "Float64", "d": "Date", "t": "Datetime(time_unit='us', time_zone='UTC')"},
                  features=["a"])
    out = model.validate(pl.DataFrame({"a": ["1.5", "", " NA ", None, "2"],
                                       "d": ["2024-01-01", "", "null", None, "2024-01-03"],
                                       "t": ["2024-01-01T10:00:00+02:00", "", None, None, "2024-01-01T10:00:00Z"]}))
    assert out["a"].to_list() == [1.5, None, None, None, 2.0]
    assert out.schema["d"] == pl.Date
    assert out["d"].null_count() == 3
    assert out.schema["t"] == pl.Datetime("us", "UTC")
    assert out["t"].dt.hour().to_list() == [8, None, None, None, 10]
    with pytest.raises(SchemaError, match="column 'd': value \"soon\" at row 0 cannot be read as Date"):
        model.validate(pl.DataFrame({"a": [1.0], "d": ["soon"], "t": [None]}))
    with pytest.raises(SchemaError, match="column 'a': value \"abc\" at row 0 cannot be read as Float64"):
        model.validate(pl.DataFrame({"a": ["abc"], "d": [None], "t": [None]}))


def test_spaces_around_numbers_are_read_and_flags_or_fractions_are_not_numbers_or_counts() -> None:
    """" 45.1 " is 45.1; true for a number and 2008.5 for a whole-number column are refused (they used to become
    1.0 and 2008), and read as missing, counted, where unreadable values are allowed."""
    from sklearn.linear_model import LinearRegression

    model = Model([], LinearRegression(), task="regression", target="y",
                  input_schema={"a": "Float64", "year": "Int64"}, features=["a"])
    out = model.validate(pl.DataFrame({"a": [" 45.1 ", "\t2"], "year": [2008.0, None]}))
    assert out["a"].to_list() == [45.1, 2.0]
    assert out["year"].to_list() == [2008, None]
    with pytest.raises(SchemaError, match="column 'a': value true at row 1 cannot be read as Float64"):
        model.validate(pl.DataFrame({"a": [None, True], "year": [2008, 2009]}))
    with pytest.raises(SchemaError, match=r"column 'year': value 2008\.5 at row 0 cannot be read as Int64"):
        model.validate(pl.DataFrame({"a": [1.0], "year": [2008.5]}))
    # Values are quoted as the JSON a client sent, not as Python writes them.
    with pytest.raises(SchemaError, match=r'column \'a\': value \{"b": 1\} at row 0 is an object, not one value'):
        model.validate(pl.DataFrame({"a": [{"b": 1}], "year": [2008]}))
    frame, unreadable = model._cast(pl.DataFrame({"a": [1.0, 2.0], "year": [2008.5, 2009.0]}), lenient=True)
    assert frame["year"].to_list() == [None, 2009]
    assert unreadable == {"year": (1, 2008.5, "Int64")}
    # Text is read as the same numbers are: "2008.0" is 2008, "2008.5" no whole number.
    out = model.validate(pl.DataFrame({"a": ["1"], "year": ["2008.0"]}))
    assert out["year"].to_list() == [2008]
    frame, unreadable = model._cast(pl.DataFrame({"a": ["1"] * 4, "year": ["2e3", "2008.5", "1e30", " 7 "]}),
                                    lenient=True)
    assert frame["year"].to_list() == [2000, None, None, 7]
    assert unreadable == {"year": (2, "2008.5", "Int64")}


def test_text_the_types_step_converts_is_checked_too():
    """A date the types step cannot read: the server's check refuses it, a batch reads it as missing and says so."""
    from assay.pipeline import Pipeline

    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=n)
    frame = pl.DataFrame({"x": x, "when": [f"2024-03-{1 + i % 28:02d} 10:00:00" for i in range(n)],
                          "y": 3 * x + rng.normal(0, 0.1, n)})
    model = Pipeline(target="y", task="regression", models=["linreg"], folds=2).fit(frame).model
    bad = pl.DataFrame({"x": [0.5, 0.5, 0.5], "when": ["2024-03-02 10:00:00", "next saturday", "NA"]})
    with pytest.raises(SchemaError, match=r"column 'when': value \"next saturday\" cannot be read as datetime in the "
                                          r"format '%Y-%m-%d %H:%M:%S' \(as in training\)"):
        model.validate(bad)
    checked, unreadable = model.read_input(bad)
    assert unreadable == {"when": (1, "next saturday", "datetime in the format '%Y-%m-%d %H:%M:%S'")}
    assert checked.get_column("when").to_list() == ["2024-03-02 10:00:00", None, "NA"]  # 'NA' is a missing token
    predictions = model.predict(checked)
    assert predictions.height == 3
    assert predictions.get_column("prediction").null_count() == 0
    model.validate(bad.slice(0, 1))  # a readable date passes
