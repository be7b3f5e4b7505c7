"""Databases go through the same path as files: train on a PostgreSQL table, predict rows of a MariaDB table and a
SQLite query, write the scores back."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import polars as pl

from assay.cli import main


def test_train_on_postgresql_predict_from_mariadb_and_sqlite(
    service: Callable[[str], tuple[str, int]], penguins_csv: Path, tmp_path: Path
):
    import psycopg
    import pymysql

    penguins = pl.read_csv(penguins_csv, null_values="NA")
    table = f"penguins_{uuid.uuid4().hex[:8]}"
    pg_host, pg_port = service("postgresql")
    my_host, my_port = service("mysql")
    pg_dsn = f"host={pg_host} port={pg_port} user=root dbname=test"
    my_conn = pymysql.connect(host=my_host, port=my_port, user="root", password="", database="test", autocommit=True)
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE {table} (species text, island text, bill_length_mm double precision, "
                "bill_depth_mm double precision, flipper_length_mm double precision, body_mass_g double precision, "
                "sex text, year integer)"
            )
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                for row in penguins.iter_rows():
                    copy.write_row(row)
        with my_conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {table} (island VARCHAR(20), bill_length_mm DOUBLE, bill_depth_mm DOUBLE, "
                "flipper_length_mm DOUBLE, body_mass_g DOUBLE, sex VARCHAR(10), year INT)"
            )
            rows = penguins.drop("species").head(40).rows()
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
        db = tmp_path / "shop.sqlite"
        with sqlite3.connect(db) as lite:
            lite.execute("CREATE TABLE birds (island TEXT, bill_length_mm REAL, bill_depth_mm REAL, "
                         "flipper_length_mm REAL, body_mass_g REAL, sex TEXT, year INTEGER, species TEXT)")
            lite.executemany("INSERT INTO birds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             penguins.select("island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                                             "body_mass_g", "sex", "year", "species").rows())

        out = tmp_path / "run"
        source = f"postgresql://root@{pg_host}:{pg_port}/test?table={table}"
        assert main(["train", source, "--target", "species", "--models", "logreg", "--folds", "3",
                     "--out", str(out), "--quiet", "--no-report"]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["test"]["accuracy"] > 0.95
        manifest = json.loads((out / "model" / "manifest.json").read_text())
        assert manifest["source"]["uri"].startswith("postgresql://")

        mysql_source = f"mysql://root@{my_host}:{my_port}/test?table={table}"
        scored = tmp_path / "from_mariadb.parquet"
        assert main(["predict", str(out / "model"), mysql_source, "--out", str(scored), "--quiet"]) == 0
        assert pl.read_parquet(scored).height == 40

        query = "SELECT * FROM birds WHERE species = 'Gentoo'"
        lite_scored = tmp_path / "gentoo.csv"
        assert main(["predict", str(out / "model"), f"sqlite:///{db}?query={query}", "--out", str(lite_scored),
                     "--quiet"]) == 0
        gentoo = pl.read_csv(lite_scored)
        assert (gentoo.get_column("prediction") == "Gentoo").mean() > 0.95
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        with my_conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        my_conn.close()
