"""End to end through the CLI on real bundled data: train, leaderboard, artifact, report, predict."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.cli import main


def test_train_writes_model_metrics_report(trained: Path):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["task"] == "classification"
    assert metrics["target"] == "species"
    assert metrics["primary_metric"] == "f1_macro"
    board = metrics["leaderboard"]
    assert {row["model"] for row in board} == {"logreg", "lgbm"}
    assert board[0]["cv_mean"] >= board[-1]["cv_mean"]
    for row in board:
        assert 0.0 <= row["cv_std"] < 0.2
    assert metrics["test"]["accuracy"] > 0.95
    assert Path(metrics["model_path"]) == trained / "model"
    assert (trained / "model" / "manifest.json").is_file()
    html = (trained / "report.html").read_text()
    assert "species" in html
    assert "<img" in html or "<svg" in html
    # The learning curve: the chosen model refitted on growing shares of the training rows, 3-fold validated.
    assert (trained / "figures" / "learning_curve.png").stat().st_size > 5_000
    assert "Learning curve" in html
    # Permutation importance in the metric the models were ranked by, not accuracy.
    assert "How much f1_macro on the test split drops" in html


def test_predict_every_row_in_order(trained: Path, penguins_csv: Path, tmp_path: Path):
    out = tmp_path / "pred.csv"
    assert main(["predict", str(trained / "model"), str(penguins_csv), "--out", str(out), "--quiet"]) == 0
    source = pl.read_csv(penguins_csv, null_values="NA")
    pred = pl.read_csv(out, null_values="NA")
    assert pred.height == source.height
    assert pred.get_column("island").to_list() == source.get_column("island").to_list()
    probas = [c for c in pred.columns if c.startswith("proba_")]
    assert sorted(probas) == ["proba_Adelie", "proba_Chinstrap", "proba_Gentoo"]
    sums = pred.select(pl.sum_horizontal(probas)).to_series()
    assert (sums - 1.0).abs().max() < 1e-6
    known = pred.filter(pl.col("species").is_not_null())
    assert (known.get_column("prediction") == known.get_column("species")).mean() > 0.95


def test_predict_lacking_a_needed_column_is_a_clear_error(trained: Path, penguins_csv: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]):
    partial = tmp_path / "partial.csv"
    pl.read_csv(penguins_csv, null_values="NA").drop("bill_length_mm").write_csv(partial)
    assert main(["predict", str(trained / "model"), str(partial)]) == 2
    err = capsys.readouterr().err
    assert "bill_length_mm" in err
    assert "Traceback" not in err


def test_regression_on_gbk_file_with_chinese_columns(diabetes_csv: Path, tmp_path: Path):
    code = main(["train", str(diabetes_csv), "--target", "病情进展", "--models", "linreg,lgbm", "--folds", "3",
                 "--out", str(tmp_path), "--quiet", "--no-report"])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["task"] == "regression"
    assert metrics["primary_metric"] == "r2"
    # A linear model explains about half the variance of this data set (scikit-learn's own examples agree).
    assert 0.3 < metrics["test"]["r2"] < 0.8
    assert metrics["test"]["rmse"] > 0


def test_clustering_without_target(penguins_csv: Path, tmp_path: Path):
    code = main(["train", str(penguins_csv), "--task", "clustering", "--folds", "2", "--out", str(tmp_path),
                 "--quiet", "--no-report"])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["task"] == "clustering"
    assert -1.0 <= metrics["test"]["silhouette"] <= 1.0
    pred = tmp_path / "clusters.csv"
    assert main(["predict", str(tmp_path / "model"), str(penguins_csv), "--out", str(pred), "--quiet"]) == 0
    assert pl.read_csv(pred).get_column("cluster").n_unique() >= 2


def test_cluster_map_shows_every_row_not_only_the_test_split(penguins_csv: Path, tmp_path: Path):
    assert main(["train", str(penguins_csv), "--task", "clustering", "--folds", "2", "--out", str(tmp_path),
                 "--quiet"]) == 0
    svg = (tmp_path / "figures" / "clusters.svg").read_text(encoding="utf-8")
    counts = [int(n.replace(",", "")) for n in re.findall(r"cluster \d+ \(([\d,]+)\)", svg)]
    assert len(counts) >= 2
    assert sum(counts) == pl.read_csv(penguins_csv).height  # 344 birds, not the 69 of the test split


def test_run_pipeline_spec(penguins_csv: Path, tmp_path: Path):
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        f"source: {penguins_csv}\n"
        "target: species\n"
        "models: [logreg]\n"
        "evaluation: {folds: 3, seed: 1}\n"
        f"output: {{dir: {tmp_path / 'out'}, report: false}}\n"
    )
    assert main(["run", str(spec), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["leaderboard"][0]["model"] == "logreg"
    assert metrics["test"]["accuracy"] > 0.9


def test_same_seed_same_result(penguins_csv: Path, tmp_path: Path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["train", str(penguins_csv), "--target", "species", "--models", "logreg", "--folds", "3",
                     "--seed", "7", "--out", str(out), "--quiet", "--no-report"]) == 0
        runs.append(json.loads((out / "metrics.json").read_text()))
    assert runs[0]["leaderboard"][0]["cv_mean"] == runs[1]["leaderboard"][0]["cv_mean"]
    assert runs[0]["test"] == runs[1]["test"]


def test_a_note_is_printed_once_not_once_per_fold(penguins_csv: Path, tmp_path: Path, capsys):
    """The steps are refitted in each of the 5 folds and for the final model: the user reads each note once."""
    data = pl.read_csv(penguins_csv, null_values="NA").with_columns(pl.lit(1).alias("const"))
    path = tmp_path / "const.csv"
    data.write_csv(path)
    for _ in range(2):  # and again for the next command run in the same process
        assert main(["train", str(path), "--target", "species", "--models", "logreg", "--out", str(tmp_path / "o"),
                     "--no-report", "--quiet"]) == 0
        err = capsys.readouterr().err
        assert err.count("dropped 1 column(s): 'const' (constant)") == 1


def test_train_with_a_time_split_from_the_command_line_and_a_spec(penguins_csv: Path, tmp_path: Path):
    """--time year: the latest year is the test split; the spec's evaluation.time does the same."""
    out = tmp_path / "by_year"
    assert main(["train", str(penguins_csv), "--target", "species", "--models", "logreg", "--time", "year",
                 "--folds", "2", "--out", str(out), "--no-report", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    years = pl.read_csv(penguins_csv, null_values="NA").get_column("year")
    assert metrics["split"]["kind"] == "time"
    assert metrics["split"]["column"] == "year"
    assert metrics["split"]["test_rows"] == int((years == years.max()).sum())  # the latest year, whole
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"source: {penguins_csv}\ntarget: species\nmodels: [logreg]\n"
                    f"evaluation: {{folds: 2, group: island}}\n"
                    f"output: {{dir: {tmp_path / 'by_island'}, report: false}}\n")
    assert main(["run", str(spec), "--quiet"]) == 0
    grouped = json.loads((tmp_path / "by_island" / "metrics.json").read_text())
    islands = pl.read_csv(penguins_csv, null_values="NA")["island"].value_counts()["count"]
    assert grouped["split"]["kind"] == "group"
    assert grouped["split"]["test_rows"] in set(islands)  # one whole island is the test split


def test_predict_says_which_values_it_could_not_read(tmp_path: Path, capsys):
    """A date written another way than in training is predicted as missing, and assay predict says so."""
    rng = np.random.default_rng(0)
    days = pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 4, 29), eager=True)
    train = pl.DataFrame({"day": days.dt.strftime("%Y-%m-%d"), "x": rng.normal(size=len(days))}).with_columns(
        (pl.col("x") * 3).alias("y"))
    train.write_csv(tmp_path / "train.csv")
    assert main(["train", str(tmp_path / "train.csv"), "--target", "y", "--task", "regression", "--models", "linreg",
                 "--out", str(tmp_path / "run"), "--no-report", "--quiet"]) == 0
    pl.DataFrame({"day": ["2020-05-01", "01/05/2020", "soon"], "x": [1.0, 2.0, 3.0]}).write_csv(tmp_path / "new.csv")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run" / "model"), str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "scored.csv")]) == 0
    err = capsys.readouterr().err
    assert ("note: 2 of 3 value(s) of 'day' could not be read as date in the format '%Y-%m-%d' (as in training), "
            "e.g. '01/05/2020'; they were predicted as missing") in err
    assert pl.read_csv(tmp_path / "scored.csv").height == 3


