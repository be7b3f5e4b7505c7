"""Suspected target leakage: one column that predicts the target by itself, checked in training and reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn import datasets

from assay.cli import main
from assay.evaluate import leakage_suspects
from assay.exceptions import SchemaError, SpecError
from assay.pipeline import Pipeline
from assay.spec import parse_spec

N = 2_000


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _survival(rng: np.random.Generator) -> pl.DataFrame:
    """Like a survival study: the cause of death is recorded only for those who died."""
    age = rng.integers(40, 95, N)
    died = rng.random(N) < (age - 30) / 100
    cause = pl.Series(np.where(died, rng.choice(["heart", "cancer", "other"], N), "")).replace("", None)
    return pl.DataFrame({"age": age, "kappa": rng.lognormal(0, 1, N), "cause": cause, "died": died.astype(int)})


def test_missingness_that_encodes_the_target_is_suspected(rng: np.random.Generator):
    found = leakage_suspects(_survival(rng), "died", "classification")
    assert [s["column"] for s in found] == ["cause"]
    assert found[0]["how"] == "missingness"
    assert found[0]["score"] == 1.0
    assert "--drop 'cause'" in found[0]["message"]


def test_a_column_the_target_was_derived_from_is_suspected(rng: np.random.Generator):
    level = rng.integers(1, 6, N)
    frame = pl.DataFrame({"level": level, "noise": rng.normal(size=N),
                          "level_group": np.where(level <= 2, "low", np.where(level == 3, "mid", "high"))})
    found = leakage_suspects(frame, "level_group", "classification")
    assert [(s["column"], s["how"]) for s in found] == [("level", "values")]


def test_a_threshold_that_separates_the_classes_is_suspected_but_a_noisy_one_is_not(rng: np.random.Generator):
    x = rng.normal(size=N)
    clean = (x > 0.3).astype(int)
    noisy = np.where(rng.random(N) < 0.05, 1 - clean, clean)  # 5% of labels flipped: strong, not a leak
    assert [s["column"] for s in leakage_suspects(pl.DataFrame({"x": x, "y": clean}), "y", "classification")] == ["x"]
    assert leakage_suspects(pl.DataFrame({"x": x, "y": noisy}), "y", "classification") == []


def test_identifiers_and_a_rare_class_are_not_suspected(rng: np.random.Generator):
    y = (rng.random(N) < 0.002).astype(int)  # 99.8% one class: any constant-ish column is "right" 99.8% of the time
    frame = pl.DataFrame({"row_id": [f"r{i}" for i in range(N)], "flag": np.zeros(N, dtype=int), "y": y})
    assert leakage_suspects(frame, "y", "classification") == []


def test_regression_suspects_linear_monotone_and_grouped_copies(rng: np.random.Generator):
    y = rng.normal(10, 10, N)
    frame = pl.DataFrame({
        "price_eur": 0.9 * y + rng.normal(0, 0.01, N),  # the target in another unit
        "log_y": np.log(y - y.min() + 1),  # monotone, not linear
        "honest": y + rng.normal(0, 8, N),
        "band": np.round(y).astype(int).astype(str),  # per-value means explain almost all of the variance
        "y": y,
    })
    found = {s["column"]: s["how"] for s in leakage_suspects(frame, "y", "regression")}
    assert found == {"price_eur": "pearson", "log_y": "spearman", "band": "group means"}


def test_regression_suspects_columns_that_give_the_target_together(rng: np.random.Generator):
    low = rng.uniform(5, 40, N)
    high = low + rng.uniform(0, 30, N)  # each alone correlates with the price well below 0.995
    parts = rng.uniform(0, 10, (N, 3))
    frame = pl.DataFrame({"min_price": low, "max_price": high, "weight": rng.normal(size=N) + low / 10,
                          "price": (low + high) / 2})
    found = leakage_suspects(frame, "price", "regression")
    assert [(s["columns"], s["how"]) for s in found] == [(["max_price", "min_price"], "linear combination")]
    assert "'max_price', 'min_price' together give 'price' almost exactly" in found[0]["message"]
    assert "(--drop 'max_price,min_price')" in found[0]["message"]
    # A sum of three parts is found; parts that only explain most of the target are not.
    total = pl.DataFrame({f"p{i}": parts[:, i] for i in range(3)}).with_columns(
        (pl.col("p0") + 2 * pl.col("p1") + pl.col("p2") + 1).alias("total"))
    assert sorted(leakage_suspects(total, "total", "regression")[0]["columns"]) == ["p0", "p1", "p2"]
    noisy = total.with_columns(pl.col("total") + rng.normal(0, 1.0, N))
    assert leakage_suspects(noisy, "total", "regression") == []


def test_nan_and_infinity_are_missing_values_not_evidence(rng: np.random.Generator):
    x = rng.normal(size=N)
    x[:50] = np.nan
    x[50:60] = np.inf
    y = rng.integers(0, 2, N)
    assert leakage_suspects(pl.DataFrame({"x": x, "y": y}), "y", "classification") == []
    assert leakage_suspects(pl.DataFrame({"x": x, "y": y * 1.0}), "y", "regression") == []


@pytest.mark.parametrize(("loader", "task"), [("load_iris", "classification"), ("load_wine", "classification"),
                                              ("load_breast_cancer", "classification"),
                                              ("load_diabetes", "regression")])
def test_real_datasets_without_leaks_have_no_suspects(loader: str, task: str):
    frame = pl.from_pandas(getattr(datasets, loader)(as_frame=True).frame)
    assert leakage_suspects(frame, "target", task) == []


def test_small_and_unsupported_inputs_give_no_suspects():
    tiny = pl.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
    assert leakage_suspects(tiny, "y", "classification") == []
    assert leakage_suspects(tiny, "y", "clustering") == []
    assert leakage_suspects(tiny, "missing_target", "classification") == []


def test_train_notes_the_suspect_and_drop_leaves_it_out(rng: np.random.Generator, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "study.csv"
    _survival(rng).write_csv(data)
    out = tmp_path / "leaky"
    assert main(["train", str(data), "--target", "died", "--models", "logreg", "--out", str(out), "--quiet",
                 "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "suspected target leakage: whether 'cause' is missing alone predicts 'died'" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert any("suspected target leakage" in note for note in metrics["notes"])

    clean = tmp_path / "clean"
    assert main(["train", str(data), "--target", "died", "--models", "logreg", "--out", str(clean), "--quiet",
                 "--no-report", "--drop", "cause"]) == 0
    assert "suspected target leakage" not in capsys.readouterr().err
    manifest = json.loads((clean / "model" / "manifest.json").read_text())
    assert "cause" not in manifest["input_schema"]
    assert set(manifest["input_schema"]) == {"age", "kappa"}
    # Predicting needs no value for the dropped column, and ignores one that is sent.
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(clean / "model"), str(data), "--out", str(pred), "--quiet"]) == 0
    assert pl.read_csv(pred).height == N


def test_drop_errors_name_the_problem(rng: np.random.Generator):
    frame = _survival(rng)
    with pytest.raises(SchemaError, match=r"cannot drop column\(s\) 'casue'.*did you mean 'cause'"):
        Pipeline(target="died", models=["logreg"], drop=["casue"]).fit(frame)
    with pytest.raises(SpecError, match="cannot drop the target column 'died'"):
        Pipeline(target="died", models=["logreg"], drop=["died"]).fit(frame)
    with pytest.raises(SpecError, match="no input column is left"):
        Pipeline(target="died", models=["logreg"], drop=["age", "kappa", "cause"]).fit(frame)
    assert parse_spec({"source": "x.csv", "target": "died", "engine": "dask", "drop": ["cause"]}).drop == ["cause"]


def test_a_dropped_group_column_still_keeps_groups_apart(rng: np.random.Generator):
    frame = _survival(rng).with_columns(patient=pl.int_range(pl.len()) // 4)
    result = Pipeline(target="died", models=["logreg"], group="patient", drop=["patient", "cause"]).fit(frame)
    assert "patient" not in result.model.input_schema
    assert result.split["kind"] == "group"
    assert result.split["train_rows"] + result.split["test_rows"] == N
