"""The local and the Dask engine on the same small inputs: the same features, notes and results."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ._helpers import assert_same_state

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore:.*(Port|port).*:UserWarning"),
]


def _frame(n: int = 240, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    shop = rng.choice(["north", "south", "east"], n)
    grade = rng.choice(["A", "B", "C", "D"], n, p=[0.4, 0.3, 0.2, 0.1])
    a[rng.random(n) < 0.05] = np.nan
    score = np.nan_to_num(a) + (shop == "north") * 1.5 + rng.normal(0, 0.3, n)
    return pl.DataFrame({"a": pl.Series(a).fill_nan(None), "b": rng.exponential(2.0, n), "shop": shop,
                         "grade": grade, "label": np.where(score > np.median(score), "yes", "no"), "y": score})


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parity") / "small.parquet"
    _frame().write_parquet(path, row_group_size=80)
    return path


@pytest.mark.parametrize("target", ["label", "y"])
def test_clustering_leaves_the_named_target_out_of_the_features_on_both_engines(client, small, tmp_path,
                                                                                target) -> None:
    from assay.engine import run_dask
    from assay.pipeline import run

    spec = {"source": str(small), "target": target, "task": "clustering", "models": ["kmeans"],
            "evaluation": {"folds": 2}}
    local = run({**spec, "output": {"dir": str(tmp_path / "local"), "report": False}})
    dist = run_dask({**spec, "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client,
                    rows_per_partition=80, echo=None)
    assert target not in local.model.input_schema
    assert dist.model.input_schema == local.model.input_schema
    assert dist.model.features == local.model.features
    assert not any(f == target or f.startswith(f"{target}_") for f in dist.model.features)
    note = f"clustering predicts no target: {target!r} is left out of the features"
    assert any(n.startswith(note) for n in local.notes)
    assert any(n.startswith(note) for n in dist.notes)
    for a, b in zip(local.model.steps, dist.model.steps, strict=True):
        assert_same_state(a.state_, b.state_, a.name)
    assert dist.test_metrics["silhouette"] == pytest.approx(local.test_metrics["silhouette"], abs=1e-6)


def test_predicting_on_dask_notes_unseen_categories_as_assay_predict_does(client, small, tmp_path, caplog) -> None:
    """The same notes in the same order: unreadable values first, then categories the encoders never saw."""
    from assay.cli import main
    from assay.engine import predict_dask
    from assay.pipeline import run

    steps = [{"step": "missing"}, {"step": "onehot", "columns": ["shop"]}, {"step": "frequency", "columns": ["grade"]}]
    run({"source": str(small), "target": "label", "drop": ["y"], "models": ["logreg"], "steps": steps,
         "evaluation": {"folds": 2},
         "output": {"dir": str(tmp_path / "train"), "report": False}})
    model = tmp_path / "train" / "model"
    new = _frame(90, seed=1).drop("label", "y")
    # Unseen values in every partition of 30 rows: five distinct shops (a note shows three, then …), one grade.
    rows = np.arange(new.height)
    new = new.with_columns(
        pl.when(pl.Series(rows % 7 == 0)).then(pl.Series([f"shop-{i % 5}" for i in rows])).otherwise(pl.col("shop"))
        .alias("shop"),
        pl.when(pl.Series(rows >= 75)).then(pl.lit("E")).otherwise(pl.col("grade")).alias("grade"),
        pl.when(pl.Series(rows == 40)).then(pl.lit("lots")).otherwise(pl.col("b").cast(pl.String)).alias("b"),
    )
    source = tmp_path / "new.parquet"
    new.write_parquet(source, row_group_size=30)

    def notes() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if "never seen" in r.getMessage() or "could not be read" in r.getMessage()]

    with caplog.at_level(logging.WARNING, logger="assay"):
        assert main(["predict", str(model), str(source), "--out", str(tmp_path / "local.parquet"), "--quiet"]) == 0
    local = notes()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="assay"):
        done = predict_dask(model, str(source), tmp_path / "dask", client=client, rows_per_partition=30, echo=None)
    assert done["partitions"] == 3
    assert len(local) == 3
    assert local[0].startswith("1 of 90 value(s) of 'b' could not be read as Float64 (as in training), e.g. 'lots'")
    assert "onehot: 13 value(s) of 'shop' were never seen when the step was fitted ('shop-0', 'shop-2', 'shop-4', …)" \
        in local[1]
    assert notes() == local
    got = pl.read_parquet(sorted((tmp_path / "dask").glob("part-*.parquet")))
    # Equal up to the last bit of a probability: a 30-row partition and the 90-row whole go through different BLAS
    # kernel blocks (seen: one row off by 1.1e-16 on an AMD EPYC), so the floats are compared to 1e-12.
    assert_frame_equal(got, pl.read_parquet(tmp_path / "local.parquet"), check_exact=False, rel_tol=1e-12)
    # Nothing unseen: no note, on either engine.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="assay"):
        predict_dask(model, str(small), tmp_path / "seen", client=client, rows_per_partition=80, echo=None)
    assert notes() == []


def _run_both(client, frame: pl.DataFrame, tmp_path: Path, **spec) -> tuple:
    from assay.engine import run_dask
    from assay.pipeline import run

    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "data.parquet"
    frame.write_parquet(path, row_group_size=50)
    spec = {"source": str(path), "evaluation": {"folds": 3}, **spec}
    local = run({**spec, "output": {"dir": str(tmp_path / "local"), "report": False}})
    dist = run_dask({**spec, "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client,
                    rows_per_partition=50, echo=None)
    return local, dist


def test_both_engines_say_the_same_about_the_split_and_the_test_scores(client, tmp_path) -> None:
    """A date column among the inputs of a shuffled split, mape over the test rows not 0, rows of a missing target
    (not counted in the lineage), a test score far below the folds'."""
    rng = np.random.default_rng(3)
    n = 150
    day = pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 1) + pl.duration(days=n - 1), eager=True)
    x = rng.normal(0, 1, n)
    y = np.where(rng.random(n) < 0.2, 0.0, 2 * x + rng.normal(0, 0.1, n))
    y[::25] = np.nan
    frame = pl.DataFrame({"day": day, "x": x, "shop": rng.choice(["a", "b", None], n), "y": y})
    local, dist = _run_both(client, frame, tmp_path / "reg", target="y", task="regression", models=["linreg"])
    assert any(n.startswith("'day' holds a different date or time on most rows") for n in local.notes)
    assert any(n.startswith("mape is the mean error in percent over the") for n in local.notes)
    assert set(dist.notes) == set(local.notes)
    assert dist.model.manifest["source"]["rows"] == local.model.manifest["source"]["rows"] == n - 6

    # Text dates are dates too; three classes the inputs know nothing of: the test score is far below the folds'.
    frame = frame.with_columns(pl.col("day").cast(pl.String), klass=pl.Series(rng.choice(["p", "q", "r"], n)))
    local, dist = _run_both(client, frame.drop("y"), tmp_path / "clf", target="klass", models=["logreg"])
    assert any(n.startswith("'day' holds a different date or time on most rows") for n in local.notes)
    assert set(dist.notes) == set(local.notes)


