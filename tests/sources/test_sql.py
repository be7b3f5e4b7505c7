"""SQL sources and sinks against real databases: SQLite and DuckDB files, the machine's PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assay.exceptions import SourceError, SourceNotFoundError, SpecError, UnsupportedSourceError
from assay.sources import Source, open_source
from assay.sources._sinks import open_sink
from assay.sources._sql import SQLSource, connect
from assay.testing import check_source

pytestmark = pytest.mark.services

N = 1_000


def _frame(n: int = N, start: int = 0) -> pl.DataFrame:
    ids = pl.int_range(start, start + n, eager=True)
    return pl.DataFrame(
        {
            "id": ids,
            "amount": ids.cast(pl.Float64) * 1.25,
            "city": pl.Series(["Lyon", "Oslo", "Kyiv", None] * (n // 4 + 1))[:n],
            "flag": (ids % 3 == 0),
            "ts": pl.datetime_range(
                dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1) + dt.timedelta(minutes=n - 1), "1m", eager=True
            ),
        }
    )


def _name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg(service: Callable[[str], tuple[str, int]]) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL table with N rows; dropped after the test. Yields (base URI, table)."""
    import psycopg

    host, port = service("postgresql")
    base = f"postgresql://root@{host}:{port}/test"
    table = _name()
    with psycopg.connect(f"host={host} port={port} user=root dbname=test", autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {table} (id bigint primary key, amount numeric(12,2), city text, flag boolean, ts timestamp)"
        )
        conn.execute(
            f"INSERT INTO {table} SELECT g, g * 1.25, (ARRAY['Lyon','Oslo','Kyiv',NULL])[g % 4 + 1], "
            f"g % 3 = 0, timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(0, {N - 1}) g"
        )
        yield base, table
        conn.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def my(service: Callable[[str], tuple[str, int]]) -> Iterator[tuple[str, str]]:
    import pymysql

    host, port = service("mysql")
    table = _name()
    conn = pymysql.connect(host=host, port=port, user="root", password="", database="test", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, amount DOUBLE, city VARCHAR(20), ts DATETIME)")
        rows = [
            (i, i * 1.25, ["Lyon", "Oslo", None][i % 3], dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i))
            for i in range(N)
        ]
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", rows)
    yield f"mysql://root@{host}:{port}/test", table
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    conn.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, city TEXT, flag INTEGER, ts TEXT)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?)", _frame().with_columns(pl.col("ts").cast(pl.String)).rows()
        )
    return f"sqlite:///{path}"


# -- reading --------------------------------------------------------------------------------------------------------


def test_sqlite_table_keeps_the_source_contract(sqlite_db: str) -> None:
    source = open_source(f"{sqlite_db}?table=orders")
    assert isinstance(source, Source)
    data = check_source(source, batch_sizes=(1, 333, 5000))
    assert data.shape == (N, 5)
    assert data["amount"].sum() == pytest.approx(sum(i * 1.25 for i in range(N)))


def test_sqlite_columns_and_where_are_pushed_into_the_sql(sqlite_db: str) -> None:
    source = SQLSource(f"{sqlite_db}?table=orders&columns=id,city&where=amount > 100 AND city = 'Oslo'")
    sql, _ = source._select()
    assert "WHERE (amount > 100 AND city = 'Oslo')" in sql
    assert sql.startswith('SELECT "id", "city" FROM')
    data = source.read()
    assert data.columns == ["id", "city"]
    assert data.height == sum(1 for i in range(N) if i * 1.25 > 100 and i % 4 == 1)
    assert set(data["city"]) == {"Oslo"}


def test_sqlite_query_and_lazy_scan_pushdown(sqlite_db: str) -> None:
    source = open_source(f"{sqlite_db}?query=SELECT id, amount * 2 AS double FROM orders WHERE id < 100")
    lazy = source.scan()
    got = lazy.select("double").filter(pl.col("double") > 100).collect()
    assert got["double"].to_list() == [i * 2.5 for i in range(100) if i * 2.5 > 100]
    assert lazy.head(7).collect().height == 7


