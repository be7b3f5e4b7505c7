"""Recommendation through the CLI: per-user holdout, ranking leaderboard, top-k per user from the saved model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.cli import main


@pytest.fixture(scope="module")
def interactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two taste groups: users u0..u99 mostly pick items i0..i19, users u100..u199 items i20..i39."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(200):
        group = 0 if u < 100 else 20
        picks = rng.choice(20, size=8, replace=False) + group
        noise = rng.choice(40, size=1)
        for item in [*picks, *noise]:
            rows.append({"user": f"u{u}", "item": f"i{item}", "stars": float(rng.integers(3, 6))})
    path = tmp_path_factory.mktemp("rec") / "ratings.csv"
    pl.DataFrame(rows).unique(["user", "item"]).write_csv(path)
    return path


def test_train_and_top_k(interactions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "rec"
    code = main(["train", str(interactions), "--task", "recommendation", "--user", "user", "--item", "item",
                 "--models", "itemknn,popularity", "--out", str(out), "--quiet", "--no-report"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "ndcg@10 (per-user holdout)" in printed  # one holdout score, not a CV mean ± std
    assert "±" not in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["primary_metric"] == "ndcg@10"
    board = {row["model"]: row for row in metrics["leaderboard"]}
    # Item-kNN sees the two taste groups; popularity cannot, so it ranks far lower.
    assert board["itemknn"]["cv_mean"] > board["popularity"]["cv_mean"] + 0.05
    assert metrics["leaderboard"][0]["model"] == "itemknn"

    who = tmp_path / "who.csv"
    pl.DataFrame({"user": ["u3", "u150", "newcomer"]}).write_csv(who)
    recs_path = tmp_path / "recs.csv"
    assert main(["predict", str(out / "model"), str(who), "--top-k", "5", "--out", str(recs_path), "--quiet"]) == 0
    recs = pl.read_csv(recs_path)
    assert recs.columns == ["user", "item", "rank", "score"]
    assert recs.group_by("user").len().get_column("len").to_list() == [5, 5, 5]
    group_of = recs.with_columns(pl.col("item").str.slice(1).cast(pl.Int64).alias("n"))
    u3 = group_of.filter(pl.col("user") == "u3").get_column("n")
    u150 = group_of.filter(pl.col("user") == "u150").get_column("n")
    assert (u3 < 20).mean() >= 0.8
    assert (u150 >= 20).mean() >= 0.8


def test_recommendation_needs_user_and_item(interactions: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["train", str(interactions), "--task", "recommendation", "--user", "user"]) == 2
    assert "--item" in capsys.readouterr().err


def test_explicit_ratings_report_rmse(interactions: Path, tmp_path: Path):
    code = main(["train", str(interactions), "--task", "recommendation", "--user", "user", "--item", "item",
                 "--rating", "stars", "--models", "mf", "--out", str(tmp_path), "--quiet", "--no-report"])
    assert code == 0
    test = json.loads((tmp_path / "metrics.json").read_text())["test"]
    # Ratings are uniform in 3..5, so any sensible model's RMSE sits near their spread (≈0.8), far below 2.
    assert 0.0 < test["rmse"] < 1.5


def test_the_report_shows_one_holdout_score_per_model(interactions: Path, tmp_path: Path):
    code = main(["train", str(interactions), "--task", "recommendation", "--user", "user", "--item", "item",
                 "--models", "itemknn,popularity", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    html = (tmp_path / "report.html").read_text()
    assert "ndcg@10 (per-user holdout)" in html
    assert "±" not in html  # no spread where there is a single score
