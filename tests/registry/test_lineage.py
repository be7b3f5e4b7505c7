"""What a model's lineage says its training data was: a local file by its absolute path, other sources by their
URI without a password."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.registry import open_registry
from assay.registry._artifact import lineage_uri, without_secrets


def _write_data(path: Path, rows: int = 60) -> Path:
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"a": rng.normal(size=rows), "b": rng.choice(["x", "y"], rows),
                  "y": rng.choice(["p", "q"], rows)}).write_csv(path)
    return path


def test_a_relative_training_path_is_recorded_absolute_and_found_from_another_directory(tmp_path, monkeypatch):
    from assay.cli import main

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    data = _write_data(project / "data" / "x.csv")
    elsewhere.mkdir()
    monkeypatch.chdir(project)
    assert main(["train", "data/x.csv", "--target", "y", "--models", "logreg", "--folds", "2", "--out", "out",
                 "--no-report", "--quiet"]) == 0
    manifest = json.loads((project / "out" / "model" / "manifest.json").read_text())
    assert manifest["source"]["uri"] == str(data)
    monkeypatch.chdir(elsewhere)
    registry = open_registry(tmp_path / "registry")
    registry.register(project / "out" / "model", "m")
    lineage = registry.get("m").lineage
    assert Path(lineage["source_uri"]) == data
    assert registry.get("m").profile is not None  # the training file was found by that path


def test_lineage_uri_of_local_paths(tmp_path, monkeypatch):
    _write_data(tmp_path / "d" / "part-1.csv")
    _write_data(tmp_path / "d" / "part-2.csv")
    monkeypatch.chdir(tmp_path)
    assert lineage_uri("d/part-1.csv") == str(tmp_path / "d" / "part-1.csv")
    assert lineage_uri("./d/../d/part-1.csv") == str(tmp_path / "d" / "part-1.csv")
    assert lineage_uri("d") == str(tmp_path / "d")
    assert lineage_uri("d/part-*.csv") == str(tmp_path / "d" / "part-*.csv")
    assert lineage_uri("d/part-1.csv?separator=,") == f"{tmp_path / 'd' / 'part-1.csv'}?separator=,"
    assert lineage_uri(str(tmp_path / "d" / "part-1.csv")) == str(tmp_path / "d" / "part-1.csv")
    # Names that are no local file stay as they are (a frame passed in, another library's data set, a file URI).
    assert lineage_uri("the input frame") == "the input frame"
    assert lineage_uri("sklearn:iris") == "sklearn:iris"
    assert lineage_uri("file:///srv/data/x.csv") == "file:///srv/data/x.csv"


@pytest.mark.parametrize(
    ("uri", "recorded"),
    [
        ("postgresql://bob:s3cret@db:5432/sales?table=orders", "postgresql://bob@db:5432/sales?table=orders"),
        ("postgresql://bob@db/sales?query=select+1", "postgresql://bob@db/sales?query=select+1"),
        ("mysql://ann:p%40ss@db/shop?table=t&password=x", "mysql://ann@db/shop?table=t"),
        ("https://api.example.com/v1/rows?page=2&api_key=k&format=json",
         "https://api.example.com/v1/rows?page=2&format=json"),
        ("https://user:pw@api.example.com/rows", "https://user@api.example.com/rows"),
        ("postgresql://bob:${PGPASS}@db/sales", "postgresql://bob:${PGPASS}@db/sales"),
        ("s3://bucket/data/x.parquet", "s3://bucket/data/x.parquet"),
    ],
)
def test_lineage_uri_of_other_sources_leaves_out_passwords(uri, recorded):
    assert lineage_uri(uri) == recorded
    assert without_secrets(uri) == recorded


def test_a_database_password_never_reaches_the_artifact_or_the_registry(tmp_path, make_artifact):
    uri = "postgresql://bob:s3cret@db.example:5432/sales?table=orders"
    artifact = make_artifact(source={"uri": uri, "fingerprint": "fp", "rows": 150})
    assert "s3cret" not in (artifact / "manifest.json").read_text()
    registry = open_registry(tmp_path / "registry")
    registry.register(artifact, "m")
    assert registry.get("m").lineage["source_uri"] == "postgresql://bob@db.example:5432/sales?table=orders"


def test_the_lineage_of_a_version_saved_with_a_password_does_not_show_it(tmp_path, make_artifact):
    artifact = make_artifact()
    manifest_file = artifact / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    # (as an artifact written before lineage left passwords out has it; the manifest's own hash is not listed)
    manifest["source"]["uri"] = "postgresql://bob:s3cret@db/sales?table=orders"
    manifest_file.write_text(json.dumps(manifest))
    registry = open_registry(tmp_path / "registry")
    registry.register(artifact, "m")
    assert registry.get("m").lineage["source_uri"] == "postgresql://bob@db/sales?table=orders"
    assert "s3cret" not in json.dumps(registry.get("m").to_dict())
