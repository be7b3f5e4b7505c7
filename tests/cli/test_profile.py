"""``assay profile`` end to end on a real dataset (palmerpenguins), and its bad-input errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from assay.cli import main


@pytest.fixture(scope="module")
def penguins_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from palmerpenguins import load_penguins

    path = tmp_path_factory.mktemp("penguins") / "penguins.csv"
    pl.from_pandas(load_penguins()).write_csv(path)
    return path


def test_profile_penguins_end_to_end(penguins_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "report"
    code = main(["profile", str(penguins_csv), "--out", str(out), "--target", "species", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert str(out / "profile.html") in printed
    p = json.loads((out / "profile.json").read_text(encoding="utf-8"))
    assert (p["rows"], p["columns"]) == (344, 8)
    assert p["sampled"] is False
    assert p["target"] == "species"
    v = p["variables"]
    assert v["species"]["kind"] == "categorical"
    assert v["species"]["distinct"] == 3
    assert {t["value"]: t["count"] for t in v["species"]["top"]} == {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68}
    assert v["bill_length_mm"]["missing"] == 2
    assert v["sex"]["missing"] == 11
    assert v["body_mass_g"]["kind"] == "numeric"
    frame = pl.read_csv(penguins_csv, null_values="NA")
    assert v["body_mass_g"]["quantiles"]["p50"] == pytest.approx(frame["body_mass_g"].median())
    assert v["body_mass_g"]["mean"] == pytest.approx(frame["body_mass_g"].mean())
    assert v["year"]["distinct"] == 3
    assert p["correlations"]["pearson"]["columns"]
    html = (out / "profile.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert "bill_length_mm" in html
    assert (out / "figures" / "overview.png").stat().st_size > 1000
    assert (out / "figures" / "overview.svg").exists()


def test_profile_unknown_target_suggests(penguins_csv: Path, tmp_path: Path, capsys):
    code = main(["profile", str(penguins_csv), "--out", str(tmp_path), "--target", "specis"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ")
    assert "did you mean 'species'" in err
    assert len(err.splitlines()) == 1


def test_profile_missing_file(tmp_path: Path, capsys):
    code = main(["profile", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert "nope.csv" in err
    assert "Traceback" not in err


def test_profile_bad_sample_rows(penguins_csv: Path, tmp_path: Path, capsys):
    code = main(["profile", str(penguins_csv), "--out", str(tmp_path), "--sample-rows", "0"])
    assert code == 2
    assert "--sample-rows" in capsys.readouterr().err


def test_profile_help_has_examples(capsys):
    code = main(["profile", "--help"])
    assert code == 0
    assert "assay profile penguins.csv" in capsys.readouterr().out


def test_profile_command_skips_the_last_garbage_collection_once(penguins_csv: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    import atexit
    import gc

    import assay.cli

    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(atexit, "unregister", lambda f: registered.remove(f) if f in registered else None)
    assert main(["profile", str(penguins_csv), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert registered == []  # main() called by a program: its interpreter's exit is left alone
    monkeypatch.setattr(assay.cli, "STANDALONE", True)  # as the console script sets it
    for _ in range(2):
        assert main(["profile", str(penguins_csv), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert registered.count(gc.freeze) == 1


def test_profile_sampled_says_what_the_sample_is_for(penguins_csv: Path, tmp_path: Path, capsys):
    """Only correlations (and the missing-values map) come from the sample: each column's chart counts all rows."""
    code = main(["profile", str(penguins_csv), "--out", str(tmp_path / "r"), "--sample-rows", "100", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "profiled 344 rows × 8 columns, correlations from a 100-row sample;" in printed
    assert "figures from" not in printed
