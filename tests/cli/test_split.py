"""`assay split`: one file per value of a dimension, with an index, on real data and awkward values."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from assay.cli import main


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_file_per_island_with_every_row_in_order(penguins_csv: Path, tmp_path: Path, fmt: str):
    out = tmp_path / "by_island"
    assert main(["split", str(penguins_csv), "--by", "island", "--out", str(out), "--format", fmt, "--quiet"]) == 0
    source = pl.read_csv(penguins_csv, null_values="NA")
    index = json.loads((out / "parts.json").read_text())
    assert [p["value"] for p in index["parts"]] == source["island"].unique(maintain_order=True).to_list()
    for part in index["parts"]:
        path = out / part["file"]
        frame = pl.read_csv(path, null_values="NA") if fmt == "csv" else pl.read_parquet(path)
        assert frame.height == part["rows"]
        assert frame.equals(source.filter(pl.col("island") == part["value"]))  # same rows, same order
    assert sum(p["rows"] for p in index["parts"]) == source.height


def test_missing_empty_unsafe_and_colliding_values_get_distinct_safe_names(tmp_path: Path, capsys):
    src = tmp_path / "regions.csv"
    pl.DataFrame({"地区": ["华东", "a/b", "a_b", None, "East", "east", "华东"], "v": range(7)}).write_csv(src)
    out = tmp_path / "parts"
    assert main(["split", str(src), "--by", "地区", "--out", str(out)]) == 0
    index = json.loads((out / "parts.json").read_text())
    files = {p["value"]: p["file"] for p in index["parts"]}
    assert files == {"华东": "华东.csv", "a/b": "a_b.csv", "a_b": "a_b~2.csv", None: "__missing__.csv",
                     "East": "East.csv", "east": "east~2.csv"}
    assert pl.read_csv(out / "华东.csv")["v"].to_list() == [0, 6]
    assert "wrote 6 part(s) of 7 rows by '地区'" in capsys.readouterr().out


def test_bad_column_and_format_are_one_line_errors(penguins_csv: Path, tmp_path: Path, capsys):
    assert main(["split", str(penguins_csv), "--by", "islnd", "--out", str(tmp_path)]) == 2
    assert "did you mean 'island'" in capsys.readouterr().err
    assert main(["split", str(penguins_csv), "--by", "island", "--format", "xlsx", "--out", str(tmp_path)]) == 2
    assert "valid: csv, parquet, ndjson" in capsys.readouterr().err
