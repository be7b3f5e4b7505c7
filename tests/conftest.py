"""Fixtures shared by the whole suite.

- ``service(name)``: the address of one of the machine's real servers; the test fails under ``CI=true`` when the
  server is unreachable (and is skipped on a developer's machine that lacks it).
- ``as_backend``: the same data as an in-memory frame, a list of micro-batches and an out-of-core lazy scan, so a
  step is proven on all three by one test (Dask joins with the dask engine).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

SERVICES: dict[str, tuple[str, int]] = {
    "postgresql": ("127.0.0.1", 5432),
    "mysql": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "amqp": ("127.0.0.1", 5672),
    "mqtt": ("127.0.0.1", 1883),
    "nats": ("127.0.0.1", 4222),
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def service() -> Callable[[str], tuple[str, int]]:
    def get(name: str) -> tuple[str, int]:
        host, port = SERVICES[name]
        if not _reachable(host, port):
            msg = f"{name} server at {host}:{port} is unreachable"
            if os.environ.get("CI") == "true":
                pytest.fail(msg + " (CI=true: a test that needs a server fails rather than skips)")
            pytest.skip(msg)
        return host, port

    return get


BACKENDS = ["frame", "batches", "scan"]


@pytest.fixture(params=BACKENDS)
def as_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[pl.DataFrame], object]:
    """Turn a frame into the backend under test: itself, 3 micro-batches, or a lazy scan of a Parquet file."""

    def convert(frame: pl.DataFrame) -> object:
        if request.param == "frame":
            return frame
        if request.param == "batches":
            n = max(1, frame.height // 3 + 1)
            return [frame.slice(i, n) for i in range(0, frame.height, n)] or [frame]
        path = tmp_path / "scan.parquet"
        frame.write_parquet(path, row_group_size=max(1, frame.height // 4))
        return pl.scan_parquet(path)

    convert.kind = request.param  # type: ignore[attr-defined]
    return convert



@pytest.fixture(scope="session")
def penguins_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Palmer penguins CSV shipped in the palmerpenguins package (344 rows, NA strings, 3 species)."""
    path = tmp_path_factory.mktemp("data") / "penguins.csv"
    with resources.as_file(resources.files("palmerpenguins") / "data" / "penguins.csv") as shipped:
        shutil.copyfile(shipped, path)
    return path


@pytest.fixture(scope="session")
def diabetes_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's bundled diabetes regression data (442 rows) with Chinese column names, as a GBK CSV."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame
    frame = pl.from_pandas(data).rename({"age": "年龄", "bmi": "体重指数", "target": "病情进展"})
    path = tmp_path_factory.mktemp("data") / "diabetes_gbk.csv"
    path.write_bytes(frame.write_csv().encode("gbk"))
    return path


@pytest.fixture(scope="session")
def trained(penguins_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained penguins model directory, shared by the predict tests."""
    from assay.cli import main

    out = tmp_path_factory.mktemp("trained")
    code = main(["train", str(penguins_csv), "--target", "species", "--models", "logreg,lgbm", "--folds", "3",
                 "--out", str(out), "--quiet"])
    assert code == 0
    return out


SALES_ROWS = 120


@pytest.fixture
def sales_report(tmp_path: Path) -> tuple[Path, Path]:
    """A spreadsheet export of SALES_ROWS sales rows with a totals row (合计 and the column sums) at the end, and
    the same rows without it: ``(report.csv, plain.csv)``."""
    import numpy as np

    rng = np.random.default_rng(3)
    spend = rng.uniform(1, 10, SALES_ROWS).round(2)
    frame = pl.DataFrame({"city": rng.choice(["北京", "上海", "广州"], SALES_ROWS), "spend": spend,
                          "sales": (3 * spend + rng.normal(0, 1, SALES_ROWS)).round(2)})
    report = pl.concat([frame, pl.DataFrame({"city": ["合计"], "spend": [frame["spend"].sum()],
                                             "sales": [frame["sales"].sum()]})])
    report.write_csv(tmp_path / "report.csv")
    frame.write_csv(tmp_path / "plain.csv")
    return tmp_path / "report.csv", tmp_path / "plain.csv"
