"""What `assay predict` tells about new rows that differ from the training rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from assay.cli import main


def test_predict_names_categories_the_model_never_saw(
    trained: Path, penguins_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    new = pl.read_csv(penguins_csv, null_values="NA").head(6).drop("species")
    new = new.with_columns(pl.Series("island", ["Atlantis", "Atlantis", "Dream", "Biscoe", "Dream", "Biscoe"]))
    path = tmp_path / "new.csv"
    new.write_csv(path)
    capsys.readouterr()
    assert main(["predict", str(trained / "model"), str(path), "--only-predictions"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 7  # header and every row still predicted
    said = [line for line in captured.err.splitlines() if "'Atlantis'" in line]
    assert len(said) == 1
    assert "2 value(s) of 'island'" in said[0]


def test_predict_of_known_categories_says_nothing(
    trained: Path, penguins_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "known.csv"
    pl.read_csv(penguins_csv, null_values="NA").drop_nulls().head(20).write_csv(path)
    capsys.readouterr()
    assert main(["predict", str(trained / "model"), str(path), "--quiet"]) == 0
    assert "never seen" not in capsys.readouterr().err
