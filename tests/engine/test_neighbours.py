"""The ``missing`` step's ffill, bfill and interpolate fill from neighbouring rows: on Dask each partition gets the
rows around it, so the result equals the local engine's on the whole frame — across partition boundaries, whole
partitions without a value, groups, and interpolation by position or by time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assay.engine import build_matrices, fit_steps, plan_partitions, predict_dask, write_partitions
from assay.exceptions import SpecError
from assay.pipeline import _apply_steps, _fit_steps

from ._helpers import assert_same_result, assert_same_state, make_steps

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore:.*(Port|port).*:UserWarning"),
]

ROWS = 50  # rows per partition: 8 partitions of 400 rows


def _series(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """Gaps everywhere, runs longer than a partition, and partitions 2 and 5 (rows 100-149, 250-299) with no value
    of ``x`` or ``c`` at all; text with a missing token; firms interleaved; times in order with a few unknown."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    x[rng.random(n) < 0.35] = np.nan
    x[100:150] = np.nan
    x[250:300] = np.nan
    x[:3] = np.nan  # leading gap: nothing before it, the fallback fill applies on both engines
    x[-4:] = np.nan
    c = rng.choice(["a", "b", "c", "NA"], n).astype(object)
    c[rng.random(n) < 0.3] = None
    c[100:150] = None
    c[250:300] = None
    t = np.cumsum(rng.integers(0, 3, n)).astype(float)  # ties included
    t[rng.random(n) < 0.03] = np.nan
    return pl.DataFrame({
        "x": pl.Series(x).fill_nan(None), "c": pl.Series(c.tolist(), dtype=pl.String),
        "firm": rng.choice(["f1", "f2", "f3", None], n).tolist(), "t": pl.Series(t).fill_nan(None),
        "label": rng.choice(["yes", "no"], n),
    })


CASES = [
    {"strategy": "ffill", "categorical": "ffill", "tokens": ["NA"]},
    {"strategy": "bfill", "categorical": "bfill"},
    {"strategy": "ffill", "categorical": "bfill", "by": "firm", "indicator": True},
    {"strategy": "bfill", "categorical": "ffill", "by": "firm"},
    {"strategy": "interpolate", "categorical": "ffill"},
    {"strategy": "interpolate", "by": "firm"},
    {"strategy": "interpolate", "order_by": "t"},
    {"strategy": "interpolate", "order_by": "t", "by": "firm", "categorical": "bfill"},
]


def _local(spec: list[dict], df: pl.DataFrame) -> tuple[pl.DataFrame, list]:
    steps = make_steps(spec)
    return _fit_steps(steps, df, "label"), steps


def _dask(client, spec: list[dict], df: pl.DataFrame, out: Path) -> tuple[pl.DataFrame, list, list]:
    parts = plan_partitions(df, rows_per_partition=ROWS)
    assert len(parts) == 8
    fitted = fit_steps(client, parts, make_steps(spec), "label")
    write_partitions(client, parts, out, steps=fitted, train=True)
    return pl.read_parquet(sorted(out.glob("part-*.parquet"))), fitted, parts


