"""The Python API of the data path: train on frames, time-budgeted search, anomaly detection, task inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import assay
from assay.exceptions import SchemaError, SpecError
from assay.pipeline import infer_task


def test_infer_task_small_integer_is_classification():
    assert infer_task(pl.Series([0, 1, 1, 0, 2] * 10)) == "classification"
    assert infer_task(pl.Series(list(range(100)))) == "regression"
    assert infer_task(pl.Series([True, False, True])) == "classification"


def test_train_on_frame_and_predict_records(penguins_csv: Path):
    frame = assay.load(str(penguins_csv))
    result = assay.train(frame, target="species", models=["logreg"], folds=3)
    assert result.task == "classification"
    assert result.test_metrics["accuracy"] > 0.95
    records = frame.drop("species").head(3).to_dicts()
    out = result.model.predict_records(records)
    assert len(out) == 3
    assert {"prediction", "proba_Adelie", "proba_Gentoo", "proba_Chinstrap"} <= set(out[0])


def test_missing_target_rows_dropped_with_a_note(penguins_csv: Path):
    frame = assay.load(str(penguins_csv))
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) < 5).then(None).otherwise(pl.col("species"))
                               .alias("species"))
    result = assay.train(frame, target="species", models=["logreg"], folds=3)
    assert any("dropped 5 row(s) whose target 'species' is missing" in n for n in result.notes)


def test_time_budget_search_tunes_and_reports(penguins_csv: Path):
    result = assay.train(str(penguins_csv), target="species", models=["logreg", "rf"], folds=3, time_budget=6)
    assert {row["model"] for row in result.leaderboard} == {"logreg", "rf"}
    assert all("params" in row for row in result.leaderboard)
    assert result.test_metrics["accuracy"] > 0.9


def test_anomaly_task_flags_planted_outliers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    X[:8] += 9.0
    frame = pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]})
    result = assay.train(frame, task="anomaly", models=["iforest"], folds=2)
    pred = result.model.predict(frame)
    assert pred.columns == ["anomaly", "score"]
    planted = pred.head(8)
    assert planted.get_column("anomaly").all()
    assert planted.get_column("score").min() > pred.tail(392).get_column("score").median()


def test_unknown_task_is_a_spec_error(penguins_csv: Path):
    with pytest.raises(SpecError, match="unknown task 'classify'"):
        assay.train(str(penguins_csv), target="species", task="classify")


def test_regression_on_text_target_is_refused(penguins_csv: Path):
    with pytest.raises(SchemaError, match="not numeric"):
        assay.train(str(penguins_csv), target="species", task="regression")


@pytest.fixture(scope="module")
def imbalanced_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's bundled breast-cancer data with most benign rows removed (positive class 'malignant')."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    frame = pl.from_pandas(data).with_columns(
        pl.when(pl.col("target") == 0).then(pl.lit("malignant")).otherwise(pl.lit("benign")).alias("target"))
    path = tmp_path_factory.mktemp("bc") / "bc.csv"
    frame.write_csv(path)
    return path


def test_threshold_tuning_is_stored_and_applied(imbalanced_csv: Path, tmp_path: Path):
    result = assay.train(str(imbalanced_csv), target="target", models=["logreg"], folds=3, threshold="cost:1:20",
                         out=tmp_path / "run", report=False)
    threshold = result.model.threshold
    assert threshold["objective"] == "cost"
    assert threshold["positive"] == "malignant"  # classes sort alphabetically: benign, malignant
    # Missing a malignant tumour costs 20 false alarms, so the threshold sits well below 0.5.
    assert threshold["value"] < 0.5
    assert threshold["out_of_fold"] <= threshold["at_one_half"]  # no dearer than 0.5 on the same predictions
    assert any(note.startswith("decision threshold ") and "against " in note for note in result.notes)
    frame = assay.load(str(imbalanced_csv)).drop("target")
    loaded = assay.load_model(tmp_path / "run" / "model")
    pred = loaded.predict(frame)
    positive = (pred.get_column("proba_malignant") >= threshold["value"])
    assert (pred.get_column("prediction") == "malignant").to_list() == positive.to_list()


def test_threshold_needs_a_binary_target(penguins_csv: Path):
    with pytest.raises(SpecError, match="binary classifier"):
        assay.train(str(penguins_csv), target="species", models=["logreg"], folds=3, threshold="f1")


def test_threshold_text_is_checked(penguins_csv: Path):
    with pytest.raises(SpecError, match="cost:FP:FN"):
        assay.train(str(penguins_csv), target="species", models=["logreg"], folds=3, threshold="recall")


def test_columns_the_model_drops_unread_may_be_left_out_at_predict_time(penguins_csv: Path):
    """A row index from a table export (and an all-missing column) is dropped before any step reads it: callers
    need not send it, and the answer is the same as with it. A column the model uses is still required, and the
    message names an empty column name visibly."""
    frame = assay.load(str(penguins_csv)).drop_nulls()
    frame = frame.select(pl.int_range(1, pl.len() + 1).alias(""), pl.lit(None, pl.Float64).alias("empty"),
                         pl.all())
    result = assay.train(frame, target="species", models=["logreg"], folds=3)
    model = result.model
    # the row index is found on the whole file (on the shuffled training split it is no longer 1, 2, 3, ...)
    assert any("an exported row index" in note for note in result.notes)
    assert "" not in model.input_schema
    assert model.optional_inputs == ["empty"]
    rows = frame.drop("species").head(5)
    full = model.predict(rows)
    assert model.predict(rows.drop("", "empty")).equals(full)
    with pytest.raises(SchemaError, match=r"needs: bill_length_mm \(input has: '', empty,"):
        model.predict(rows.drop("bill_length_mm"))


def test_targets_out_of_the_float_range_are_dropped_or_refused_clearly(penguins_csv: Path):
    frame = assay.load(str(penguins_csv)).drop_nulls().head(120)
    y = frame.get_column("body_mass_g").cast(pl.Float64)
    with_inf = frame.with_columns(pl.Series("body_mass_g", [*[float("inf")] * 3, *y.to_list()[3:]]))
    result = assay.train(with_inf, target="body_mass_g", models=["linreg"], folds=3)
    assert any("dropped 3 row(s) whose target 'body_mass_g' is missing (3 of them infinite)" in n
               for n in result.notes)
    huge = frame.with_columns(pl.Series("body_mass_g", [1e308, *y.to_list()[1:]]))
    with pytest.raises(SchemaError, match="reaches 1e\\+308: too large for regression"):
        assay.train(huge, target="body_mass_g", models=["linreg"], folds=3)
    # the same values as a feature: scaled into range, the model trains
    assert assay.train(huge.rename({"body_mass_g": "mass"}), target="sex", models=["logreg"],
                       folds=3).test_metrics["accuracy"] > 0.5


def test_the_row_index_is_dropped_with_explicit_steps_too_unless_kept(penguins_csv: Path):
    frame = assay.load(str(penguins_csv)).drop_nulls().drop("island", "sex")
    frame = frame.select(pl.int_range(0, pl.len()).alias("Unnamed: 0"), pl.all())
    result = assay.train(frame, target="species", models=["logreg"], folds=3, steps=[{"step": "scale"}])
    assert "Unnamed: 0" not in result.model.input_schema
    kept = assay.train(frame, target="species", models=["logreg"], folds=3,
                       steps=[{"step": "drop_useless", "row_numbers": False}, {"step": "scale"}])
    assert "Unnamed: 0" in kept.model.input_schema


def test_text_with_a_different_value_in_every_row_is_left_out_of_automatic_features(penguins_csv: Path, caplog):
    frame = assay.load(str(penguins_csv)).drop_nulls()
    frame = frame.with_columns(
        pl.format("P-{}", pl.int_range(0, pl.len()).shuffle(seed=1)).alias("penguin_id"),  # an id
        pl.format("2024-01-{} 10:{}", 1 + pl.int_range(0, pl.len()) % 28, pl.int_range(0, pl.len()) % 60)
        .alias("seen_at"),  # distinct text that reads as times: a feature once typed
    ).with_columns(pl.when(pl.int_range(0, pl.len()) < 3).then(None).otherwise(pl.col("penguin_id"))
                   .alias("penguin_id"))  # a few missing ids: still an identifier
    with caplog.at_level("WARNING", logger="assay"):
        result = assay.train(frame, target="species", models=["logreg"], folds=3)
    assert "not used as feature(s): 'penguin_id': a different value in every row" in caplog.text
    assert "penguin_id" not in result.model.input_schema
    assert "seen_at" in result.model.input_schema
    assert result.test_metrics["accuracy"] > 0.9
    assert result.model.predict(frame.head(5)).height == 5  # the id may still come with the rows to predict
    explicit = assay.train(frame, target="species", models=["logreg"], folds=3,
                           steps=[{"step": "frequency"}, {"step": "missing"}])
    assert "penguin_id" in explicit.model.input_schema  # steps given explicitly keep it


def test_a_whole_number_key_named_as_an_id_is_left_out_of_automatic_features(penguins_csv: Path, caplog):
    frame = assay.load(str(penguins_csv)).drop_nulls()
    frame = frame.with_columns(pl.int_range(1, pl.len() + 1).shuffle(seed=2).alias("PassengerId"),  # a key
                               (pl.int_range(0, pl.len()) % 7).alias("store_id"),  # named as an id, repeated: kept
                               (pl.int_range(0, pl.len()) * 3).alias("paid"))  # distinct, not an id's name: kept
    with caplog.at_level("WARNING", logger="assay"):
        result = assay.train(frame, target="species", models=["logreg"], folds=3)
    assert "not used as feature(s): 'PassengerId': named as an id, with a different whole number in every row" in (
        caplog.text)
    schema = result.model.input_schema
    assert "PassengerId" not in schema
    assert "store_id" in schema
    assert "paid" in schema
    assert result.model.predict(frame.head(5).drop("PassengerId")).height == 5
    explicit = assay.train(frame, target="species", models=["logreg"], folds=3,
                           steps=[{"step": "missing"}, {"step": "onehot"}])
    assert "PassengerId" in explicit.model.input_schema  # steps given explicitly keep it


def _recorded_splits(monkeypatch) -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    """Every (train, test) pair the pipeline prepares: each cross-validation fold, then the final split."""
    from assay.pipeline import Pipeline

    seen: list[tuple[pl.DataFrame, pl.DataFrame]] = []
    original = Pipeline._prepare

    def spy(self, train, test, target, task):
        seen.append((train, test))
        return original(self, train, test, target, task)

    monkeypatch.setattr(Pipeline, "_prepare", spy)
    return seen


def _panel(n_groups: int = 30, per_group: int = 8) -> pl.DataFrame:
    rng = np.random.default_rng(4)
    rows = n_groups * per_group
    x = rng.normal(size=rows)
    return pl.DataFrame({"customer": np.repeat([f"c{i:02d}" for i in range(n_groups)], per_group),
                         "day": np.tile(np.arange(per_group), n_groups) + np.repeat(np.arange(n_groups), per_group),
                         "x": x, "y": np.where(x + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")})


def test_group_split_keeps_each_group_on_one_side_of_test_and_of_every_fold(monkeypatch, tmp_path: Path):
    seen = _recorded_splits(monkeypatch)
    frame = _panel()
    result = assay.train(frame, target="y", models=["logreg"], folds=4, group="customer", threshold="f1")
    assert len(seen) == 5  # four folds, then the final split
    for train, test in seen:
        assert set(train["customer"]) & set(test["customer"]) == set()
        assert train.height + test.height in (frame.height, seen[-1][0].height)
    final_train, final_test = seen[-1]
    assert final_train.height + final_test.height == frame.height
    assert final_test["customer"].n_unique() == 6  # 20% of the 30 customers
    assert result.model.threshold is not None  # threshold tuned on the same group folds


@pytest.mark.parametrize("as_text", [False, True])
def test_time_split_tests_the_latest_rows_and_every_fold_trains_on_earlier_rows(monkeypatch, as_text: bool):
    seen = _recorded_splits(monkeypatch)
    frame = _panel()
    if as_text:  # day/month/year text: ordered as dates, not as text ("02/01" would sort before "31/12")
        frame = frame.with_columns((pl.date(2024, 12, 1) + pl.duration(days=pl.col("day")))
                                   .dt.strftime("%d/%m/%Y").alias("day"))
    key = (lambda f: f["day"].str.to_date("%d/%m/%Y")) if as_text else (lambda f: f["day"])
    assay.train(frame.sample(fraction=1.0, shuffle=True, seed=1), target="y", models=["logreg"], folds=3, time="day")
    assert len(seen) == 4
    for train, test in seen:
        assert key(train).max() < key(test).min()
    final_train, final_test = seen[-1]
    assert final_train.height + final_test.height == frame.height
    assert "__assay_time__" not in final_train.columns


def test_split_options_are_checked(penguins_csv: Path):
    frame = assay.load(str(penguins_csv))
    with pytest.raises(SpecError, match="not both"):
        assay.train(frame, target="species", group="island", time="year")
    with pytest.raises(SchemaError, match=r"group column 'islnd' not found .*did you mean 'island'"):
        assay.train(frame, target="species", group="islnd")
    with pytest.raises(SpecError, match="time budget"):
        assay.train(frame, target="species", time="year", time_budget=5)
    bad = frame.with_columns(pl.lit("2024-01-01").alias("when")).with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("soon")).otherwise(pl.col("when")).alias("when"))
    with pytest.raises(SchemaError, match=r"time column 'when': 1 value\(s\) do not read as dates .*'soon' at row 7"):
        assay.train(bad, target="species", time="when")


def test_step_notes_come_from_the_final_fit_not_from_every_fold():
    """A fold's fit would repeat each note with its own counts; the notes describe the fit of the final model."""
    rng = np.random.default_rng(2)
    codes = [str(v) for v in rng.integers(100, 999, size=200)]
    for row in (3, 50, 97, 120, 180):
        codes[row] = f"c{row}"  # station codes among numbers: they become missing, and the user is told
    frame = pl.DataFrame({"station": codes, "x": rng.normal(size=200)}).with_columns(
        (pl.col("x") * 2 + 1).alias("y"))
    result = assay.train(frame, target="y", task="regression", models=["linreg"], folds=4)
    notes = [n for n in result.notes if "of 'station' did not read as integer" in n]
    assert len(notes) == 1
    assert notes[0].startswith("types: ")


