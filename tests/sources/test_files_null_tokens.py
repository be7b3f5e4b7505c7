from __future__ import annotations

from pathlib import Path

import polars as pl

import assay


def test_common_missing_tokens_read_as_null(penguins_csv: Path):
    frame = assay.load(str(penguins_csv))
    assert frame.schema["bill_length_mm"] == pl.Float64
    assert frame.get_column("bill_length_mm").null_count() == 2
    assert frame.get_column("sex").null_count() == 11


def test_missing_tokens_can_be_kept_as_text(tmp_path: Path):
    path = tmp_path / "regions.csv"
    path.write_text("region,sales\nNA,1\nEU,2\n")
    assert assay.load(str(path)).get_column("region").null_count() == 1
    kept = assay.load(str(path), null_values=[])
    assert kept.get_column("region").to_list() == ["NA", "EU"]
