"""The profile as a reader meets it: years read as years (1986, not 1,986), counts of rows are whole numbers."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from assay.viz import profile, write_profile
from assay.viz._figures import column_figure


@pytest.mark.parametrize("name", ["Year", "年份", "model_year"])
def test_years_are_written_without_thousands_separators(tmp_path: Path, name: str):
    years = [y for y in range(1963, 2009) for _ in range(3)] + [1990]
    p = profile(pl.DataFrame({name: years, "amount": [1000 + 37 * i for i in range(len(years))]}))
    fig = column_figure(p["variables"][name], p["rows"])
    fig.canvas.draw()
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks
    assert all(re.fullmatch(r"\d{4}", t) for t in ticks), ticks
    keys = [t.get_text() for t in ax.texts]
    assert f"median {p['variables'][name]['quantiles']['p50']:.0f}" in keys
    html = write_profile(p, tmp_path, workers=1).read_text(encoding="utf-8")
    assert "1963 / 2008" in html
    assert "1,963" not in html
    assert "1,000 / " in html  # an amount keeps its separators


def test_missing_values_note_gives_a_whole_number_of_rows_per_block(tmp_path: Path):
    """14,018 rows in 120 blocks were '~116.8 consecutive rows'; a block holds 116 or 117 rows."""
    from assay.viz._profile import MISSING_BLOCKS

    n = 14_018
    p = profile(pl.DataFrame({"x": [None if i % 9 == 0 else i for i in range(n)]}))
    html = write_profile(p, tmp_path, workers=1).read_text(encoding="utf-8")
    assert f"a block of ~{round(n / MISSING_BLOCKS):,} consecutive rows" in html
