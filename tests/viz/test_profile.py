"""The data profile: statistics checked against NumPy/SciPy, warnings on bad input, streaming equals in-memory."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from assay.exceptions import SchemaError, SpecError
from assay.viz import profile
from assay.viz._profile import _codes, _numeric_matrix, _separates, average_ranks, cramers_v, pairwise_pearson


def _warnings(p: dict, kind: str) -> list[dict]:
    return [w for w in p["warnings"] if w["type"] == kind]


def _json_ok(p: dict) -> None:
    json.dumps(p, allow_nan=False)  # raises on NaN/inf or non-JSON types


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(1)
    n = 2_000
    x = rng.normal(10, 2, n)
    x[rng.random(n) < 0.02] = 80.0  # outliers
    y = 0.5 * x + rng.normal(0, 1, n)
    cat = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    cat[rng.random(n) < 0.1] = None
    k = rng.poisson(3, n).astype(float)
    k[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame({
        "x": x, "y": y, "cat": pl.Series(cat.tolist(), dtype=pl.String),
        "k": pl.Series(k).fill_nan(None).cast(pl.Int64), "flag": rng.random(n) < 0.3,
    })


def test_numeric_statistics_match_numpy(frame):
    p = profile(frame)
    _json_ok(p)
    assert p["rows"] == frame.height
    assert p["columns"] == frame.width
    x = frame["x"].to_numpy()
    v = p["variables"]["x"]
    assert v["kind"] == "numeric"
    assert v["missing"] == 0
    assert v["mean"] == pytest.approx(x.mean())
    assert v["std"] == pytest.approx(x.std(ddof=1))
    assert v["min"] == x.min()
    assert v["max"] == x.max()
    for key, q in (("p1", 0.01), ("p25", 0.25), ("p50", 0.5), ("p99", 0.99)):
        assert v["quantiles"][key] == pytest.approx(np.quantile(x, q))
    assert v["skew"] == pytest.approx(stats.skew(x), rel=1e-6)
    q1, q3 = np.quantile(x, [0.25, 0.75])
    fence_lo, fence_hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    assert v["outliers"]["count"] == int(((x < fence_lo) | (x > fence_hi)).sum())
    h = v["histogram"]
    assert len(h["edges"]) == len(h["counts"]) + 1
    assert sum(h["counts"]) + h["below"] + h["above"] == len(x)


def test_categorical_missing_and_top_values(frame):
    p = profile(frame)
    v = p["variables"]["cat"]
    counts = frame["cat"].drop_nulls().value_counts(sort=True)
    assert v["kind"] == "categorical"
    assert v["missing"] == frame["cat"].null_count()
    assert v["distinct"] == 4
    assert [t["value"] for t in v["top"]] == counts["cat"].to_list()
    assert [t["count"] for t in v["top"]] == counts["count"].to_list()
    assert p["variables"]["k"]["missing"] == frame["k"].null_count()
    assert p["variables"]["flag"]["kind"] == "boolean"
    assert p["variables"]["flag"]["true"] == int(frame["flag"].sum())
    assert p["complete_rows"] == frame.drop_nulls().height


def test_correlations_match_numpy_and_scipy(frame):
    p = profile(frame)
    pear = p["correlations"]["pearson"]
    i, j = pear["columns"].index("x"), pear["columns"].index("y")
    assert pear["matrix"][i][j] == pytest.approx(np.corrcoef(frame["x"], frame["y"])[0, 1], abs=1e-4)
    spear = p["correlations"]["spearman"]
    assert spear["matrix"][i][j] == pytest.approx(stats.spearmanr(frame["x"], frame["y"])[0], abs=1e-4)
    assert "cramers_v" in p["correlations"]  # cat and flag are categorical-like
    assert p["correlations"]["rows"] == frame.height


def test_pairwise_pearson_uses_rows_where_both_present():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    x[rng.random(300) < 0.2, 1] = np.nan
    r, n = pairwise_pearson(x)
    ok = np.isfinite(x[:, 1])
    assert r[0, 1] == pytest.approx(np.corrcoef(x[ok, 0], x[ok, 1])[0, 1])
    assert n[0, 1] == ok.sum()
    assert r[0, 2] == pytest.approx(np.corrcoef(x[:, 0], x[:, 2])[0, 1])


def test_pairwise_pearson_with_gaps_in_several_columns_matches_each_pair():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 5))
    x[:, 2] += x[:, 1]
    x[rng.random(400) < 0.3, 1] = np.nan
    x[rng.random(400) < 0.05, 2] = np.nan
    x[rng.random(400) < 0.1, 3] = np.inf  # not finite: left out like a missing value
    x[:, 4] = np.nan  # nothing present
    r, n = pairwise_pearson(np.asfortranarray(x))
    for i in range(4):
        for j in range(4):
            ok = np.isfinite(x[:, i]) & np.isfinite(x[:, j])
            assert n[i, j] == ok.sum()
            assert r[i, j] == pytest.approx(np.corrcoef(x[ok, i], x[ok, j])[0, 1], abs=1e-12)
    assert (n[4, :] == 0).all()
    assert np.isnan(r[4, :]).all()
    assert np.isnan(r[:, 4]).all()


def test_pairwise_pearson_complete_columns_match_numpy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 4))
    x[:, 1] += 2 * x[:, 0]
    x[:, 3] = 7.0  # constant: no correlation defined
    r, n = pairwise_pearson(x)
    expected = np.corrcoef(x[:, :3], rowvar=False)
    np.testing.assert_allclose(r[:3, :3], expected, atol=1e-12)
    assert np.isnan(r[3, :]).all()
    assert np.isnan(r[:, 3]).all()
    assert (n == 500).all()


def test_average_ranks_match_scipy_with_ties_and_nan():
    rng = np.random.default_rng(4)
    x = np.column_stack([rng.integers(0, 50, 20_000).astype(float), rng.normal(size=20_000),  # threaded size
                         rng.integers(-9, 9, 20_000).astype(float), rng.integers(0, 10**9, 20_000).astype(float)])
    x[::7, 1] = np.nan
    x[3::5, 2] = np.nan  # whole numbers with gaps
    ranks = average_ranks(x)
    np.testing.assert_allclose(ranks[:, 0], stats.rankdata(x[:, 0]))
    np.testing.assert_allclose(ranks[:, 3], stats.rankdata(x[:, 3]))  # whole numbers far apart
    for j in (1, 2):
        ok = np.isfinite(x[:, j])
        np.testing.assert_allclose(ranks[ok, j], stats.rankdata(x[ok, j]))
        assert np.isnan(ranks[~ok, j]).all()


def test_average_ranks_of_values_apart_by_their_last_bits_signed_zeros_and_nan():
    """Values that the sorted keys cannot tell apart (they differ in the bits that hold the row's position) are
    ranked exactly as well, whatever their sign; -0.0 ties with 0.0; NaN of either sign stays unranked."""
    rng = np.random.default_rng(5)
    n = 30_000
    base = rng.choice([-3.5, -1e-300, 0.0, 1e-300, 2.0, 1e6], n)
    close = np.nextafter(base, np.where(rng.random(n) < 0.5, np.inf, -np.inf))  # a neighbouring float
    near = np.where(rng.random(n) < 0.5, base, close)
    zeros = rng.choice([-0.0, 0.0, 1.0, -1.0], n)
    spread = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)  # every exponent, both signs
    x = np.column_stack([near, zeros, spread, rng.normal(size=n)])
    x[::11, 2] = np.nan
    x[::13, 3] = -np.nan  # a NaN with its sign bit set
    ranks = average_ranks(x)
    for j in range(x.shape[1]):
        ok = ~np.isnan(x[:, j])
        np.testing.assert_allclose(ranks[ok, j], stats.rankdata(x[ok, j]), rtol=0, atol=1e-12)
        assert np.isnan(ranks[~ok, j]).all()
    assert len(np.unique(near)) > 6  # the neighbours are there to be told apart


def test_codes_are_dense_and_skip_nulls():
    sample = pl.DataFrame({"c": ["b", None, "a", "b", "z"], "t": [True, False, None, True, True]})
    codes, mask = _codes(sample, "c")
    assert mask.tolist() == [True, False, True, True, True]
    assert sorted(set(codes[mask].tolist())) == [0, 1, 2]
    assert codes[0] == codes[3] != codes[2]
    codes, mask = _codes(sample, "t")
    assert sorted(set(codes[mask].tolist())) == [0, 1]


@pytest.mark.parametrize("k", [2, 40])  # few classes: masked min/max; many: a Polars group-by
def test_separates_detects_non_overlapping_classes(k: int):
    rng = np.random.default_rng(5)
    classes = rng.integers(0, k, 2_000)
    x = classes * 10.0 + rng.random(2_000)
    assert _separates(classes, x)
    assert not _separates(classes, x + rng.normal(0, 20, 2_000))


def test_cramers_v_independent_and_dependent():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 5000)
    assert cramers_v(a, rng.integers(0, 4, 5000)) < 0.05
    assert cramers_v(a, (a + 1) % 3) == pytest.approx(1.0)


def test_duplicates_constant_all_missing_and_id_like():
    n = 60
    df = pl.DataFrame({
        "id": list(range(1000, 1000 + n)),
        "const": ["same"] * n,
        "empty": pl.Series([None] * n, dtype=pl.Float64),
        "nulltype": [None] * n,
        "v": [1.0, 2.0, 3.0] * 20,
    })
    df = pl.concat([df, df.head(5)])  # 5 duplicate rows
    p = profile(df)
    _json_ok(p)
    assert p["duplicate_rows"] == 5
    assert p["variables"]["id"]["kind"] == "numeric"  # duplicates make it not unique any more
    p2 = profile(df.unique(maintain_order=True))
    assert p2["variables"]["id"]["kind"] == "id-like"
    assert _warnings(p2, "id_like")[0]["column"] == "id"
    assert "looks like an identifier" in _warnings(p2, "id_like")[0]["message"]
    # The same numbers under the header a table export gives its row index are the file's row numbers.
    p3 = profile(df.unique(maintain_order=True).rename({"id": ""}))
    assert p3["variables"][""]["row_index"] is True
    assert "is the row index a table export left" in _warnings(p3, "id_like")[0]["message"]
    assert p["variables"]["empty"]["kind"] == "empty"
    assert p["variables"]["nulltype"]["kind"] == "empty"
    assert {w["column"] for w in _warnings(p, "all_missing")} == {"empty", "nulltype"}
    assert [w["column"] for w in _warnings(p, "constant")] == ["const"]
    assert _warnings(p, "duplicates")


def test_sorted_measurements_are_numbers_and_counters_with_gaps_are_ids():
    rng = np.random.default_rng(3)
    velocity = np.sort(rng.choice(np.arange(9_000, 35_000), 82, replace=False))  # MASS galaxies, sorted
    order_id = 10_000 + np.cumsum(rng.integers(1, 4, 82))  # an auto-increment key with deleted rows
    kept_rows = np.sort(rng.choice(np.arange(1, 5_000), 82, replace=False))  # an export's index of filtered rows
    p = profile(pl.DataFrame({"velocity": velocity, "order": order_id, "": kept_rows}))
    assert p["variables"]["velocity"]["kind"] == "numeric"
    assert {w["column"] for w in _warnings(p, "id_like")} == {"order", ""}
    assert p["variables"]["order"]["kind"] == "id-like"
    assert p["variables"][""]["row_index"] is True


def test_nan_inf_mixed_types_and_chinese_names():
    df = pl.DataFrame({
        "收入": [1.0, float("nan"), float("inf"), -float("inf"), 5.0, None, 7.0, 8.0],
        "城市": ["北京", "上海", "北京", "广州", "深圳", "北京", None, "上海"],
        "混合": ["1", "2", "abc", "3.5", "x", "4", "5", "6"],
    })
    p = profile(df)
    _json_ok(p)
    v = p["variables"]["收入"]
    assert (v["nan"], v["inf"], v["missing"], v["finite"]) == (1, 2, 1, 4)
    assert v["mean"] == pytest.approx(np.mean([1.0, 5.0, 7.0, 8.0]))
    assert _warnings(p, "infinite")
    assert _warnings(p, "nan")
    assert p["variables"]["城市"]["top"][0] == {"value": "北京", "count": 3}
    mixed = _warnings(p, "mixed_types")
    assert [w["column"] for w in mixed] == ["混合"]
    assert p["variables"]["混合"]["numeric_like"] == 6


def high_cardinality_frame() -> pl.DataFrame:
    """100,000 categories over 150,000 rows (a third repeat: not unique enough to be an identifier)."""
    rng = np.random.default_rng(0)
    codes = [f"c{i}" for i in range(100_000)] + [f"c{i}" for i in range(50_000)]
    return pl.DataFrame({"code": codes, "amount": rng.lognormal(0, 1.5, len(codes))}).sample(fraction=1.0, seed=0)


def test_high_cardinality_and_skew():
    df = high_cardinality_frame()
    p = profile(df)
    v = p["variables"]["code"]
    assert v["kind"] == "categorical"
    assert v["distinct"] == 100_000
    assert len(v["top"]) == 20
    assert [w["column"] for w in _warnings(p, "high_cardinality")] == ["code"]
    assert [w["column"] for w in _warnings(p, "skewed")] == ["amount"]


@pytest.mark.parametrize("rows", [0, 1])
def test_zero_and_one_row(rows):
    df = pl.DataFrame({"a": [1.5, 2.5][:rows], "b": ["x", "y"][:rows], "名字": [None, None][:rows]},
                      schema={"a": pl.Float64, "b": pl.String, "名字": pl.String})
    p = profile(df, target="a")
    _json_ok(p)
    assert p["rows"] == rows
    assert p["columns"] == 3
    assert p["sample_rows"] == rows
    expected = "empty" if rows == 0 else "one_row"
    assert _warnings(p, expected)
    if rows == 1:
        assert p["variables"]["a"]["mean"] == 1.5
        assert p["variables"]["a"]["std"] is None  # one value has no spread: null, never NaN


def test_a_column_of_one_value_1_is_a_number_not_a_flag():
    """A one-row file's count of 1 (or a column of only 0s) was classed as boolean; 0 and 1 together are a flag."""
    p = profile(pl.DataFrame({"n": [1], "z": [0]}))
    assert p["variables"]["n"]["kind"] == "numeric"
    assert p["variables"]["z"]["kind"] == "numeric"
    p = profile(pl.DataFrame({"n": [1, 0, 1], "z": [0, 0, 0]}))
    assert p["variables"]["n"]["kind"] == "boolean"
    assert p["variables"]["z"]["kind"] == "numeric"


def test_no_columns():
    p = profile(pl.DataFrame())
    assert p["columns"] == 0
    assert _warnings(p, "no_columns")


def test_target_leakage_and_balance():
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.integers(0, 2, n)
    df = pl.DataFrame({
        "honest": rng.normal(size=n) + 0.5 * y,
        "leak_num": y * 10.0 + rng.normal(0, 0.1, n),  # ranges per class do not overlap
        "leak_cat": pl.Series(np.where(y == 1, "yes", "no")),
        "region": rng.choice(["n", "s", "e", "w"], n),
        "label": y,
    })
    p = profile(df, target="label")
    leaks = {w["column"] for w in _warnings(p, "target_leakage")}
    assert leaks == {"leak_num", "leak_cat"}
    assert p["target_summary"]["classes"]
    assert p["target_association"]["honest"]["value"] < 0.95
    # regression target: a near-copy leaks through correlation
    t = rng.normal(size=n)
    df2 = pl.DataFrame({"t": t, "copy": t * 2 + rng.normal(0, 0.01, n), "noise": rng.normal(size=n)})
    p2 = profile(df2, target="t")
    assert {w["column"] for w in _warnings(p2, "target_leakage")} == {"copy"}


def test_imbalanced_target():
    y = np.array([0] * 980 + [1] * 20)
    p = profile(pl.DataFrame({"f": np.arange(1000.0) % 7, "y": y}), target="y")
    assert _warnings(p, "imbalanced")


def test_unknown_target_suggests_name(frame):
    with pytest.raises(SchemaError, match="did you mean 'cat'"):
        profile(frame, target="cta")
    with pytest.raises(SpecError):
        profile(frame, sample_rows=0)
    with pytest.raises(SpecError):
        profile(42)


def test_sampled_profile_keeps_exact_statistics(frame, tmp_path):
    path = tmp_path / "f.parquet"
    frame.write_parquet(path)
    full = profile(frame)
    lazy = profile(pl.scan_parquet(path), sample_rows=500)
    assert lazy["sampled"] is True
    assert 400 <= lazy["sample_rows"] <= 500
    assert "sample of" in lazy["figures_from"]
    for name in ("x", "cat", "k"):
        a, b = full["variables"][name], lazy["variables"][name]
        for key in ("missing", "distinct", "min", "max", "top", "histogram", "outliers"):
            assert a.get(key) == b.get(key), (name, key)
        if "mean" in a:
            assert a["mean"] == pytest.approx(b["mean"])
    assert lazy["duplicate_rows"] == full["duplicate_rows"]
    assert lazy["correlations"]["rows"] == lazy["sample_rows"]


def test_backends_agree(frame, as_backend):
    data = as_backend(frame)
    p = profile(data)
    ref = profile(frame)
    assert p["rows"] == ref["rows"]
    for name in frame.columns:
        assert p["variables"][name]["missing"] == ref["variables"][name]["missing"]
        assert p["variables"][name]["distinct"] == ref["variables"][name]["distinct"]


def test_profile_from_path_and_datetimes(tmp_path):
    path = tmp_path / "t.csv"
    pl.DataFrame({
        "when": pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 3, 1), "1h", eager=True).head(500),
        "v": np.arange(500.0),
    }).write_csv(path)
    p = profile(str(path))
    assert p["source"] == str(path)
    # CSV text is not parsed as dates by the scan; a Datetime frame is
    frame = pl.read_csv(path, try_parse_dates=True)
    p2 = profile(frame)
    v = p2["variables"]["when"]
    assert v["kind"] == "datetime"
    assert v["min"].startswith("2024-01-01")
    assert sum(v["histogram"]["counts"]) == 500
    assert not math.isnan(p2["variables"]["v"]["mean"])


