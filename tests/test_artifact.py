"""The artifact is audited before use: tampered files and newer formats are refused with a clear message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assay._fitted import load_model
from assay.exceptions import ArtifactError
from assay.registry import FORMAT_VERSION, verify_artifact


@pytest.fixture
def artifact(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(trained / "model", copy)
    return copy


def test_manifest_content(artifact: Path):
    manifest = verify_artifact(artifact)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["task"] == "classification"
    assert "island" in manifest["input_schema"]
    assert "species" not in manifest["input_schema"]
    assert manifest["source"]["fingerprint"]
    assert {"polars", "numpy", "scikit-learn", "python", "assay"} <= set(manifest["library_versions"])
    assert manifest["metrics"]["test"]["accuracy"] > 0.9
    assert all(len(h) == 64 for h in manifest["files"].values())


def test_tampered_file_is_refused(artifact: Path):
    steps = artifact / "steps.json"
    steps.write_text(steps.read_text().replace("0", "1", 1))
    with pytest.raises(ArtifactError, match=r"modified after it was written: steps\.json"):
        load_model(artifact)


def test_missing_file_is_refused(artifact: Path):
    manifest = json.loads((artifact / "manifest.json").read_text())
    victim = next(name for name in manifest["files"] if name.startswith("estimator/"))
    (artifact / victim).unlink()
    with pytest.raises(ArtifactError, match="incomplete"):
        load_model(artifact)


def test_newer_format_is_refused(artifact: Path):
    path = artifact / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="newer than this assay"):
        load_model(artifact)


def test_path_escape_is_refused(artifact: Path):
    path = artifact / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="outside the artifact"):
        load_model(artifact)


def test_round_trip_predicts_identically(artifact: Path, penguins_csv: Path):
    import polars as pl

    model = load_model(artifact)
    frame = pl.read_csv(penguins_csv, null_values="NA")
    first = model.predict(frame)
    model.save(artifact.parent / "again")
    second = load_model(artifact.parent / "again").predict(frame)
    assert first.equals(second)