def test_a_text_target_of_numbers_is_read_as_numbers(penguins_csv: Path):
    frame = assay.load(str(penguins_csv)).drop_nulls("body_mass_g")
    priced = frame.with_columns(("$" + pl.col("body_mass_g").cast(pl.Int64).cast(pl.String)).alias("body_mass_g"))
    result = assay.train(priced, target="body_mass_g", models=["linreg"], folds=3)
    assert result.task == "regression"
    assert any("target 'body_mass_g' is text holding numbers (e.g. '$3750' → 3750): read as numbers" in n
               for n in result.notes)
    plain = assay.train(frame, target="body_mass_g", models=["linreg"], folds=3)
    assert result.test_metrics == plain.test_metrics  # the same numbers, the same model
    labels = frame.with_columns(pl.col("species").alias("kind"))
    assert assay.train(labels.drop("species"), target="kind", models=["logreg"], folds=3).task == "classification"


def test_learning_curve_follows_the_split(tmp_path: Path):
    """With a time split the curve's folds chain forward in time; with a group split (groups not kept with the
    prepared rows) it is left out rather than drawn on shuffled folds that mix the groups."""
    frame = _panel(n_groups=20, per_group=10)
    by_time = assay.train(frame, target="y", models=["logreg"], folds=3, time="day", out=tmp_path / "t")
    assert (tmp_path / "t" / "figures" / "learning_curve.png").is_file()
    assert by_time.split["kind"] == "time"
    by_group = assay.train(frame, target="y", models=["logreg"], folds=3, group="customer", out=tmp_path / "g")
    assert by_group.split["kind"] == "group"
    assert not (tmp_path / "g" / "figures" / "learning_curve.png").exists()
    assert (tmp_path / "g" / "report.html").is_file()


