"""Yeo-Johnson on columns at the edge of float64: a finite λ, and finite output from finite input."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from assay.clean import ScaleStep, Step

BIG = 1e308
HUGE_COLUMNS = {
    "both-signs-1e308": [BIG, -BIG, 0.0, 5.0, 1.0, -3.0],
    "both-signs-1e300": [1e300, 2e300, 3.0, -1e250, 7.0],
    "one-side-near-max": [1.7e308, 1.0, 2.0, 3.0, 4.0],
    "skewed-against-the-mean": [1.7e308, -BIG, -BIG, -BIG, 0.5],
}


def _finite_in_finite_out(inp: pl.Series, out: pl.Series) -> None:
    for x, y in zip(inp.to_list(), out.to_list(), strict=True):
        if x is None:
            assert y is None
        elif math.isfinite(x):
            assert y is not None
            assert math.isfinite(y), f"{x!r} became {y!r}"


@pytest.mark.parametrize("values", list(HUGE_COLUMNS.values()), ids=list(HUGE_COLUMNS))
def test_huge_values_fit_a_finite_lambda_and_stay_finite(values: list[float], caplog: pytest.LogCaptureFixture):
    df = pl.DataFrame({"x": values})
    with caplog.at_level(logging.WARNING, logger="assay"):
        step = ScaleStep(method="yeo-johnson").fit(df)
    p = step.state_["params"]["x"]
    assert all(isinstance(p[k], float) and math.isfinite(p[k]) for k in ("lambda", "center", "scale"))
    assert p["scale"] > 0
    out = step.transform(df)["x"]
    _finite_in_finite_out(df["x"], out)
    # The order is kept (the transform is monotone; values far below the spread may tie) and the column is centred.
    by_input = out.to_numpy()[np.argsort(np.array(values))]
    assert (np.diff(by_input) >= 0).all()
    assert abs(float(out.mean())) < 1e-6
    restored = Step.from_dict(json.loads(step.to_json()))
    assert restored.transform(df)["x"].to_list() == out.to_list()


def test_a_range_too_wide_for_any_power_keeps_lambda_one_with_a_warning(caplog: pytest.LogCaptureFixture):
    df = pl.DataFrame({"wide": HUGE_COLUMNS["both-signs-1e308"]})
    with caplog.at_level(logging.WARNING, logger="assay"):
        step = ScaleStep(method="yeo-johnson").fit(df)
    assert step.state_["params"]["wide"]["lambda"] == 1.0
    assert "'wide'" in caplog.text
    assert "lambda 1" in caplog.text


def test_inf_nan_and_null_pass_through_beside_huge_values():
    df = pl.DataFrame({"x": [1.0, 2.0, float("inf"), float("nan"), None, 3.0, -BIG, float("-inf"), BIG]})
    step = ScaleStep(method="yeo-johnson").fit(df)
    out = step.transform(df)["x"].to_list()
    assert out[2] == math.inf
    assert out[7] == -math.inf
    assert math.isnan(out[3])
    assert out[4] is None
    assert all(math.isfinite(v) for i, v in enumerate(out) if i not in (2, 3, 4, 7))


@pytest.mark.parametrize("value", [5.0, BIG, -BIG, 0.0])
def test_a_constant_column_becomes_zeros(value: float):
    df = pl.DataFrame({"k": [value] * 6 + [None]})
    out = ScaleStep(method="yeo-johnson").fit(df).transform(df)["k"].to_list()
    assert out == [0.0] * 6 + [None]


def test_values_far_beyond_the_fit_stay_finite():
    rng = np.random.default_rng(4)
    df = pl.DataFrame({"x": rng.exponential(2.0, 300)})
    step = ScaleStep(method="yeo-johnson").fit(df)
    assert step.state_["params"]["x"]["lambda"] != 1.0
    far = pl.DataFrame({"x": [1e300, BIG, -BIG, -1e300]})
    _finite_in_finite_out(far["x"], step.transform(far)["x"])


def test_ordinary_data_keeps_scipys_lambda():
    rng = np.random.default_rng(5)
    values = rng.gamma(2.0, 3.0, 400) - 2.0
    step = ScaleStep(method="yeo-johnson").fit(pl.DataFrame({"x": values}))
    assert step.state_["params"]["x"]["lambda"] == pytest.approx(stats.yeojohnson_normmax(values), rel=1e-6)
    ours = step.transform(pl.DataFrame({"x": values}))["x"].to_numpy()
    theirs = stats.yeojohnson(values, stats.yeojohnson_normmax(values))
    np.testing.assert_allclose(ours, (theirs - theirs.mean()) / theirs.std(), rtol=1e-6, atol=1e-6)


def test_yeo_johnson_on_repeated_values_past_the_sample_size_matches_scikit_learn():
    # 30,000 rows holding 300 distinct values (a price or size column): the sample keeps distinct values with their
    # counts. A bottom-k of rows by a hash of their value kept every copy of a few values and none of the others,
    # and λ came out far off (diamonds' carat: -2.56 for scikit-learn's -1.25, values 9 SDs apart).
    from sklearn.preprocessing import PowerTransformer

    rng = np.random.default_rng(0)
    levels = np.round(np.exp(rng.normal(0.0, 0.6, 300)), 2)
    values = levels[rng.zipf(1.3, 30_000) % 300]
    df = pl.DataFrame({"x": values})
    step = ScaleStep(method="yeo-johnson", sample_size=1000).fit(df)
    pt = PowerTransformer().fit(values.reshape(-1, 1))
    assert step.state_["params"]["x"]["lambda"] == pytest.approx(pt.lambdas_[0], rel=1e-4)
    np.testing.assert_allclose(step.transform(df)["x"].to_numpy(), pt.transform(values.reshape(-1, 1))[:, 0],
                               atol=1e-5)
    batched = ScaleStep(method="yeo-johnson", sample_size=1000).fit(iter(df.iter_slices(7_001)))
    assert batched.state_ == step.state_


def test_yeo_johnson_sample_of_many_distinct_values_stays_close():
    rng = np.random.default_rng(1)
    values = np.round(rng.lognormal(0.0, 1.0, 50_000), 3)
    df = pl.DataFrame({"x": values})
    step = ScaleStep(method="yeo-johnson", sample_size=5_000).fit(df)
    assert step.state_["params"]["x"]["lambda"] == pytest.approx(stats.yeojohnson_normmax(values), abs=0.05)