def test_huge_mode_estimates_distinct_and_quantiles(frame, tmp_path):
    """Past ``exact_distinct_rows`` rows: HyperLogLog distinct counts, quantiles from the sample — and it says so."""
    path = tmp_path / "f.parquet"
    frame.write_parquet(path)
    p = profile(pl.scan_parquet(path), exact_distinct_rows=100, sample_rows=1500)
    _json_ok(p)
    assert p["distinct_approximate"] is True
    v = p["variables"]["x"]
    assert v["distinct_approximate"] is True
    assert v["distinct"] == pytest.approx(frame["x"].n_unique(), rel=0.05)
    assert v["quantiles_from"] == "sample"
    assert v["quantiles"]["p50"] == pytest.approx(frame["x"].median(), abs=0.3)
    assert v["mean"] == pytest.approx(frame["x"].mean())  # moments still cover every row
    assert sum(v["histogram"]["counts"]) + v["histogram"]["below"] + v["histogram"]["above"] == frame.height


def test_class_ranges_agree_with_separates_per_column():
    from assay.viz._profile import _ClassRanges

    rng = np.random.default_rng(6)
    n = 3_000
    classes = rng.integers(0, 3, n)
    mask = rng.random(n) > 0.05  # target missing in some rows
    values = np.column_stack([
        classes * 10.0 + rng.random(n),  # separates
        classes * 10.0 + rng.normal(0, 20, n),  # overlaps
        np.where(rng.random(n) < 0.2, np.nan, classes * 10.0 + rng.random(n)),  # separates, with gaps
        np.where(classes == 1, np.nan, rng.random(n)),  # one class has no values at all
        np.full(n, np.nan),  # no values
    ])
    ranges = _ClassRanges(classes, mask, values)
    for j in range(values.shape[1]):
        ok = mask & np.isfinite(values[:, j])
        assert ranges.separates(j) == _separates(classes[ok], values[ok, j]), j
    assert [ranges.separates(j) for j in range(3)] == [True, False, True]