def test_forests_train_on_every_core_and_serve_on_one_thread(monkeypatch):
    from sklearn.ensemble import RandomForestRegressor

    seen: list[int] = []
    original = RandomForestRegressor.fit

    def fit(self, X, y, sample_weight=None):
        from sklearn.ensemble._base import _partition_estimators

        seen.append(_partition_estimators(self.n_estimators, self.n_jobs)[0])  # the threads the forest will use
        return original(self, X, y, sample_weight)

    monkeypatch.setattr(RandomForestRegressor, "fit", fit)
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    frame = pl.DataFrame({"x": x, "z": rng.normal(size=300), "y": 2 * x + rng.normal(size=300)})
    result = assay.Pipeline(target="y", models=["rf"], folds=2).fit(frame)
    assert seen
    assert min(seen) > 1
    forest = result.model.estimator
    assert forest.n_jobs is None  # the saved model predicts on one thread
    assert (forest.max_features, forest.min_samples_leaf) == (1 / 3, 5)  # R randomForest's regression defaults


def test_whole_numbers_with_rare_values_are_trained_as_a_count_with_a_note():
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    goals = np.minimum(rng.poisson(np.exp(0.3 * x + 0.3)), 4)  # 0-4, each common
    goals[:2] = [11, 12]  # one row each: no stratified fold can hold them
    frame = pl.DataFrame({"x": x, "goals": goals})
    result = assay.Pipeline(target="goals", models=["linreg"], folds=3).fit(frame)
    assert result.task == "regression"
    assert any("holds whole numbers from 0 to 12" in n and "11 (1 row), 12 (1 row)" in n for n in result.notes)
    # Every class common enough: still classification (ratings 1-5), and an explicit task is obeyed.
    ratings = pl.DataFrame({"x": x, "stars": rng.integers(1, 6, 400)})
    assert assay.Pipeline(target="stars", models=["logreg"], folds=3).fit(ratings).task == "classification"
    with pytest.raises(SpecError, match="fewer than folds"):
        assay.Pipeline(target="goals", task="classification", models=["logreg"], folds=3).fit(frame)