def test_both_engines_say_when_the_test_split_holds_a_class_the_training_split_lacks(client, tmp_path) -> None:
    rng = np.random.default_rng(4)
    n = 120
    x = rng.normal(0, 1, n)
    label = np.where(x > 0, "up", "down").astype(object)
    label[-8:] = "new"  # only among the latest rows, which a time split tests on
    frame = pl.DataFrame({"t": np.arange(n), "x": x, "label": label.astype(str)})
    local, dist = _run_both(client, frame, tmp_path, target="label", models=["logreg"],
                            evaluation={"folds": 3, "time": "t"})
    note = "the test split holds 8 row(s) of class(es) the training split lacks ('new')"
    assert any(n.startswith(note) for n in local.notes)
    assert any(n.startswith("the held-out test split has only 24 rows") for n in local.notes)
    assert set(dist.notes) == set(local.notes)


def test_both_engines_find_the_same_leaking_and_repeated_columns(client, tmp_path) -> None:
    rng = np.random.default_rng(5)
    n = 400
    cust = rng.integers(0, 40, n)  # 40 customers of about 10 rows, each always on one side
    label = np.where(rng.random(40) < 0.5, "yes", "no")[cust]
    frame = pl.DataFrame({"x": rng.normal(0, 1, n), "cust": cust, "leak": (label == "yes").astype(np.int64),
                          "label": label})
    local, dist = _run_both(client, frame, tmp_path, target="label", models=["logreg"])
    assert any(n.startswith("suspected target leakage: 'leak' alone") for n in local.notes)
    assert any(n.startswith("'cust' repeats: 40 values") for n in local.notes)
    assert set(dist.notes) == set(local.notes)