def test_postgresql_reads_arrow_batches_in_bounded_chunks(pg: tuple[str, str]) -> None:
    base, table = pg
    source = open_source(f"{base}?table={table}&batch_size=300")
    data = check_source(source, batch_sizes=(300, 1000))
    assert data.schema["amount"] == pl.Float64  # numeric arrives as a number, not opaque text
    assert data.schema["ts"] == pl.Datetime("us")
    assert [b.height for b in source.batches()] == [300, 300, 300, 100]
    assert data.sort("id")["amount"][4] == pytest.approx(5.0)


def test_postgresql_pushdown_and_scan(pg: tuple[str, str]) -> None:
    base, table = pg
    source = open_source(f"{base}?table={table}&columns=id,city&where=flag")
    data = source.read()
    assert data.columns == ["id", "city"]
    assert data.height == len(range(0, N, 3))
    lazy = open_source(f"{base}?table={table}").scan()
    head = lazy.select("id", "amount").head(5).collect()
    assert head.columns == ["id", "amount"]
    assert head.height == 5


def test_mariadb_streams_rows_with_an_unbuffered_cursor(my: tuple[str, str]) -> None:
    base, table = my
    source = open_source(f"{base}?table={table}&batch_size=400")
    data = check_source(source, batch_sizes=(400,))
    assert data.height == N
    assert data.schema["ts"] == pl.Datetime("us")
    assert data["city"].null_count() == len(range(2, N, 3))
    only = open_source(f"{base}?table={table}&columns=id&where=city = 'Lyon'").read()
    assert only.columns == ["id"]
    assert only.height == len(range(0, N, 3))