def test_in_memory_distinct_and_quantiles_match_the_streamed_ones():
    # In memory, a numeric column is sorted once for both; streamed, it is hashed for the distinct count.
    rng = np.random.default_rng(11)
    n = 3000
    frame = pl.DataFrame({
        "f": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        "g": np.concatenate([[np.inf, -np.inf, -0.0, 0.0, np.nan], rng.integers(0, 5, n - 5).astype(float)]),
        "i": pl.Series(rng.integers(0, 50, n)).scatter([1, 5, 9], None),
        "u": pl.Series(rng.integers(0, 3, n), dtype=pl.UInt8),
    })
    here, streamed = profile(frame)["variables"], profile(frame.lazy())["variables"]
    for name in frame.columns:
        assert here[name]["distinct"] == streamed[name]["distinct"], name
        assert here[name]["quantiles"] == streamed[name]["quantiles"], name
    assert here["g"]["distinct"] == 8  # inf, -inf, one zero (-0.0 == 0.0), NaN, and 1..4


def test_determines_target_counts_each_feature_value_s_targets():
    from assay.viz._profile import _determines

    def grouped(feature: np.ndarray, target: np.ndarray) -> bool:  # the same check as a group-by
        per_value = pl.DataFrame({"f": feature, "t": target}).group_by("f").agg(
            targets=pl.col("t").n_unique(), rows=pl.len()).filter(pl.col("rows") >= 2)
        if per_value.height < 2 or per_value["rows"].sum() < 0.5 * len(feature):
            return False
        return bool((per_value["targets"] == 1).all())

    rng = np.random.default_rng(14)
    n = 2000
    target = rng.integers(0, 3, n)
    cases = {
        "determines": target * 2 + 1,  # each value maps to one class
        "mostly": np.where(rng.random(n) < 0.999, target, rng.integers(0, 3, n)),
        "noise": rng.integers(0, 40, n),
        "id-like": rng.permutation(n),  # values seen once: no evidence
        "many values": rng.integers(0, 900, n) * 3 + target,  # determines, values mostly seen twice or more
    }
    for name, feature in cases.items():
        assert _determines(feature, target) == grouped(feature, target), name
    assert _determines(cases["determines"], target)
    assert not _determines(cases["noise"], target)
    assert not _determines(cases["id-like"], target)


