"""ODBC through pyodbc with Debian's PostgreSQL ODBC driver (odbc-postgresql), against the machine's PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assay.exceptions import SourceError, SourceNotFoundError
from assay.sources import open_source
from assay.testing import check_source

pytestmark = pytest.mark.services

DRIVER = "PostgreSQL Unicode"


def _driver_or_fail() -> None:
    try:
        import pyodbc
    except ImportError as exc:  # libodbc.so missing: the unixodbc system package
        drivers: list[str] = []
        reason = f"pyodbc cannot load ({exc}); apt-get install unixodbc odbc-postgresql (scripts/system-deps.sh)"
    else:
        drivers = pyodbc.drivers()
        reason = f"ODBC driver {DRIVER!r} not installed; apt-get install odbc-postgresql (scripts/system-deps.sh)"
    if DRIVER not in drivers:
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: fails rather than skips)")
        pytest.skip(reason)


@pytest.fixture
def odbc_table(service: Callable[[str], tuple[str, int]], tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A PostgreSQL table and a DSN for it in a private odbc.ini; yields (DSN name, table)."""
    _driver_or_fail()
    import psycopg

    host, port = service("postgresql")
    ini = tmp_path / "odbc.ini"
    ini.write_text(f"[assay_pg]\nDriver = {DRIVER}\nServername = {host}\nPort = {port}\nDatabase = test\n"
                   "UserName = root\n")
    monkeypatch.setenv("ODBCINI", str(ini))
    table = f"odbc_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"host={host} port={port} user=root dbname=test", autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int, price numeric(10,2), name text)")
        conn.execute(f"INSERT INTO {table} SELECT g, g / 4.0, 'item' || g FROM generate_series(1, 500) g")
        yield "assay_pg", table
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_odbc_dsn_reads_a_table_in_batches(odbc_table: tuple[str, str]) -> None:
    dsn, table = odbc_table
    source = open_source(f"odbc://root@{dsn}?table={table}&batch_size=120")
    data = check_source(source, batch_sizes=(120,))
    assert data.height == 500
    assert data.sort("id")["price"][:3].to_list() == [0.25, 0.5, 0.75]  # NUMERIC arrives as numbers
    picked = open_source(f"odbc://root@{dsn}?table={table}&columns=id,name&where=id <= 10").read()
    assert picked.columns == ["id", "name"]
    assert picked.height == 10


def test_odbc_without_a_dsn_and_its_errors(odbc_table: tuple[str, str],
                                            service: Callable[[str], tuple[str, int]]) -> None:
    _, table = odbc_table
    host, port = service("postgresql")
    direct = (f"odbc:///?Driver={{{DRIVER}}}&Server={host}&Port={port}&Database=test&UID=root"
              f"&query=SELECT count(*) AS n FROM {table}")
    assert open_source(direct).read()["n"][0] == 500
    with pytest.raises(SourceError, match="cannot connect") as info:
        open_source("odbc://bob:s3cr3tpw@no_such_dsn?table=t").read()
    assert "s3cr3tpw" not in str(info.value)
    with pytest.raises(SourceNotFoundError, match="table 'missing_table' not found"):
        open_source("odbc://root@assay_pg?table=missing_table").read()
