"""The Dask engine's building blocks against a real scheduler and two worker processes on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.clean import get_step
from assay.engine import (
    build_matrices,
    dask_client,
    fit_kmeans,
    fit_lightgbm,
    fit_linear,
    fit_steps,
    map_tasks,
    plan_partitions,
    predict_dask,
    read_partition,
    write_partitions,
)
from assay.exceptions import SpecError
from assay.models import make_model
from assay.pipeline import _fit_steps

from ._helpers import assert_same_state, make_steps

pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore:.*(Port|port).*:UserWarning"),
]

STEPS = [{"step": "missing", "strategy": "median"}, {"step": "outliers"}, {"step": "onehot"}, {"step": "scale"}]


def _data(n: int = 3_000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(10, 3, n)
    x2 = rng.exponential(2.0, n)
    city = rng.choice(["北京", "上海", "Paris", "Lima"], n, p=[0.4, 0.3, 0.2, 0.1])
    score = 0.8 * (x1 - 10) / 3 - 0.5 * x2 + (city == "Paris") * 1.5 + rng.normal(0, 0.5, n)
    x1[rng.random(n) < 0.05] = np.nan
    return pl.DataFrame({
        "x1": pl.Series(x1).fill_nan(None), "x2": x2, "city": city,
        "label": np.where(score > np.median(score), "yes", "no"), "y": score,
    })


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    df = _data()
    path = tmp_path_factory.mktemp("data") / "d.parquet"
    df.write_parquet(path, row_group_size=500)
    return path, df


def test_client_connects_to_scheduler_and_prints_dashboard(dask_cluster: str) -> None:
    lines: list[str] = []
    with dask_client(dask_cluster, echo=lines.append) as client:
        assert len(client.scheduler_info(n_workers=-1)["workers"]) >= 2
    assert dask_cluster in lines[0]
    assert "dashboard: http" in lines[0]


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match="cannot reach the Dask scheduler"), dask_client("tcp://127.0.0.1:9", timeout=1):
        pass
    with pytest.raises(SpecError, match="unknown protocol"), dask_client("http://127.0.0.1:8786"):
        pass


def test_steps_fit_on_partitions_equal_local_fit(client, parquet) -> None:
    path, df = parquet
    parts = plan_partitions(str(path), rows_per_partition=700)
    assert len(parts) == 6
    local = make_steps(STEPS)
    _fit_steps(local, df, "label")
    dist = fit_steps(client, parts, make_steps(STEPS), "label")
    for a, b in zip(local, dist, strict=True):
        assert_same_state(a.state_, b.state_, a.name)
    assert dist[0].summary_["n"] == df.height  # counts are exact
    assert dist[0].summary_["nulls"]["x1"] == df.get_column("x1").null_count()


def test_transform_writes_partitioned_parquet_like_local(client, parquet, tmp_path: Path) -> None:
    path, df = parquet
    parts = plan_partitions(str(path), rows_per_partition=1_000)
    steps = fit_steps(client, parts, make_steps(STEPS), "label")
    counts = write_partitions(client, parts, tmp_path / "out", steps=steps)
    assert counts == [p.rows for p in parts]
    files = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert [f.name for f in files] == [p.name for p in parts]
    got = pl.read_parquet(files)
    out = df
    for step in steps:
        out = step.transform(out)
    out = out.collect() if isinstance(out, pl.LazyFrame) else out
    assert got.columns == out.columns
    assert got.height == df.height
    assert np.allclose(got.select(pl.col(pl.Float64)).to_numpy(), out.select(pl.col(pl.Float64)).to_numpy(),
                       equal_nan=True)


def _matrices(client, df: pl.DataFrame, target: str, parts: int = 4):
    df = df.drop("label" if target == "y" else "y")
    steps = [get_step("missing")(), get_step("onehot")(), get_step("scale")()]
    _fit_steps(steps, df, target)
    features = [c for c in _transform(steps, df).columns if c != target]
    plan = plan_partitions(df, rows_per_partition=df.height // parts + 1)
    X, y = build_matrices(client, plan, steps, features, [0.0] * len(features), target)
    full = _transform(steps, df)
    return X, y, full.select(features).to_numpy(), full.get_column(target).to_numpy(), len(features)


def _transform(steps, df):
    out = df
    for step in steps:
        out = step.transform(out)
    return out.collect() if isinstance(out, pl.LazyFrame) else out


@pytest.mark.parametrize(("target", "task", "name", "params"), [
    ("label", "classification", "logreg", {}),
    ("label", "classification", "logreg", {"optimizer": "gd", "learning_rate": 0.5, "max_iter": 300}),
    ("y", "regression", "linreg", {}),
])
def test_gradient_descent_data_parallel_matches_local(client, target, task, name, params) -> None:
    df = _data(2_000, seed=1)
    X_futs, y_futs, X, y, d = _matrices(client, df, target)
    local = make_model(name, task, **params).fit(X, y)
    dist = fit_linear(client, X_futs, y_futs, make_model(name, task, **params), n_features=d)
    assert dist.distributed_["partitions"] == 4
    assert np.allclose(dist.coef_, local.coef_, rtol=1e-3, atol=1e-4)
    assert np.allclose(dist.intercept_, local.intercept_, rtol=1e-3, atol=1e-4)
    assert np.allclose(dist.predict(X[:50]) if task == "regression" else dist.predict_proba(X[:50]),
                       local.predict(X[:50]) if task == "regression" else local.predict_proba(X[:50]), atol=1e-4)


@pytest.mark.parametrize("params", [
    {"class_weight": "balanced"},  # softmax, per-class weights derived and cached next to the labels
    {"dtype": "float32", "optimizer": "adam", "learning_rate": 0.05, "max_iter": 50},
])
def test_disk_cached_matrices_train_exactly_like_memory_ones(client, params) -> None:
    from assay.engine import drop_cached

    df = _data(1_500, seed=4).with_columns(label=pl.col("city")).drop("city", "y")
    steps = [get_step("missing")(), get_step("scale")()]
    _fit_steps(steps, df, "label")
    features = ["x1", "x2"]
    plan = plan_partitions(df, rows_per_partition=400)
    memory = build_matrices(client, plan, steps, features, [0.0, 0.0], "label")
    disk = build_matrices(client, plan, steps, features, [0.0, 0.0], "label", mode="disk", cache="t-disk")
    assert client.gather(client.map(type, disk[0]))[0].__name__ == "DiskArray"
    a = fit_linear(client, *memory, make_model("logreg", "classification", **params), n_features=2)
    b = fit_linear(client, *disk, make_model("logreg", "classification", **params), n_features=2)
    assert (a.distributed_["matrices"], b.distributed_["matrices"]) == ("memory", "disk")
    # The same partitions and arithmetic; only the order in which the workers' sums are added may differ.
    assert np.allclose(a.coef_, b.coef_, rtol=1e-7, atol=1e-9)
    assert np.allclose(a.intercept_, b.intercept_, rtol=1e-7, atol=1e-9)
    drop_cached(client, ["t-disk"])  # files gone (as after a worker's disk was lost): recomputed from the source
    c = fit_linear(client, *disk, make_model("logreg", "classification", **params), n_features=2)
    assert np.allclose(a.coef_, c.coef_, rtol=1e-7, atol=1e-9)
    drop_cached(client, ["t-disk"])


def test_gradient_summed_in_a_tree_on_the_workers_equals_the_client_sum(client) -> None:
    from assay.engine._dask import _DistributedObjective

    df = _data(1_200, seed=6)
    X_futs, y_futs, _, _, d = _matrices(client, df.drop("city"), "y", parts=5)
    sw = [None] * len(X_futs)
    w = np.linspace(-1, 1, d + 1)
    flat = _DistributedObjective(client, X_futs, y_futs, sw, "squared", True, d, 0.1)
    tree = _DistributedObjective(client, X_futs, y_futs, sw, "squared", True, d, 0.1)
    tree.tree_from = 1  # the test cluster has two workers; force the reduction on the workers
    (f1, g1), (f2, g2) = flat(w), tree(w)
    assert f2 == pytest.approx(f1, rel=1e-12)
    assert np.allclose(g1, g2, rtol=1e-12, atol=1e-15)


def test_matrix_mode_follows_the_workers_memory_limits(client) -> None:
    from assay.engine import choose_matrix_mode, matrix_bytes

    limits = sum(w["memory_limit"] for w in client.scheduler_info(n_workers=-1)["workers"].values())
    assert matrix_bytes(1_000, 4) == 40_000
    assert choose_matrix_mode(client, limits // 4)[0] == "memory"
    mode, reason = choose_matrix_mode(client, limits)
    assert mode == "disk"
    assert "local disks" in reason


def test_softmax_with_class_weights_matches_local(client) -> None:
    df = _data(1_500, seed=2).with_columns(label=pl.col("city"))  # four classes, unbalanced
    df = df.drop("city")
    X_futs, y_futs, X, y, d = _matrices(client, df, "label", parts=3)
    local = make_model("logreg", "classification", class_weight="balanced").fit(X, y)
    dist = fit_linear(client, X_futs, y_futs, make_model("logreg", "classification", class_weight="balanced"),
                      n_features=d)
    assert dist.classes_.tolist() == local.classes_.tolist()
    assert np.allclose(dist.predict_proba(X), local.predict_proba(X), atol=1e-3)


def test_lightgbm_through_its_dask_interface(client) -> None:
    df = _data(4_000, seed=3)
    X_futs, y_futs, X, y, d = _matrices(client, df, "label", parts=2)
    est = make_model("lgbm", "classification", n_estimators=20, n_jobs=1)
    model = fit_lightgbm(client, X_futs, y_futs, est, n_features=d)
    local = make_model("lgbm", "classification", n_estimators=20, n_jobs=1).fit(X, y)
    assert type(model).__name__ == "LGBMClassifier"  # a plain local model for the artifact
    acc_dist = float(np.mean(model.predict(X) == y))
    acc_local = float(np.mean(local.predict(X) == y))
    assert acc_dist > 0.85
    assert abs(acc_dist - acc_local) < 0.03


def test_kmeans_on_partitions_finds_the_same_centres(client) -> None:
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=6_000, centers=4, n_features=3, cluster_std=0.6, random_state=0)
    futures = client.scatter(np.array_split(X, 5))
    centres, inertia, _ = fit_kmeans(client, futures, 4, seed=0)
    ref = KMeans(4, n_init=4, random_state=0).fit(X)
    order = lambda c: c[np.lexsort(c.T)]  # noqa: E731
    assert np.allclose(order(centres), order(ref.cluster_centers_), atol=0.02)
    assert inertia == pytest.approx(ref.inertia_, rel=1e-3)


def test_tuning_trials_run_as_parallel_tasks(client) -> None:
    df = _data(600, seed=4)
    X = df.select(pl.col("x1").fill_null(10.0), "x2").to_numpy()
    y = df.get_column("label").to_numpy()
    alphas = [1e-4, 1e-2, 1.0]

    def trial(alpha: float, X: np.ndarray, y: np.ndarray) -> float:  # nested: pickled by value for the workers
        from sklearn.model_selection import cross_val_score

        from assay.models import make_model

        return float(cross_val_score(make_model("logreg", "classification", alpha=alpha), X, y, cv=3).mean())

    scores = map_tasks(client, trial, alphas, X=X, y=y)
    assert scores == [trial(a, X, y) for a in alphas]


def test_predict_dask_writes_partitioned_parquet_equal_to_local_predict(dask_cluster, client, tmp_path) -> None:
    from assay.cli import main
    from assay.pipeline import train

    df = _data(1_200, seed=5).drop("y")
    src = tmp_path / "score.parquet"
    df.write_parquet(src, row_group_size=300)
    result = train(df, "label", models=["logreg"], folds=2, steps=STEPS, out=tmp_path / "train", report=False)
    done = predict_dask(result.model_path, str(src), tmp_path / "pred", client=client, rows_per_partition=300)
    assert done == {"rows": 1_200, "partitions": 4, "out_dir": str(tmp_path / "pred"), "unreadable": {}}
    got = pl.read_parquet(sorted((tmp_path / "pred").glob("part-*.parquet")))
    expected = pl.concat([df, result.model.predict(df)], how="horizontal")
    assert got.equals(expected)
    code = main(["predict", str(result.model_path), str(src), "--out", str(tmp_path / "cli"), "--engine", "dask",
                 "--scheduler", dask_cluster, "--quiet"])
    assert code == 0
    assert pl.read_parquet(sorted((tmp_path / "cli").glob("*.parquet"))).equals(expected)
    assert main(["predict", str(result.model_path), str(src), "--engine", "dask", "--quiet"]) == 2  # no --out


def test_assay_run_engine_dask_on_the_cluster(dask_cluster, tmp_path, parquet) -> None:
    from assay.cli import main

    path, _ = parquet
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(json.dumps({"source": str(path), "target": "label", "steps": STEPS, "models": ["logreg"],
                                "evaluation": {"folds": 2}, "output": {"dir": str(tmp_path / "out"),
                                                                       "report": False}}))
    assert main(["run", str(spec), "--engine", "dask", "--scheduler", dask_cluster, "--quiet"]) == 0
    manifest = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())
    assert manifest["engine"]["name"] == "dask"
    assert manifest["engine"]["workers"] >= 2
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.8


def test_read_partition_on_a_worker_matches_local_read(client, parquet) -> None:
    path, df = parquet
    parts = plan_partitions(str(path), rows_per_partition=1_500)
    frames = client.gather(client.map(read_partition, parts))
    assert pl.concat(frames).equals(df)


def test_run_dask_on_a_sql_table_split_on_its_key(client, tmp_path) -> None:
    import sqlite3

    from assay.engine import run_dask
    from assay.pipeline import run

    df = _data(800, seed=6).with_row_index("id")
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE visits (id INTEGER, x1 REAL, x2 REAL, city TEXT, label TEXT, y REAL)")
        conn.executemany("INSERT INTO visits VALUES (?, ?, ?, ?, ?, ?)", df.rows())
    base = {"source": f"sqlite:///{db}?table=visits", "target": "label", "steps": STEPS, "models": ["logreg"],
            "evaluation": {"folds": 2}}
    local = run({**base, "output": {"dir": str(tmp_path / "local"), "report": False}})
    dist = run_dask({**base, "source_options": {"key": "id", "partitions": 4},
                     "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client)
    assert dist.model.manifest["engine"]["partitions"] == 4
    assert dist.model.manifest["source"]["rows"] == 800
    for a, b in zip(local.model.steps, dist.model.steps, strict=True):
        assert_same_state(a.state_, b.state_, a.name)
    assert dist.test_metrics["accuracy"] == pytest.approx(local.test_metrics["accuracy"], abs=1e-3)


def test_clustering_pipeline_with_kmeans_on_partitions(client, tmp_path) -> None:
    from sklearn.datasets import make_blobs

    from assay.engine import run_dask
    from assay.pipeline import run

    X, _ = make_blobs(n_samples=3_000, centers=3, n_features=2, cluster_std=0.5, random_state=1)
    path = tmp_path / "blobs.parquet"
    pl.DataFrame({"a": X[:, 0], "b": X[:, 1]}).write_parquet(path, row_group_size=500)
    base = {"source": str(path), "task": "clustering", "steps": [{"step": "scale"}], "models": ["kmeans"],
            "evaluation": {"folds": 2}}
    local = run({**base, "output": {"dir": str(tmp_path / "local"), "report": False}})
    dist = run_dask({**base, "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client,
                    rows_per_partition=500, distribute_rows=100)  # force k-means on partitions
    est_local, est_dist = local.model.estimator, dist.model.estimator
    assert est_dist.n_clusters_ == est_local.n_clusters_ == 3
    order = lambda c: c[np.lexsort(c.T)]  # noqa: E731
    assert np.allclose(order(est_dist.cluster_centers_), order(est_local.cluster_centers_), atol=0.02)
    assert dist.test_metrics["silhouette"] == pytest.approx(local.test_metrics["silhouette"], abs=1e-2)
    frame = pl.read_parquet(path).head(200)
    assert (dist.model.predict(frame)["cluster"].n_unique()) == 3


def test_run_dask_refuses_what_it_cannot_run_with_a_clear_error(client, parquet) -> None:
    from assay.engine import run_dask
    from assay.exceptions import SchemaError

    path, _ = parquet
    with pytest.raises(SchemaError, match=r"target column 'lable' not found.*did you mean 'label'"):
        run_dask({"source": str(path), "target": "lable"}, client=client)
    with pytest.raises(SpecError, match="not partitionable"):
        run_dask({"source": "redis://127.0.0.1/stream", "target": "y"}, client=client)


def test_recommendation_runs_as_one_task_on_a_worker(client, tmp_path) -> None:
    from assay.engine import run_dask
    from assay.pipeline import run

    rng = np.random.default_rng(0)
    rows = [{"user": f"u{u}", "item": f"i{item}"} for u in range(120)
            for item in rng.choice(20, size=6, replace=False) + (0 if u < 60 else 20)]
    path = tmp_path / "ratings.parquet"
    pl.DataFrame(rows).write_parquet(path)
    spec = {"source": str(path), "task": "recommendation", "user": "user", "item": "item",
            "models": ["itemknn", "popularity"]}
    local = run({**spec, "output": {"dir": str(tmp_path / "local"), "report": False}})
    dist = run_dask({**spec, "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client)
    assert dist.model.manifest["engine"]["on_one_worker"] is True
    assert [r["model"] for r in dist.leaderboard] == [r["model"] for r in local.leaderboard]
    # The same job, run on a worker: equal up to floating-point summation order in another process.
    assert dist.test_metrics == pytest.approx(local.test_metrics, rel=1e-12)
    assert (tmp_path / "dask" / "model" / "manifest.json").is_file()


def test_time_budget_search_runs_on_a_worker(client, parquet, tmp_path) -> None:
    from assay.engine import run_dask

    path, _ = parquet
    result = run_dask({"source": str(path), "target": "label", "steps": STEPS, "models": ["logreg", "rf"],
                       "evaluation": {"folds": 2, "time_budget": 4},
                       "output": {"dir": str(tmp_path / "out"), "report": False}}, client=client)
    assert {row["model"] for row in result.leaderboard} <= {"logreg", "rf"}
    assert result.test_metrics["accuracy"] > 0.8
    assert (tmp_path / "out" / "model" / "manifest.json").is_file()


def test_regression_report_on_the_dask_engine(client, tmp_path) -> None:
    """The report of a Dask run is written without a learning curve (its training rows stay on the workers)."""
    from sklearn.datasets import load_diabetes

    from assay.engine import run_dask

    data = load_diabetes(as_frame=True).frame
    path = tmp_path / "diabetes.parquet"
    pl.from_pandas(data).write_parquet(path, row_group_size=100)
    spec = {"source": str(path), "target": "target", "task": "regression", "steps": [{"step": "scale"}],
            "models": ["linreg"], "evaluation": {"folds": 3}, "output": {"dir": str(tmp_path / "dask")}}
    result = run_dask(spec, client=client)
    html = (tmp_path / "dask" / "report.html").read_text(encoding="utf-8")
    assert result.report_path is not None
    assert "<h2>Residuals and predicted vs actual" in html
    assert "<h2>Learning curve" not in html


def test_predict_dask_reads_unreadable_values_as_missing_and_counts_them(client, tmp_path) -> None:
    from assay.pipeline import train

    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    days = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)]
    frame = pl.DataFrame({"x": x, "day": days, "y": 2 * x + rng.normal(0, 0.1, n)})
    result = train(frame, "y", task="regression", models=["linreg"], folds=2, out=tmp_path / "train", report=False)
    score = frame.drop("y").with_columns(
        pl.when(pl.int_range(pl.len()).is_in([5, 350])).then(pl.lit("soon")).otherwise(pl.col("day")).alias("day"),
        pl.col("x").cast(pl.String).replace({str(x[7]): "n/a?"}))
    src = tmp_path / "score.parquet"
    score.write_parquet(src, row_group_size=100)
    done = predict_dask(result.model_path, str(src), tmp_path / "pred", client=client, rows_per_partition=100)
    assert done["rows"] == n
    assert done["unreadable"] == {"day": (2, "soon", "date in the format '%Y-%m-%d'"), "x": (1, "n/a?", "Float64")}
    got = pl.read_parquet(sorted((tmp_path / "pred").glob("part-*.parquet")))
    assert got.height == n
    assert got.get_column("prediction").null_count() == 0
    assert got.get_column("day").to_list()[5] == "soon"  # the input is written back as it came


def test_gradient_descent_runs_in_one_task_below_the_distribution_threshold(client, tmp_path, monkeypatch) -> None:
    """A few thousand rows: one task on one worker (data-parallel GD would take a round trip per iteration); above
    ``distribute_rows`` the per-partition gradients are summed. Both give the local engine's model."""
    import numpy as np
    import polars as pl

    from assay.engine import _run
    from assay.engine import run_dask as run_on_dask

    rng = np.random.default_rng(2)
    X = rng.normal(size=(1_200, 3))
    path = tmp_path / "d.parquet"
    pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": X @ [1.0, -2.0, 0.5] + rng.normal(0, 0.1, 1_200)}
                 ).write_parquet(path, row_group_size=300)
    calls: list[int] = []
    real = _run.fit_linear
    monkeypatch.setattr(_run, "fit_linear", lambda *a, **k: calls.append(1) or real(*a, **k))
    spec = {"source": str(path), "target": "y", "task": "regression", "models": ["linreg"],
            "evaluation": {"folds": 2}, "output": {"report": False}}
    small = run_on_dask({**spec, "output": {"dir": str(tmp_path / "one"), "report": False}}, client=client,
                        rows_per_partition=300, echo=None)
    assert calls == []
    big = run_on_dask({**spec, "output": {"dir": str(tmp_path / "many"), "report": False}}, client=client,
                      rows_per_partition=300, distribute_rows=100, echo=None)
    assert len(calls) >= 3  # each fold and the refit
    assert small.test_metrics["r2"] == pytest.approx(big.test_metrics["r2"], abs=1e-3)