def test_duplicate_rows_in_memory_match_the_streamed_count():
    # In memory, rows are hashed only when no column tells them all apart; streamed, always.
    rng = np.random.default_rng(15)
    n = 3000
    base = pl.DataFrame({"a": rng.integers(0, 4, n), "b": rng.choice(["x", "y", None], n),
                         "c": np.where(rng.random(n) < 0.5, -0.0, 0.0)})
    unique_id = base.with_columns(pl.Series("id", rng.permutation(n)))
    with_nan = base.with_columns(pl.Series("f", np.append(rng.normal(size=n - 1), np.nan)))  # all distinct, one NaN
    one_gap = unique_id.with_columns(unique_id["id"].scatter(0, None))  # distinct but not complete: hashed
    for frame in (base, unique_id, with_nan, one_gap):
        here, streamed = profile(frame), profile(frame.lazy())
        assert here["duplicate_rows"] == streamed["duplicate_rows"]
        assert here["duplicate_rows_pct"] == streamed["duplicate_rows_pct"]
    assert profile(base)["duplicate_rows"] == n - base.unique().height > 0
    assert profile(unique_id)["duplicate_rows"] == profile(with_nan)["duplicate_rows"] == 0


def test_in_memory_histograms_match_the_streamed_ones():
    # In memory the bins are counted with NumPy; streamed, by Polars' hist: the same counts, values on edges included.
    rng = np.random.default_rng(12)
    n = 4000
    edges = np.linspace(-3.0, 3.0, 31)
    on_edges = rng.choice(np.concatenate([edges, np.nextafter(edges, 9), np.nextafter(edges, -9)]), 600)
    frame = pl.DataFrame({
        "normal": np.concatenate([rng.normal(size=n - 600), on_edges]),  # edges fall on exact values too
        "tails": np.concatenate([rng.normal(size=n - 8), [1e6, -1e6, np.inf, -np.inf, np.nan, 5e5, 40.0, -30.0]]),
        "lognormal": rng.lognormal(0, 2.5, n),  # log-spaced bins
        "small_ints": pl.Series(rng.integers(0, 7, n)).scatter([0, 3], None),  # one bar per integer
        "ints": rng.integers(-1000, 1000, n),
    })
    here, streamed = profile(frame)["variables"], profile(frame.lazy())["variables"]
    assert here["lognormal"]["histogram"]["log"]
    for name in frame.columns:
        assert here[name]["histogram"] == streamed[name]["histogram"], name
        assert sum(here[name]["histogram"]["counts"]) > 0.9 * n - here[name]["histogram"]["above"], name


