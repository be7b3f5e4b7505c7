"""Scaling, imputation and outlier steps compared with scikit-learn / NumPy on the same data."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn import impute, preprocessing

from assay.clean import ClusterStep, MissingStep, OutlierStep, ScaleStep
from assay.clean._sketch import EXACT_LIMIT
from assay.exceptions import SchemaError, SpecError


@pytest.fixture
def numbers() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    return pl.DataFrame({"a": rng.normal(5, 2, 500), "b": rng.exponential(3, 500) - 1.0,
                         "价格": rng.integers(-40, 90, 500).astype(float)})


SCALERS = {
    "standard": preprocessing.StandardScaler(),
    "minmax": preprocessing.MinMaxScaler(),
    "robust": preprocessing.RobustScaler(),
    "maxabs": preprocessing.MaxAbsScaler(),
    "yeo-johnson": preprocessing.PowerTransformer(method="yeo-johnson"),
}


@pytest.mark.parametrize("method", list(SCALERS))
def test_scale_matches_sklearn(method: str, numbers: pl.DataFrame, as_backend) -> None:
    step = ScaleStep(method=method).fit(as_backend(numbers))
    ours = step.transform(numbers).to_numpy()
    theirs = SCALERS[method].fit_transform(numbers.to_numpy())
    # scikit-learn fits the Yeo-Johnson lambda with its own optimiser; both maximise the same likelihood.
    np.testing.assert_allclose(ours, theirs, rtol=1e-3 if method == "yeo-johnson" else 1e-9, atol=1e-6)


def test_scale_log1p_is_signed_and_constant_column_is_defined() -> None:
    df = pl.DataFrame({"x": [-9.0, 0.0, 99.0, float("nan"), float("inf")], "k": [2.0] * 5})
    out = ScaleStep(method="log1p").fit(df).transform(df)
    assert out["x"].to_list()[:3] == pytest.approx([-np.log(10), 0.0, np.log(100)])
    assert np.isnan(out["x"][3])
    assert np.isinf(out["x"][4])
    # A constant column scales by 1 (as scikit-learn): centred to zero, no division by zero.
    assert ScaleStep().fit(df).transform(df)["k"].to_list() == [0.0] * 5


@pytest.mark.parametrize(("ours", "theirs"), [
    ({"strategy": "mean"}, {"strategy": "mean"}),
    ({"strategy": "median"}, {"strategy": "median"}),
    ({"strategy": "mode"}, {"strategy": "most_frequent"}),
    ({"strategy": "constant", "fill_value": -1}, {"strategy": "constant", "fill_value": -1}),
])
def test_missing_matches_simple_imputer(ours: dict, theirs: dict, numbers: pl.DataFrame, as_backend) -> None:
    rng = np.random.default_rng(9)
    holes = numbers.with_columns(
        [pl.when(pl.lit(rng.random(500) < 0.2)).then(None).otherwise(pl.col(c)).alias(c) for c in numbers.columns])
    if ours["strategy"] == "mode":
        holes = holes.with_columns(pl.all().round(0))
    got = MissingStep(**ours).fit(as_backend(holes)).transform(holes).to_numpy()
    want = impute.SimpleImputer(**theirs).fit_transform(holes.to_numpy())
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_missing_knn_matches_knn_imputer(numbers: pl.DataFrame) -> None:
    rng = np.random.default_rng(1)
    # Continuous values only: with integer ties the choice among equally near neighbours is arbitrary in both.
    numbers = numbers.with_columns(pl.col("价格") + rng.random(500))
    holes = numbers.with_columns(
        [pl.when(pl.lit(rng.random(500) < 0.1)).then(None).otherwise(pl.col(c)).alias(c) for c in numbers.columns])
    got = MissingStep(strategy="knn", k=4).fit(holes).transform(holes).to_numpy()
    want = impute.KNNImputer(n_neighbors=4).fit_transform(holes.to_numpy())
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_missing_indicator_and_nan_inf_tokens() -> None:
    df = pl.DataFrame({"x": [1.0, float("nan"), float("inf"), 4.0, None], "s": ["a", "?", "a", "b", None]})
    step = MissingStep(indicator=True, tokens=["?"]).fit(df)
    out = step.transform(df)
    assert out["x"].to_list() == [1.0, 2.5, 2.5, 4.0, 2.5]  # median of the finite values 1 and 4
    assert out["s"].to_list() == ["a", "a", "a", "b", "a"]
    assert out["x__missing"].to_list() == [False, True, True, False, True]
    assert out["s__missing"].to_list() == [False, True, False, False, True]


def test_missing_interpolation_matches_numpy_and_by_time() -> None:
    df = pl.DataFrame({"x": [1.0, None, None, 7.0, None], "t": [0, 1, 3, 4, 5]})
    out = MissingStep(strategy="interpolate", columns=["x"]).fit(df).transform(df)["x"].to_list()
    assert out[:4] == pytest.approx(np.interp([0, 1, 2, 3], [0, 3], [1.0, 7.0]).tolist())
    assert out[4] == 4.0  # trailing gap: no neighbour to the right, so the fitted median (of 1 and 7)
    by_time = MissingStep(strategy="interpolate", columns=["x"], order_by="t").fit(df).transform(df)["x"].to_list()
    assert by_time[:4] == pytest.approx([1.0, 2.5, 5.5, 7.0])


def test_missing_ffill_groupwise_and_thresholds() -> None:
    df = pl.DataFrame({"x": [1.0, None, 3.0, None, None, None], "g": ["a", "a", "b", "b", "c", "a"],
                       "mostly_empty": [None, None, None, None, 1.0, None]})
    assert MissingStep(strategy="ffill", columns=["x"]).fit(df).transform(df)["x"].to_list() == [
        1.0, 1.0, 3.0, 3.0, 3.0, 3.0]
    grouped = MissingStep(by="g", columns=["x"]).fit(df).transform(df)["x"].to_list()
    assert grouped == [1.0, 1.0, 3.0, 3.0, 2.0, 1.0]  # group c never had a value: overall median 2.0
    step = MissingStep(max_missing=0.7).fit(df)
    assert step.state_["dropped"] == ["mostly_empty"]
    assert "mostly_empty" not in step.transform(df).columns
    kept = MissingStep(drop_rows=0.0, columns=["x"]).fit(df)
    assert kept.transform_train(df).height == 2
    assert kept.transform(df).height == 6


def test_missing_errors_name_the_fix(numbers: pl.DataFrame) -> None:
    with pytest.raises(SpecError, match=r"strategy='medain'.*did you mean 'median'.*valid values"):
        MissingStep(strategy="medain").fit(numbers)
    with pytest.raises(SchemaError, match=r"column '价' not found; did you mean '价格'"):
        MissingStep(columns=["价"]).fit(numbers)
    with pytest.raises(SpecError, match="fill_value"):
        MissingStep(strategy="constant").fit(numbers)


def test_iqr_and_zscore_bounds_match_numpy(numbers: pl.DataFrame) -> None:
    a = numbers["a"].to_numpy()
    q1, q3 = np.percentile(a, [25, 75])
    step = OutlierStep(columns=["a"]).fit(numbers)
    lo, hi, _ = step.state_["bounds"]["a"]
    assert (lo, hi) == pytest.approx((q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)))
    clipped = step.transform(numbers)["a"].to_numpy()
    np.testing.assert_allclose(clipped, np.clip(a, lo, hi))
    z = OutlierStep(columns=["a"], method="zscore", threshold=2.5).fit(numbers)
    lo, hi, _centre = z.state_["bounds"]["a"]
    assert (lo, hi) == pytest.approx((a.mean() - 2.5 * a.std(), a.mean() + 2.5 * a.std()))


def test_outlier_actions_report_and_quarantine(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    df = pl.DataFrame({"x": [1.0, 2.0, 3.0, 2.5, 1.5, 500.0, -300.0, None], "id": list(range(8))})
    flag = OutlierStep(columns=["x"], action="flag").fit(df)
    assert flag.transform(df)["x__outlier"].to_list() == [False] * 5 + [True, True, False]
    assert flag.report(df) == {"x": 2}
    dropped = OutlierStep(columns=["x"], action="drop").fit(df)
    assert dropped.transform(df).height == 8  # predict time never drops rows
    assert dropped.transform_train(df)["id"].to_list() == [0, 1, 2, 3, 4, 7]
    target = tmp_path / "bad" / "rows.csv"
    quarantine = OutlierStep(columns=["x"], action="quarantine", quarantine=str(target)).fit(df)
    with caplog.at_level(logging.INFO, logger="assay.clean._outliers"):
        kept = quarantine.transform_train(df)
    assert kept.height == 6
    assert quarantine.touched_ == {"x": 2}
    aside = pl.read_csv(target)
    assert aside["id"].to_list() == [5, 6]
    assert set(aside["__reason__"]) == {"x: iqr"}
    assert "2 values outside the fences, in 'x' 2" in caplog.text
    with pytest.raises(SpecError, match="quarantine=<path"):
        OutlierStep(action="quarantine").fit(df)


def test_mad_and_isolation_forest_find_the_planted_outliers() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 400)
    y = rng.normal(0, 1, 400)
    x[:5] = [12, -15, 20, 9, -11]
    y[:5] = [10, 14, -13, -9, 12]
    df = pl.DataFrame({"x": x, "y": y})
    mad = OutlierStep(method="mad", action="flag").fit(df).transform(df)
    assert mad["x__outlier"][:5].all()
    assert mad["x__outlier"].sum() < 10
    forest = OutlierStep(method="isolation_forest", action="flag", contamination=0.02).fit(df).transform(df)
    assert forest["__outlier__"][:5].all()
    assert forest["__outlier__"].sum() <= 10


def test_per_group_bounds() -> None:
    df = pl.DataFrame({"v": [1.0, 1.1, 0.9, 1.0, 5.0, 100.0, 101.0, 99.0, 100.5, 5.0],
                       "g": ["a"] * 5 + ["b"] * 5})
    out = OutlierStep(columns=["v"], by="g", action="flag").fit(df).transform(df)
    # 5.0 is an outlier among the a's and among the b's, though it sits inside the overall range.
    assert out["v__outlier"].to_list() == [False] * 4 + [True] + [False] * 4 + [True]


def test_isolation_forest_per_group() -> None:
    rng = np.random.default_rng(1)
    # Group b lives around 100; a value of 100 is normal there but far out for group a.
    a = rng.normal(0, 1, 300)
    b = rng.normal(100, 1, 300)
    df = pl.DataFrame({"v": np.r_[a, b, 100.0], "g": ["a"] * 300 + ["b"] * 300 + ["a"]})
    step = OutlierStep(method="isolation_forest", action="flag", by="g", contamination=0.01).fit(df)
    flags = step.transform(df)["__outlier__"]
    assert flags[-1]
    assert flags[:600].sum() <= 12
    unseen = step.transform(pl.DataFrame({"v": [0.1], "g": ["zzz"]}))  # unseen group: the overall forest
    assert unseen.height == 1


def test_quantile_steps_on_big_batches_stay_within_sketch_tolerance() -> None:
    rng = np.random.default_rng(5)
    values = rng.lognormal(0, 1, EXACT_LIMIT + 100_000)
    frame = pl.DataFrame({"v": values})
    batches = list(frame.iter_slices(60_000))
    step = MissingStep(columns=["v"]).fit(batches)
    true_median = float(np.median(values))
    rank = float(np.mean(values <= step.state_["fill"]["v"]))
    assert abs(rank - 0.5) < 0.01, (step.state_["fill"]["v"], true_median)


def test_standard_scale_of_a_column_near_the_float_range_stays_finite():
    """Mean and spread of [3, 1e308, ...] overflow float64: the column is divided by its largest magnitude."""
    df = pl.DataFrame({"big": [3.0, 1e308, 1e308, 3.0, None], "small": [1.0, 2.0, 3.0, 4.0, 5.0]})
    step = ScaleStep().fit(df)
    assert step.state_["params"]["big"] == {"center": 0.0, "scale": 1e308}
    out = step.transform(df)
    big = out.get_column("big").drop_nulls().to_list()
    assert big == pytest.approx([3e-308, 1.0, 1.0, 3e-308], rel=1e-12, abs=0)
    assert out.get_column("small").std(ddof=0) == pytest.approx(1.0)


def test_a_spread_of_rounding_noise_is_no_spread() -> None:
    # Equal values reached by different float paths (0.1 + 0.2 and 0.3): their spread is rounding, not data.
    train = pl.DataFrame({"enc": [0.1 + 0.2, 0.3, 0.3, 0.1 + 0.2] * 5, "x": np.arange(20.0)})
    new = pl.DataFrame({"enc": [0.9], "x": [3.0]})
    scaled = ScaleStep(columns=["enc"]).fit(train).transform(new)["enc"].item()
    assert scaled == pytest.approx(0.6)  # shifted by the mean, not divided by 1e-17
    clustered = ClusterStep(k=2).fit(train).transform(new)
    assert clustered["cluster_distance"].item() < 10


def test_integer_columns_filled_with_a_whole_number_keep_their_type() -> None:
    frame = pl.DataFrame({"id": [1, 2, 3, 4, 5], "count": [2, None, 2, 5, 2], "half": [1, None, 2, 3, 4],
                          "x": [0.5, None, 1.5, 2.5, 1.0]}, schema_overrides={"count": pl.Int32})
    out = MissingStep(strategy="median").fit(frame).transform(frame)
    assert out.schema["id"] == pl.Int64  # nothing to fill, and no 1.0, 2.0, … in the output
    assert out.schema["count"] == pl.Int32
    assert out["count"].to_list() == [2, 2, 2, 5, 2]
    assert out.schema["half"] == pl.Float64  # the median of 1, 2, 3, 4 is 2.5
    assert out["half"].to_list() == [1.0, 2.5, 2.0, 3.0, 4.0]
    assert out.schema["x"] == pl.Float64
    mean = MissingStep(strategy="mean").fit(frame).transform(frame)
    assert mean.schema["count"] == pl.Float64  # (2 + 2 + 5 + 2) / 4 is not whole
    assert mean["count"].to_list() == [2.0, 2.75, 2.0, 5.0, 2.0]


@pytest.mark.parametrize("params", [{"strategy": "knn", "k": 2}, {"strategy": "interpolate", "order_by": "t"}])
def test_whole_number_columns_with_nothing_missing_keep_their_type(params: dict) -> None:
    frame = pl.DataFrame({"t": [1, 2, 3, 4, 5, 6], "month": [5, 5, 6, 6, 7, 7],
                          "ozone": [41, None, 12, 18, None, 28], "wind": [7.4, 8.0, 12.6, 11.5, 14.3, 14.9]})
    step = MissingStep(**params).fit(frame)
    out = step.transform(frame)
    assert out.schema["month"] == pl.Int64  # nothing to fill: it stays whole
    assert out.schema["t"] == pl.Int64
    assert out.schema["ozone"] == pl.Float64  # estimated fills are not rounded
    assert out.get_column("ozone").null_count() == 0
    new = step.transform(frame.with_columns(pl.when(pl.col("t") == 3).then(None).otherwise(pl.col("month"))
                                            .alias("month")))
    assert new.schema["month"] == pl.Int64  # missing in new data: filled with a whole number
    assert new.get_column("month").null_count() == 0


def test_the_missing_step_keeps_the_types_of_columns_it_has_nothing_to_fill() -> None:
    import decimal

    frame = pl.DataFrame({"u8": pl.Series([1, 2, 3, 4], dtype=pl.UInt8),  # median 2.5
                          "f32": pl.Series([0.5, None, 1.5, 2.0], dtype=pl.Float32),
                          "dec": pl.Series([decimal.Decimal("1.25"), decimal.Decimal("2.50")] * 2,
                                           dtype=pl.Decimal(10, 2)),
                          "n": [1, None, 2, 4]})  # median 2: whole numbers stay whole as before
    step = MissingStep().fit(frame)
    out = step.transform(frame)
    assert out.schema == frame.schema
    assert out.get_column("f32").to_list() == [0.5, 1.5, 1.5, 2.0]
    new = step.transform(pl.DataFrame({"u8": pl.Series([None, 7], dtype=pl.UInt8), "f32": [None, 1.0],
                                       "dec": pl.Series([None, decimal.Decimal("3.00")], dtype=pl.Decimal(10, 2)),
                                       "n": [None, 3]}).cast(frame.schema))
    assert new.schema == frame.schema
    assert new.get_column("u8").to_list() == [2, 7]  # 2.5 rounded (to even) for a column that was complete
    assert new.get_column("dec").to_list()[0] == decimal.Decimal("1.88")  # the median 1.875 at the column's scale


@pytest.mark.parametrize("action", ["clip", "replace"])
def test_outliers_keep_narrow_and_decimal_types(action: str) -> None:
    import decimal

    values = [10, 11, 12, 11, 10, 12, 11, 250]
    frame = pl.DataFrame({"u8": pl.Series(values, dtype=pl.UInt8),  # IQR fence below 0: clip used to fail
                          "f32": pl.Series(values, dtype=pl.Float32),
                          "dec": pl.Series([decimal.Decimal(v) for v in values], dtype=pl.Decimal(10, 2))})
    step = OutlierStep(method="iqr", action=action).fit(frame)
    out = step.transform(frame)
    assert out.schema == frame.schema
    u8, f32, dec = out.row(7)
    assert float(dec) == round(float(f32), 2)  # the upper fence (13.875; 13.88 at the decimals' scale), or the centre
    assert u8 == int(f32)  # a whole number inside it
