from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main


def test_train_register_points_production_at_a_new_name(penguins_csv: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    from assay.registry import open_registry

    monkeypatch.setenv("ASSAY_REGISTRY", str(tmp_path / "reg"))
    argv = ["train", str(penguins_csv), "--target", "species", "--models", "logreg", "--folds", "3", "--quiet",
            "--no-report", "--register", "penguins"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    reg = open_registry(None)
    assert reg.resolve("penguins", "production") == 1
    assert [v.version for v in reg.versions("penguins")] == [1, 2]


def test_a_name_the_registry_refuses_stops_train_before_training(penguins_csv: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("ASSAY_REGISTRY", str(tmp_path / "reg"))
    out = tmp_path / "out"
    argv = ["train", str(penguins_csv), "--target", "species", "--models", "logreg", "--quiet", "--out", str(out),
            "--register", "会员模型"]
    assert main(argv) == 2
    assert "invalid model name '会员模型': use ASCII letters" in capsys.readouterr().err
    assert not out.exists()  # nothing was trained


def test_an_unreachable_registry_stops_train_before_training(penguins_csv: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    argv = ["train", str(penguins_csv), "--target", "species", "--models", "logreg", "--quiet", "--out", str(out),
            "--register", "penguins", "--registry", "postgresql://nobody@127.0.0.1:1/none"]
    assert main(argv) != 0
    assert capsys.readouterr().err.startswith("error: ")
    assert not out.exists()  # nothing was trained


def test_a_registration_that_fails_after_training_says_where_the_model_is(penguins_csv: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch, capsys):
    from assay.exceptions import RegistryError
    from assay.registry import open_registry

    reg = open_registry(str(tmp_path / "reg"))

    def refuse(*args, **kwargs):
        raise RegistryError("the registry is read-only")

    monkeypatch.setattr(type(reg), "register", refuse)
    out = tmp_path / "out"
    argv = ["train", str(penguins_csv), "--target", "species", "--models", "logreg", "--quiet", "--no-report",
            "--out", str(out), "--register", "penguins", "--registry", str(tmp_path / "reg")]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "the registry is read-only" in err
    # the command it gives registers into the same registry, not the default one
    assert f"assay models register {out / 'model'} penguins --registry {tmp_path / 'reg'}" in err
    assert (out / "model" / "manifest.json").is_file()