@pytest.mark.parametrize("spacing", ["even", "log", "uneven"])
def test_histogram_counts_are_polars_hist_counts(spacing: str):
    from assay.viz._profile import _histogram_counts

    rng = np.random.default_rng(13)
    edges = {"even": np.linspace(-2.0, 2.0, 31), "log": np.geomspace(0.01, 400.0, 31),
             "uneven": np.sort(rng.uniform(-2.0, 2.0, 31))}[spacing]
    values = np.concatenate([rng.choice(edges, 300), np.nextafter(rng.choice(edges, 300), 9),
                             rng.uniform(edges[0] - 1, edges[-1] + 1, 3000), [np.nan, np.inf, -np.inf]])
    column = pl.Series(values).scatter([5, 50], None)
    inside = pl.col("x").filter(pl.col("x").is_finite() & (pl.col("x") >= edges[0]) & (pl.col("x") <= edges[-1]))
    expected = pl.DataFrame({"x": column}).select(inside.hist(bins=edges.tolist()).implode()).item().to_list()
    assert _histogram_counts(column, edges, log=spacing == "log") == expected


@pytest.mark.parametrize("lazy", [False, True])
def test_dates_written_as_text_are_profiled_as_times(tmp_path, lazy: bool):
    n = 500
    days = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 09:30:00" for i in range(n)]
    days[7], days[400] = "soon", "NA"  # one unreadable value, one missing-value token
    frame = pl.DataFrame({"when": days, "team": [f"t{i % 9}" for i in range(n)]})
    path = tmp_path / "matches.csv"
    frame.write_csv(path)
    p = profile(pl.scan_csv(path) if lazy else frame)
    v = p["variables"]["when"]
    assert v["kind"] == "datetime"
    assert v["dtype"] == "Datetime read from text (%Y-%m-%d %H:%M:%S)"
    assert v["missing"] == 2  # 'soon' and 'NA'
    assert v["read_from_text"]["unreadable"] == 1
    assert str(v["min"]).startswith("2024-01-01")
    assert str(v["max"]).startswith("2024-12-")
    (warning,) = _warnings(p, "unreadable_times")
    assert "1 value, e.g. 'soon', counted as missing" in warning["message"]
    assert p["variables"]["team"]["kind"] == "categorical"  # text that is not a time stays text
    _json_ok(p)


