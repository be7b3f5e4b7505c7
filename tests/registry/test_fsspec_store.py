"""Artifacts in an fsspec store (``artifacts=URL``): uploaded on register, downloaded into a verified local cache on
load, refused when the remote copy was tampered with, removed on delete — with SQLite and PostgreSQL metadata."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

from assay.exceptions import ArtifactError, RegistryError
from assay.registry import open_registry


@pytest.fixture(params=["sqlite", "postgresql"])
def remote_uri(request: pytest.FixtureRequest, tmp_path: Path, service: Callable) -> Iterator[Callable[[str], str]]:
    """``uri(cache_name)``: the same registry (metadata + a ``file://`` fsspec store) seen with a given local cache."""
    store = (tmp_path / "store").as_uri()
    if request.param == "sqlite":
        db = tmp_path / "meta" / "registry.sqlite"
        yield lambda cache: f"sqlite:///{db}?artifacts={store}&cache={tmp_path / cache}"
        return
    host, port = service("postgresql")
    schema = f"assay_test_{uuid.uuid4().hex[:10]}"
    base = f"postgresql://postgres@{host}:{port}/test?schema={schema}&artifacts={store}"
    yield lambda cache: f"{base}&cache={tmp_path / cache}"
    import psycopg

    with psycopg.connect(f"postgresql://postgres@{host}:{port}/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _store_files(tmp_path: Path) -> list[str]:
    return sorted(p.relative_to(tmp_path / "store").as_posix() for p in (tmp_path / "store").rglob("*") if p.is_file())


def test_register_uploads_and_a_second_machine_downloads(remote_uri, make_artifact, iris_frame, tmp_path):
    writer = open_registry(remote_uri("cache-a"))
    artifact = make_artifact(seed=3)
    assert writer.register(artifact, "iris") == 1
    files = _store_files(tmp_path)
    assert any(f.endswith("iris/1/manifest.json") for f in files)
    assert any("/iris/1/estimator/" in f or f.startswith("iris/1/estimator/") for f in files)
    mv = writer.get("iris")
    assert mv.uri.startswith("file://")
    assert mv.uri.endswith("iris/1")
    assert mv.to_dict()["uri"] == mv.uri

    # Another process with an empty cache sees the version and downloads it on load.
    reader = open_registry(remote_uri("cache-b"))
    assert not (tmp_path / "cache-b").exists() or not any((tmp_path / "cache-b").rglob("manifest.json"))
    model = reader.load("iris")
    assert any((tmp_path / "cache-b").rglob("manifest.json"))
    from assay._fitted import Model

    expected = Model.load(artifact).predict(iris_frame.drop("species"))
    assert model.predict(iris_frame.drop("species")).equals(expected)


def test_tampered_remote_copy_is_refused_and_not_cached(remote_uri, make_artifact, tmp_path):
    open_registry(remote_uri("cache-a")).register(make_artifact(seed=0), "m")
    weights = [p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.name != "manifest.json"]
    assert weights
    weights[0].write_bytes(weights[0].read_bytes() + b"tampered")
    reader = open_registry(remote_uri("cache-b"))
    with pytest.raises(ArtifactError):
        reader.load("m")
    assert not any((tmp_path / "cache-b").rglob("manifest.json"))  # nothing unverified stays in the cache


def test_a_remote_manifest_rewritten_with_matching_hashes_is_refused_and_not_cached(
    remote_uri, make_artifact, tmp_path
):
    import json

    open_registry(remote_uri("cache-a")).register(make_artifact(seed=0), "m")
    remote = next(p for p in (tmp_path / "store").rglob("manifest.json"))
    manifest = json.loads(remote.read_text())
    manifest["input_schema"] = dict.fromkeys(manifest["input_schema"], "String")
    remote.write_text(json.dumps(manifest))  # every file still matches the hashes the manifest lists
    reader = open_registry(remote_uri("cache-b"))
    with pytest.raises(ArtifactError, match=r"modified after it was registered: .* \(in input_schema\)"):
        reader.load("m")
    assert not any((tmp_path / "cache-b").rglob("manifest.json"))


def test_corrupt_cached_copy_is_downloaded_again(remote_uri, make_artifact, iris_frame, tmp_path):
    reg = open_registry(remote_uri("cache-a"))
    reg.register(make_artifact(seed=1), "m")
    cached = reg.get("m").path
    victim = next(p for p in cached.rglob("*") if p.is_file() and p.name != "manifest.json")
    victim.write_bytes(b"garbage")
    model = reg.load("m")  # the remote copy still verifies, so the cache is refreshed from it
    assert model.predict(iris_frame.drop("species")).height == iris_frame.height


def test_delete_removes_the_remote_copy(remote_uri, make_artifact, tmp_path):
    reg = open_registry(remote_uri("cache-a"))
    reg.register(make_artifact(seed=0), "m")
    reg.register(make_artifact(seed=1), "m")
    reg.delete("m", 2)
    files = _store_files(tmp_path)
    assert any("m/1/" in f for f in files)
    assert not any("m/2/" in f for f in files)
    assert not reg.get("m", 1).path.parent.joinpath("2").exists()


def test_memory_store_and_bad_locations(tmp_path, make_artifact):
    url = f"memory://assay-test-{uuid.uuid4().hex[:8]}"
    reg = open_registry(f"sqlite:///{tmp_path / 'r' / 'registry.sqlite'}?artifacts={url}&cache={tmp_path / 'c'}")
    reg.register(make_artifact(seed=0), "m")
    fs = fsspec.filesystem("memory")
    assert fs.exists(f"{url.removeprefix('memory://')}/m/1/manifest.json")
    with pytest.raises(RegistryError, match="artifact store"):
        open_registry(f"sqlite:///{tmp_path / 'x' / 'registry.sqlite'}?artifacts=nosuchproto://bucket")
    with pytest.raises(Exception, match="unknown option"):
        open_registry(f"sqlite:///{tmp_path / 'y' / 'registry.sqlite'}?artefacts=/tmp/z")
