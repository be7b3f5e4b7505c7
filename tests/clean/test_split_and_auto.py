"""Splitting (random, stratified, group, time, by value) and the automatic default steps on real data."""

from __future__ import annotations

import numpy as np
import palmerpenguins
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from assay.clean import Step, auto_steps, split_by, train_test_split
from assay.exceptions import SchemaError, SpecError

from .conftest import make_mixed


@pytest.fixture(scope="module")
def penguins() -> pl.DataFrame:
    return pl.from_pandas(palmerpenguins.load_penguins())


def test_stratified_split_keeps_class_shares_and_is_seeded(penguins: pl.DataFrame) -> None:
    train, test = train_test_split(penguins, target="species", test_size=0.25, seed=3)
    assert train.height + test.height == penguins.height
    share = penguins["species"].value_counts(normalize=True).sort("species")["proportion"].to_numpy()
    test_share = test["species"].value_counts(normalize=True).sort("species")["proportion"].to_numpy()
    np.testing.assert_allclose(test_share, share, atol=0.02)
    again = train_test_split(penguins, target="species", test_size=0.25, seed=3)[1]
    other = train_test_split(penguins, target="species", test_size=0.25, seed=4)[1]
    assert test.equals(again)
    assert not test.equals(other)


def test_random_group_and_time_splits() -> None:
    df = pl.DataFrame({"i": range(100), "grp": [i // 10 for i in range(100)], "t": list(range(100))[::-1]})
    train, test = train_test_split(df, test_size=0.2, stratify=False)
    assert test.height == 20
    assert set(train["i"]).isdisjoint(test["i"])
    train, test = train_test_split(df, group="grp", test_size=0.3)
    assert set(train["grp"]).isdisjoint(test["grp"])
    assert test.height == 30
    train, test = train_test_split(df, time="t", test_size=0.1)
    assert test["t"].min() > train["t"].max()
    with pytest.raises(SchemaError, match="did you mean 'grp'"):
        train_test_split(df, group="gr")
    with pytest.raises(SpecError, match="test_size"):
        train_test_split(df, test_size=0)


def test_split_by_gives_one_frame_per_value() -> None:
    parts = split_by(make_mixed(), "g")
    assert set(parts) == {"north", "south"}
    assert sum(p.height for p in parts.values()) == 60


def _run(steps: list[Step], frame: pl.DataFrame, target: str) -> pl.DataFrame:
    for step in steps:
        step.fit(frame, target=target)
        frame = step.transform_train(frame)
    return frame


def test_auto_steps_make_every_feature_numeric_without_nulls(as_backend) -> None:
    raw = make_mixed().with_columns(pl.lit(None, dtype=pl.String).alias("nothing"), pl.lit(3).alias("three"))
    steps = auto_steps(raw.schema, target="label", task="classification")
    frame = raw
    for step in steps:
        step.fit(as_backend(frame), target="label")
        frame = step.transform_train(frame)
    features = frame.drop("label")
    assert all(t.is_numeric() or t == pl.Boolean for t in features.schema.values()), features.schema
    assert features.null_count().sum_horizontal().item() == 0
    assert np.isfinite(features.cast(pl.Float64).to_numpy()).all()
    assert frame["label"].to_list() == raw["label"].to_list()  # the target is untouched
    assert "nothing" not in frame.columns
    assert "three" not in frame.columns
    assert {"day_year", "ts_hour", "c_red", "ok"} <= set(frame.columns)


def test_auto_steps_on_penguins_lazy_equals_eager_and_predicts_well(penguins: pl.DataFrame) -> None:
    steps = auto_steps(penguins.schema, target="species", task="classification")
    eager = _run(steps, penguins, "species")
    lazy = penguins.lazy()
    for step in steps:
        lazy = step.transform(lazy)
    assert lazy.collect().equals(eager)
    x = eager.drop("species").cast(pl.Float64).to_numpy()
    score = cross_val_score(LogisticRegression(max_iter=500), x, eager["species"].to_numpy(), cv=5).mean()
    assert score > 0.95
    with pytest.raises(SpecError, match="valid values"):
        auto_steps(penguins.schema, target="species", task="clasification")


def test_auto_steps_handle_a_100k_category_column() -> None:
    n = 100_000
    df = pl.DataFrame({"id": [f"user-{i}" for i in range(n)], "城市": ["北京", "上海"] * (n // 2),
                       "v": np.arange(n, dtype=float), "y": np.arange(n) % 2})
    out = df
    for step in auto_steps(df.schema, target="y"):
        out = step.fit(out, target="y").transform(out)
    assert out.schema["id"] == pl.Float64  # frequency encoded, not 100,000 one-hot columns
    assert out["id"].max() == pytest.approx(1 / n)
    assert {"城市_北京", "城市_上海"} <= set(out.columns)


def test_unknown_step_and_parameter_names_list_the_valid_ones() -> None:
    from assay.clean import MissingStep, get_step

    with pytest.raises(SpecError, match=r"unknown step 'outlier'; did you mean 'outliers'.*valid steps: .*scale"):
        get_step("outlier")
    with pytest.raises(SpecError, match=r"unknown parameter 'stratgy'; did you mean 'strategy'"):
        MissingStep().set_params(stratgy="mean")


def test_choices_spelled_with_other_separators_or_case_mean_the_same_choice(tmp_path) -> None:
    from assay.clean import load_steps, save_steps
    from assay.clean._registry import make_step

    scale = make_step("scale", {"method": "yeo_johnson"})
    outliers = make_step("outliers", {"method": "Isolation-Forest", "action": "Flag"})
    assert (scale.method, outliers.method, outliers.action) == ("yeo-johnson", "isolation_forest", "flag")
    assert make_step("missing", {"strategy": "KNN"}).strategy == "knn"
    df = pl.DataFrame({"x": [1.0, 2.0, 3.0, 50.0, 4.0, 2.5] * 5})
    fitted = [scale.fit(df)]
    save_steps(fitted, tmp_path / "steps.json")
    assert load_steps(tmp_path / "steps.json")[0].method == "yeo-johnson"  # the state keeps the canonical name
    with pytest.raises(SpecError, match=r"method='yeo' is not valid"):
        make_step("scale", {"method": "yeo"}).fit(df)


@pytest.mark.parametrize(("per_class", "share", "expected"), [(2, 0.2, 40), (5, 0.5, 100), (5, 0.1, 20)])
def test_stratified_split_of_many_small_classes_holds_out_the_share_asked(per_class: int, share: float,
                                                                           expected: int) -> None:
    # Each class rounded on its own: round(2 x 0.2) = 0 took no test row at all, round(5 x 0.5) = 2 took 80 of 100.
    df = pl.DataFrame({"i": range(200), "c": [f"k{i // per_class}" for i in range(200)]})
    train, test = train_test_split(df, target="c", test_size=share, seed=1)
    assert test.height == expected
    assert train.height == 200 - expected
    assert set(test["c"]) <= set(train["c"])  # every class keeps a row to train on
    counts = test["c"].value_counts()["count"]
    assert counts.max() - counts.min() <= 1


def test_stratified_split_keeps_a_lone_class_row_in_train() -> None:
    df = pl.DataFrame({"i": range(10), "c": ["a"] * 9 + ["b"]})
    train, test = train_test_split(df, target="c", test_size=0.6)
    assert test.height == 6
    assert "b" in train["c"].to_list()


def test_group_split_with_a_row_count_takes_that_share_of_the_groups() -> None:
    # test_size=50 took 50 groups (all but one of 18): 170 of 180 rows went to test.
    df = pl.DataFrame({"i": range(180), "subject": [i // 10 for i in range(180)]})
    train, test = train_test_split(df, group="subject", test_size=50)
    assert test.height == 50
    assert set(train["subject"]).isdisjoint(test["subject"])
