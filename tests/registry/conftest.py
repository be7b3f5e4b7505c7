"""Fixtures for registry tests: tiny real model artifacts and a registry on each backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay._fitted import Model
from assay.models import LogisticRegressionGD
from assay.registry import Registry, open_registry


def _iris() -> pl.DataFrame:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=False)
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame = pl.DataFrame(data.data, schema=cols, orient="row")
    return frame.with_columns(species=pl.Series(np.asarray(data.target_names)[data.target]))


@pytest.fixture
def iris_frame() -> pl.DataFrame:
    return _iris()


@pytest.fixture
def make_artifact(tmp_path: Path) -> Callable[..., Path]:
    """Write a small fitted classifier artifact; ``seed`` varies its weights so versions differ."""

    def make(name: str = "model", seed: int = 0, **extra: object) -> Path:
        frame = _iris()
        features = [c for c in frame.columns if c != "species"]
        X = frame.select(features).to_numpy()
        est = LogisticRegressionGD(alpha=1e-3 * (1 + seed), max_iter=100).fit(X, frame["species"].to_numpy())
        model = Model([], est, task="classification", target="species",
                      input_schema={c: "Float64" for c in features}, features=features,
                      classes=[str(c) for c in est.classes_])
        manifest = {"source": {"uri": "sklearn:iris", "fingerprint": f"fp{seed}", "rows": frame.height},
                    "metrics": {"test": {"accuracy": 0.9 + seed / 100}}, "spec": {"seed": seed}, **extra}
        return model.save(tmp_path / f"{name}-{seed}-{uuid.uuid4().hex[:6]}", **manifest)

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_uri(request: pytest.FixtureRequest, tmp_path: Path, service: Callable) -> Iterator[str]:
    """A fresh registry location: a directory, or a unique schema in the local PostgreSQL test database."""
    if request.param == "sqlite":
        yield str(tmp_path / "registry")
        return
    host, port = service("postgresql")
    schema = f"assay_test_{uuid.uuid4().hex[:10]}"
    yield f"postgresql://postgres@{host}:{port}/test?schema={schema}&artifacts={tmp_path / 'pg-artifacts'}"
    import psycopg

    with psycopg.connect(f"postgresql://postgres@{host}:{port}/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def registry(registry_uri: str) -> Registry:
    return open_registry(registry_uri)
