"""Data shared by the cleaning tests: a small mixed-type frame with gaps, categories, dates and a Chinese column."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest


def make_mixed(n: int = 60, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, n)
    x[[5, 17, 33]] = np.nan
    x[40] = 80.0  # an outlier
    ints = rng.integers(0, 50, n).astype(float)
    return pl.DataFrame({
        "x": pl.Series(x).fill_nan(None),
        "n": pl.Series(ints, dtype=pl.Float64).cast(pl.Int64).scatter([2, 9], None),
        "c": pl.Series(rng.choice(["red", "green", "blue", "violet"], n, p=[0.5, 0.3, 0.15, 0.05])).scatter(
            [3, 12], None),
        "amount": [f"{v:,.2f}" if i % 7 else f"${v:,.0f}" for i, v in enumerate(rng.uniform(0, 5000, n))],
        "day": [(date(2024, 1, 1) + timedelta(days=int(d))).isoformat() for d in rng.integers(0, 400, n)],
        "ok": rng.choice(["yes", "no"], n).tolist(),
        "ts": [datetime(2024, 1, 1) + timedelta(hours=int(h)) for h in rng.integers(0, 5000, n)],
        "g": rng.choice(["north", "south"], n).tolist(),
        "销售额": rng.gamma(2.0, 100.0, n),
        "y": rng.integers(0, 2, n),
        "label": rng.choice(["cat", "dog", "fish"], n).tolist(),
    })


@pytest.fixture
def mixed() -> pl.DataFrame:
    return make_mixed()
