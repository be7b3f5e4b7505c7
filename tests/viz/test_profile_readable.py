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


def test_skew_warning_suggests_a_log_only_where_one_helps():
    """A long left tail (percwhite, skewness -5.5) was told 'a log or Yeo-Johnson transform may help'."""
    import numpy as np

    rng = np.random.default_rng(0)
    right = rng.lognormal(0, 1.5, 2000)
    p = profile(pl.DataFrame({"right": right, "left": 100 - right, "shifted": right - 1, "counts": np.floor(right)}))
    said = {w["column"]: w["message"] for w in p["warnings"] if w["type"] == "skewed"}
    assert "a log or Yeo-Johnson" in said["right"]
    assert "log" not in said["left"].split(":")[-1]
    assert "tail is on the left" in said["left"]
    assert "a log needs values above zero" in said["shifted"]
    assert "log(1 + x)" in said["counts"]


def test_duplicate_rows_warning_gives_the_share_the_overview_gives(tmp_path: Path):
    """9 of 234 rows: the card said 3.8%, the warning 3.85%."""
    rows = list(range(225)) + [0] * 9
    p = profile(pl.DataFrame({"x": rows}))
    said = [w["message"] for w in p["warnings"] if w["type"] == "duplicates"]
    assert said == ["9 duplicate rows (3.8% of rows)"]
    html = write_profile(p, tmp_path, workers=1).read_text(encoding="utf-8")
    assert "duplicate rows (3.8%)" in html


def test_the_bar_of_a_single_decimal_number_is_labelled_as_the_table_writes_it():
    """A one-row file's income 2321.007972053962 was the bar's label in full; the table said 2,321."""
    p = profile(pl.DataFrame({"income": [2321.007972053962], "lat": [37.77491]}))
    ax = column_figure(p["variables"]["income"], p["rows"]).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2,321"]
    ax = column_figure(p["variables"]["lat"], p["rows"]).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["37.77"]


def test_overview_of_no_rows_does_not_call_the_data_complete():
    """A 0-row file's overview said 'no missing values' in the all-clear green."""
    from assay.viz._figures import overview_figure

    empty = overview_figure(profile(pl.DataFrame({"a": [], "b": []}, schema={"a": pl.Int64, "b": pl.String})))
    assert "no rows" in [t.get_text() for t in empty.axes[2].texts]
    full = overview_figure(profile(pl.DataFrame({"a": [1, 2]})))
    assert "no missing values" in [t.get_text() for t in full.axes[2].texts]


def test_a_datetime_column_is_called_and_written_as_date_and_time(tmp_path: Path):
    """Bundesliga's Date (a datetime) was labelled '(date)' and its first value written 1963-08-24T09:30:00."""
    days = pl.date_range(pl.date(2000, 1, 1), pl.date(2003, 3, 5), "1d", eager=True)
    p = profile(pl.DataFrame({"day": days, "kickoff": days.cast(pl.Datetime("us")).dt.offset_by("9h30m")}))
    assert column_figure(p["variables"]["day"], p["rows"]).axes[0].get_xlabel().startswith("day (date)")
    assert column_figure(p["variables"]["kickoff"], p["rows"]).axes[0].get_xlabel().startswith(
        "kickoff (date and time)")
    html = write_profile(p, tmp_path, workers=1).read_text(encoding="utf-8")
    first = html.split(">first<", 2)[2]  # the second column's table (the first is the date's)
    assert first.split("</tr>")[0].endswith("<td class=\"n\">2000-01-01 09:30:00</td>"), first[:80]