@pytest.mark.parametrize(("values", "dtype"), [
    ([f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(300)], "Date read from text (%Y-%m-%d)"),
    ([f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:00:00" for i in range(300)], "Datetime read from text"),
])
def test_the_time_histogram_of_text_dates_spans_their_range(values: list[str], dtype: str):
    v = profile(pl.DataFrame({"day": values}))["variables"]["day"]
    assert v["dtype"].startswith(dtype)
    edges = v["histogram"]["edges"]
    assert edges[0].startswith("2024-01-01")  # not 1970: days since 1970 are not microseconds
    assert edges[-1].startswith("2024-12-28")
    assert sum(v["histogram"]["counts"]) == 300


def test_numbers_written_for_people_are_profiled_as_numbers():
    n = 400
    prices = [f"¥{1000 + 7 * i:,}.50" for i in range(n)]
    prices[3], prices[9] = "-", "call us"  # a missing-value token and an unreadable value
    shares = [f"{i % 100},5%" for i in range(n)]  # decimal comma and percent
    p = profile(pl.DataFrame({"价格": prices, "share": shares, "sku": [f"A-{i}" for i in range(n)]}))
    price = p["variables"]["价格"]
    assert price["kind"] == "numeric"
    assert price["dtype"] == "Number read from text"
    assert price["missing"] == 2
    assert price["min"] == 1000.5
    assert price["read_from_text"]["unreadable"] == 1
    (warning,) = _warnings(p, "unreadable_times")
    assert warning["message"].startswith("'价格' reads as number but for 1 value, e.g. 'call us'")
    assert p["variables"]["share"]["max"] == pytest.approx(0.995)
    assert p["variables"]["sku"]["kind"] != "numeric"  # codes with digits stay text
    assert not _warnings(p, "high_cardinality")
    _json_ok(p)


def test_a_few_numbers_among_words_are_not_a_mix_but_codes_among_numbers_are():
    titles = [f"Film {i}" for i in range(990)] + ["1941", "10"] + [f"Other {i}" for i in range(8)]
    codes = [str(100 + i) for i in range(980)] + ["c118", "c203"] + [str(i) for i in range(18)]  # 0.2% codes
    p = profile(pl.DataFrame({"title": titles, "station": codes}))
    mixed = {w["column"] for w in _warnings(p, "mixed_types")}
    assert mixed == {"station"}


def test_a_column_without_a_name_gets_a_visible_heading(tmp_path):
    from assay.viz import write_profile

    frame = pl.DataFrame({"": list(range(1, 101)), "x": [float(i % 7) for i in range(100)]})
    html = write_profile(profile(frame), tmp_path).read_text()
    assert '<h3><span class="none">(no name)</span></h3>' in html


def test_a_file_within_an_eighth_of_the_available_memory_is_parsed_once(tmp_path, monkeypatch):
    from assay.viz import _profile

    path = tmp_path / "t.csv"
    pl.DataFrame({"x": range(1000)}).write_csv(path)
    size = path.stat().st_size
    monkeypatch.setattr(_profile, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(_profile, "_available_memory", lambda: 8 * size)
    assert _profile._as_lazy(str(path))[2] is not None  # read into memory once
    assert _profile.profile(str(path))["statistics_from"] == "all rows (read once, in memory)"
    monkeypatch.setattr(_profile, "_available_memory", lambda: 8 * size - 8)
    assert _profile._as_lazy(str(path))[2] is None  # streamed
    assert _profile.profile(str(path))["statistics_from"] == "all rows (streaming aggregation)"


def test_available_memory_is_read_on_linux():
    from assay.viz._profile import _available_memory

    assert _available_memory() > 0


def test_values_spelled_in_several_ways_are_named():
    sex = ["male", "Male", " male", "MALE ", "female", "Female", "female", "other"] * 5
    p = profile(pl.DataFrame({"sex": sex, "clean": ["a", "b", "a", "c", "b", "a", "c", "b"] * 5}))
    _json_ok(p)
    assert p["variables"]["sex"]["spelling_variants"] == {"values": 6, "merged": 4,
                                                           "examples": ["Female", "female", " male", "MALE "]}
    [warning] = _warnings(p, "spelling_variants")
    assert warning["column"] == "sex"
    assert "(e.g. 'Female' and 'female'): 6 spellings of 2 values" in warning["message"]
    assert "spelling_variants" not in p["variables"]["clean"]


def test_a_totals_row_at_the_end_is_named():
    report = pl.DataFrame({"城市": ["北京", "上海", "广州", "合计"], "销售额": [100.5, 200.0, 50.0, 350.5],
                           "数量": [3, 5, 2, 10], "备注": ["a", "b", None, None]})
    p = profile(report)
    assert p["total_row"] == {"row": 4, "label": ["城市", "合计"], "columns": ["销售额", "数量"]}
    [warning] = _warnings(p, "total_row")
    assert warning["message"].startswith("the last row (row 4) looks like a totals row, not data ('城市' is '合计'; "
                                         "'销售额', '数量' equal the sums of the rows above)")
    # Without a label, two columns of sums are needed; one number that happens to be the sum is no totals row.
    unlabelled = report.with_columns(pl.Series("城市", ["北京", "上海", "广州", "深圳"]))
    assert profile(unlabelled)["total_row"]["label"] is None
    chance = pl.DataFrame({"x": [1.0, 2.0, 3.0], "y": [5.0, 1.0, 2.0]})
    assert profile(chance)["total_row"] is None
    assert not _warnings(profile(report.head(3)), "total_row")


def test_average_ranks_from_a_frame_with_nulls_infinities_and_other_types_match_scipy():
    """The profile hands its sample's columns as they are (nulls, ±inf, NaN, Float32, integers far apart): their
    sort keys are made from them, ranked as the floats with every non-finite value as NaN."""
    rng = np.random.default_rng(6)
    n = 20_000
    floats = rng.normal(size=n)
    floats[::9] = np.inf
    floats[1::9] = -np.inf
    floats[2::9] = np.nan
    floats[3::9] = -0.0
    floats[4::9] = 0.0
    frame = pl.DataFrame({
        "f": floats,
        "g": pl.Series(rng.normal(size=n), dtype=pl.Float32),
        "i": rng.integers(-(10**12), 10**12, n),  # whole numbers too far apart to be counted
        "m": pl.Series([None if k % 7 == 0 else float(v) for k, v in enumerate(rng.exponential(size=n))]),
    })
    x = _numeric_matrix(frame, frame.columns)
    ranks = average_ranks(x, frame)
    np.testing.assert_array_equal(ranks, average_ranks(x), strict=True)
    for j in range(x.shape[1]):
        ok = ~np.isnan(x[:, j])
        assert ok.sum() < n or j in (1, 2)
        np.testing.assert_allclose(ranks[ok, j], stats.rankdata(x[ok, j]), rtol=0, atol=1e-12)
        assert np.isnan(ranks[~ok, j]).all()


def test_spearman_in_the_profile_with_ties_and_missing_values():
    """Spearman's rho is Pearson's r of each column's average ranks (SciPy's ``rankdata``, over the column's present
    values), over the rows where both columns are present; without missing values, SciPy's ``spearmanr``."""
    rng = np.random.default_rng(7)
    n = 30_000
    a = rng.normal(size=n)
    b = np.round(a + rng.normal(size=n), 1)  # many ties
    c = rng.exponential(size=n) - 0.5 * a
    frame = pl.DataFrame({"a": a, "b": b, "c": c, "d": b * 2.0}).with_columns(
        pl.when(pl.int_range(pl.len()) % 11 == 0).then(None).otherwise(pl.col("b")).alias("b"),
        pl.when(pl.int_range(pl.len()) % 13 == 0).then(float("nan")).otherwise(pl.col("c")).alias("c"))
    spear = profile(frame)["correlations"]["spearman"]
    assert spear["columns"] == ["a", "b", "c", "d"]
    x = frame.to_numpy()
    ranks = np.full(x.shape, np.nan)
    for j in range(x.shape[1]):
        ok = np.isfinite(x[:, j])
        ranks[ok, j] = stats.rankdata(x[ok, j])
    for i in range(4):
        for j in range(4):
            ok = np.isfinite(x[:, i]) & np.isfinite(x[:, j])
            expected = np.corrcoef(ranks[ok, i], ranks[ok, j])[0, 1]
            assert spear["matrix"][i][j] == pytest.approx(expected, abs=6e-5)  # (rounded to 4 decimals)
    assert spear["matrix"][0][3] == pytest.approx(stats.spearmanr(a, b * 2.0)[0], abs=6e-5)


def test_correlations_of_the_kept_columns_when_there_are_too_many():
    from assay.viz._profile import MAX_CORR_COLUMNS

    rng = np.random.default_rng(8)
    n = 500
    base = rng.normal(size=n)
    # 40 related columns (each follows base) among 60 of noise, which come first in the table: the related ones
    # are shown, not the first 40.
    data = {f"noise{i}": rng.normal(size=n) for i in range(60)}
    data.update({f"x{i}": base * (1 + i % 3) + rng.normal(size=n) for i in range(MAX_CORR_COLUMNS)})
    frame = pl.DataFrame(data)
    corr = profile(frame)["correlations"]
    kept = [f"x{i}" for i in range(MAX_CORR_COLUMNS)]
    assert corr["pearson"]["columns"] == corr["spearman"]["columns"] == kept
    assert corr["pearson"]["of"] == MAX_CORR_COLUMNS + 60
    assert "most correlated with another" in corr["note"]
    x = frame.select(kept).to_numpy()
    np.testing.assert_allclose(corr["pearson"]["matrix"], np.corrcoef(x, rowvar=False), atol=6e-5)
    np.testing.assert_allclose(corr["spearman"]["matrix"], stats.spearmanr(x)[0], atol=6e-5)


def test_a_column_of_one_category_per_row_does_not_leak_a_numeric_target():
    # Each row its own category (codes, names, a row index) explains any numeric target by chance alone.
    rng = np.random.default_rng(3)
    n = 400
    t = rng.normal(size=n)
    region = rng.choice(["n", "s", "e", "w"], n)
    df = pl.DataFrame({
        "code": [f"c{i:04d}" for i in rng.permutation(n)],
        "pair": [f"p{i // 2}" for i in range(n)],  # two rows per category: still chance
        "region_mean": pl.Series(region).replace_strict({"n": 0.0, "s": 1.0, "e": 2.0, "w": 3.0}) + 0.01 * t,
        "region": region,
        "t": t,
    })
    p = profile(df, target="t")
    assert {w["column"] for w in _warnings(p, "target_leakage")} == set()
    assert not p["target_association"]["pair"]["value"] > 0.5
    # A few categories that settle the target still leak.
    p2 = profile(df.with_columns(t=pl.col("region_mean")), target="t")
    assert "region" in {w["column"] for w in _warnings(p2, "target_leakage")}


def test_warnings_count_one_thing_in_the_singular():
    df = pl.DataFrame({
        "x": [1.0, float("inf"), float("nan"), 2.0, 3.0, 4.0],
        "mix": ["1", "2", "3", "4", "5", "a"],
        "s": ["a", "", "b", "c", "d", "e"],
    })
    messages = [w["message"] for w in profile(df.vstack(df.head(1)))["warnings"]]
    text = " | ".join(messages)
    assert "1 infinite value" in text
    assert "1 NaN value (" in text
    assert "1 duplicate row (" in text
    assert "1 empty or blank string (" in text
    assert "and text (1 value, e.g." in text
    assert " 1 values" not in text


def test_a_column_of_only_nan_or_inf_is_said_to_have_no_finite_value():
    df = pl.DataFrame({"allnan": [float("nan")] * 4, "allinf": [float("inf"), float("-inf"), None, float("inf")],
                       "x": [1.0, 2.0, 3.0, 4.0]})
    p = profile(df)
    _json_ok(p)
    by_column = {}
    for w in p["warnings"]:
        by_column.setdefault(w["column"], []).append(w["type"])
    assert by_column["allnan"] == ["no_finite"]
    assert by_column["allinf"] == ["no_finite"]
    assert "its 3 non-missing values are NaN (0) or infinite (3)" in _warnings(p, "no_finite")[1]["message"]


def test_values_spanning_the_whole_float_range_are_profiled_and_drawn(tmp_path):
    from assay.viz import write_profile

    df = pl.DataFrame({"huge": [1e308, -1e308, 1e308, 0.0, 1.0, 2.0], "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    p = profile(df)
    _json_ok(p)
    assert p["variables"]["huge"]["no_histogram"].startswith("its values span more than the float range")
    html = write_profile(p, tmp_path).read_text(encoding="utf-8")
    assert "huge" in html
    assert (tmp_path / "figures").is_dir()


def test_an_identifier_as_the_target_is_an_error_not_a_feature_hint():
    n = 300
    df = pl.DataFrame({"order_id": [f"o{i:05d}" for i in range(n)], "x": np.arange(n) % 7 * 1.0})
    p = profile(df, target="order_id")
    (warning,) = _warnings(p, "target_id_like")
    assert warning["severity"] == "error"
    assert "(300 distinct of 300)" in warning["message"]
    assert not _warnings(p, "id_like")
    assert _warnings(profile(df), "id_like")


def test_numbers_with_leading_zeros_are_not_advised_into_a_numeric_type():
    df = pl.DataFrame({"zip": ["02134", "10001", "94105", "00501"] * 5, "n": ["1", "2", "3", "4"] * 5})
    by_column = {w["column"]: w["message"] for w in _warnings(profile(df), "numeric_text")}
    assert by_column["zip"] == ("'zip' holds only numbers, and 10 values written with leading zeros (as codes are): "
                                "keep it as text")
    assert by_column["n"].endswith("convert it to a numeric type")


@pytest.mark.parametrize("streamed", [False, True])
def test_integer_histogram_bars_hold_the_same_count_of_whole_numbers(tmp_path, streamed):
    """0-99 drawn in 30 evenly spaced bins put 3 or 4 whole numbers in each bar: a uniform column drew as a comb of
    tall and short bars. Each bar holds the same count of whole numbers, its edges half-way between them."""
    x = np.tile(np.arange(100), 50)
    frame = pl.DataFrame({"z": x})
    if streamed:
        path = tmp_path / "z.parquet"
        frame.write_parquet(path)
        p = profile(pl.scan_parquet(path))
    else:
        p = profile(frame)
    h = p["variables"]["z"]["histogram"]
    widths = np.diff(h["edges"])
    assert set(widths.tolist()) == {4.0}
    assert h["edges"][0] == -0.5
    assert set(h["counts"]) == {200}
    assert sum(h["counts"]) == 5_000


def test_integer_histogram_of_a_long_tail_counts_what_falls_outside_its_whole_number_edges():
    x = np.concatenate([np.tile(np.arange(1000), 10), [100_000] * 5])
    p = profile(pl.DataFrame({"z": x}))
    h = p["variables"]["z"]["histogram"]
    assert all(float(e) - 0.5 == math.floor(e) for e in h["edges"])
    assert len(set(np.diff(h["edges"]).tolist())) == 1
    assert h["above"] == int((x > h["edges"][-1]).sum())
    assert h["below"] == int((x < h["edges"][0]).sum())
    assert sum(h["counts"]) + h["above"] + h["below"] == len(x)


def test_free_text_warning_does_not_advise_target_encoding_whole_texts():
    """A column of sentences, almost each one different, was told 'use frequency or target encoding' as if it were
    a categorical of many levels; target encoding of unique texts hands each row its own label."""
    rng = np.random.default_rng(0)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "data", "models", "learn"]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(500)]
    levels = [f"shop {i}" for i in rng.integers(0, 80, 500)]
    p = profile(pl.DataFrame({"comment": texts, "shop": levels}))
    assert p["variables"]["comment"]["kind"] == "text"
    by_column = {w["column"]: w["message"] for w in _warnings(p, "high_cardinality")}
    assert by_column["comment"].startswith("'comment' is free text (")
    assert "(one-hot, frequency or target encoding) would not generalise" in by_column["comment"]
    assert "use frequency or target encoding" not in by_column["comment"]
    assert by_column["shop"].endswith("one-hot encoding would be wide; use frequency or target encoding")


def test_whole_numbers_stored_as_floats_bin_as_integers():
    """0.0 … 99.0 as floats (an integer column with gaps, written by pandas) drew the same comb as integers did."""
    x = np.tile(np.arange(100.0), 30)
    x[::7] = np.nan
    p = profile(pl.DataFrame({"z": x}).fill_nan(None))
    v = p["variables"]["z"]
    assert v["dtype"] == "Float64"
    assert set(np.diff(v["histogram"]["edges"]).tolist()) == {4.0}
    assert "_whole" not in v
    halves = profile(pl.DataFrame({"h": np.tile(np.arange(100.0), 30) + 0.5}))["variables"]["h"]
    assert halves["histogram"]["edges"][0] == 0.5  # not whole numbers: evenly spaced from the minimum
    json.dumps(p, allow_nan=False)