def test_lightgbm_on_a_small_table_is_the_local_engines_model(client, tmp_path) -> None:
    """Under 200 training rows the local engine gives LightGBM smaller leaves (it could not split otherwise); the
    Dask engine fits the same model, so both give the same metrics."""
    import numpy as np
    import polars as pl

    from assay.engine import run_dask as run_on_dask
    from assay.pipeline import run

    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 3))
    path = tmp_path / "small.parquet"
    pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": 3 * X[:, 0] - X[:, 1] + rng.normal(0, 0.2, 120)}
                 ).write_parquet(path, row_group_size=40)
    spec = {"source": str(path), "target": "y", "task": "regression", "models": ["lgbm"], "evaluation": {"folds": 3}}
    local = run({**spec, "output": {"dir": str(tmp_path / "local"), "report": False}})
    dist = run_on_dask({**spec, "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client,
                       rows_per_partition=40, echo=None)
    assert local.test_metrics["r2"] > 0.5  # the small-leaf model learns; the default one predicts the mean
    assert dist.test_metrics["r2"] == pytest.approx(local.test_metrics["r2"], abs=1e-9)
    assert dist.cv_scores["lgbm"] == pytest.approx(local.cv_scores["lgbm"], abs=1e-9)


def test_a_totals_row_at_the_end_is_not_trained_on_by_either_engine(client, tmp_path, sales_report) -> None:
    """A report's 合计 row is left out on Dask as it is locally: same note, same rows, same metrics."""
    from assay.engine import run_dask as run_on_dask
    from assay.pipeline import run

    (path, plain), n = sales_report, 120
    spec = {"source": str(path), "target": "sales", "models": ["linreg"], "evaluation": {"folds": 3}}
    local = run({**spec, "output": {"dir": str(tmp_path / "local"), "report": False}})
    dist = run_on_dask({**spec, "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client,
                       rows_per_partition=50, echo=None)
    note = (f"dropped the last row (row {n + 1}): a totals row, not data ('city' is '合计'; 'spend', 'sales' equal "
            "the sums of the rows above)")
    assert note in local.notes
    assert note in dist.notes
    assert dist.split["train_rows"] + dist.split["test_rows"] == n
    assert dist.test_metrics["r2"] == pytest.approx(local.test_metrics["r2"], abs=1e-3)

    # the same rows without the totals row: nothing dropped
    kept = run_on_dask({**spec, "source": str(plain), "output": {"dir": str(tmp_path / "plain"), "report": False}},
                       client=client, rows_per_partition=50, echo=None)
    assert kept.split["train_rows"] + kept.split["test_rows"] == n
    assert not any("totals row" in note for note in kept.notes)