def test_training_columns_of_a_sample_are_the_rows_the_local_sample_takes(client, tmp_path) -> None:
    """Beyond its bound of rows a check samples the training frame; on Dask the same rows are brought to the client:
    a seeded sample picks rows by count and seed alone, whatever the columns."""
    from assay.engine import plan_partitions
    from assay.engine._run import _training_columns

    frame = _frame(500, seed=6).with_row_index("i")
    path = tmp_path / "rows.parquet"
    frame.write_parquet(path, row_group_size=100)
    parts = plan_partitions(str(path), rows_per_partition=100)
    train_rows = np.random.default_rng(0).permutation(500)[:400]  # the training rows, in the split's order
    train = frame[train_rows]
    columns = ["i", "a", "shop"]
    assert _training_columns(client, parts, columns, train_rows, train["label"], [300], seed=7) is None
    got = _training_columns(client, parts, columns, train_rows, train["label"], [300], seed=7, sample=True)
    assert got.equals(train.select(*columns, "label").sample(300, seed=7))
    whole = _training_columns(client, parts, columns, train_rows, train["label"], [400, 1_000], seed=7)
    assert whole.equals(train.select(*columns, "label"))


def test_relative_paths_are_this_directory_s_on_workers_started_elsewhere(client, tmp_path, monkeypatch) -> None:
    """The cluster's workers run in another directory than the client: a relative source or output folder is the
    client's, as on the local engine."""
    from assay.engine import predict_dask, run_dask
    from assay.pipeline import run

    monkeypatch.chdir(tmp_path)
    _frame(120, seed=7).drop("y").write_csv("data.csv")
    spec = {"source": "data.csv", "target": "label", "models": ["logreg"], "evaluation": {"folds": 2}}
    local = run({**spec, "output": {"dir": "local", "report": False}})
    dist = run_dask({**spec, "output": {"dir": "dask", "report": False}}, client=client, rows_per_partition=50,
                    echo=None)
    assert dist.model.manifest["source"] == local.model.manifest["source"]
    assert dist.model.manifest["source"]["uri"] == str(tmp_path / "data.csv")
    done = predict_dask("dask/model", "data.csv", "scores", client=client, rows_per_partition=50, echo=None)
    assert done["partitions"] == 3
    assert len(list((tmp_path / "scores").glob("part-*.parquet"))) == 3


def test_steps_that_remove_training_rows_say_so_in_the_same_words(client, tmp_path) -> None:
    frame = _frame(300, seed=8).drop("label").with_columns(
        pl.when(pl.int_range(pl.len()) % 40 == 0).then(None).otherwise(pl.col("b")).alias("b"),
        pl.when(pl.int_range(pl.len()) % 40 == 0).then(None).otherwise(pl.col("shop")).alias("shop"))
    steps = [{"step": "missing", "drop_rows": 0.4}, {"step": "outliers", "action": "drop"}, {"step": "onehot"}]
    local, dist = _run_both(client, frame, tmp_path, target="y", task="regression", models=["linreg"], steps=steps)
    assert any(n.startswith("missing: removed ") and n.endswith(" row(s) with more than 0.4 of their values missing")
               for n in local.notes)
    assert any(n.startswith("outliers (iqr, drop): removed") for n in local.notes)
    assert set(dist.notes) == set(local.notes)


def test_an_anomaly_detector_is_scored_against_labels_on_both_engines(client, tmp_path) -> None:
    frame = _frame(300, seed=9).drop("y")
    local, dist = _run_both(client, frame, tmp_path, target="label", task="anomaly")
    assert local.test_metrics["roc_auc"] is not None
    assert dist.test_metrics["roc_auc"] == pytest.approx(local.test_metrics["roc_auc"], abs=1e-9)
    assert dist.test_metrics["average_precision"] == pytest.approx(local.test_metrics["average_precision"],
                                                                   abs=1e-9)
    assert any(n.startswith("anomaly labels: ") for n in local.notes)
    assert set(dist.notes) == set(local.notes)


