"""Steps that remove training rows (outliers drop/quarantine, dedupe) on Dask keep the local engine's rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.engine import build_matrices, fit_steps, plan_partitions, write_partitions
from assay.pipeline import _fit_steps

from ._helpers import assert_same_result, assert_same_state, make_steps

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore:.*(Port|port).*:UserWarning"),
]


def _outlier_data(n: int = 2_400, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    z = rng.normal(5, 2, n)
    x[rng.choice(n, 40, replace=False)] = rng.choice([-1, 1], 40) * rng.uniform(8, 20, 40)  # spread over every part
    z[rng.choice(n, 25, replace=False)] = 60.0
    return pl.DataFrame({"id": np.arange(n), "x": x, "z": z, "label": rng.choice(["a", "b"], n)})


def _dup_data(n: int = 2_000, seed: int = 5) -> pl.DataFrame:
    """Rows repeated far apart in the file (so across partitions), with nulls in the key and changed payloads."""
    rng = np.random.default_rng(seed)
    key = rng.integers(0, 700, n)
    code = pl.Series(rng.choice(["p", "q", None], n).tolist(), dtype=pl.String)
    value = np.round(rng.normal(0, 1, n), 1)
    value[rng.random(n) < 0.5] = 1.0  # exact duplicates of whole rows too
    value[rng.random(n) < 0.05] = np.nan  # NaN, -0.0 and 0.0 are each one value to unique
    value[rng.random(n) < 0.05] = -0.0
    value[rng.random(n) < 0.05] = 0.0
    return pl.DataFrame({"key": key, "code": code, "value": value,
                         "label": np.where(key % 2 == 0, "even", "odd")})


def _written(client, df: pl.DataFrame, steps: list, out: Path, rows: int) -> tuple[pl.DataFrame, list]:
    parts = plan_partitions(df, rows_per_partition=rows)
    assert len(parts) >= 4
    fitted = fit_steps(client, parts, steps, "label")
    write_partitions(client, parts, out, steps=fitted, train=True)
    return pl.read_parquet(sorted(out.glob("part-*.parquet"))), fitted


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_quarantine_keeps_the_rows_of_every_partition(client, tmp_path: Path, suffix: str) -> None:
    df = _outlier_data()
    spec = {"step": "outliers", "columns": ["x", "z"], "action": "quarantine"}
    local = make_steps([{**spec, "quarantine": str(tmp_path / f"local{suffix}")}])
    kept_local = _fit_steps(local, df, "label")
    dist_path = tmp_path / "dask" / f"quarantine{suffix}"
    kept_dist, dist = _written(client, df, make_steps([{**spec, "quarantine": str(dist_path)}]), tmp_path / "out", 500)

    read = pl.read_csv if suffix == ".csv" else pl.read_parquet
    q_local, q_dist = read(tmp_path / f"local{suffix}"), read(dist_path)
    assert q_local.height == local[0].rows_removed_ > 40
    assert q_dist.equals(q_local)  # every partition's rows, in file order, with the same reason
    assert dist[0].rows_removed_ == local[0].rows_removed_
    assert kept_dist.equals(kept_local)
    assert not list(dist_path.parent.glob(".*"))  # no leftover pieces


def test_quarantine_is_written_once_by_the_fit_not_again_by_later_passes(client, tmp_path: Path) -> None:
    df = _outlier_data()
    path = tmp_path / "q.parquet"
    steps = make_steps([{"step": "outliers", "columns": ["x"], "action": "quarantine", "quarantine": str(path)},
                   {"step": "scale"}])
    parts = plan_partitions(df, rows_per_partition=600)
    fitted = fit_steps(client, parts, steps, "label")
    first = pl.read_parquet(path)
    stamp = path.stat().st_mtime_ns
    X, _ = build_matrices(client, parts, fitted, ["x", "z"], [0.0, 0.0], "label")
    assert sum(client.gather(client.map(len, X))) == df.height - first.height
    assert path.stat().st_mtime_ns == stamp
    local = make_steps([{"step": "outliers", "columns": ["x"], "action": "quarantine",
                    "quarantine": str(tmp_path / "l.parquet")}])
    _fit_steps(local, df, "label")
    assert first.equals(pl.read_parquet(tmp_path / "l.parquet"))


def test_outliers_drop_removes_the_same_rows_as_local(client, tmp_path: Path) -> None:
    df = _outlier_data(seed=4)
    spec = [{"step": "outliers", "action": "drop", "columns": ["x", "z"]}, {"step": "dedupe", "key": ["label"]}]
    local = make_steps(spec[:1])
    kept_local = _fit_steps(local, df, "label")
    kept_dist, dist = _written(client, df, make_steps(spec[:1]), tmp_path / "out", 700)
    assert kept_dist.equals(kept_local)
    assert dist[0].rows_removed_ == local[0].rows_removed_ > 0


@pytest.mark.parametrize("params", [{}, {"key": ["key"]}, {"key": ["key", "code"], "keep": "last"},
                                    {"key": ["code"]}])
def test_dedupe_removes_duplicates_across_partitions_like_local(client, tmp_path: Path, params: dict) -> None:
    df = _dup_data()
    local = make_steps([{"step": "dedupe", **params}])
    kept_local = _fit_steps(local, df, "label")
    kept_dist, dist = _written(client, df, make_steps([{"step": "dedupe", **params}]), tmp_path / "out", 450)
    assert kept_local.height < df.height
    assert kept_dist.equals(kept_local)  # same rows, same (file) order: the local rule for which copy stays
    assert dist[0].dropped_ == local[0].dropped_


def test_rows_removed_by_one_step_are_gone_for_the_steps_after_it(client, tmp_path: Path) -> None:
    df = _dup_data(seed=6).with_columns(pl.col("value") * pl.when(pl.col("key") == 3).then(500.0).otherwise(1.0))
    spec = [{"step": "dedupe", "key": ["key"]}, {"step": "outliers", "columns": ["value"], "action": "drop"},
            {"step": "dedupe", "key": ["code"], "keep": "last"}, {"step": "scale"}]
    local = make_steps(spec)
    kept_local = _fit_steps(local, df, "label")
    kept_dist, dist = _written(client, df, make_steps(spec), tmp_path / "out", 300)
    for a, b in zip(local, dist, strict=True):
        assert_same_state(a.state_, b.state_, a.name)
    assert kept_dist.height == kept_local.height
    assert kept_dist.select("key", "code").equals(kept_local.select("key", "code"))
    assert np.allclose(kept_dist.get_column("value").to_numpy(), kept_local.get_column("value").to_numpy())


def test_pipeline_with_dedupe_and_quarantine_matches_the_local_engine(client, tmp_path: Path, caplog) -> None:
    import logging

    from assay.engine import run_dask
    from assay.pipeline import run

    rng = np.random.default_rng(11)
    n = 3_000
    X = rng.normal(size=(n, 2))
    X[rng.choice(n, 30, replace=False), 0] = 25.0
    label = np.where(X @ [1.0, -1.0] + rng.normal(0, 1.0, n) > 0.8, "yes", "no")
    df = pl.DataFrame({"id": rng.integers(0, 2_000, n), "a": X[:, 0], "b": X[:, 1], "label": label})
    path = tmp_path / "d.parquet"
    df.write_parquet(path, row_group_size=400)

    def spec(where: str) -> dict:
        steps = [{"step": "dedupe", "key": ["id"]},
                 {"step": "outliers", "columns": ["a", "b"], "action": "quarantine",
                  "quarantine": str(tmp_path / where / "quarantine.parquet")},
                 {"step": "drop_useless"}, {"step": "scale"}]
        return {"source": str(path), "target": "label", "steps": steps, "models": ["logreg"],
                "evaluation": {"folds": 3, "threshold": "f1"},
                "output": {"dir": str(tmp_path / where), "report": False}}

    with caplog.at_level(logging.WARNING, logger="assay"):
        local = run(spec("local"))
    local_notes = [r.getMessage() for r in caplog.records if "dedupe: removed" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="assay"):
        dist = run_dask(spec("dask"), client=client, rows_per_partition=400)
    dist_notes = [r.getMessage() for r in caplog.records if "dedupe: removed" in r.getMessage()]
    # each engine says it once, from the final fit (not once per fold), with the same count
    assert local_notes == dist_notes == [f"dedupe: removed {local.model.steps[0].dropped_} duplicate row(s) by key "
                                         f"['id']"]
    assert dist.model.manifest["engine"]["partitions"] == 8
    q_local = pl.read_parquet(tmp_path / "local" / "quarantine.parquet")
    q_dist = pl.read_parquet(tmp_path / "dask" / "quarantine.parquet")
    assert q_local.height > 25
    assert q_dist.equals(q_local)  # the refit on all training rows writes it last, on both engines
    assert_same_result(local, dist, tol=1e-3)
    assert dist.model.steps[0].dropped_ == local.model.steps[0].dropped_ > 0
    assert dist.model.steps[1].rows_removed_ == local.model.steps[1].rows_removed_ == q_local.height
    assert dist.model.threshold["value"] == pytest.approx(local.model.threshold["value"], abs=1e-3)


def test_missing_drop_rows_removes_the_same_rows_as_local(client, tmp_path: Path) -> None:
    df = _outlier_data(seed=8).with_columns(
        pl.when(pl.col("id") % 7 == 0).then(None).otherwise(pl.col("x")).alias("x"),
        pl.when(pl.col("id") % 5 == 0).then(None).otherwise(pl.col("z")).alias("z"))
    spec = [{"step": "missing", "columns": ["x", "z"], "drop_rows": 0.6}]
    local = make_steps(spec)
    kept_local = _fit_steps(local, df, "label")
    kept_dist, dist = _written(client, df, make_steps(spec), tmp_path / "out", 500)
    assert kept_dist.equals(kept_local)
    assert dist[0].rows_removed_ == local[0].rows_removed_ == df.filter((pl.col("id") % 35) == 0).height


def test_a_row_removing_step_fitted_elsewhere_is_refused_for_training_rows(client, tmp_path: Path) -> None:
    from assay.exceptions import SpecError

    df = _dup_data()
    steps = make_steps([{"step": "dedupe", "key": ["key"]}])
    _fit_steps(steps, df, "label")  # fitted locally: its kept rows over the partitions are unknown
    parts = plan_partitions(df, rows_per_partition=450)
    with pytest.raises(SpecError, match="fit the steps on the cluster"):
        write_partitions(client, parts, tmp_path / "out", steps=steps, train=True)
    assert sum(write_partitions(client, parts, tmp_path / "out", steps=steps)) == df.height  # predict-time: all rows
