"""Helpers shared by the server tests (imported by name: this folder is put on sys.path by conftest.py)."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import numpy as np
import polars as pl

from assay._fitted import Model
from assay.models import LinearRegressionGD, LogisticRegressionGD

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris() -> pl.DataFrame:
    from sklearn.datasets import load_iris

    data = load_iris()
    frame = pl.DataFrame(data.data, schema=FEATURES, orient="row")
    return frame.with_columns(species=pl.Series(np.asarray(data.target_names)[data.target]))


def iris_artifact(directory: Path, alpha: float = 1e-3) -> Path:
    frame = iris()
    est = LogisticRegressionGD(alpha=alpha, max_iter=200).fit(frame.select(FEATURES).to_numpy(),
                                                              frame["species"].to_numpy())
    model = Model([], est, task="classification", target="species", input_schema=dict.fromkeys(FEATURES, "Float64"),
                  features=FEATURES, classes=[str(c) for c in est.classes_])
    return model.save(directory / f"iris-{uuid.uuid4().hex[:8]}", model_name="logreg",
                      source={"uri": "sklearn:iris", "fingerprint": "iris", "rows": frame.height})


def regression_artifact(directory: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    est = LinearRegressionGD().fit(X, X @ np.array([2.0, -1.0]) + 0.5)
    model = Model([], est, task="regression", target="y", input_schema={"a": "Float64", "b": "Float64"},
                  features=["a", "b"])
    return model.save(directory / f"reg-{uuid.uuid4().hex[:8]}")


def cars_artifact(directory: Path) -> Path:
    """A regression on a whole-number column (``year``, Int64 in the input schema) and a float one; a missing
    input gets the training median."""
    from assay.clean._missing import MissingStep

    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"year": rng.integers(1990, 2020, 200), "mileage": rng.normal(50, 10, 200)})
    est = LinearRegressionGD().fit(frame.to_numpy().astype(float),
                                   ((frame["year"] - 1990) * 100.0 + 3 * frame["mileage"]).to_numpy())
    model = Model([MissingStep().fit(frame)], est, task="regression", target="price",
                  input_schema={"year": "Int64", "mileage": "Float64"}, features=["year", "mileage"])
    return model.save(directory / f"cars-{uuid.uuid4().hex[:8]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def sales_frame(rows: int = 400) -> pl.DataFrame:
    """Sale dates as a CSV brings them (text, day first) over 2020-2022, and a numeric column."""
    rng = np.random.default_rng(0)
    days = pl.date_range(pl.date(2020, 1, 1), pl.date(2022, 12, 31), eager=True).sample(rows, with_replacement=True,
                                                                                        seed=0)
    return pl.DataFrame({"sold": days.dt.strftime("%d/%m/%Y"), "carat": rng.gamma(2.0, 0.4, rows)})


def sales_artifact(directory: Path) -> Path:
    """A regression on a date column the model's types step reads (format %d/%m/%Y) and a number."""
    from assay.clean import TypesStep, clean, get_step

    frame = sales_frame()
    cleaned, steps, _ = clean(frame, [TypesStep(), get_step("datetime_parts")(drop_original=True)])
    X = cleaned.to_numpy().astype(float)
    est = LinearRegressionGD().fit(X, X @ np.ones(X.shape[1]))
    model = Model(steps, est, task="regression", target="price", input_schema={"sold": "String", "carat": "Float64"},
                  features=cleaned.columns)
    return model.save(directory / f"sales-{uuid.uuid4().hex[:8]}")
