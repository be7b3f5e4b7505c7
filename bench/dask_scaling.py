"""Dask engine scaling on this machine: local engine vs Dask with 1 and 2 workers, plus data bigger than memory.

Workload (default 20M rows × 8 float features + a category + a binary label, Parquet in 1M-row row groups):

- ``steps``: fit ``missing`` + ``scale`` over every row (local: one streaming pass of the lazy scan per step;
  dask: per-partition summaries merged in a tree);
- ``gd``: logistic regression by plain gradient descent for a fixed T iterations (``optimizer="gd"``, ``tol=0``):
  local on the in-memory matrix, dask with the matrix persisted on the workers and per-partition gradients summed.

Also measured: the per-task overhead (empty tasks) and the per-iteration overhead of the distributed trainer (one
gradient round on tiny partitions), which feed the projection to 10 and 100 machines written to docs/scaling.md.
``--oom`` runs the out-of-memory case: 2 workers limited to ``--oom-limit`` (2 GiB) each, ``--oom-gib`` (10) GiB of
input, steps fitted, a transformed column written as partitioned Parquet, and logistic regression trained by plain
gradient descent for ``--oom-iters`` iterations on feature matrices that do not fit the workers' memory (cached on
their local disks and streamed through every iteration: ``choose_matrix_mode`` picks "disk").

Real processes: ``dask scheduler`` and ``dask worker`` (1 thread each) on 127.0.0.1; the local engine runs in a
fresh process too, so peak memory (ru_maxrss) is comparable. Run::

    .venv/bin/python bench/dask_scaling.py                 # 20M rows, ~15 min on 2 cores
    .venv/bin/python bench/dask_scaling.py --rows 2000000  # quick look
    .venv/bin/python bench/dask_scaling.py --oom           # adds the 10 GiB / 2 × 2 GiB case
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

DASK = str(Path(sys.executable).with_name("dask"))
ENV = {**os.environ, "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "error", "PYTHONWARNINGS": "ignore"}
FEATURES = [f"f{i}" for i in range(8)]


# ---------------------------------------------------------------------------------------------------------------------
# data


def make_data(folder: Path, rows: int, *, seed: int = 0, chunk: int = 1_000_000) -> int:
    """Parquet files of ``chunk`` rows each: 8 normal features (5% missing in f0), a category, a binary label."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    coef = np.linspace(-1, 1, len(FEATURES))
    for i, start in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - start)
        X = rng.standard_normal((n, len(FEATURES)), dtype=np.float32).astype(np.float64)
        label = (X @ coef + rng.standard_normal(n) > 0).astype(np.int8)
        cols = {f: X[:, j] for j, f in enumerate(FEATURES)}
        cols["f0"] = np.where(rng.random(n) < 0.05, np.nan, cols["f0"])
        frame = pl.DataFrame(cols).with_columns(pl.col("f0").fill_nan(None))
        frame = frame.with_columns(city=pl.Series(rng.choice(["a", "b", "c", "d"], n)), label=pl.Series(label))
        frame.write_parquet(folder / f"part-{i:04d}.parquet", row_group_size=n)
    return rows


BIG_FEATURES = ["c0", "c1", "c2", "c3"]