def test_duckdb_file(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("src", _frame().to_arrow())
        con.execute("CREATE TABLE sales AS SELECT * FROM src")
    source = open_source(f"duckdb:///{path}?table=sales&batch_size=250")
    data = check_source(source, batch_sizes=(250,))
    assert_frame_equal(data.sort("id"), _frame())
    assert open_source(f"duckdb:///{path}?query=SELECT count(*) AS n FROM sales").read()["n"][0] == N


# -- incremental loads --------------------------------------------------------------------------------------------


def test_watermark_reads_only_newer_rows_and_is_saved_atomically(sqlite_db: str, tmp_path: Path) -> None:
    state = tmp_path / "wm" / "orders.json"
    uri = f"{sqlite_db}?table=orders&watermark=id&state={state}&batch_size=400"
    first = open_source(uri)
    seen = []
    for batch in first.batches():
        seen.append(batch)
        first.commit(batch)  # after the batch is durably written
    assert sum(b.height for b in seen) == N
    assert json.loads(state.read_text())["value"] == N - 1
    assert [p.name for p in state.parent.iterdir()] == ["orders.json"]  # no temp file left behind

    path = sqlite_db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO orders (id, amount) VALUES (?, ?)", [(N + i, 1.0) for i in range(5)])
    again = open_source(uri).read()
    assert again["id"].to_list() == [N + i for i in range(5)]


def test_watermark_never_splits_rows_that_share_a_value(tmp_path: Path) -> None:
    path = tmp_path / "ties.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ev (id INTEGER, day INTEGER)")
        conn.executemany("INSERT INTO ev VALUES (?, ?)", [(i, i // 7) for i in range(50)])  # 7 rows per day
    state = tmp_path / "s.json"
    source = open_source(f"sqlite:///{path}?table=ev&watermark=day&state={state}&batch_size=10")
    batches = list(source.batches())
    assert sum(b.height for b in batches) == 50
    for before, after in itertools.pairwise(batches):
        assert before["day"].max() < after["day"].min()


def test_postgresql_watermark_on_timestamps(pg: tuple[str, str], tmp_path: Path) -> None:
    base, table = pg
    state = tmp_path / "pg.json"
    source = open_source(f"{base}?table={table}&watermark=ts&state={state}")
    data = source.read()
    source.commit(data.head(600))
    rest = open_source(f"{base}?table={table}&watermark=ts&state={state}").read()
    assert rest.height == N - 600
    assert rest["id"].min() == 600


# -- writing back ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "postgresql", "mysql"])
def test_sql_sink_upserts_on_the_key_in_one_transaction(
    dialect: str, tmp_path: Path, service: Callable[[str], tuple[str, int]]
) -> None:
    table = _name()
    if dialect in ("sqlite", "duckdb"):
        uri = f"{dialect}:///{tmp_path / 'out.db'}?table={table}&key=id"
    else:
        host, port = service(dialect)
        user_db = "root@" + f"{host}:{port}/test"
        uri = f"{dialect}://{user_db}?table={table}&key=id"
    sink = open_sink(uri)
    try:
        first = _frame(100).with_columns(score=pl.lit(0.5))
        assert sink.write(first) == 100
        replay = _frame(60, start=50).with_columns(score=pl.lit(0.9))  # 50 overlap, 10 new
        assert sink.write(replay) == 60
        sink.close()
        got = open_source(uri).read().sort("id")
        assert got.height == 110
        assert got["id"].to_list() == list(range(110))
        assert got.filter(pl.col("id") < 50)["score"].to_list() == [0.5] * 50
        assert got.filter(pl.col("id") >= 50)["score"].to_list() == [0.9] * 60
        bad = pl.DataFrame({"id": [1], "nope": ["x"]})
        with pytest.raises(Exception, match="lacks columns"):
            sink.write(bad)
        sink.close()
        assert open_source(uri).read().height == 110  # the failed batch left nothing behind
    finally:
        sink.close()
        if dialect in ("postgresql", "mysql"):
            conn = connect(uri, read_only=False)
            cur = conn.cursor()
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            conn.commit()
            cur.close()
            conn.close()


# -- credentials and bad input ------------------------------------------------------------------------------------


def test_password_from_dotenv_is_used_and_masked(
    my: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.sources import _credentials

    base, table = my
    (tmp_path / ".env").write_text("ASSAY_TEST_DBPASS=Sup3rSecretPw\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_credentials, "_dotenv_loaded", None)
    uri = base.replace("root@", "root:${ASSAY_TEST_DBPASS}@") + f"?table={table}"
    with pytest.raises(SourceError) as info:
        open_source(uri).read()  # root has no password on this server: the wrong password is refused
    text = str(info.value)
    assert "Sup3rSecretPw" not in text
    assert "wrong user or password" in text
    assert "\n" not in text


def test_unreachable_host_names_the_masked_source() -> None:
    with pytest.raises(SourceError) as info:
        open_source("postgresql://bob:hunter22@127.0.0.1:1/db?table=t").read()
    text = str(info.value)
    assert "postgresql://bob:***@127.0.0.1:1/db" in text
    assert "hunter22" not in text
    assert "cannot connect" in text


def test_missing_table_bad_sql_and_missing_file(sqlite_db: str, pg: tuple[str, str], tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="table 'ordrs' not found"):
        open_source(f"{sqlite_db}?table=ordrs").read()
    base, _ = pg
    with pytest.raises(SourceNotFoundError, match="table 'nope_nope' not found"):
        open_source(f"{base}?table=nope_nope").read()
    with pytest.raises(SourceError, match="bad SQL"):
        open_source(f"{base}?query=SELEC 1").read()
    with pytest.raises(SourceNotFoundError, match="not found"):
        open_source(f"sqlite:///{tmp_path / 'absent.db'}?table=t").read()
    with pytest.raises(SpecError, match=r"\?table=NAME or \?query="):
        open_source(f"{sqlite_db}")
    with pytest.raises(UnsupportedSourceError, match="unknown URI scheme 'oracle'"):
        open_source("oracle://u:pw@h/db?table=t")


def test_assay_profile_reads_a_sql_table(pg: tuple[str, str], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from assay.cli import main

    base, table = pg
    assert main(["profile", f"{base}?table={table}&columns=amount,city,flag", "--out", str(tmp_path / "p"),
                 "-q"]) == 0
    out = capsys.readouterr()
    assert f"{N:,} rows × 3 columns" in out.out + out.err
    assert (tmp_path / "p" / "profile.json").exists()


def test_log_lines_mask_passwords(caplog: pytest.LogCaptureFixture) -> None:
    from assay.sources._credentials import masked_logger, remember_secret

    remember_secret("Tr1cky-Secret")
    log = masked_logger("assay.sources.test")
    with caplog.at_level("INFO", logger="assay.sources.test"):
        log.info("connecting to %s", "mysql://ann:pw-in-uri@db:3306/x")
        log.info("driver said: token Tr1cky-Secret rejected; DSN=x;PWD=odbcpw")
    assert "pw-in-uri" not in caplog.text
    assert "Tr1cky-Secret" not in caplog.text
    assert "odbcpw" not in caplog.text
    assert "mysql://ann:***@db:3306/x" in caplog.text
