"""`assay models list|show|register|promote|rollback|delete` against a real registry directory."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from assay._fitted import Model
from assay.cli import main
from assay.models import LinearRegressionGD


@pytest.fixture
def artifact(tmp_path):
    def make(seed: int) -> str:
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(80, 2))
        y = X @ np.array([1.5, -2.0]) + seed
        est = LinearRegressionGD().fit(X, y)
        model = Model(
            [], est, task="regression", target="y", input_schema={"a": "Float64", "b": "Float64"}, features=["a", "b"]
        )
        return str(
            model.save(
                tmp_path / f"m{seed}-{uuid.uuid4().hex[:6]}",
                source={"uri": "gen", "rows": 80},
                metrics={"test": {"rmse": 0.1 * seed}},
                model_name="linreg",
            )
        )

    return make


def test_models_commands_end_to_end(tmp_path, artifact, capsys, monkeypatch):
    reg = str(tmp_path / "reg")
    monkeypatch.setenv("ASSAY_REGISTRY", reg)  # the default location when --registry is not given
    assert main(["models", "list"]) == 0
    assert "no models" in capsys.readouterr().out
    for seed in range(3):
        assert main(["models", "register", artifact(seed), "sales"]) == 0
    out = capsys.readouterr().out
    assert "registered sales version 3" in out
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "name": "sales",
            "versions": [1, 2, 3],
            "aliases": {"production": 1},
            "latest": 3,
            "task": "regression",
            "model": "linreg",
            "models": dict.fromkeys(["1", "2", "3"], "linreg"),
        }
    ]
    assert main(["models", "promote", "sales", "3"]) == 0
    assert "production → version 3" in capsys.readouterr().out
    assert main(["models", "show", "sales"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 3
    assert shown["aliases"] == ["production"]
    assert shown["lineage"]["metrics"]["test"]["rmse"] == pytest.approx(0.2)
    assert shown["all_versions"] == [1, 2, 3]
    # Deleting what production points at is refused with a one-line message (exit 2).
    assert main(["models", "delete", "sales", "3", "--registry", reg]) == 2
    assert "version 3 is production" in capsys.readouterr().err
    assert main(["models", "rollback", "sales"]) == 0
    assert "rolled back to version 1" in capsys.readouterr().out
    assert main(["models", "delete", "sales", "3"]) == 0
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    assert "sales" in table
    assert "1 (linreg), 2 (linreg)" in table  # each version with its own model; 3 is deleted
    assert "production→1" in table
    assert main(["models", "show", "sale"]) == 2
    assert "did you mean 'sales'" in capsys.readouterr().err


def test_show_prints_chinese_column_names_as_they_are(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    est = LinearRegressionGD().fit(X, X @ np.array([1.0, 2.0]))
    model = Model(
        [],
        est,
        task="regression",
        target="销量",
        input_schema={"温度": "Float64", "价格": "Float64"},
        features=["温度", "价格"],
    )
    path = model.save(tmp_path / "m", source={"uri": "门店.csv", "rows": 40}, model_name="linreg")
    reg = str(tmp_path / "reg")
    assert main(["models", "register", str(path), "sales", "--registry", reg]) == 0
    capsys.readouterr()
    assert main(["models", "show", "sales", "--registry", reg]) == 0
    out = capsys.readouterr().out
    assert '"target": "销量"' in out
    assert "\\u" not in out
    assert json.loads(out)["input_schema"] == {"温度": "Float64", "价格": "Float64"}


def test_a_mistyped_registry_path_is_said_and_not_created(tmp_path, capsys):
    typo = tmp_path / "regsitry"
    assert main(["models", "list", "--registry", str(typo)]) == 0
    assert f"no models: no registry at {typo} (nothing was ever registered there)" in capsys.readouterr().out
    assert main(["models", "list", "--registry", str(typo), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["models", "show", "sales", "--registry", str(typo)]) == 2
    assert f"no registry at {typo}" in capsys.readouterr().err
    assert not typo.exists()
    from assay.exceptions import RegistryNotFoundError
    from assay.registry import open_registry

    with pytest.raises(RegistryNotFoundError, match="no registry at"):
        open_registry(typo, create=False)


def test_register_finds_training_data_named_relative_to_where_training_ran(tmp_path, capsys, monkeypatch):
    import polars as pl

    from assay.sources import open_source

    # `assay train train.csv --out out/sales` in tmp_path: the manifest names the data as it was typed.
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    frame.with_columns(y=pl.col("a") - pl.col("b")).write_csv(tmp_path / "train.csv")
    monkeypatch.chdir(tmp_path)
    fingerprint = open_source("train.csv").fingerprint()
    est = LinearRegressionGD().fit(frame.to_numpy(), frame["a"].to_numpy() - frame["b"].to_numpy())
    model = Model(
        [], est, task="regression", target="y", input_schema={"a": "Float64", "b": "Float64"}, features=["a", "b"]
    )
    path = model.save(
        tmp_path / "out" / "sales" / "model", source={"uri": "train.csv", "fingerprint": fingerprint, "rows": 80}
    )
    # Registered later from another directory: the data is still found (the fingerprint says it is the same).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    reg = str(tmp_path / "reg")
    assert main(["models", "register", str(path), "sales", "--registry", reg]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["models", "show", "sales", "--registry", reg]) == 0
    assert json.loads(capsys.readouterr().out)["has_profile"] is True
    # Data that changed since training gives no profile, and the command says so and how to give one.
    (tmp_path / "train.csv").write_text("a,b,y\n1,2,3\n")
    assert main(["models", "register", str(path), "sales", "--registry", reg]) == 0
    err = capsys.readouterr().err
    # (the manifest names a local file by its absolute path, made so when the model was saved)
    assert f"no drift profile for this version: its training data ({tmp_path / 'train.csv'}) was not found or " \
           "has changed" in err
    assert "--reference FILE" in err


def test_a_file_that_is_not_a_registry_database_is_a_one_line_error(tmp_path, capsys):
    from assay.exceptions import RegistryError
    from assay.registry import open_registry

    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "registry.sqlite").write_bytes(bytes(range(256)) * 20)  # damaged, or another file
    with pytest.raises(RegistryError, match=r"registry database .*registry\.sqlite cannot be used: file is not a"):
        open_registry(tmp_path / "reg")
    assert main(["models", "list", "--registry", str(tmp_path / "reg")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: the registry database ")
    assert "Traceback" not in captured.err


def test_list_does_not_print_the_database_password(tmp_path, artifact, capsys, service):
    import psycopg

    host, port = service("postgresql")
    schema = f"assay_test_{uuid.uuid4().hex[:10]}"
    # (the test database trusts local connections, so any password is accepted)
    uri = f"postgresql://postgres:hunter2@{host}:{port}/test?schema={schema}&artifacts={tmp_path / 'art'}"
    try:
        assert main(["models", "list", "--registry", uri]) == 0
        assert main(["models", "register", artifact(0), "sales", "--registry", uri]) == 0
        assert main(["models", "list", "--registry", uri]) == 0
        out = capsys.readouterr().out
        assert "no models in postgresql://postgres:***@" in out
        assert "postgres:***@" in out.split("registered sales version 1", 1)[1]  # the table's title
        assert "hunter2" not in out
    finally:
        with psycopg.connect(f"postgresql://postgres@{host}:{port}/test", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_rollback_to_a_damaged_version_is_refused_and_the_alias_stays(tmp_path, artifact, capsys):
    from assay.registry import open_registry

    reg = str(tmp_path / "reg")
    for seed in range(2):
        assert main(["models", "register", artifact(seed), "sales", "--registry", reg]) == 0
    assert main(["models", "promote", "sales", "2", "--registry", reg]) == 0
    registry = open_registry(reg)
    assert registry.rollback("sales", dry_run=True) == 1  # says where it would go, moves nothing
    assert registry.aliases("sales") == {"production": 2}
    stored = registry.get("sales", 1).path
    (stored / "steps.json").write_text((stored / "steps.json").read_text() + " ")
    capsys.readouterr()
    assert main(["models", "rollback", "sales", "--registry", reg]) == 2
    assert "sales: production not rolled back to version 1: model artifact" in capsys.readouterr().err
    assert registry.aliases("sales") == {"production": 2}
