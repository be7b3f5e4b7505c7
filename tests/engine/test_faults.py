"""Faults on a real cluster: a worker killed mid-job, and input larger than the workers' memory limits.

Both are bounded: the kill tests run a few seconds of work, the memory tests ~1 GB of data through two workers
limited to 300 MB each (the 2 × 2 GiB / 10 GiB case is in bench/dask_scaling.py).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.clean import get_step
from assay.engine import (
    build_matrices,
    choose_matrix_mode,
    dask_client,
    fit_linear,
    fit_steps,
    matrix_bytes,
    plan_partitions,
    write_partitions,
)
from assay.models import make_model

from .conftest import DASK, QUIET, free_port, start_worker, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


def _victim(client, dask_cluster: str, tmp_path: Path, name: str):
    before = set(client.scheduler_info(n_workers=-1)["workers"])
    proc = start_worker(dask_cluster, name, tmp_path)
    deadline = time.monotonic() + 60
    while True:
        added = set(client.scheduler_info(n_workers=-1)["workers"]) - before
        if added:
            return proc, added.pop()
        assert time.monotonic() < deadline, "extra worker did not join"
        time.sleep(0.2)


def test_worker_killed_mid_write_job_every_row_written_once(dask_cluster, client, tmp_path: Path) -> None:
    n, parts_n = 60_000, 30
    pl.DataFrame({"id": np.arange(n), "x": np.arange(n) % 97 * 1.0}).write_parquet(
        tmp_path / "d.parquet", row_group_size=n // parts_n)
    parts = plan_partitions(str(tmp_path / "d.parquet"), rows_per_partition=n // parts_n)
    proc, address = _victim(client, dask_cluster, tmp_path, "victim-write")
    try:
        def slow(frame: pl.DataFrame) -> pl.DataFrame:  # long enough per partition to be caught mid-job
            time.sleep(0.25)
            return frame.with_columns(double=pl.col("x") * 2)

        result: dict[str, object] = {}
        job = threading.Thread(target=lambda: result.update(
            counts=write_partitions(client, parts, tmp_path / "out", fn=slow)))
        job.start()
        deadline = time.monotonic() + 60
        while not client.processing(workers=[address]).get(address):
            assert time.monotonic() < deadline, "the extra worker never received a task"
            time.sleep(0.02)
        assert job.is_alive()
        os.killpg(proc.pid, signal.SIGKILL)  # no goodbye: the scheduler finds out from the broken connection
        job.join(timeout=120)
        assert not job.is_alive()
    finally:
        stop(proc)
    assert sum(result["counts"]) == n
    out = pl.read_parquet(sorted((tmp_path / "out").glob("part-*.parquet")))
    assert out.height == n
    assert out.get_column("id").sort().to_list() == list(range(n))  # each row exactly once
    assert not list((tmp_path / "out").glob(".*.tmp"))  # no half-written file left visible as a part


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_worker_holding_training_data_killed_gd_still_converges(dask_cluster, client, tmp_path: Path,
                                                                mode: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6_000, 4))
    y = np.where(X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(0, 0.5, 6_000) > 0, "pos", "neg")
    frame = pl.DataFrame({f"f{i}": X[:, i] for i in range(4)} | {"label": y})
    parts = plan_partitions(frame, rows_per_partition=500)
    proc, address = _victim(client, dask_cluster, tmp_path, f"victim-gd-{mode}")
    try:
        features = [f"f{i}" for i in range(4)]
        # disk: the handles the victim held are lost with it; the scheduler rebuilds them (and their files) elsewhere
        X_futs, y_futs = build_matrices(client, parts, [], features, [0.0] * 4, "label", mode=mode)
        held = [k for k, where in client.who_has(X_futs).items() if address in where]
        assert held, "the extra worker holds no partition"
        os.killpg(proc.pid, signal.SIGKILL)
        dist = fit_linear(client, X_futs, y_futs, make_model("logreg", "classification"), n_features=4)
    finally:
        stop(proc)
    local = make_model("logreg", "classification").fit(X, y)
    assert dist.distributed_["matrices"] == mode
    assert np.allclose(dist.coef_, local.coef_, rtol=1e-3, atol=1e-4)  # lost pieces were recomputed, once each


def test_counts_exact_after_a_worker_dies_during_step_fitting(dask_cluster, client, tmp_path: Path) -> None:
    n = 200_000
    rng = np.random.default_rng(1)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    pl.DataFrame({"x": pl.Series(x).fill_nan(None), "g": rng.choice(["a", "b"], n)}).write_parquet(
        tmp_path / "d.parquet", row_group_size=5_000)
    parts = plan_partitions(str(tmp_path / "d.parquet"), rows_per_partition=5_000)
    proc, address = _victim(client, dask_cluster, tmp_path, "victim-fit")
    killer = threading.Thread(target=lambda: (_wait_busy(client, address), os.killpg(proc.pid, signal.SIGKILL)))
    killer.start()
    try:
        steps = fit_steps(client, parts, [get_step("missing")(), get_step("onehot")()], None)
    finally:
        killer.join(timeout=60)
        stop(proc)
    assert steps[0].summary_["n"] == n
    assert steps[0].summary_["nulls"]["x"] == int(np.isnan(x).sum())
    assert sum(steps[1].summary_["counts"]["g"].values()) == n


def _wait_busy(client, address: str) -> None:
    deadline = time.monotonic() + 30
    while not client.processing(workers=[address]).get(address) and time.monotonic() < deadline:
        time.sleep(0.005)


def test_input_larger_than_worker_memory_completes_by_streaming(tmp_path: Path) -> None:
    """~1 GB of float64 data through 2 workers limited to 300 MB each (nanny-enforced): fit steps, transform, write."""
    files, rows, cols = 8, 3_000_000, 5  # 8 × 3M × 5 × 8 bytes = 960 MB in memory
    data = tmp_path / "big"
    data.mkdir()
    for i in range(files):
        base = np.arange(rows, dtype=np.float64) % 1_000 + i
        pl.DataFrame({f"c{j}": base * (j + 1) for j in range(cols)}).write_parquet(
            data / f"f{i:02d}.parquet", row_group_size=250_000)
    in_memory = files * rows * cols * 8
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
    workers = [start_worker(address, f"small{i}", tmp_path, memory_limit="300MB", nanny=True) for i in range(2)]
    try:
        with dask_client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            limits = [w["memory_limit"] for w in client.scheduler_info(n_workers=-1)["workers"].values()]
            assert in_memory > sum(limits)  # really bigger than the cluster's memory
            parts = plan_partitions(str(data), rows_per_partition=250_000)
            steps = fit_steps(client, parts, [get_step("missing")(), get_step("scale")()], None)
            counts = write_partitions(client, parts, tmp_path / "out", steps=steps)
    finally:
        for proc in [*workers, scheduler]:
            stop(proc)
    assert steps[0].summary_["n"] == files * rows
    assert sum(counts) == files * rows
    col = pl.scan_parquet(tmp_path / "out" / "*.parquet").select(
        pl.col("c0").mean().alias("mean"), pl.col("c0").std(ddof=0).alias("std"), pl.len()).collect()
    assert col["len"][0] == files * rows
    assert abs(col["mean"][0]) < 1e-9
    assert col["std"][0] == pytest.approx(1.0, rel=1e-6)


def test_gd_on_matrices_larger_than_worker_memory_streams_from_disk(tmp_path: Path) -> None:
    """logreg on 1.44 GB of feature matrices through 2 workers limited to 450 MB each (nanny-enforced): the matrices
    are cached on the workers' disks and streamed through every L-BFGS evaluation (~50 s on 2 busy cores).

    The data set is one block of rows repeated in every file, so its objective (the mean loss) is exactly that of one
    block: the in-memory fit of the same model on that block is the reference. Both run to tol=1e-8 so that the
    comparison measures the engine, not where L-BFGS chose to stop; the coefficients must agree to 1e-6 (absolute;
    measured: 9e-9).
    """
    block, copies, d = 1_200_000, 30, 4  # 36M rows × (4 features + label) × 8 bytes = 1.44 GB of matrices
    rng = np.random.default_rng(7)
    X = rng.normal(size=(block, d))
    y = (X @ [1.5, -1.0, 0.5, 0.0] + rng.logistic(size=block) > 0.3).astype(np.int64)
    data = tmp_path / "big"
    data.mkdir()
    pl.DataFrame({f"f{i}": X[:, i] for i in range(d)} | {"label": y}).write_parquet(
        data / "f00.parquet", row_group_size=300_000)
    for i in range(1, copies):
        os.link(data / "f00.parquet", data / f"f{i:02d}.parquet")  # same bytes, another file of the data set
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
    # 450 MB: importing scikit-learn/SciPy (for the loss) already takes ~240 MB of each worker
    workers = [start_worker(address, f"tiny{i}", tmp_path, memory_limit="450MB", nanny=True) for i in range(2)]
    try:
        with dask_client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            before = set(client.scheduler_info(n_workers=-1)["workers"])
            limits = [w["memory_limit"] for w in client.scheduler_info(n_workers=-1)["workers"].values()]
            parts = plan_partitions(str(data), rows_per_partition=300_000)
            nbytes = matrix_bytes(block * copies, d)
            assert nbytes > 1.5 * sum(limits)  # well over the memory of the whole cluster
            mode, reason = choose_matrix_mode(client, nbytes)
            assert mode == "disk", reason
            features = [f"f{i}" for i in range(d)]
            X_futs, y_futs = build_matrices(client, parts, [], features, [0.0] * d, "label", mode=mode)
            dist = fit_linear(client, X_futs, y_futs, make_model("logreg", "classification", tol=1e-8), n_features=d)
            after = set(client.scheduler_info(n_workers=-1)["workers"])
    finally:
        for proc in [*workers, scheduler]:
            stop(proc)
    assert after == before  # no worker was killed for exceeding its limit (a restart comes back on a new port)
    assert dist.distributed_["matrices"] == "disk"
    local = make_model("logreg", "classification", tol=1e-8).fit(X, y)
    assert np.allclose(dist.coef_, local.coef_, rtol=0, atol=1e-6), np.abs(dist.coef_ - local.coef_).max()
    assert np.allclose(dist.intercept_, local.intercept_, rtol=0, atol=1e-6)


def _popen(cmd: list[str]):
    import subprocess

    return subprocess.Popen(cmd, env={**os.environ, **QUIET}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def test_worker_killed_during_a_whole_training_run_same_result(dask_cluster, client, tmp_path: Path) -> None:
    from assay.engine import run_dask
    from assay.pipeline import run

    rng = np.random.default_rng(3)
    n = 20_000
    X = rng.normal(size=(n, 3))
    label = np.where(X @ [1.0, -1.0, 0.5] + rng.normal(0, 0.7, n) > 0, "yes", "no")
    pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "label": label}).write_parquet(
        tmp_path / "d.parquet", row_group_size=1_000)
    base = {"source": str(tmp_path / "d.parquet"), "target": "label", "steps": [{"step": "scale"}],
            "models": ["logreg"], "evaluation": {"folds": 2}}
    local = run({**base, "output": {"dir": str(tmp_path / "local"), "report": False}})
    proc, address = _victim(client, dask_cluster, tmp_path, "victim-run")
    result: dict[str, object] = {}
    job = threading.Thread(target=lambda: result.update(dist=run_dask(
        {**base, "output": {"dir": str(tmp_path / "dask"), "report": False}}, client=client,
        rows_per_partition=1_000)))
    try:
        job.start()
        deadline = time.monotonic() + 60
        while not client.processing(workers=[address]).get(address):
            assert time.monotonic() < deadline, "the extra worker never received a task"
            time.sleep(0.01)
        assert job.is_alive()
        os.killpg(proc.pid, signal.SIGKILL)
        job.join(timeout=180)
        assert not job.is_alive()
    finally:
        stop(proc)
    dist = result["dist"]
    assert dist.model.manifest["source"]["rows"] == n
    for a, b in zip(local.model.steps, dist.model.steps, strict=True):
        assert a.state_["columns"] == b.state_["columns"]
    assert dist.test_metrics["accuracy"] == pytest.approx(local.test_metrics["accuracy"], abs=1e-3)
    assert dist.cv_scores["logreg"] == pytest.approx(local.cv_scores["logreg"], abs=1e-3)


def test_missing_source_is_said_before_a_local_cluster_starts(tmp_path: Path, monkeypatch) -> None:
    from assay.engine import _run
    from assay.exceptions import SourceNotFoundError

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a source that does not exist")

    monkeypatch.setattr(_run, "dask_client", no_cluster)
    spec = {"source": str(tmp_path / "nope.csv"), "target": "y", "output": {"dir": str(tmp_path / "out")}}
    with pytest.raises(SourceNotFoundError, match=r"nope\.csv"):
        _run.run_dask(spec)
