"""Benchmark: read a 5,000,000-row, 15-column PostgreSQL table into a frame — assay vs pandas.read_sql (SQLAlchemy).

Ways, each in its own subprocess so that its peak memory (``ru_maxrss`` from ``os.wait4``) is its own:

- ``assay``: ``open_source("postgresql://…?table=…").read()`` — ADBC's binary COPY straight into Arrow → Polars;
- ``assay-batches``: ``for batch in source.batches(100_000)`` — the bounded-memory path (sums each batch);
- ``pandas``: ``pandas.read_sql("SELECT * FROM …", sqlalchemy_engine)`` over psycopg, the usual way.

Every way runs ``--runs`` times (default 3) in rotating order; the medians and the ratios are printed
(goal: assay ≥ 5× faster than pandas, with bounded peak memory for the batch path).

The table is generated in PostgreSQL itself (``generate_series``) on first use and kept for later runs.

Usage::

    .venv/bin/python bench/sql_read.py                      # 5,000,000 rows on 127.0.0.1:5432, db test
    .venv/bin/python bench/sql_read.py --rows 500000 --runs 3
    .venv/bin/python bench/sql_read.py --uri postgresql://root@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

WAYS = ("assay", "assay-batches", "pandas")


def _ensure_table(uri: str, table: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]
        if exists and conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == rows:
            return
        print(f"generating {table} with {rows:,} rows × 15 columns …", flush=True)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"""
            CREATE TABLE {table} AS
            SELECT g::bigint AS id,
                   random() * 1000 AS f1, random() AS f2, random() * 1e6 AS f3,
                   (random() - 0.5) * 10 AS f4, sqrt(g::float8) AS f5, g / 7.0::float8 AS f6,
                   (g % 1000)::int AS i1, (random() * 100)::int AS i2, (g % 37)::int AS i3,
                   'customer_' || (g % 50000) AS s1, (ARRAY['red','green','blue','amber'])[g % 4 + 1] AS s2,
                   timestamp '2020-01-01' + g * interval '1 second' AS ts,
                   (g % 3 = 0) AS flag,
                   date '2020-01-01' + (g % 2000) AS day
            FROM generate_series(1, {rows}) g""")
        conn.execute(f"ANALYZE {table}")


def _child(way: str, uri: str, table: str) -> None:
    # imports first: the clock measures the read, not a one-time module import (several seconds on a busy box)
    if way.startswith("assay"):
        import adbc_driver_postgresql.dbapi  # noqa: F401

        from assay.sources import open_source
    else:
        import pandas as pd
        import psycopg  # noqa: F401
        import sqlalchemy
    start = time.perf_counter()
    if way == "assay":
        frame = open_source(f"{uri}?table={table}").read()
        rows, cols = frame.shape
    elif way == "assay-batches":
        rows, cols = 0, 0
        total = 0.0
        for batch in open_source(f"{uri}?table={table}").batches(100_000):
            rows += batch.height
            cols = batch.width
            total += float(batch["f1"].sum())
    else:
        engine = sqlalchemy.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            frame = pd.read_sql(f"SELECT * FROM {table}", conn)
        rows, cols = frame.shape
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": rows, "cols": cols}))


def _run(way: str, uri: str, table: str) -> tuple[float, float, int]:
    proc = subprocess.Popen([sys.executable, __file__, "--child", way, "--uri", uri, "--table", table],
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{way} failed (status {status})")
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], usage.ru_maxrss / 1024, result["rows"]  # ru_maxrss is KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="postgresql://root@127.0.0.1:5432/test")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--table", default=None)
    parser.add_argument("--child", choices=WAYS)
    args = parser.parse_args()
    table = args.table or f"bench_sql_read_{args.rows}"
    if args.child:
        _child(args.child, args.uri, table)
        return
    _ensure_table(args.uri, table, args.rows)
    times: dict[str, list[float]] = {w: [] for w in WAYS}
    peaks: dict[str, list[float]] = {w: [] for w in WAYS}
    for run in range(args.runs):
        order = WAYS[run % len(WAYS):] + WAYS[: run % len(WAYS)]
        for way in order:
            seconds, peak, rows = _run(way, args.uri, table)
            if rows != args.rows:
                raise SystemExit(f"{way} read {rows:,} rows, expected {args.rows:,}")
            times[way].append(seconds)
            peaks[way].append(peak)
            print(f"run {run + 1}: {way:14s} {seconds:7.2f} s  peak {peak:8.0f} MiB", flush=True)
    med = {w: statistics.median(times[w]) for w in WAYS}
    mem = {w: statistics.median(peaks[w]) for w in WAYS}
    print(f"\n{args.rows:,} rows × 15 columns from PostgreSQL, median of {args.runs} runs:")
    for way in WAYS:
        print(f"  {way:14s} {med[way]:7.2f} s   peak RSS {mem[way]:8.0f} MiB")
    print(f"assay/pandas time = {med['assay'] / med['pandas']:.3f}  (speed-up {med['pandas'] / med['assay']:.1f}×, "
          "goal ≥ 5×)")
    print(f"assay/pandas peak memory = {mem['assay'] / mem['pandas']:.3f}")
    print(f"assay-batches/pandas peak memory = {mem['assay-batches'] / mem['pandas']:.3f}  "
          f"(bounded: {mem['assay-batches']:.0f} MiB for any table size)")


if __name__ == "__main__":
    main()
