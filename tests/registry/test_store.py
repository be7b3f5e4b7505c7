"""The registry on SQLite and PostgreSQL: versions, aliases, rollback, guarded delete, lineage, integrity,
concurrent writers (real processes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import polars as pl
import pytest

from assay.exceptions import ArtifactError, RegistryError
from assay.registry import open_registry


def test_register_versions_aliases_and_lineage(registry, make_artifact):
    v1 = registry.register(make_artifact(seed=0), "iris")
    v2 = registry.register(make_artifact(seed=1), "iris", aliases=["staging"])
    assert (v1, v2) == (1, 2)
    # The first version of a new name becomes production; later ones do not move it.
    assert registry.aliases("iris") == {"production": 1, "staging": 2}
    assert registry.resolve("iris") == 1
    assert registry.resolve("iris", "staging") == 2
    assert registry.resolve("iris", "v2") == 2
    got = registry.get("iris", 2)
    assert got.aliases == ["staging"]
    lineage = got.lineage
    assert lineage["source_uri"] == "sklearn:iris"
    assert lineage["data_fingerprint"] == "fp1"
    assert lineage["spec"] == {"seed": 1}
    assert lineage["metrics"]["test"]["accuracy"] == pytest.approx(0.91)
    assert "polars" in lineage["library_versions"]
    assert lineage["created_at"]
    assert lineage["created_by"]
    assert lineage["registered_by"]
    # The artifact was copied into the registry's own storage and still verifies there.
    assert registry.artifacts in got.path.parents
    assert json.loads((got.path / "manifest.json").read_text())["spec"] == {"seed": 1}
    assert registry.names() == ["iris"]
    assert [v.version for v in registry.versions("iris")] == [1, 2]


def test_promote_rollback_stack(registry, make_artifact):
    for seed in range(3):
        registry.register(make_artifact(seed=seed), "m")
    assert registry.promote("m", 2) == 2
    assert registry.promote("m", 3) == 3
    assert registry.rollback("m") == 2
    assert registry.rollback("m") == 1  # a second rollback steps further back, not forward again
    # The message says production is back where it started, not that it never pointed elsewhere.
    with pytest.raises(RegistryError, match=r"back at version 1, .*rolled back from version\(s\) 2, 3\); there is no"):
        registry.rollback("m")
    assert registry.promote("m", "3") == 3
    assert [h["version"] for h in registry.history("m") if not h["undone"]] == [1, 3]
    # An alias can be copied from another alias.
    assert registry.promote("m", "production", alias="staging") == 3
    assert registry.aliases("m")["staging"] == 3


def test_delete_is_guarded_by_aliases(registry, make_artifact):
    registry.register(make_artifact(seed=0), "m")
    registry.register(make_artifact(seed=1), "m")
    path1 = registry.get("m", 1).path
    with pytest.raises(RegistryError, match="version 1 is production"):
        registry.delete("m", 1)
    registry.promote("m", 2)
    registry.delete("m", 1)
    assert not path1.exists()
    assert [v.version for v in registry.versions("m")] == [2]
    # After deleting v1 there is nothing left to roll back to, and the message says why.
    with pytest.raises(RegistryError, match=r"pointed before at version\(s\) 1, deleted since; there is no previous"):
        registry.rollback("m")
    registry.delete("m", 2, force=True)
    with pytest.raises(RegistryError, match="no model named 'm'"):
        registry.versions("m")
    # A number is never given twice: the next version after deleting the highest (here all) is a new one, so
    # logs, feedback and caches kept under "m v2" never mix two models.
    assert registry.register(make_artifact(seed=2), "m") == 3
    registry.register(make_artifact(seed=3), "m")
    registry.delete("m", 4)
    assert registry.register(make_artifact(seed=4), "m") == 5
    assert [v.version for v in registry.versions("m")] == [3, 5]


def test_unknown_names_versions_and_aliases(registry, make_artifact):
    registry.register(make_artifact(), "churn")
    with pytest.raises(RegistryError, match="did you mean 'churn'"):
        registry.get("chrun")
    with pytest.raises(RegistryError, match="has no version 7"):
        registry.get("churn", 7)
    # Past a 64-bit integer (an overflow in the database driver, a 500 from the server's version routes before)
    with pytest.raises(RegistryError, match="has no version 99999999999999999999 "):
        registry.get("churn", "99999999999999999999")
    with pytest.raises(RegistryError, match="has no alias '²'"):  # a digit to str.isdigit, not to int()
        registry.get("churn", "²")
    with pytest.raises(RegistryError, match="has no alias 'canary'"):
        registry.get("churn", "canary")
    with pytest.raises(RegistryError, match="invalid model name"):
        registry.register(make_artifact(), "../escape")
    with pytest.raises(RegistryError, match="invalid alias 'bad alias!'"):
        registry.promote("churn", 1, "bad alias!")
    with pytest.raises(RegistryError, match=r"invalid alias 'a/b'.*e\.g\. staging"):
        registry.register(make_artifact(), "churn", aliases=["a/b"])


@pytest.mark.parametrize("alias", ["5", "v2", "V10"])
def test_an_alias_that_reads_as_a_version_number_is_refused(registry, make_artifact, alias):
    # A reference "5" or "v2" is read as that version: an alias of that name could be set but never reached
    # (``show m 5`` answered "no version 5" while ``delete`` said the version "is 5").
    registry.register(make_artifact(), "churn")
    with pytest.raises(RegistryError, match=rf"invalid alias '{alias}': it reads as a version number"):
        registry.promote("churn", 1, alias)
    with pytest.raises(RegistryError, match=r"reads as a version number"):
        registry.register(make_artifact(), "churn", aliases=[alias])
    assert registry.aliases("churn") == {"production": 1}
    assert registry.promote("churn", 1, "v2-candidate") == 1  # a name that merely starts like one is fine


def test_tampered_artifact_is_refused(registry, make_artifact):
    path = make_artifact()
    (path / "steps.json").write_text("[]  ", encoding="utf-8")
    with pytest.raises(ArtifactError, match="modified after it was written"):
        registry.register(path, "m")
    assert registry.names() == []
    good = make_artifact(seed=1)
    registry.register(good, "m")
    stored = registry.get("m").path
    payload = next(p for p in (stored / "estimator").iterdir() if p.is_file())
    payload.write_bytes(payload.read_bytes() + b" ")
    with pytest.raises(ArtifactError, match="refusing to load"):
        registry.load("m")


def test_a_manifest_changed_after_registration_is_refused_though_every_hash_still_matches(
    registry, make_artifact, iris_frame
):
    registry.register(make_artifact(seed=0), "m")
    registry.register(make_artifact(seed=1), "m")
    stored = registry.get("m", 1).path
    manifest = json.loads((stored / "manifest.json").read_text())
    manifest["features"] = manifest["features"][::-1]  # the columns fed to the weights in another order
    (stored / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"modified after it was registered: .* \(in features\)"):
        registry.load("m", 1)
    with pytest.raises(ArtifactError, match="modified after it was registered"):
        registry.verify("m", 1)
    # Another version, and the same one once restored, load as before.
    assert registry.load("m", 2).predict(iris_frame.drop("species")).height == iris_frame.height
    manifest["features"] = manifest["features"][::-1]
    (stored / "manifest.json").write_text(json.dumps(manifest))
    assert registry.verify("m", 1) == 1


def test_a_damaged_version_is_found_before_the_cli_promotes_it(registry, registry_uri, make_artifact, capsys):
    from assay.cli import main

    registry.register(make_artifact(), "m")
    registry.register(make_artifact(seed=1), "m")
    assert registry.verify("m", 2) == 2
    stored = registry.get("m", 2).path
    (stored / "steps.json").write_text((stored / "steps.json").read_text() + " ")
    with pytest.raises(ArtifactError, match="modified after it was written"):
        registry.verify("m", 2)
    assert main(["models", "promote", "m", "2", "--registry", registry_uri]) == 2
    assert "m version 2 not promoted: model artifact" in capsys.readouterr().err
    assert registry.resolve("m") == 1  # the alias did not move
    assert main(["models", "promote", "m", "1", "--alias", "staging", "--registry", registry_uri]) == 0
    assert registry.aliases("m") == {"production": 1, "staging": 1}


def test_training_profile_from_reference_and_from_source_file(registry, make_artifact, tmp_path, iris_frame):
    from assay.registry import drift_report
    from assay.sources import open_source

    frame = iris_frame
    registry.register(make_artifact(), "m", reference=frame)
    profile = registry.get("m").profile
    assert set(profile["columns"]) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    assert len(profile["columns"]["petal_length"]["quantiles"]) == 21
    # The model's predictions on the training data are profiled too (prediction drift).
    assert set(profile["predictions"]["columns"]["prediction"]["freq"]) == {"setosa", "versicolor", "virginica"}
    same = drift_report(profile, frame.drop("species"))
    assert same["alerts"] == []
    shifted = frame.drop("species").with_columns(pl.col("petal_length") + 3.0)
    report = drift_report(profile, shifted)
    assert report["alerts"] == ["petal_length"]
    assert report["features"]["petal_length"]["ks"] > 0.5
    # Without a reference, a training file whose fingerprint still matches is profiled at registration.
    csv = tmp_path / "train.csv"
    frame.write_csv(csv)
    fingerprint = open_source(str(csv)).fingerprint()
    path = make_artifact(source={"uri": str(csv), "fingerprint": fingerprint, "rows": frame.height})
    registry.register(path, "from-file")
    assert registry.get("from-file").profile["rows"] == frame.height
    csv.write_text("changed\n1\n")
    registry.register(make_artifact(source={"uri": str(csv), "fingerprint": fingerprint, "rows": 1}), "stale")
    assert registry.get("stale").profile is None


def test_concurrent_writers_get_distinct_consecutive_versions(registry_uri, make_artifact):
    # Four separate `assay models register` processes race on one registry (no table created beforehand).
    paths = [str(make_artifact(seed=i)) for i in range(4)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "assay", "models", "register", p, "race", "--registry", registry_uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in paths
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    versions = [int(out.strip().rsplit(" ", 1)[1]) for out, _ in outputs]
    assert sorted(versions) == [1, 2, 3, 4]
    reg = open_registry(registry_uri)
    stored = reg.versions("race")
    assert [v.version for v in stored] == [1, 2, 3, 4]
    assert all((v.path / "manifest.json").is_file() for v in stored)
    # Exactly one writer created the name, so production points at version 1 and nothing else moved it.
    assert reg.aliases("race") == {"production": 1}


def test_open_registry_locations(tmp_path, monkeypatch, make_artifact):
    monkeypatch.setenv("ASSAY_REGISTRY", str(tmp_path / "from-env"))
    reg = open_registry(None)
    reg.register(make_artifact(), "m")
    assert (tmp_path / "from-env" / "registry.sqlite").is_file()
    assert open_registry(f"sqlite:///{tmp_path / 'from-env' / 'registry.sqlite'}").names() == ["m"]
    monkeypatch.delenv("ASSAY_REGISTRY")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert open_registry().location.endswith(".assay/registry")
    with pytest.raises(Exception, match="unsupported registry location"):
        open_registry("ftp://example/x")
    shutil.rmtree(tmp_path / "home", ignore_errors=True)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RegistryError, match="is a file"):
        open_registry(tmp_path / "a-file")


def test_rollback_after_the_aliased_version_was_force_deleted_points_the_alias_again(registry, make_artifact):
    for seed in range(3):
        registry.register(make_artifact(seed=seed), "m")
    registry.promote("m", 2)
    registry.promote("m", 3)
    registry.delete("m", 3, force=True)  # the broken production version is removed at once
    assert "production" not in registry.aliases("m")
    assert registry.rollback("m") == 2
    # The rollback said version 2: production must really point there again.
    assert registry.aliases("m") == {"production": 2}
    assert registry.rollback("m") == 1
    assert registry.aliases("m") == {"production": 1}


def _tables_sorting_like_en_us(registry_uri: str) -> None:
    """The registry's tables as a PostgreSQL database created with an en_US locale has them: text columns compare
    by that locale (case and punctuation ignored first), not by bytes."""
    from urllib.parse import parse_qs, urlsplit

    import psycopg

    from assay.registry._store import _DDL

    parts = urlsplit(registry_uri)
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(parts._replace(query="").geturl(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        for ddl in _DDL:
            for column in ("name", "alias"):
                ddl = ddl.replace(f"{column} TEXT NOT NULL", f'{column} TEXT COLLATE "en-US-x-icu" NOT NULL')
            conn.execute(ddl)


def test_names_and_aliases_list_in_the_same_order_on_every_backend(registry_uri, make_artifact):
    if registry_uri.startswith("postgresql://"):
        _tables_sorting_like_en_us(registry_uri)
    registry = open_registry(registry_uri)
    artifact = make_artifact()
    names = ["beta", "Alpha", "a_b", "ab", "Zeta", "a-b", "A.b", "b2", "B10"]
    for name in names:
        registry.register(artifact, name)
    aliases = ["staging", "Stage", "a_x", "ax", "A-x"]
    for alias in aliases:
        registry.promote("ab", 1, alias=alias)
    # Code-point (= SQLite's byte) order on both backends: '-' < '.' < digits < upper case < '_' < lower case.
    assert registry.names() == ["A.b", "Alpha", "B10", "Zeta", "a-b", "a_b", "ab", "b2", "beta"]
    assert list(registry.aliases("ab")) == ["A-x", "Stage", "a_x", "ax", "production", "staging"]
    assert registry.get("ab").aliases == list(registry.aliases("ab"))
    # The aliases an error lists come in the same order.
    with pytest.raises(RegistryError, match=r"\(aliases: A-x, Stage, a_x, ax, production, staging\)"):
        registry.resolve("ab", "prod")


def test_three_slashes_before_an_absolute_registry_path_say_to_write_four(tmp_path, monkeypatch, make_artifact):
    # sqlite:///tmp/x/registry.sqlite is tmp/x/registry.sqlite under the current directory (SQLAlchemy's
    # convention): a server or a training run made a new, empty registry there instead of using /tmp/x's.
    db = tmp_path / "reg" / "registry.sqlite"
    absolute, mistaken = f"sqlite:///{db}", f"sqlite://{db}"  # (db starts with "/": four slashes, then three)
    open_registry(absolute).register(make_artifact(), "m")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RegistryError, match=r"relative to the current directory .* write sqlite:////"):
        open_registry(mistaken)
    with pytest.raises(RegistryError, match=r"\(four slashes\)"):
        open_registry(mistaken, create=False)
    assert not (tmp_path / str(db).lstrip("/")).exists()  # nothing made under the current directory
    assert open_registry(absolute).names() == ["m"]
    assert open_registry("sqlite:///rel/registry.sqlite").names() == []  # a relative one is still made
