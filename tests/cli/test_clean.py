"""`assay clean`: steps from the command line, a file or a fitted state; what each step did; the data written."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.clean import DedupeStep, MissingStep, OutlierStep, TypesStep
from assay.clean._run import StepChange, clean
from assay.cli import main
from assay.cli._clean import parse_step


@pytest.fixture
def messy_csv(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    path.write_text(
        "地区,price,sold,when,ok\n"
        "华东,\"¥1,200.50\",3,2024-01-05,是\n"
        "华北,¥80,-,2024-01-06,否\n"
        "华东,\"¥1,200.50\",3,2024-01-05,是\n"  # an exact duplicate of the first row
        "华南,N/A,7,2024-01-09,是\n"
        "华北,¥95,5,not a date,否\n"
        "华南,¥70,4,2024-01-11,是\n",
        encoding="utf-8",
    )
    return path


def test_defaults_type_the_text_and_drop_duplicates(messy_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "clean.parquet"
    assert main(["clean", str(messy_csv), "--out", str(out)]) == 0
    frame = pl.read_parquet(out)
    assert frame.height == 5  # the duplicate went
    assert frame["price"].to_list() == [1200.5, 80.0, None, 95.0, 70.0]
    assert frame["sold"].to_list() == [3, None, 7, 5, 4]  # '-' means missing
    assert frame.schema["ok"] == pl.Boolean
    assert frame.schema["when"] == pl.String  # 1 of 6 is not a date: below the share needed to convert alone
    err = capsys.readouterr().err
    assert "'when' kept as text: 5 of 6 value(s) (83%) read as date, fewer than min_share (95%); kinds={when: date}" \
        in err
    assert "no --step given: running types, dedupe" in err
    assert "read 6 rows × 5 columns from " in err
    assert "price: String → Float64" in err
    assert "1 value(s) now missing: sold 1" in err
    assert "6 → 5 rows (1 removed)" in err


def test_a_forced_kind_reads_what_it_can_and_says_how_many_values_it_could_not(messy_csv: Path, tmp_path: Path,
                                                                                capsys):
    out = tmp_path / "clean.parquet"
    assert main(["clean", str(messy_csv), "--out", str(out), "--step", "types:kinds={when: date}", "-s", "dedupe"]) == 0
    frame = pl.read_parquet(out)
    assert frame.schema["when"] == pl.Date
    assert frame["when"].to_list()[3:] == [None, date(2024, 1, 11)]
    err = capsys.readouterr().err
    assert "when: String → Date" in err
    assert "2 value(s) now missing: sold 1, when 1" in err  # "-" and "not a date"


def test_steps_on_the_command_line_with_quarantine_next_to_the_output(penguins_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "penguins_clean.csv"
    args = ["clean", str(penguins_csv), "--out", str(out), "--target", "species",
            "--step", "missing:strategy=median,by=species",
            "--step", "{step: outliers, method: zscore, threshold: 2.5, action: quarantine}",
            "--step", "onehot:columns=[island]", "--save-steps", str(tmp_path / "steps.json")]
    assert main(args) == 0
    source = pl.read_csv(penguins_csv, null_values="NA")
    cleaned = pl.read_csv(out)
    quarantined = pl.read_csv(tmp_path / "penguins_clean.quarantine.csv")
    assert cleaned.height + quarantined.height == source.height
    assert quarantined.height > 0
    assert quarantined["__reason__"].str.contains("z").all()
    assert cleaned.null_count().sum_horizontal().item() == 0
    assert {"island_Biscoe", "island_Dream", "island_Torgersen"} <= set(cleaned.columns)
    assert cleaned["species"].to_list() == [s for s in cleaned["species"].to_list() if s]  # target untouched
    err = capsys.readouterr().err
    assert "filled 19 missing value(s)" in err  # 2 per measurement, 11 sexes
    assert f"{source.height} → {cleaned.height} rows ({quarantined.height} removed)" in err


def test_saved_steps_apply_to_new_data_without_refitting(penguins_csv: Path, tmp_path: Path):
    first = tmp_path / "first.parquet"
    state = tmp_path / "steps.json"
    assert main(["clean", str(penguins_csv), "--out", str(first), "--step", "missing:strategy=mean",
                 "--step", "scale:method=minmax", "--save-steps", str(state), "-q"]) == 0
    saved = json.loads(state.read_text())
    assert [s["step"] for s in saved["steps"]] == ["missing", "scale"]
    # New data: the penguins of one island only. Fitted afresh, min-max would span 0..1 on them; applied, it keeps
    # the scale of the data the steps were fitted on.
    island = tmp_path / "dream.csv"
    pl.read_csv(penguins_csv, null_values="NA").filter(pl.col("island") == "Dream").write_csv(island)
    applied = tmp_path / "applied.parquet"
    assert main(["clean", str(island), "--out", str(applied), "--apply", str(state), "-q"]) == 0
    got = pl.read_parquet(applied)
    want = pl.read_parquet(first).filter(pl.col("island") == "Dream")
    assert got.equals(want)
    assert got["body_mass_g"].max() < 1.0  # not refitted on the island


def test_steps_file_accepts_a_spec_or_a_list(penguins_csv: Path, tmp_path: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("source: x.csv\ntarget: species\nsteps:\n  - {step: missing, strategy: median}\n  - dedupe\n")
    out = tmp_path / "out.ndjson"
    assert main(["clean", str(penguins_csv), "--out", str(out), "--steps", str(spec), "-q"]) == 0
    assert pl.read_ndjson(out).select(pl.col("bill_length_mm").null_count()).item() == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "x.txt"], "unknown file type '.txt'"),
    (["--out", "x.csv", "--step", "misssing"], "unknown step 'misssing'; did you mean 'missing'"),
    (["--out", "x.csv", "--step", "missing:stratgy=median"],
     "step 'missing' has no option 'stratgy'; did you mean 'strategy'? (options: columns, strategy,"),
    (["--out", "x.csv", "--step", "missing:strategy"], "'strategy' is not key=value"),
    (["--out", "x.csv", "--step", "types", "--apply", "s.json"], "give the steps one way"),
    (["--out", "x.csv", "--apply", "nowhere.json"], "cannot read fitted steps"),
    (["--out", "x.csv", "--target", "specie"], "target column 'specie' not found"),
    # (the hint was Python's fit(data, target=...) alone)
    (["--out", "x.csv", "--step", "target"], "needs the target column: --target COLUMN with assay clean"),
    (["--out", "x.csv", "--step", "outliers:k=abc"], "step 'outliers': k='abc' is not a number"),
])
def test_mistakes_get_one_line(penguins_csv: Path, tmp_path: Path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["clean", str(penguins_csv), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_parse_step_values_are_yaml():
    assert parse_step("missing:strategy=knn,k=3,indicator=true,columns=[a, 'b, c']") == {
        "step": "missing", "strategy": "knn", "k": 3, "indicator": True, "columns": ["a", "b, c"]}


def test_clean_counts_fills_emptied_values_and_changes():
    frame = pl.DataFrame({"x": ["1", "2", "two", None, "1"], "y": [1.0, None, 3.0, float("nan"), 1.0]})
    steps = [TypesStep(kinds={"x": "number"}), MissingStep(strategy="median"), DedupeStep()]
    out, fitted, changes = clean(frame, steps)
    assert [type(s) for s in fitted] == [TypesStep, MissingStep, DedupeStep]
    types, missing, dedupe = changes
    assert types.retyped == {"x": ("String", "Float64")}
    assert types.emptied == {"x": 1}  # 'two' is not a number
    assert missing.filled == {"x": 2, "y": 1}
    assert missing.changed == {"y": 1}  # NaN is not missing in Polars; the median step replaces it
    assert (dedupe.rows_before, dedupe.rows_after, out.height) == (5, 3, 3)  # (1, 1) three times
    assert dedupe.describe() == "5 → 3 rows (2 removed)"
    assert StepChange("scale", 0.0, 3, 3).describe() == "no change"


def test_an_exported_row_index_is_dropped_so_duplicates_are_found(tmp_path: Path, capsys):
    src = tmp_path / "export.csv"
    src.write_text('"","x","g"\n"1",1.5,"a"\n"2",1.5,"a"\n"3",2.5,"b"\n"4",,"b"\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["clean", str(src), "--out", str(out), "-s", "dedupe", "-s", "missing:strategy=mean"]) == 0
    assert pl.read_csv(out).to_dict(as_series=False) == {"x": [1.5, 2.5, 2.0], "g": ["a", "b", "b"]}
    assert "dropped column(s) '': an exported row index" in capsys.readouterr().err


def test_clean_fits_with_exact_statistics(tmp_path: Path):
    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"x": rng.lognormal(size=50_001)})
    out, (step,), _ = clean(frame, [OutlierStep(method="iqr", action="flag")])
    q1, q3 = np.quantile(frame["x"].to_numpy(), [0.25, 0.75])
    assert step.state_["bounds"]["x"][1] == pytest.approx(q3 + 1.5 * (q3 - q1), rel=1e-12)
    assert out["x__outlier"].sum() == int((frame["x"].to_numpy() > q3 + 1.5 * (q3 - q1)).sum())


def test_apply_says_which_columns_differ_from_the_fitted_data(penguins_csv: Path, tmp_path: Path, capsys):
    state = tmp_path / "steps.json"
    assert main(["clean", str(penguins_csv), "--out", str(tmp_path / "a.csv"), "-s", "missing", "-s", "onehot",
                 "--save-steps", str(state), "-q"]) == 0
    assert json.loads(state.read_text())["input_schema"]["body_mass_g"] == "Int64"
    new = tmp_path / "new.csv"
    (pl.read_csv(penguins_csv, null_values="NA").drop("sex").head(5)
     .with_columns(pl.col("body_mass_g").cast(pl.Float64), tag=pl.lit("x")).write_csv(new))
    capsys.readouterr()
    assert main(["clean", str(new), "--out", str(tmp_path / "b.csv"), "--apply", str(state), "-q"]) == 0
    err = capsys.readouterr().err
    assert "1 column(s) the steps were fitted with are missing: 'sex' (the steps skip them)" in err
    assert "'body_mass_g' is Float64 here, Int64 when the steps were fitted" in err
    assert "1 column(s) are new: 'tag' (passed through as they are)" in err
    assert not any(c.startswith("sex_") for c in pl.read_csv(tmp_path / "b.csv").columns)


def test_retyped_columns_show_short_type_names():
    df = pl.DataFrame({"at": ["2024-01-05 10:00", "2024-01-06 11:30"], "zoned": ["2024-01-05T10:00Z", None]})
    _, _, changes = clean(df, [TypesStep()])
    assert changes[0].retyped == {"at": ("String", "Datetime"), "zoned": ("String", "Datetime(UTC)")}


def test_applied_quarantine_goes_next_to_the_new_output(penguins_csv: Path, tmp_path: Path):
    first = tmp_path / "first.csv"
    state = tmp_path / "steps.json"
    assert main(["clean", str(penguins_csv), "--out", str(first), "-s", "outliers:method=zscore,threshold=2,"
                 "action=quarantine", "--save-steps", str(state), "-q"]) == 0
    kept = (tmp_path / "first.quarantine.csv").read_bytes()
    second = tmp_path / "second.csv"
    assert main(["clean", str(penguins_csv), "--out", str(second), "--apply", str(state), "-q"]) == 0
    assert (tmp_path / "first.quarantine.csv").read_bytes() == kept  # the first run's rows are not overwritten
    again = pl.read_csv(tmp_path / "second.quarantine.csv")
    assert again.height == pl.read_csv(tmp_path / "first.quarantine.csv").height > 0


def test_numbers_in_text_options_stay_text(tmp_path: Path, capsys):
    # A column named 2024 and a missing code -999, as --step and as a --steps file: YAML would read both as numbers.
    src = tmp_path / "codes.csv"
    src.write_text("a,2024,c\n1,-999,x\n2,5,NA\n3,6,-999\n4,-999,x\n", encoding="utf-8")
    assert main(["clean", str(src), "--out", str(tmp_path / "a.csv"), "-s", "dedupe:key=[2024]",
                 "-s", "missing:tokens=[-999, NA],columns=[2024, c]", "-q"]) == 0
    out = pl.read_csv(tmp_path / "a.csv")
    assert out.height == 3
    assert -999 not in out["2024"].to_list()
    assert out["c"].to_list() == ["x", "x", "x"]
    steps = tmp_path / "steps.yaml"
    steps.write_text("steps:\n  - {step: scale, columns: [2024]}\n  - {step: types, missing_tokens: [-999]}\n",
                     encoding="utf-8")
    assert main(["clean", str(src), "--out", str(tmp_path / "b.csv"), "--steps", str(steps), "-q"]) == 0
    assert pl.read_csv(tmp_path / "b.csv")["c"].null_count() == 2
    assert "Traceback" not in capsys.readouterr().err


def test_values_changed_in_a_column_given_another_numeric_type_are_counted():
    frame = pl.DataFrame({"n": [1, 2, 3, 4, 10], "x": [1.0, 2.0, 3.0, 4.0, 10.0]})
    _, _, changes = clean(frame, [MissingStep(tokens=["10"])])  # the median of the rest, 2.5, is no whole number
    assert changes[0].retyped == {"n": ("Int64", "Float64")}
    assert changes[0].changed == {"n": 1, "x": 1}


def test_one_row_and_one_column_are_counted_in_the_singular(tmp_path: Path, capsys):
    src = tmp_path / "one.csv"
    src.write_text("x\n5\n", encoding="utf-8")
    assert main(["clean", str(src), "--out", str(tmp_path / "o.csv")]) == 0
    captured = capsys.readouterr()
    assert "read 1 row × 1 column from" in captured.err
    assert "wrote 1 row × 1 column to" in captured.out
    assert "(from 1 row × 1 column)" in captured.out


ALL_STEPS = ["-s", "types", "-s", "drop_useless", "-s", "missing", "-s", "outliers", "-s", "scale", "-s", "onehot",
             "-s", "datetime_parts"]


def test_a_one_row_file_keeps_its_columns_through_every_step(tmp_path: Path, capsys):
    """One row makes every column look constant: drop_useless keeps them (and says why), so there is data to write."""
    src = tmp_path / "one.csv"
    src.write_text("a,b,day\n1,x,2024-05-01\n", encoding="utf-8")
    assert main(["clean", str(src), "--out", str(tmp_path / "o.csv"), *ALL_STEPS]) == 0
    captured = capsys.readouterr()
    assert "fitted on 1 row(s), too few to tell a constant or empty column; kept every column" in captured.err
    assert pl.read_csv(tmp_path / "o.csv").columns == ["a", "b_x", "day_year", "day_month", "day_day",
                                                       "day_weekday", "day_elapsed_days"]


def test_a_zero_row_file_writes_its_header_and_says_there_was_nothing_to_learn(tmp_path: Path, capsys):
    src = tmp_path / "zero.csv"
    src.write_text("a,b\n", encoding="utf-8")
    assert main(["clean", str(src), "--out", str(tmp_path / "o.csv"), *ALL_STEPS]) == 0
    captured = capsys.readouterr()
    assert "zero.csv has no rows: the steps had nothing to learn from; wrote its columns as read" in captured.err
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines() == ["a,b"]


def test_missing_values_left_after_a_missing_step_are_named(tmp_path: Path, capsys):
    src = tmp_path / "days.csv"
    src.write_text("day,x,s\n2024-01-01,1,a\n,2,\n2024-01-03,,b\n", encoding="utf-8")
    assert main(["clean", str(src), "--out", str(tmp_path / "o.csv"), "-s", "types", "-s", "missing"]) == 0
    err = capsys.readouterr().err
    assert "note: missing values remain in 1 column(s) after the steps: day 1 (day: dates and times" in err
    assert main(["clean", str(src), "--out", str(tmp_path / "o.csv"), "-s", "types", "-s",
                 "missing:columns=[day, x, s],categorical=ffill"]) == 0
    assert "missing values remain" not in capsys.readouterr().err


def test_fitted_steps_and_steps_to_fit_given_to_the_wrong_option_say_which_to_use(tmp_path: Path, capsys):
    src = tmp_path / "x.csv"
    src.write_text("a,b\n1,x\n2,\n3,y\n", encoding="utf-8")
    saved = tmp_path / "steps.json"
    assert main(["clean", str(src), "--out", str(tmp_path / "o.csv"), "-s", "missing", "--save-steps", str(saved),
                 "-q"]) == 0
    assert main(["clean", str(src), "--out", str(tmp_path / "o.csv"), "--steps", str(saved)]) == 2
    assert f"holds fitted steps (as --save-steps writes them): apply them with --apply {saved}" in (
        capsys.readouterr().err)
    spec = tmp_path / "steps.yaml"
    spec.write_text("steps:\n  - missing\n", encoding="utf-8")
    assert main(["clean", str(src), "--out", str(tmp_path / "o.csv"), "--apply", str(spec)]) == 2
    assert "steps to fit, listed in YAML, go to --steps" in capsys.readouterr().err