def test_a_totals_row_at_the_end_is_not_trained_on(tmp_path: Path, sales_report: tuple[Path, Path]):
    path, n = sales_report[0], 120
    result = assay.train(str(path), target="sales", models=["linreg"], folds=3, out=tmp_path / "run", report=False)
    assert result.notes[0] == (f"dropped the last row (row {n + 1}): a totals row, not data ('city' is '合计'; "
                               "'spend', 'sales' equal the sums of the rows above)")
    assert result.split["train_rows"] + result.split["test_rows"] == n


def test_clustering_finds_numeric_blobs_beside_a_noisy_categorical():
    """The automatic steps for clustering weigh a one-hot block like one numeric column: a 3-level categorical
    unrelated to the blobs does not pull k-means onto its levels."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    blob = np.repeat([0, 1, 2], 200)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 4.0]])
    X = centres[blob] + rng.normal(scale=0.7, size=(600, 2))
    frame = pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "colour": rng.choice(["red", "green", "blue"], 600)})
    result = assay.train(frame, task="clustering", models=["kmeans"], folds=2)
    onehot = [s for s in result.model.steps if s.name == "onehot"]
    assert onehot
    assert onehot[0].weight == "sqrt_levels"
    labels = result.model.predict(frame).get_column("cluster").to_numpy()
    assert adjusted_rand_score(blob, labels) > 0.6


def _rare_class_frame() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    y = ["a"] * 40 + ["b"] * 40 + ["rare"] * 4  # 3 of the 4 rare rows stay in training (stratified 20% test)
    return pl.DataFrame({"x": rng.normal(size=84) + np.array([0.0] * 40 + [2.0] * 40 + [4.0] * 4), "y": y})


def test_folds_not_given_are_as_many_as_the_rarest_class_allows(caplog):
    with caplog.at_level("WARNING", logger="assay.pipeline"):
        result = assay.train(_rare_class_frame(), target="y", models=["logreg"])
    assert "cross-validation with 3 folds instead of 5: class 'rare' has only 3 training rows" in caplog.text
    assert len(result.cv_scores["logreg"]) == 3


def test_folds_given_are_kept_and_a_too_rare_class_is_an_error():
    with pytest.raises(SpecError, match=r"class 'rare' has only 3 row\(s\), fewer than folds=5"):
        assay.train(_rare_class_frame(), target="y", models=["logreg"], folds=5)
    result = assay.train(_rare_class_frame(), target="y", models=["logreg"], folds=2)
    assert len(result.cv_scores["logreg"]) == 2


@pytest.mark.parametrize("name", ["rf", "lgbm"])
def test_scoring_runs_the_trees_once_for_labels_and_probabilities(name: str, monkeypatch: pytest.MonkeyPatch):
    from sklearn.datasets import load_iris

    from assay.evaluate import score
    from assay.models import make_model
    from assay.pipeline import _Prepared, _score_test

    X, y = load_iris(return_X_y=True)
    y = np.array(["setosa", "versicolor", "virginica"])[y]
    est = make_model(name, "classification", seed=0).fit(X[::2], y[::2])
    expected_labels, expected_proba = est.predict(X[1::2]), est.predict_proba(X[1::2])
    calls: list[int] = []
    original = type(est).predict_proba
    monkeypatch.setattr(type(est), "predict_proba", lambda self, X_: calls.append(1) or original(self, X_))
    prep = _Prepared(X[::2], y[::2], X[1::2], y[1::2], [], [f"f{i}" for i in range(4)], [0.0] * 4)
    metrics, predictions = _score_test(est, prep, "classification", score)
    assert len(calls) == 1
    np.testing.assert_array_equal(predictions["y_pred"], expected_labels)
    np.testing.assert_array_equal(predictions["proba"], expected_proba)
    assert metrics["accuracy"] == pytest.approx(float(np.mean(expected_labels == y[1::2])))


@pytest.mark.parametrize(("test_size", "test_rows"), [(1.0, 1), (30, 30)])
def test_test_size_as_a_row_count_with_the_task_inferred(test_size: float, test_rows: int,
                                                         caplog: pytest.LogCaptureFixture):
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True).frame
    frame = pl.from_pandas(data).with_columns(pl.col("target").cast(pl.Int64))
    with caplog.at_level("WARNING", logger="assay"):
        result = assay.train(frame, "target", models=["logreg"], test_size=test_size, report=False)
    assert result.task == "classification"
    assert result.split["test_rows"] == test_rows
    few = [r.getMessage() for r in caplog.records if "held-out test split" in r.getMessage()]
    assert few == (["the held-out test split has one row: its scores swing with each row; read them beside the "
                    "cross-validation scores, or train with a larger --test-size"] if test_rows == 1 else [])
