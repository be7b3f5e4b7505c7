"""Encoders compared with scikit-learn, their defined results for unseen values, and target encoding's folds."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn import preprocessing

from assay.clean import FrequencyEncoder, OneHotEncoder, OrdinalEncoder, TargetEncoder
from assay.exceptions import SpecError


@pytest.fixture
def cats() -> pl.DataFrame:
    rng = np.random.default_rng(2)
    return pl.DataFrame({"城市": rng.choice(["北京", "上海", "广州", "深圳", "拉萨"], 300, p=[.4, .3, .2, .08, .02]),
                         "size": rng.choice(["S", "M", "L"], 300), "y": rng.normal(size=300)})


def test_onehot_matches_sklearn_and_unseen_is_all_zeros(cats: pl.DataFrame, as_backend) -> None:
    step = OneHotEncoder().fit(as_backend(cats), target="y")
    test = pl.DataFrame({"城市": ["上海", "乌鲁木齐", None], "size": ["M", "XL", "S"], "y": [0.0] * 3})
    ours = step.transform(test).drop("y")
    sk = preprocessing.OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(
        cats.select("城市", "size").to_numpy())
    theirs = sk.transform(test.select("城市", "size").fill_null("<null>").to_numpy())
    expected_names = [f"{c}_{v}" for c, values in zip(["城市", "size"], sk.categories_, strict=True) for v in values]
    assert ours.columns == expected_names
    np.testing.assert_array_equal(ours.to_numpy(), theirs)
    assert sum(ours.row(1)[:4]) == 0
    assert sum(ours.row(2)[:4]) == 0


def test_onehot_rare_bucketing_matches_sklearn_infrequent(cats: pl.DataFrame) -> None:
    step = OneHotEncoder(columns=["城市"], min_frequency=20).fit(cats)
    sk = preprocessing.OneHotEncoder(min_frequency=20, handle_unknown="infrequent_if_exist", sparse_output=False)
    sk.fit(cats.select("城市").to_numpy())
    test = pl.DataFrame({"城市": ["北京", "拉萨", "乌鲁木齐"]})
    ours = step.transform(test)
    assert ours.columns[-1] == "城市___other"
    np.testing.assert_array_equal(ours.to_numpy(), sk.transform(test.to_numpy()))
    capped = OneHotEncoder(columns=["城市"], max_categories=3).fit(cats).transform(test)
    assert capped.columns == ["城市_上海", "城市_北京", "城市___other"]


def test_onehot_max_levels_leaves_high_cardinality_columns() -> None:
    df = pl.DataFrame({"id": [f"u{i}" for i in range(50)], "k": ["a", "b"] * 25})
    out = OneHotEncoder(max_levels=10).fit(df).transform(df)
    assert out.columns == ["id", "k_a", "k_b"]


def test_ordinal_matches_sklearn_with_unseen_as_minus_one(cats: pl.DataFrame) -> None:
    step = OrdinalEncoder(columns=["size"]).fit(cats)
    sk = preprocessing.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(
        cats.select("size").to_numpy())
    test = pl.DataFrame({"size": ["L", "S", "XXL", "M"]})
    assert step.transform(test)["size"].to_list() == sk.transform(test.to_numpy())[:, 0].astype(int).tolist()
    ordered = OrdinalEncoder(columns=["size"], categories={"size": ["S", "M", "L"]}).fit(cats)
    assert ordered.transform(test)["size"].to_list() == [2, 0, -1, 1]
    # An order given for one column, no columns named: that column only; other text is left to later steps.
    only = OrdinalEncoder(categories={"size": ["S", "M", "L"]}).fit(cats)
    assert only.state_["columns"] == ["size"]
    assert only.transform(cats).drop("size").equals(cats.drop("size"))


def test_frequency_shares(cats: pl.DataFrame) -> None:
    out = FrequencyEncoder(columns=["城市"]).fit(cats).transform(pl.DataFrame({"城市": ["北京", "火星", None]}))
    share = cats["城市"].to_list().count("北京") / cats.height
    assert out["城市"].to_list() == [pytest.approx(share), 0.0, 0.0]


def test_target_encoding_full_and_out_of_fold(cats: pl.DataFrame) -> None:
    step = TargetEncoder(columns=["城市"], smoothing=5.0, folds=4).fit(cats, target="y")
    prior = cats["y"].mean()
    grp = cats.filter(pl.col("城市") == "深圳")["y"]
    expected = (grp.sum() + 5.0 * prior) / (grp.len() + 5.0)
    out = step.transform(pl.DataFrame({"城市": ["深圳", "未知"], "y": [0.0, 0.0]}))
    assert out["城市"].to_list() == [pytest.approx(expected), pytest.approx(prior)]
    # Out of fold: each training row gets the smoothed mean of its category over the other folds only.
    train = step.transform_train(cats)
    assert train.height == cats.height
    assert train["城市"].dtype == pl.Float64
    folds = cats.select(step._fold(cats)).to_series().to_numpy()
    city, y = cats["城市"].to_numpy(), cats["y"].to_numpy()
    for i in (0, 7, 150, 299):
        others = (city == city[i]) & (folds != folds[i])
        want = (y[others].sum() + 5.0 * prior) / (others.sum() + 5.0)
        assert train["城市"][i] == pytest.approx(want)
    assert len(set(folds.tolist())) == 4


def test_target_encoding_of_a_text_target_gives_class_shares() -> None:
    df = pl.DataFrame({"c": ["a", "a", "a", "b", "b"], "label": ["x", "x", "y", "y", "y"]})
    step = TargetEncoder(columns=["c"], smoothing=0.0, folds=2).fit(df, target="label")
    out = step.transform(pl.DataFrame({"c": ["a", "b", "z"], "label": ["x"] * 3}))
    assert out.columns == ["label", "c_te_y"]  # two classes: the share of 'x' would be 1 minus this
    assert out["c_te_y"].to_list() == pytest.approx([1 / 3, 1.0, 3 / 5])
    three = df.with_columns(pl.Series("label", ["x", "x", "y", "y", "z"]))
    out3 = TargetEncoder(columns=["c"], smoothing=0.0, folds=2).fit(three, target="label").transform(three)
    assert out3.columns == ["label", "c_te_x", "c_te_y", "c_te_z"]
    assert out3.select(pl.sum_horizontal("c_te_x", "c_te_y", "c_te_z")).to_series().to_list() == pytest.approx([1] * 5)
    # A state saved before two-class targets got one column still gives both, as the model fitted on it expects.
    saved = json.loads(step.to_json())
    del saved["state"]["binary_one_column"]
    old = TargetEncoder.from_dict(saved)
    assert old.transform(df).columns == ["label", "c_te_x", "c_te_y"]
    with pytest.raises(SpecError, match="needs the target"):
        TargetEncoder().fit(df)