def test_a_whole_number_id_is_left_out_of_the_features_on_both_engines(client, tmp_path) -> None:
    rng = np.random.default_rng(10)
    frame = _frame(200, seed=10).drop("y").with_columns(
        customer_id=pl.Series(rng.permutation(200) + 1000),  # a key: a different number on every row
        store_id=pl.Series(rng.integers(0, 5, 200)))  # repeats: a category written as a number, kept
    local, dist = _run_both(client, frame, tmp_path, target="label", models=["logreg"])
    assert "customer_id" not in local.model.input_schema
    assert "store_id" in local.model.input_schema
    assert dist.model.input_schema == local.model.input_schema
    assert any(n.startswith("not used as feature(s): 'customer_id': named as an id") for n in local.notes)
    assert set(dist.notes) == set(local.notes)


def test_folds_not_given_follow_the_rarest_class_on_both_engines(client, tmp_path) -> None:
    """A spec without evaluation.folds: 5 folds, or as many as a class with 2-4 training rows has, as assay train."""
    rng = np.random.default_rng(0)
    y = ["a"] * 40 + ["b"] * 40 + ["rare"] * 4  # 3 of the 4 rare rows stay in training (stratified 20% test)
    frame = pl.DataFrame({"x": rng.normal(size=84) + np.array([0.0] * 40 + [2.0] * 40 + [4.0] * 4), "y": y})
    local, dist = _run_both(client, frame, tmp_path, target="y", models=["logreg"], evaluation={})
    note = "cross-validation with 3 folds instead of 5: class 'rare' has only 3 training rows"
    assert any(n.startswith(note) for n in local.notes)
    assert set(dist.notes) == set(local.notes)
    assert len(local.cv_scores["logreg"]) == len(dist.cv_scores["logreg"]) == 3


def test_too_few_training_rows_for_the_folds_is_the_same_error_on_both_engines(client, tmp_path) -> None:
    from assay.engine import run_dask
    from assay.exceptions import SpecError
    from assay.pipeline import run

    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.parquet"
    pl.DataFrame({"x": rng.normal(size=12), "y": rng.normal(size=12)}).write_parquet(path)
    spec = {"source": str(path), "target": "y", "models": ["linreg"], "evaluation": {"test_size": 0.7},
            "output": {"dir": str(tmp_path / "out"), "report": False}}
    message = (r"the test split took 9 of the 12 rows \(--test-size 0\.7\), leaving 3 to train on: too few for "
               r"5-fold cross-validation; use a smaller --test-size")
    with pytest.raises(SpecError, match=message):
        run(spec)
    with pytest.raises(SpecError, match=message):
        run_dask(spec, client=client, rows_per_partition=4, echo=None)


def test_an_unknown_model_or_a_multiclass_threshold_fails_before_the_column_checks_on_both_engines(
        client, tmp_path, caplog) -> None:
    from assay.engine import run_dask
    from assay.exceptions import SpecError
    from assay.pipeline import run

    rng = np.random.default_rng(0)
    label = rng.choice(["a", "b", "c"], 90)
    path = tmp_path / "data.parquet"
    pl.DataFrame({"x": rng.normal(size=90), "copy": label, "label": label}).write_parquet(path)
    spec = {"source": str(path), "target": "label", "output": {"dir": str(tmp_path / "out"), "report": False}}
    for extra, message in (({"models": ["linreg"]}, r"unknown model 'linreg' for task classification"),
                           ({"models": ["logreg"], "evaluation": {"threshold": "f1"}},
                            r"--threshold tunes a binary classifier; this is classification with 3 classes")):
        engines = {"local": run, "dask": lambda s: run_dask(s, client=client, rows_per_partition=30, echo=None)}
        for engine, train in engines.items():
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="assay"), pytest.raises(SpecError, match=message):
                train({**spec, **extra})
            assert "suspected target leakage" not in caplog.text, engine
