"""Partitioned sources: every partition plan, read piece by piece, gives back exactly the source's rows in order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.engine import Partition, plan_partitions, read_partition, row_mask
from assay.engine._dask import _unmask
from assay.exceptions import SchemaError, SourceNotFoundError, SpecError
from assay.sources import read_source


def _frame(n: int = 1_000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({"id": np.arange(n), "x": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n)})


def _read_all(parts: list[Partition]) -> pl.DataFrame:
    return pl.concat([read_partition(p) for p in parts])


def test_parquet_row_groups_make_partitions(tmp_path: Path) -> None:
    df = _frame()
    df.write_parquet(tmp_path / "d.parquet", row_group_size=100)
    parts = plan_partitions(str(tmp_path / "d.parquet"), rows_per_partition=250)
    assert [p.rows for p in parts] == [200] * 5  # whole row groups, never more than asked unless one group is
    assert [p.offset for p in parts] == [0, 200, 400, 600, 800]
    assert _read_all(parts).equals(df)


def test_csv_file_is_cut_into_row_ranges_and_reads_like_the_source(tmp_path: Path) -> None:
    df = _frame(1_050)
    df.write_csv(tmp_path / "d.csv")
    parts = plan_partitions(str(tmp_path / "d.csv"), rows_per_partition=300)
    assert [p.rows for p in parts] == [300, 300, 300, 150]
    assert _read_all(parts).equals(read_source(str(tmp_path / "d.csv")))


def test_glob_and_directory_give_files_in_sorted_order(tmp_path: Path) -> None:
    df = _frame(900)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, start in enumerate(range(0, 900, 300)):
        df.slice(start, 300).write_parquet(folder / f"p{i}.parquet")
        df.slice(start, 300).write_csv(tmp_path / f"c{i}.csv")
    (folder / "parts.json").write_text("{}")  # a manifest beside the data, as the local engine reads it: not data
    (folder / "_SUCCESS").write_text("")
    by_dir = plan_partitions(str(folder), rows_per_partition=1_000)
    assert len(by_dir) == 3
    assert _read_all(by_dir).equals(df)
    by_glob = plan_partitions(str(tmp_path / "c*.csv"), rows_per_partition=200)
    assert [p.rows for p in by_glob] == [200, 100] * 3
    assert _read_all(by_glob).get_column("id").to_list() == list(range(900))


def test_in_memory_frame_partitions() -> None:
    df = _frame(10)
    parts = plan_partitions(df, rows_per_partition=4)
    assert [p.rows for p in parts] == [4, 4, 2]
    assert _read_all(parts).equals(df)


def test_sqlite_table_is_split_on_a_key_range(tmp_path: Path) -> None:
    df = _frame(1_000).filter(pl.col("id") % 7 != 3)  # gaps in the key
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, x REAL, g TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", df.rows())
    uri = f"sqlite:///{db}?table=t"
    parts = plan_partitions(uri, key="id", partitions=4)
    assert len(parts) == 4
    got = _read_all(parts).sort("id")
    assert got.height == df.height  # no row twice, none lost at range edges
    assert got.equals(df)
    filtered = plan_partitions(uri, source_options={"where": "g = 'a'"}, key="id", partitions=3)
    assert _read_all(filtered).height == df.filter(pl.col("g") == "a").height


@pytest.mark.services
def test_postgresql_table_is_split_on_a_key_range(service, tmp_path: Path) -> None:
    host, port = service("postgresql")
    import psycopg  # the sql extra is part of the test environment: a missing driver fails, never skips
    df = _frame(2_000)
    with psycopg.connect(f"postgresql://postgres@{host}:{port}/test", autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS assay_engine_parts")
        conn.execute("CREATE TABLE assay_engine_parts (id BIGINT, x DOUBLE PRECISION, g TEXT)")
        with conn.cursor().copy("COPY assay_engine_parts (id, x, g) FROM STDIN") as copy:
            for row in df.rows():
                copy.write_row(row)
    try:
        uri = f"postgresql://postgres@{host}:{port}/test?table=assay_engine_parts"
        parts = plan_partitions(uri, key="id", partitions=5)
        got = _read_all(parts).sort("id")
        assert got.height == 2_000
        assert got.get_column("id").to_list() == list(range(2_000))
        assert np.allclose(got.get_column("x").to_numpy(), df.get_column("x").to_numpy())
    finally:
        with psycopg.connect(f"postgresql://postgres@{host}:{port}/test", autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS assay_engine_parts")


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="no file matches"):
        plan_partitions(str(tmp_path / "nope*.parquet"))
    with pytest.raises(SpecError, match="not partitionable"):
        plan_partitions("redis://localhost/stream")
    db = tmp_path / "a.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (name TEXT)")
        conn.execute("INSERT INTO t VALUES ('x')")
    with pytest.raises(SpecError, match="key column"):
        plan_partitions(f"sqlite:///{db}?table=t")
    with pytest.raises(SchemaError, match="numeric key"):
        plan_partitions(f"sqlite:///{db}?table=t", key="name")


def test_row_mask_selects_global_rows_per_partition() -> None:
    parts = plan_partitions(_frame(10), rows_per_partition=4)
    chosen = np.array([0, 3, 4, 9])
    masks = row_mask(chosen, parts)
    got = [p.offset + i for m, p in zip(masks, parts, strict=True) for i in _unmask(m, p.rows)]
    assert got == chosen.tolist()
    assert row_mask(np.arange(10), parts) == [None, None, None]  # all rows: no mask shipped
