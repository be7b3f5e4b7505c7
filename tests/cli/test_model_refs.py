"""A registered model named where a model directory goes: ``models:/NAME[/VERSION|ALIAS]`` in ``assay predict``."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from assay.cli import main


@pytest.fixture(scope="module")
def registry(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assay.registry import open_registry

    location = tmp_path_factory.mktemp("registry")
    open_registry(location).register(trained / "model", "penguins")  # version 1, production
    return location


def test_predict_with_a_registered_model_equals_the_directory(trained: Path, registry: Path, penguins_csv: Path,
                                                              tmp_path: Path) -> None:
    by_dir, by_ref = tmp_path / "dir.csv", tmp_path / "ref.csv"
    assert main(["predict", str(trained / "model"), str(penguins_csv), "--out", str(by_dir), "-q"]) == 0
    for ref in ("models:/penguins", "models:/penguins/production", "models:/penguins/1"):
        assert main(["predict", ref, str(penguins_csv), "--out", str(by_ref), "--registry", str(registry), "-q"]) == 0
        assert pl.read_csv(by_ref).equals(pl.read_csv(by_dir)), ref


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("models:/pengiuns", "pengiuns"),
        ("models:/penguins/7", "7"),
        ("models:/penguins/1/extra", "not a registered model reference"),
    ],
)
def test_a_wrong_reference_is_one_line(registry: Path, penguins_csv: Path, ref: str, expected: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", ref, str(penguins_csv), "--registry", str(registry), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1


def test_the_run_directory_instead_of_its_model_gets_the_right_path(trained: Path, penguins_csv: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(trained), str(penguins_csv), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"did you mean {trained / 'model'}" in err
