"""Every bad input the foundation names exits 2 with one readable line that names the problem — no traceback."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from assay.cli import main


def run_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    err = captured.err.strip()
    assert "Traceback" not in err
    assert err.startswith("error: ")
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_file(tmp_path: Path, capsys):
    err = run_error(["train", str(tmp_path / "nope.csv"), "--target", "y"], capsys)
    assert "nope.csv" in err


def test_unsupported_extension(tmp_path: Path, capsys):
    path = tmp_path / "data.xyz"
    path.write_text("some notes\nwith no fields in them\n")
    err = run_error(["profile", str(path)], capsys)
    assert ".xyz" in err
    assert ".csv" in err


def test_a_table_under_another_extension_is_read_with_a_note(tmp_path: Path, capsys):
    path = tmp_path / "data.xyz"
    path.write_text("a,b\n1,2\n3,4\n")
    assert main(["profile", str(path), "--out", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err
    assert "data.xyz: read as CSV text (assay does not know the extension '.xyz')" in err


def test_empty_file(tmp_path: Path, capsys):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    err = run_error(["train", str(path), "--target", "y"], capsys)
    assert "empty.csv" in err


def test_target_not_a_column_suggests_closest(penguins_csv: Path, capsys):
    err = run_error(["train", str(penguins_csv), "--target", "specie"], capsys)
    assert "'specie'" in err
    assert "did you mean 'species'" in err


def test_target_with_one_class(tmp_path: Path, capsys):
    path = tmp_path / "one.csv"
    pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "a", "a", "a"]}).write_csv(path)
    err = run_error(["train", str(path), "--target", "y", "--task", "classification"], capsys)
    assert "one class" in err


def test_target_entirely_missing(tmp_path: Path, capsys):
    path = tmp_path / "nan.csv"
    path.write_text("x,y\n1,\n2,\n3,\n")
    err = run_error(["train", str(path), "--target", "y"], capsys)
    assert "entirely missing" in err


def test_malformed_yaml_names_line(tmp_path: Path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("source: a.csv\ntarget: [species\nmodels: logreg\n")
    err = run_error(["run", str(spec)], capsys)
    assert "line" in err
    assert "bad.yaml" in err


def test_spec_unknown_field_named(tmp_path: Path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("source: a.csv\ntarget: species\nmodel: [logreg]\n")
    err = run_error(["run", str(spec)], capsys)
    assert "model" in err
    assert "unknown field" in err


def test_unknown_model_lists_valid(penguins_csv: Path, capsys):
    err = run_error(["train", str(penguins_csv), "--target", "species", "--models", "logreg,xgb"], capsys)
    assert "xgb" in err
    assert "lgbm" in err


def test_unknown_step_lists_valid(penguins_csv: Path, tmp_path: Path, capsys):
    spec = tmp_path / "p.yaml"
    spec.write_text(f"source: {penguins_csv}\ntarget: species\nsteps: [{{step: imputer}}]\n")
    err = run_error(["run", str(spec)], capsys)
    assert "imputer" in err
    assert "missing" in err


def test_predict_with_non_model_dir(tmp_path: Path, penguins_csv: Path, capsys):
    err = run_error(["predict", str(tmp_path), str(penguins_csv)], capsys)
    assert "manifest.json" in err


def test_constant_and_empty_feature_columns_are_dropped_not_errors(tmp_path: Path, capsys):
    path = tmp_path / "c.csv"
    n = 60
    pl.DataFrame({
        "x": [float(i % 7) for i in range(n)],
        "const": [1.0] * n,
        "empty": [None] * n,
        "y": ["a" if i % 7 < 3 else "b" for i in range(n)],
    }).write_csv(path)
    code = main(["train", str(path), "--target", "y", "--models", "logreg", "--folds", "3", "--out",
                 str(tmp_path / "o"), "--quiet", "--no-report"])
    assert code == 0


@pytest.mark.parametrize(("argv", "words"), [
    (["profile", "data.csv", "--bogus"], "No such option: --bogus"),
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
    (["profile"], "Missing argument 'source'"),
])
def test_usage_mistakes_exit_2_with_usage_and_no_traceback(argv: list[str], words: str, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert words in captured.err
    assert "Usage: assay" in captured.err


def test_ctrl_c_exits_130_and_says_so(tmp_path: Path, capsys, monkeypatch):
    import assay.viz

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(assay.viz, "profile", interrupted)
    path = tmp_path / "d.csv"
    pl.DataFrame({"a": [1, 2, 3]}).write_csv(path)
    code = main(["profile", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 130
    assert captured.err.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in captured.err


def test_a_table_of_the_target_and_its_row_index_says_there_is_nothing_to_learn_from(tmp_path, capsys):
    src = tmp_path / "returns.csv"
    src.write_text('"","r500"\n' + "".join(f'"{i}",{(-1) ** i * 0.01 * i}\n' for i in range(1, 40)), encoding="utf-8")
    assert main(["train", str(src), "--target", "r500", "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "has no input column to learn from: the target 'r500' is all that is left" in err
    assert "--drop" not in err.split("error:")[1]  # no --drop was given
    assert "(a row index a table export leaves is not an input)" in err


def test_a_one_column_table_says_there_is_nothing_to_learn_from_without_naming_a_row_index(tmp_path, capsys):
    src = tmp_path / "coal.csv"
    src.write_text("date\n" + "".join(f"{1851 + i * 0.37:.3f}\n" for i in range(40)), encoding="utf-8")
    assert main(["train", str(src), "--target", "date", "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "has no input column to learn from: the target 'date' is all that is left" in err
    assert "row index" not in err


def test_a_target_with_a_new_value_in_every_row_is_called_out(tmp_path, capsys):
    src = tmp_path / "cars.csv"
    pl.DataFrame({"price": [10.0 + i for i in range(40)], "make": [f"Car {i}" for i in range(40)]}).write_csv(src)
    assert main(["train", str(src), "--target", "make", "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "the target has a different value in almost every row (" in err
    assert "is it a name or an identifier?" in err


def test_a_one_row_one_column_profile_is_counted_in_the_singular(tmp_path: Path, capsys):
    path = tmp_path / "one.csv"
    path.write_text("x\n5\n")
    assert main(["profile", str(path), "--out", str(tmp_path / "p"), "--quiet"]) == 0
    assert "profiled 1 row × 1 column;" in capsys.readouterr().out


def test_a_time_column_of_words_is_one_line(tmp_path: Path, capsys):
    path = tmp_path / "d.csv"
    pl.DataFrame({"x": [float(i) for i in range(40)], "kind": ["setosa", "virginica"] * 20,
                  "y": [0, 1] * 20}).write_csv(path)
    err = run_error(["train", str(path), "--target", "y", "--time", "kind", "--models", "logreg",
                     "--out", str(tmp_path / "o")], capsys)
    assert "time column 'kind' does not read as dates or times, e.g. 'setosa'" in err


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path: Path, capsys):
    path = tmp_path / "d.csv"
    pl.DataFrame({"x": [1.0, 2.0, 3.0]}).write_csv(path)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    err = run_error(["profile", str(path), "--out", str(blocker / "sub")], capsys)
    assert str(blocker) in err


def test_a_negative_seed_is_a_usage_error(tmp_path: Path, capsys):
    path = tmp_path / "d.csv"
    pl.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]}).write_csv(path)
    assert main(["train", str(path), "--target", "y", "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "'--seed'" in err
