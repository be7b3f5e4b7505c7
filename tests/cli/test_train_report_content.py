"""What `assay train` writes into metrics.json and report.html, checked on small generated tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.cli import main


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    rows = [
        {"user": f"u{u}", "item": f"i{int(i)}", "stars": float(rng.integers(1, 6))}
        for u in range(60)
        for i in rng.choice(30, size=6, replace=False) + (0 if u < 30 else 10)
    ]
    path = tmp_path_factory.mktemp("rec") / "ratings.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


@pytest.fixture(scope="module")
def recommender_run(ratings: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recommendation training run (item-kNN and popularity), shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("rec_run")
    argv = ["train", str(ratings), "--task", "recommendation", "--user", "user", "--item", "item",
            "--models", "itemknn,popularity", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    return out


def test_recommendation_leaderboard_has_one_fit_time_column(recommender_run: Path):
    rows = json.loads((recommender_run / "metrics.json").read_text())["leaderboard"]
    assert all("fit_seconds_mean" not in row for row in rows)
    assert all(row["fit_seconds"] >= 0 for row in rows)
    html = (recommender_run / "report.html").read_text()
    assert html.count('<th class="n">fit_seconds</th>') == 1


def test_recommendation_report_draws_no_spread_of_one_score(recommender_run: Path):
    assert not list((recommender_run / "figures").glob("cv_spread.*"))
    assert "Cross-validation spread" not in (recommender_run / "report.html").read_text()


def test_confusion_matrix_caption_gives_a_tuned_threshold(tmp_path: Path):
    import html

    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    label = np.where(x + rng.normal(0, 1, 400) > 1.5, "fraud", "ok")
    data = tmp_path / "fraud.csv"
    pl.DataFrame({"x": x, "z": rng.normal(size=400), "label": label}).write_csv(data)
    out = tmp_path / "out"
    code = main(
        [
            "train",
            str(data),
            "--target",
            "label",
            "--models",
            "logreg",
            "--threshold",
            "cost:1:5",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    value = json.loads((out / "model" / "manifest.json").read_text())["threshold"]["value"]
    page = html.unescape((out / "report.html").read_text())
    assert f"at least {value:.4g}, the threshold tuned by --threshold, not 0.5" in page


def test_writing_the_report_is_announced_after_training(tmp_path: Path):
    from assay.pipeline import train

    rng = np.random.default_rng(1)
    frame = pl.DataFrame({"x": rng.normal(size=120), "z": rng.normal(size=120)})
    frame = frame.with_columns((pl.col("x") * 2 + pl.col("z")).alias("y"))
    said: list[str] = []
    train(frame, "y", models=["linreg"], out=tmp_path, progress=lambda message, _share: said.append(message))
    after = said[said.index("done") + 1 :]
    assert after[0].startswith("report: learning curve (linreg refitted")
    assert after[-1] == "report: figures and permutation importance"