@pytest.mark.parametrize("params", CASES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_filling_from_neighbours_matches_the_local_engine(client, tmp_path: Path, params: dict) -> None:
    df = _series()
    spec = [{"step": "missing", **params}]
    local, steps = _local(spec, df)
    dist, fitted, _ = _dask(client, spec, df, tmp_path / "out")
    assert_same_state(steps[0].state_, fitted[0].state_)
    assert_frame_equal(dist, local)
    # the gaps crossing a boundary were filled from other partitions (a partition alone would leave them to the
    # fallback value): the data has such gaps, so the comparison above is not vacuous
    alone = pl.concat([_apply_steps(steps, df.slice(i, ROWS)) for i in range(0, df.height, ROWS)])
    assert not alone.equals(local)


def test_a_later_step_is_fitted_on_the_filled_rows_as_locally(client, tmp_path: Path) -> None:
    df = _series(seed=1)
    spec = [{"step": "missing", "strategy": "ffill", "categorical": "ffill"}, {"step": "scale"},
            {"step": "onehot", "columns": ["c"]}]
    local, steps = _local(spec, df)
    dist, fitted, parts = _dask(client, spec, df, tmp_path / "out")
    for a, b in zip(steps, fitted, strict=True):
        assert_same_state(a.state_, b.state_, a.name)  # scale's mean/std are those of the filled column
    assert_frame_equal(dist, local, check_exact=False, rel_tol=1e-12)
    X, _ = build_matrices(client, parts, fitted, ["x"], [0.0], "label")
    got = np.concatenate(client.gather(X))[:, 0]
    assert np.allclose(got, local.get_column("x").to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("params", [{"strategy": "ffill", "categorical": "bfill", "by": "firm"},
                                    {"strategy": "interpolate", "categorical": "ffill"}])
def test_held_out_rows_are_filled_from_the_held_out_rows_as_locally(client, params: dict) -> None:
    """Test rows are transformed as one frame of their own by the local engine (train=False, a row mask)."""
    from assay.engine import row_mask

    df = _series(seed=2)
    rng = np.random.default_rng(0)
    test = np.sort(rng.choice(df.height, 120, replace=False))
    train = np.setdiff1d(np.arange(df.height), test)
    spec = [{"step": "missing", **params}]
    steps = make_steps(spec)
    _fit_steps(steps, df[train], "label")
    expected = _apply_steps(steps, df[test]).get_column("x").to_numpy()
    parts = plan_partitions(df, rows_per_partition=ROWS)
    fitted = fit_steps(client, parts, make_steps(spec), "label", masks=row_mask(train, parts))
    X, _ = build_matrices(client, parts, fitted, ["x"], [0.0], "label", masks=row_mask(test, parts), train=False)
    assert np.allclose(np.concatenate(client.gather(X))[:, 0], expected, rtol=1e-12)


def test_batch_scoring_fills_from_the_rows_around_each_partition(client, tmp_path: Path) -> None:
    from assay._fitted import Model
    from assay.models import make_model

    df = _series(seed=3).with_columns(y=pl.Series(np.arange(400, dtype=float)))
    steps = make_steps([{"step": "missing", "strategy": "interpolate", "order_by": "t", "by": "firm"}])
    train = _fit_steps(steps, df.drop("label"), "y")
    X = train.select("x").to_numpy()
    est = make_model("ridge", "regression").fit(X, train.get_column("y").to_numpy())
    schema = {c: str(t) for c, t in df.drop("label", "y").schema.items()}
    model = Model(steps, est, task="regression", target="y", input_schema=schema, features=["x"])
    model.save(tmp_path / "model")
    source = tmp_path / "score.parquet"
    df.drop("label", "y").write_parquet(source, row_group_size=ROWS)
    info = predict_dask(tmp_path / "model", str(source), tmp_path / "pred", client=client, rows_per_partition=ROWS)
    assert info["partitions"] == 8
    got = pl.read_parquet(sorted((tmp_path / "pred").glob("part-*.parquet")))
    assert_frame_equal(got.get_column("prediction").to_frame(), model.predict(df.drop("label", "y")))


def test_interpolation_by_time_out_of_order_across_partitions_is_refused(client, tmp_path: Path) -> None:
    df = _series(seed=4)
    shuffled = df.with_columns(pl.col("t").reverse())  # partition 1 holds earlier times than partition 0
    spec = [{"step": "missing", "strategy": "interpolate", "order_by": "t"}]
    with pytest.raises(SpecError, match=r"missing: interpolate with order_by='t'.*time order across partitions"):
        _dask(client, spec, shuffled, tmp_path / "out")
    # sorted within each group only, which is all that counts with by=
    per_firm = df.sort("firm", "t", nulls_last=True)
    spec = [{"step": "missing", "strategy": "interpolate", "order_by": "t", "by": "firm"}]
    with pytest.raises(SpecError, match="of group"):
        _dask(client, spec, df.with_columns(pl.col("t").reverse()), tmp_path / "out2")
    local, _ = _local(spec, per_firm)
    dist, _, _ = _dask(client, spec, per_firm, tmp_path / "out3")
    assert_frame_equal(dist, local)


def test_a_row_removing_step_after_a_fill_from_neighbours_is_refused(client) -> None:
    df = _series()
    parts = plan_partitions(df, rows_per_partition=ROWS)
    steps = make_steps([{"step": "missing", "strategy": "ffill"}, {"step": "dedupe", "key": ["c"]}])
    with pytest.raises(SpecError, match=r"remove training rows.*Put the row-removing step"):
        fit_steps(client, parts, steps, "label")


def test_drop_rows_with_ffill_fills_over_the_kept_rows_as_locally(client, tmp_path: Path) -> None:
    df = _series(seed=5)
    spec = [{"step": "missing", "strategy": "ffill", "categorical": "ffill", "drop_rows": 0.4},
            {"step": "scale"}]
    local, steps = _local(spec, df)
    dist, fitted, _ = _dask(client, spec, df, tmp_path / "out")
    assert fitted[0].rows_removed_ == steps[0].rows_removed_ > 0
    for a, b in zip(steps, fitted, strict=True):
        assert_same_state(a.state_, b.state_, a.name)
    assert_frame_equal(dist, local, check_exact=False, rel_tol=1e-12)


@pytest.mark.parametrize("matrices", ["memory", "disk"])
def test_pipeline_with_fills_from_neighbours_matches_the_local_engine(client, tmp_path: Path, matrices: str) -> None:
    """Folds, refit, threshold tuning (whose splits take their rows from the training matrix, as locally) and the
    test split: the same steps' states, scores and threshold on both engines."""
    from assay.engine import run_dask
    from assay.pipeline import run

    rng = np.random.default_rng(12)
    n = 2_400
    level = np.cumsum(rng.normal(0, 0.3, n))
    x = level + rng.normal(0, 0.2, n)
    label = np.where(level + rng.normal(0, 0.5, n) > np.median(level), "up", "down")
    x[rng.random(n) < 0.4] = np.nan
    x[600:700] = np.nan  # two whole partitions without a value
    df = pl.DataFrame({"x": pl.Series(x).fill_nan(None), "firm": rng.choice(["a", "b"], n).tolist(),
                       "label": label})
    path = tmp_path / "d.parquet"
    df.write_parquet(path, row_group_size=50)

    def spec(where: str) -> dict:
        steps = [{"step": "missing", "strategy": "interpolate", "by": "firm"}, {"step": "onehot"}, {"step": "scale"}]
        return {"source": str(path), "target": "label", "steps": steps, "models": ["logreg"],
                "evaluation": {"folds": 3, "threshold": "f1"},
                "output": {"dir": str(tmp_path / where), "report": False}}

    local = run(spec("local"))
    dist = run_dask(spec("dask"), client=client, rows_per_partition=50, matrices=matrices)
    assert dist.model.manifest["engine"]["partitions"] == 48
    assert_same_result(local, dist, tol=1e-6)
    assert dist.model.threshold["value"] == pytest.approx(local.model.threshold["value"], abs=1e-6)


def test_seeds_hold_only_the_groups_of_their_partition(client, tmp_path: Path) -> None:
    """Many groups, each in a run of rows: a partition gets seeds for the groups it holds, not for all 286."""
    from assay.engine import row_mask
    from assay.engine._seeds import compute_seeds

    rng = np.random.default_rng(9)
    n = 2_000
    x = rng.normal(0, 1, n)
    x[rng.random(n) < 0.5] = np.nan
    df = pl.DataFrame({"x": pl.Series(x).fill_nan(None), "g": [f"g{i // 7:03d}" for i in range(n)],
                       "label": rng.choice(["yes", "no"], n)})
    spec = [{"step": "missing", "strategy": "interpolate", "by": "g"}]
    local, _ = _local(spec, df)
    parts = plan_partitions(df, rows_per_partition=ROWS)
    fitted = fit_steps(client, parts, make_steps(spec), "label")
    seeds = compute_seeds(client, parts, row_mask(np.arange(n), parts), fitted, train=True)
    # a group spans two partitions at most here: one seed row before and one after, per partition
    assert max(s[0].before.height + s[0].after.height for s in seeds) <= 2
    assert sum(s[0].before.height for s in seeds) > 0
    write_partitions(client, parts, tmp_path / "out", steps=fitted, train=True)
    assert_frame_equal(pl.read_parquet(sorted((tmp_path / "out").glob("part-*.parquet"))), local)


def test_predict_time_transforms_allow_a_row_removing_step_after_the_fill(client, tmp_path: Path) -> None:
    """Transforms keep every row, so steps fitted locally as [ffill, dedupe] transform partitions like the whole."""
    df = _series(seed=6)
    steps = make_steps([{"step": "missing", "strategy": "ffill", "categorical": "bfill"},
                        {"step": "dedupe", "key": ["c"]}])
    _fit_steps(steps, df, "label")
    parts = plan_partitions(df, rows_per_partition=ROWS)
    write_partitions(client, parts, tmp_path / "out", steps=steps)
    assert_frame_equal(pl.read_parquet(sorted((tmp_path / "out").glob("part-*.parquet"))), _apply_steps(steps, df))
