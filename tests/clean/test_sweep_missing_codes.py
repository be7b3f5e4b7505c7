"""Missing-value codes written as numbers (-999, 9999): the missing step's tokens mark them in numeric columns too,
whichever way they are given (text, or numbers as YAML reads ``tokens=[-999]`` on the command line)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from assay.clean import MissingStep
from assay.cli import main
from assay.testing import check_step

FRAME = pl.DataFrame(
    {
        "x": [1.0, -999.0, 3.0, 5.0],
        "n": [1, -999, 3, 5],
        "s": ["a", "-999", "b", "a"],
        "f": pl.Series([1.0, 2.0, -999.0, 4.0], dtype=pl.Float32),
    }
)


@pytest.mark.parametrize("tokens", [["-999"], [-999], ["NA", " -999 "]])
@pytest.mark.parametrize("strategy", ["median", "mean"])
def test_number_codes_are_missing_in_numeric_columns(tokens: list, strategy: str) -> None:
    step = MissingStep(tokens=tokens, strategy=strategy, indicator=True)
    out = step.fit(FRAME).transform(FRAME)
    assert out["x"].to_list() == [1.0, 3.0, 3.0, 5.0]
    assert out["n"].to_list() == [1, 3, 3, 5]
    assert out["f"][2] == pytest.approx(2.0 if strategy == "median" else 7 / 3)
    assert out["x__missing"].to_list() == [False, True, False, False]
    assert step.fit_whole(FRAME).transform(FRAME)["x"].to_list() == [1.0, 3.0, 3.0, 5.0]
    check_step(MissingStep(tokens=tokens, strategy=strategy), FRAME)


def test_number_codes_from_the_command_line(tmp_path: Path) -> None:
    src, out = tmp_path / "codes.csv", tmp_path / "out.csv"
    FRAME.write_csv(src)
    assert main(["clean", str(src), "--out", str(out), "-s", "missing:tokens=[-999]", "-q"]) == 0
    cleaned = pl.read_csv(out)
    assert cleaned["x"].to_list() == [1.0, 3.0, 3.0, 5.0]
    assert cleaned["s"].to_list() == ["a", "a", "b", "a"]