def make_big(folder: Path, gib: float, *, chunk: int = 4_000_000) -> int:
    """Cheap-to-make, compressible columns totalling ``gib`` GiB in memory (5 float64 columns): four features that
    cycle with different periods (so they are not collinear) and a 0/1 label that depends on them."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = int(gib * 2**30 / (5 * 8))
    index = np.arange(chunk, dtype=np.int64)
    cols = {f"c{j}": ((index * p) % 1_000 / 1_000 - 0.5) for j, p in enumerate((1, 7, 31, 127))}
    cols["label"] = (cols["c0"] - cols["c1"] + 0.5 * cols["c2"] + ((index * 8191) % 1_000 / 1_000 - 0.5) > 0) * 1.0
    for i, start in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - start)
        pl.DataFrame({k: v[:n] + (0.001 * i if k != "label" else 0.0) for k, v in cols.items()}).write_parquet(
            folder / f"big-{i:04d}.parquet", row_group_size=500_000)
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# local engine (child process)


def _local_job(data: str, iters: int, repeat: int, out: mp.Queue) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from assay.clean import get_step
    from assay.models import make_model

    warnings.simplefilter("ignore", ConvergenceWarning)
    lazy = pl.scan_parquet(f"{data}/*.parquet")
    steps_runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        missing = get_step("missing")().fit(lazy, "label")
        scale = get_step("scale")().fit(missing.transform(lazy), "label")
        steps_runs.append(time.perf_counter() - start)
    frame = scale.transform(missing.transform(lazy)).select([*FEATURES, "label"]).collect()
    X = frame.select(FEATURES).to_numpy()
    y = frame.get_column("label").to_numpy()
    del frame
    gd_runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        make_model("logreg", "classification", optimizer="gd", max_iter=iters, tol=0.0, learning_rate=0.5,
                   alpha=0.0).fit(X, y)
        gd_runs.append(time.perf_counter() - start)
    steps_s, gd_s = statistics.median(steps_runs), statistics.median(gd_runs)
    out.put({"steps_s": steps_s, "gd_s": gd_s, "rows": len(y),
             "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run_local(data: Path, iters: int, repeat: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_local_job, args=(str(data), iters, repeat, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


# ---------------------------------------------------------------------------------------------------------------------
# cluster


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A scheduler and ``n`` single-thread workers as separate processes."""

    def __init__(self, workers: int, memory_limit: str, workdir: Path) -> None:
        self.address = f"tcp://127.0.0.1:{_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
                                       env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)]
        for i in range(workers):
            self.procs.append(subprocess.Popen(
                [DASK, "worker", self.address, "--nthreads", "1", "--memory-limit", memory_limit, "--name", f"w{i}",
                 "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(workdir / f"w{i}")],
                env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        self.workers = workers

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _import_all() -> None:
    import importlib

    for name in ("assay.clean", "assay.models._linear", "assay.engine._dask", "sklearn.utils"):
        importlib.import_module(name)


def warm_up(client: object) -> None:
    """Import what the tasks use on every worker first: imports are start-up cost, not throughput."""
    client.run(_import_all)


def _noop(x: int) -> int:
    return x


def run_dask_jobs(data: Path, workers: int, iters: int, memory_limit: str, workdir: Path, repeat: int) -> dict:
    from assay.clean import get_step
    from assay.engine import build_matrices, dask_client, fit_linear, fit_steps, plan_partitions
    from assay.models import make_model

    cluster = Cluster(workers, memory_limit, workdir)
    try:
        with dask_client(cluster.address, timeout=60, echo=lambda _s: None) as client:
            client.wait_for_workers(workers, timeout=120)
            warm_up(client)
            parts = plan_partitions(str(data), rows_per_partition=1_000_000)
            steps_runs = []
            for _ in range(repeat):
                start = time.perf_counter()
                steps = fit_steps(client, parts, [get_step("missing")(), get_step("scale")()], "label")
                steps_runs.append(time.perf_counter() - start)
            start = time.perf_counter()
            X, y = build_matrices(client, parts, steps, FEATURES, [0.0] * len(FEATURES), "label")
            build_s = time.perf_counter() - start
            gd_runs = []
            for _ in range(repeat):
                est = make_model("logreg", "classification", optimizer="gd", max_iter=iters, tol=0.0,
                                 learning_rate=0.5, alpha=0.0)
                start = time.perf_counter()
                est = fit_linear(client, X, y, est, n_features=len(FEATURES))
                gd_runs.append(time.perf_counter() - start)
            steps_s, gd_s = statistics.median(steps_runs), statistics.median(gd_runs)
            peaks = client.run(_peak_rss_mb)
            del X, y
            # The same training with the matrices cached on the workers' disks (the out-of-memory mode), same data.
            start = time.perf_counter()
            X, y = build_matrices(client, parts, steps, FEATURES, [0.0] * len(FEATURES), "label", mode="disk",
                                  cache="bench-disk")
            build_disk_s = time.perf_counter() - start
            disk_runs = []
            for _ in range(repeat):
                est_disk = make_model("logreg", "classification", optimizer="gd", max_iter=iters, tol=0.0,
                                      learning_rate=0.5, alpha=0.0)
                start = time.perf_counter()
                est_disk = fit_linear(client, X, y, est_disk, n_features=len(FEATURES))
                disk_runs.append(time.perf_counter() - start)
            del X, y
            overhead = measure_overheads(client)
            return {"workers": workers, "partitions": len(parts), "steps_s": steps_s, "build_s": build_s,
                    "gd_s": gd_s, "build_disk_s": build_disk_s, "gd_disk_s": statistics.median(disk_runs),
                    "evaluations": est.distributed_["evaluations"],
                    "peak_rss_mb": sorted(round(v) for v in peaks.values()), **overhead}
    finally:
        cluster.close()


def measure_overheads(client: object) -> dict:
    """Per-task overhead (200 empty tasks) and per-iteration overhead (a gradient round on 2-row partitions)."""
    from assay.engine._dask import _DistributedObjective

    client.gather(client.map(_noop, range(10), pure=False))
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        client.gather(client.map(_noop, range(200), pure=False))
        runs.append((time.perf_counter() - start) / 200)
    per_task = statistics.median(runs)
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    X = [client.submit(np.ones, (2, 8), workers=[w], pure=False) for w in workers]
    y = [client.submit(np.zeros, 2, workers=[w], pure=False) for w in workers]
    sw = [client.submit(_noop, None, workers=[w], pure=False) for w in workers]
    objective = _DistributedObjective(client, X, y, sw, "logistic", True, 8, 0.0)
    w = np.zeros(9)
    objective(w)
    rounds = []
    for _ in range(30):
        start = time.perf_counter()
        objective(w)
        rounds.append(time.perf_counter() - start)
    return {"per_task_ms": per_task * 1000, "per_iteration_ms": statistics.median(rounds) * 1000}


def run_oom(workdir: Path, gib: float, limit: str, iters: int) -> dict:
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

    data = workdir / "big"
    start = time.perf_counter()
    rows = make_big(data, gib)
    made_s = time.perf_counter() - start
    cluster = Cluster(2, limit, workdir)
    try:
        with dask_client(cluster.address, timeout=60, echo=lambda _s: None) as client:
            client.wait_for_workers(2, timeout=120)
            warm_up(client)
            parts = plan_partitions(str(data), rows_per_partition=500_000)
            start = time.perf_counter()
            steps = fit_steps(client, parts, [get_step("missing")(), get_step("scale")()], "label")
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            counts = write_partitions(client, parts, workdir / "big-out", steps=steps, fn=_first_column)
            write_s = time.perf_counter() - start
            shutil.rmtree(workdir / "big-out", ignore_errors=True)  # disk room for the matrix cache
            nbytes = matrix_bytes(rows, len(BIG_FEATURES))
            mode, reason = choose_matrix_mode(client, nbytes)
            print(f"out-of-memory case: {reason}", flush=True)
            before = set(client.scheduler_info(n_workers=-1)["workers"])
            start = time.perf_counter()
            X, y = build_matrices(client, parts, steps, BIG_FEATURES, [0.0] * len(BIG_FEATURES), "label", mode=mode,
                                  cache="bench-oom")
            build_s = time.perf_counter() - start
            est = make_model("logreg", "classification", optimizer="gd", max_iter=iters, tol=0.0, learning_rate=0.5,
                             alpha=0.0)
            start = time.perf_counter()
            est = fit_linear(client, X, y, est, n_features=len(BIG_FEATURES))
            gd_s = time.perf_counter() - start
            restarted = before != set(client.scheduler_info(n_workers=-1)["workers"])
            peaks = client.run(_peak_rss_mb)
            del X, y
    finally:
        cluster.close()
    if steps[0].summary_["n"] != rows or sum(counts) != rows:
        msg = f"rows lost or doubled: counted {steps[0].summary_['n']}, wrote {sum(counts)}, expected {rows}"
        raise RuntimeError(msg)
    return {"gib": gib, "rows": rows, "limit": limit, "partitions": len(parts), "make_s": made_s, "fit_s": fit_s,
            "write_s": write_s, "matrix_gb": nbytes / 1e9, "matrices": est.distributed_["matrices"],
            "build_s": build_s, "gd_s": gd_s, "gd_iters": est.n_iter_, "evaluations": est.distributed_["evaluations"],
            "coef": est.coef_.ravel().round(4).tolist(), "workers_restarted": restarted,
            "peak_rss_mb": sorted(round(v) for v in peaks.values())}


def _first_column(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("c0")


# ---------------------------------------------------------------------------------------------------------------------


def main() -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of iterations is the point here
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--iters", type=int, default=20, help="gradient-descent iterations (fixed)")
    parser.add_argument("--memory-limit", default="6GiB", help="per worker in the scaling runs")
    parser.add_argument("--oom", action="store_true", help="also run the bigger-than-memory case")
    parser.add_argument("--oom-gib", type=float, default=10.0)
    parser.add_argument("--oom-limit", default="2GiB")
    parser.add_argument("--oom-iters", type=int, default=5, help="GD iterations in the out-of-memory case")
    parser.add_argument("--oom-only", action="store_true", help="run only the out-of-memory case")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="assay-dask-bench-"))
    try:
        if args.oom_only:
            oom = run_oom(workdir, args.oom_gib, args.oom_limit, args.oom_iters)
            print("out-of-memory case:", json.dumps(oom), flush=True)
            report_oom(oom)
            print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            if args.json:
                args.json.write_text(json.dumps({"oom": oom}, indent=2))
            return
        start = time.perf_counter()
        make_data(workdir / "data", args.rows)
        print(f"data: {args.rows:,} rows in {time.perf_counter() - start:.1f}s ({workdir / 'data'})", flush=True)
        results: dict = {"rows": args.rows, "iters": args.iters, "repeat": args.repeat, "cpus": os.cpu_count(),
                         "load_avg_start": os.getloadavg()[0]}
        results["local"] = run_local(workdir / "data", args.iters, args.repeat)
        print("local:", json.dumps(results["local"]), flush=True)
        for workers in (1, 2):
            res = run_dask_jobs(workdir / "data", workers, args.iters, args.memory_limit, workdir, args.repeat)
            results[f"dask{workers}"] = res
            print(f"dask {workers} worker(s):", json.dumps(res), flush=True)
        if args.oom:
            results["oom"] = run_oom(workdir, args.oom_gib, args.oom_limit, args.oom_iters)
            print("out-of-memory case:", json.dumps(results["oom"]), flush=True)
        results["load_avg_end"] = os.getloadavg()[0]
        report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def report(r: dict) -> None:
    rows, local, d1, d2 = r["rows"], r["local"], r["dask1"], r["dask2"]
    print(f"\n== throughput (rows/s, median of {r['repeat']} runs; higher is better)")
    print(f"{'job':<22}{'local':>14}{'dask 1w':>14}{'dask 2w':>14}{'2w/1w':>8}{'efficiency':>12}")
    for job, key in (("fit steps (2 passes)", "steps_s"), (f"GD {r['iters']} iterations", "gd_s")):
        a, b, c = rows / local[key], rows / d1[key], rows / d2[key]
        print(f"{job:<22}{a:>14,.0f}{b:>14,.0f}{c:>14,.0f}{c / b:>8.2f}{c / b / 2:>12.0%}")
        print(f"  ratio dask1/local time = {d1[key] / local[key]:.2f}, dask2/local time = {d2[key] / local[key]:.2f}")
    print(f"GD per iteration: local {local['gd_s'] / r['iters'] * 1000:.0f} ms, dask 1w "
          f"{d1['gd_s'] / d1['evaluations'] * 1000:.0f} ms, dask 2w {d2['gd_s'] / d2['evaluations'] * 1000:.0f} ms")
    for name, d in (("1w", d1), ("2w", d2)):
        if "gd_disk_s" in d:
            print(f"GD with matrices cached on disk, dask {name}: {d['gd_disk_s'] / d['evaluations'] * 1000:.0f} ms per "
                  f"iteration; disk/memory time = {d['gd_disk_s'] / d['gd_s']:.2f} (build {d['build_disk_s']:.1f}s vs "
                  f"{d['build_s']:.1f}s)")
    print(f"overheads (2 workers): per task {d2['per_task_ms']:.2f} ms, per GD iteration (no data) "
          f"{d2['per_iteration_ms']:.1f} ms")
    print(f"peak RSS MB: local {local['peak_rss_mb']:.0f}; dask 1w {d1['peak_rss_mb']}; dask 2w {d2['peak_rss_mb']}")
    if "oom" in r:
        report_oom(r["oom"])
    print(f"load average at start/end: {r['load_avg_start']:.1f} / {r['load_avg_end']:.1f} on {r['cpus']} CPUs")


def report_oom(o: dict) -> None:
    print(f"out-of-memory: {o['gib']} GiB ({o['rows']:,} rows) on 2 × {o['limit']}: fit steps {o['fit_s']:.0f}s, "
          f"write {o['write_s']:.0f}s; GD on {o['matrix_gb']:.2f} GB of matrices ({o['matrices']}): build "
          f"{o['build_s']:.0f}s, {o['gd_iters']} iterations {o['gd_s']:.0f}s "
          f"({o['gd_s'] / o['evaluations'] * 1000:.0f} ms each, {o['rows'] / (o['gd_s'] / o['evaluations']):,.0f} "
          f"rows/s); peak RSS per worker {o['peak_rss_mb']} MB; workers restarted: {o['workers_restarted']}")


if __name__ == "__main__":
    main()