def test_predict_reads_an_unreadable_value_as_missing_with_a_note(trained: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]):
    rows = tmp_path / "new.ndjson"
    rows.write_text(
        '{"island": "Biscoe", "bill_length_mm": 48.6, "bill_depth_mm": 16.0, "flipper_length_mm": 230, '
        '"body_mass_g": 5800, "sex": "male", "year": 2009}\n'
        '{"island": "Dream", "bill_length_mm": "long", "bill_depth_mm": 18.4, "flipper_length_mm": 190, '
        '"body_mass_g": "n/a", "sex": "female", "year": 2008}\n')
    out = tmp_path / "pred.csv"
    assert main(["predict", str(trained / "model"), str(rows), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "note: 1 of 2 value(s) of 'bill_length_mm' could not be read as Float64" in err
    assert "e.g. 'long'; they were predicted as missing" in err
    assert "body_mass_g" not in err  # 'n/a' is a missing-value token, not an unreadable value
    pred = pl.read_csv(out)
    assert pred.height == 2
    assert pred.get_column("prediction").to_list()[0] == "Gentoo"
    assert pred.get_column("bill_length_mm").to_list()[1] == "long"  # the input is written back as it came
    assert pred.get_column("prediction").null_count() == 0


def test_the_server_path_still_refuses_an_unreadable_value(trained: Path):
    from assay._fitted import load_model
    from assay.exceptions import SchemaError

    model = load_model(trained / "model")
    frame = pl.DataFrame({"island": ["Dream"], "bill_length_mm": ["long"], "bill_depth_mm": [18.4],
                          "flipper_length_mm": [190], "body_mass_g": [3700], "sex": ["female"], "year": [2008]})
    with pytest.raises(SchemaError, match="column 'bill_length_mm': value \"long\" at row 0 cannot be read as Float64"):
        model.validate(frame)


@pytest.mark.parametrize("models", ["logreg", "lgbm"])
def test_report_navigation_links_are_distinct_and_lead_somewhere(penguins_csv: Path, tmp_path: Path, models: str):
    import re

    assert main(["train", str(penguins_csv), "--target", "species", "--models", models, "--folds", "2",
                 "--out", str(tmp_path), "--quiet"]) == 0
    html = (tmp_path / "report.html").read_text()
    nav = re.search(r"<nav>(.*?)</nav>", html, re.S).group(1)
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', nav)
    assert links
    texts = [text for _, text in links]
    assert len(texts) == len(set(texts)), texts  # e.g. the coefficient figure and the coefficient table
    for anchor, _ in links:
        assert f'id="{anchor}"' in html
    board = re.search(r'<section id="leaderboard">(.*?)</section>', html, re.S).group(1)
    assert "∅" not in board  # the best model's own p-value against itself is a dash, not the missing-data sign


def test_anomaly_report_has_figures(penguins_csv: Path, tmp_path: Path, capsys):
    assert main(["train", str(penguins_csv), "--task", "anomaly", "--folds", "2", "--out", str(tmp_path),
                 "--quiet"]) == 0
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    # no labels: nothing to score the detectors against, so no score column (it read "n/a", "– ± –")
    out = capsys.readouterr().out
    assert "no labels to score the anomaly models against" in out
    assert "n/a" not in out
    assert "No model could be scored" in html
    assert "CV roc_auc" not in html
    assert "could not be drawn" not in html
    assert '<a href="#anomaly_scores">Anomaly scores</a>' in html
    assert {p.stem for p in (tmp_path / "figures").glob("*.png")} >= {"anomaly_scores", "anomaly_features"}
    svg = (tmp_path / "figures" / "anomaly_scores.svg").read_text(encoding="utf-8")
    assert re.search(r"threshold \d", svg)  # the detector's own cut-off, marked on the histogram
    assert "% of the variance" in svg
    # Anomalies describe the data: the figures show every row, not only the test split.
    assert "The map places the rows (at most 5,000" in html
    rows = pl.read_csv(penguins_csv).height
    assert f"of {rows:,} rows flagged" in svg
