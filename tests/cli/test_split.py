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


def test_test_size_writes_a_stratified_train_and_test_file_in_input_order(penguins_csv: Path, tmp_path: Path):
    src = tmp_path / "numbered.csv"
    source = pl.read_csv(penguins_csv, null_values="NA").with_row_index("row")
    source.write_csv(src)
    out = tmp_path / "holdout"
    assert main(["split", str(src), "--test-size", "0.2", "--stratify", "species", "--out", str(out), "-q"]) == 0
    train = pl.read_csv(out / "train.csv")
    test = pl.read_csv(out / "test.csv")
    assert test.height == round(0.2 * source.height)
    # Every source row once, each side in source order.
    assert sorted(train["row"].to_list() + test["row"].to_list()) == list(range(source.height))
    assert train["row"].is_sorted()
    assert test["row"].is_sorted()
    shares = [side["species"].value_counts(normalize=True).sort("species")["proportion"] for side in (train, test)]
    assert (shares[0] - shares[1]).abs().max() < 0.02
    meta = json.loads((out / "parts.json").read_text())
    assert meta["stratify"] == "species"
    assert {p["value"]: p["rows"] for p in meta["parts"]} == {"train": train.height, "test": test.height}


def test_test_size_by_time_and_by_group(tmp_path: Path, capsys):
    src = tmp_path / "visits.csv"
    pl.DataFrame({"day": [f"2024-01-{d:02d}" for d in (5, 1, 3, 9, 9, 2, 7, 4, 8, 6)],
                  "patient": ["a", "b", "a", "c", "d", "b", "c", "d", "e", "e"], "v": range(10)}).write_csv(src)
    assert main(["split", str(src), "--test-size", "0.2", "--time", "day", "--out", str(tmp_path / "t"), "-q"]) == 0
    test = pl.read_csv(tmp_path / "t" / "test.csv")
    assert test["day"].to_list() == ["2024-01-09", "2024-01-09"]  # the latest day, both its rows
    assert "(by time 'day')" in capsys.readouterr().out
    assert main(["split", str(src), "--test-size", "0.4", "--group", "patient", "--out", str(tmp_path / "g"),
                 "-q"]) == 0
    train, test = (pl.read_csv(tmp_path / "g" / f"{side}.csv") for side in ("train", "test"))
    assert not set(train["patient"]) & set(test["patient"])
    assert train.height + test.height == 10


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --by COLUMN (one file per value) or --test-size N (a train and a test file)\n"),
    (["--by", "island", "--test-size", "0.2"], "not both"),
    (["--by", "island", "--stratify", "species"], "go with --test-size"),
    (["--by", "island", "--time", "year"], "not both"),
    (["--test-size", "1.5"], "a share between 0 and 1"),
])
def test_split_mistakes_get_one_line(penguins_csv: Path, tmp_path: Path, capsys, args, message):
    assert main(["split", str(penguins_csv), "--out", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err


def test_stratify_group_or_time_alone_hold_out_the_default_share(penguins_csv: Path, tmp_path: Path, capsys):
    assert main(["split", str(penguins_csv), "--out", str(tmp_path / "o"), "--stratify", "species"]) == 0
    captured = capsys.readouterr()
    assert "no --test-size given: 0.2 of the rows go to test" in captured.err
    meta = json.loads((tmp_path / "o" / "parts.json").read_text())
    rows = {p["value"]: p["rows"] for p in meta["parts"]}
    assert meta["test_size"] == 0.2
    assert rows["test"] == round(0.2 * (rows["train"] + rows["test"]))


@pytest.mark.parametrize("args", [["--stratify", "sex", "--time", "year"], ["--group", "island", "--stratify", "sex"],
                                  ["--group", "island", "--time", "year"]])
def test_two_ways_to_split_are_refused_not_one_silently_ignored(penguins_csv: Path, tmp_path: Path, capsys, args):
    assert main(["split", str(penguins_csv), "--test-size", "0.2", "--out", str(tmp_path / "o"), *args]) == 2
    assert "give one of --stratify, --group and --time, not" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_test_share_far_from_the_one_asked_for_says_why(penguins_csv: Path, tmp_path: Path, capsys):
    # Two sexes and a few unknown, each whole: none of them is near a fifth of the rows.
    assert main(["split", str(penguins_csv), "--test-size", "0.2", "--group", "sex", "--out",
                 str(tmp_path / "g")]) == 0
    meta = json.loads((tmp_path / "g" / "parts.json").read_text())
    test_rows = next(p["rows"] for p in meta["parts"] if p["value"] == "test")
    err = capsys.readouterr().err
    assert f"note: test holds {test_rows / 344:.1%} of the rows, not the 20.0% asked for" in err
    assert "groups of 'sex' stay whole" in err
    assert main(["split", str(penguins_csv), "--test-size", "0.2", "--stratify", "species", "--out",
                 str(tmp_path / "s")]) == 0
    assert "note: test holds" not in capsys.readouterr().err


def test_by_a_column_with_a_value_per_row_is_refused_before_writing_files(tmp_path: Path, capsys):
    src = tmp_path / "orders.csv"
    pl.DataFrame({"order_id": [f"o{i}" for i in range(1_500)], "region": ["n", "s", "e"] * 500}).write_csv(src)
    assert main(["split", str(src), "--by", "order_id", "--out", str(tmp_path / "o")]) == 2
    assert "--by order_id: 1,500 distinct values would write 1,500 files (more than --max-parts 1,000)" in (
        capsys.readouterr().err)
    assert not (tmp_path / "o").exists()
    assert main(["split", str(src), "--by", "order_id", "--max-parts", "2000", "--out", str(tmp_path / "o"),
                 "-q"]) == 0
    assert len(list((tmp_path / "o").glob("*.csv"))) == 1_500


def test_time_written_as_day_first_text_splits_by_the_dates_not_the_text(tmp_path: Path, capsys):
    src = tmp_path / "dmy.csv"
    days = ["05/01/2024", "20/12/2023", "01/02/2024", "15/03/2023", "28/02/2024", "10/10/2023", "03/03/2024",
            "11/11/2023", "09/09/2023", "25/12/2023"]
    pl.DataFrame({"day": days, "v": range(10)}).write_csv(src)
    assert main(["split", str(src), "--test-size", "0.3", "--time", "day", "--out", str(tmp_path / "t"), "-q"]) == 0
    assert sorted(pl.read_csv(tmp_path / "t" / "test.csv")["v"].to_list()) == [2, 4, 6]  # Feb and Mar 2024
    assert main(["split", str(src), "--test-size", "0.3", "--time", "v", "--out", str(tmp_path / "n"), "-q"]) == 0
    words = tmp_path / "words.csv"
    pl.DataFrame({"when": ["soon", "later", "now"], "v": [1, 2, 3]}).write_csv(words)
    assert main(["split", str(words), "--test-size", "1", "--time", "when", "--out", str(tmp_path / "w")]) == 2
    assert "column 'when' is text that does not read as dates, times or numbers (e.g. 'soon')" in (
        capsys.readouterr().err)


def test_an_unknown_stratify_column_is_named_as_the_stratify_column(penguins_csv: Path, tmp_path: Path, capsys):
    # It was "target column 'specie' not found": the split has no target, the user gave --stratify.
    assert main(["split", str(penguins_csv), "--test-size", "0.2", "--stratify", "specie", "--out",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--stratify specie: no such column" in err
    assert "did you mean 'species'" in err
    assert not (tmp_path / "o").exists()
