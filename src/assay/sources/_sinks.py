"""Sinks: where ingested batches go — a Parquet dataset directory, a SQL table, and a quarantine for bad records.

Every sink is idempotent on a key (``_id``, the message id, by default) so that at-least-once delivery gives
exactly-once contents: a batch replayed after a crash replaces or skips what is already there.

- :class:`ParquetSink` (``--to DIR``): one file per batch, written to a temp file, fsynced, then renamed (atomic);
  ids already in the dataset are skipped (the ids of the newest files are loaded on open).
- :class:`SQLSink` (``--to postgresql://…?table=scores&key=id``): one transaction per batch; an upsert on ``key``
  (PostgreSQL ``ON CONFLICT``, MySQL ``ON DUPLICATE KEY``, SQLite/DuckDB ``ON CONFLICT``/``OR REPLACE``); the table
  is created from the first batch's schema with ``key`` as primary key.
- :class:`Quarantine`: a dead-letter NDJSON file, one line per bad record with its id, reason, source and payload.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from assay.exceptions import SchemaError, SourceError, SpecError
from assay.sources._base import mask_uri, scan_parquet_files, unify_dtype
from assay.sources._credentials import masked_logger
from assay.sources._sql import (
    _split_options,
    connect,
    dialect_of,
    quote_ident,
    sql_error,
)

__all__ = ["ParquetSink", "Quarantine", "SQLSink", "Sink", "open_sink", "scan_dataset"]

log = masked_logger(__name__)

DEFAULT_KEY = "_id"


class Sink(Protocol):
    """What the ingest loop writes to."""

    target: str

    def write(self, frame: pl.DataFrame, *, replay: bool = True) -> int:
        """Durably store ``frame``; return the number of new rows (replayed ids are not counted twice).

        ``replay=False`` promises that no row was handed out before (the broker said so): the sink may then skip
        the lookup of already-stored ids. The default is the safe one.
        """
        ...

    def close(self) -> None: ...


def open_sink(target: str, *, key: str | None = DEFAULT_KEY, quarantine: str | None = None) -> Sink:
    """The sink named by ``target``: a SQL URI (``postgresql://…?table=t``) or a directory for a Parquet dataset."""
    if "://" in target and not target.startswith("file://"):
        scheme = target.split("://", 1)[0].split("+", 1)[0].lower()
        try:
            dialect_of(target)
        except SourceError:
            msg = (f"cannot write to {mask_uri(target)!r}: scheme {scheme!r} is not a sink; use a directory "
                   "(Parquet dataset) or a SQL URI with ?table= (postgresql, mysql, sqlite, duckdb)")
            raise SpecError(msg) from None
        return SQLSink(target, key=key)
    return ParquetSink(target.removeprefix("file://"), key=key)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry must reach the disk too (a no-op where not supported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _SeenIds:
    """The most recent ``window`` ids written, for skipping replays; kept as Polars series (no Python set of rows)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.parts: deque[pl.Series] = deque()
        self.size = 0

    def add(self, ids: pl.Series) -> None:
        if ids.len() == 0:
            return
        self.parts.append(ids)
        self.size += ids.len()
        while self.size - self.parts[0].len() >= self.window:
            self.size -= self.parts.popleft().len()

    def fresh(self, frame: pl.DataFrame, key: str, *, against_seen: bool = True) -> pl.DataFrame:
        """Rows of ``frame`` whose key was not seen, each key once."""
        frame = frame.unique(subset=[key], keep="first", maintain_order=True)
        if not self.parts or not against_seen:
            return frame
        seen = pl.concat(list(self.parts)) if len(self.parts) > 1 else self.parts[0]
        if len(self.parts) > 8:  # keep the concatenation cheap for the next call
            self.parts = deque([seen])
        return frame.filter(~pl.col(key).is_in(seen.cast(frame.schema[key], strict=False).implode()))


class ParquetSink:
    """A directory of Parquet files, one per batch, written atomically; idempotent on ``key``."""

    def __init__(self, directory: str | os.PathLike[str], *, key: str | None = DEFAULT_KEY,
                 dedupe_window: int = 2_000_000) -> None:
        self.target = str(directory)
        self.path = Path(directory).expanduser()
        self.key = key
        self.dedupe_window = dedupe_window
        self._seen = _SeenIds(dedupe_window)
        self._seq = 0
        self._opened = False
        self._schema: dict[str, pl.DataType] = {}

    def _open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.path.glob(".tmp-*"):  # a crash between write and rename leaves these; never renamed
            stale.unlink(missing_ok=True)
        files = sorted(self.path.glob("part-*.parquet"), reverse=True)
        for f in files:  # file footers only: cheap even for many files
            for name, dtype in pl.read_parquet_schema(f).items():
                self._schema[name] = unify_dtype(self._schema.get(name, pl.Null()), dtype)
        if self.key:
            loaded = 0
            ids: list[pl.Series] = []
            for f in files:
                try:
                    col = pl.read_parquet(f, columns=[self.key])[self.key]
                except Exception:  # a file without the key column: nothing to dedupe against
                    continue
                ids.append(col)
                loaded += col.len()
                if loaded >= self.dedupe_window:
                    break
            for col in reversed(ids):
                self._seen.add(col)
        self._opened = True

    def write(self, frame: pl.DataFrame, *, replay: bool = True) -> int:
        if not self._opened:
            self._open()
        if frame.height == 0:
            return 0
        if self.key and self.key in frame.columns:
            frame = self._seen.fresh(frame, self.key, against_seen=replay)
            if frame.height == 0:
                return 0
        frame = self._conform(frame)
        self._seq += 1
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.parquet"
        tmp = self.path / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as fh:
                frame.write_parquet(fh, compression="zstd", statistics=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / name)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            msg = f"cannot write Parquet file in {self.path}: {exc}; check free space and permissions"
            raise SourceError(msg) from None
        _fsync_dir(self.path)
        if self.key and self.key in frame.columns:
            self._seen.add(frame[self.key])
        return frame.height

    def _conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Keep the dataset's files compatible, so that :func:`scan_dataset` reads them as one table.

        Micro-batches of JSON infer their types batch by batch: a field absent or all-null in one batch, or integral
        in one and fractional in the next. An all-null column takes the type already known for it, integers widen
        to a known float column, and a float arriving in a known integer column widens the dataset's type to
        Float64 (older files keep Int64; :func:`scan_dataset` reads both). A clash of unrelated types (text in a
        numeric column) is written as it comes, with a warning naming the column: the dataset then reads that column
        as text (:func:`~assay.sources._base.scan_parquet_files`), every value kept.
        """
        fixes: list[pl.Expr] = []
        for name, dtype in frame.schema.items():
            known = self._schema.get(name)
            if known is None or known == dtype or known == pl.Null:
                continue
            if dtype == pl.Null or (dtype.is_integer() and known.is_float()):
                fixes.append(pl.col(name).cast(known))
            elif dtype.is_float() and known.is_integer():
                self._schema[name] = pl.Float64()
            else:
                log.warning("column %r of the batch is %s but earlier files in %s hold %s; written as %s, so the "
                            "dataset reads it as text from now on", name, dtype, self.path, known, dtype)
        if fixes:
            frame = frame.with_columns(fixes)
        for name, dtype in frame.schema.items():
            if self._schema.get(name) in (None, pl.Null):
                self._schema[name] = dtype
        return frame

    def close(self) -> None:
        return None


def scan_dataset(directory: str | os.PathLike[str]) -> pl.LazyFrame:
    """A Parquet dataset written by :class:`ParquetSink` as one lazy frame, over every file's columns and types.

    Files written from different micro-batches may differ (a column that appeared later, an integer column that
    later held fractions, text in a column of numbers): the union of their schemas is read, each column as the type
    that holds all its values, missing columns as nulls. ``open_source(directory)`` reads the same table.
    """
    files = sorted(Path(directory).expanduser().glob("part-*.parquet"))
    if not files:
        msg = f"no Parquet files (part-*.parquet) in {directory}"
        raise SourceError(msg)
    return scan_parquet_files(files)


# Polars dtype -> SQL column type, per dialect. Anything else is stored as text.
def _sql_type(dtype: pl.DataType, dialect: str, *, is_key: bool) -> str:
    if dtype.is_integer():
        return "INTEGER" if dialect == "sqlite" else "BIGINT"
    if dtype.is_float():
        return {"postgresql": "DOUBLE PRECISION", "sqlite": "REAL"}.get(dialect, "DOUBLE")
    if dtype == pl.Boolean:
        return "INTEGER" if dialect == "sqlite" else "BOOLEAN"
    if isinstance(dtype, pl.Datetime):
        if dialect == "postgresql":
            return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
        return "DATETIME(6)" if dialect == "mysql" else "TIMESTAMP"
    if dtype == pl.Date:
        return "DATE"
    if dialect == "mysql":
        return "VARCHAR(255)" if is_key else "TEXT"
    return "TEXT"


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns the database drivers understand: nested and exotic types become JSON/text."""
    fixes = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, (pl.List, pl.Struct, pl.Array)):
            fixes.append(pl.col(name).map_batches(_json_lines, return_dtype=pl.String))
        elif not (dtype.is_numeric() or dtype in (pl.Boolean, pl.String, pl.Date) or isinstance(dtype, pl.Datetime)):
            fixes.append(pl.col(name).cast(pl.String))
    return frame.with_columns(fixes) if fixes else frame


def _json_lines(series: pl.Series) -> pl.Series:
    return pl.Series(series.name, [json.dumps(v, default=str) for v in series.to_list()], pl.String)


class SQLSink:
    """A table in a SQL database: one transaction per batch, upsert on ``key`` (``?key=`` in the URI)."""

    def __init__(self, uri: str, *, key: str | None = DEFAULT_KEY) -> None:
        self.target = uri
        self.uri = uri
        self.dialect = dialect_of(uri)
        _, ours = _split_options(uri)
        self.table = ours.get("table")
        self.key = ours.get("key", key) or None
        if not self.table:
            msg = f"{mask_uri(uri)} names no table to write to; add ?table=NAME"
            raise SpecError(msg)
        if self.dialect == "odbc":
            msg = f"writing through ODBC is not supported ({mask_uri(uri)}); write to postgresql://, mysql:// or sqlite://"
            raise SpecError(msg)
        self._conn: Any = None
        self._columns: list[str] | None = None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = connect(self.uri, read_only=False)
        return self._conn

    def _existing_columns(self, cur: Any) -> list[str] | None:  # None: the table does not exist yet
        table = quote_ident(self.table, self.dialect)  # type: ignore[arg-type]
        try:
            cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
            names = [d[0] for d in cur.description]
            if self.dialect == "postgresql":
                cur.fetch_arrow_table()
            else:
                cur.fetchall()
            return names
        except Exception:
            if self.dialect != "duckdb":  # DuckDB runs this outside a transaction (autocommit)
                self._conn.rollback()
            return None

    def _create(self, cur: Any, frame: pl.DataFrame) -> None:
        q = lambda n: quote_ident(n, self.dialect, dotted=False)  # noqa: E731
        cols = [f"{q(n)} {_sql_type(t, self.dialect, is_key=n == self.key)}" for n, t in frame.schema.items()]
        if self.key:
            cols.append(f"PRIMARY KEY ({q(self.key)})")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(self.table, self.dialect)} ({', '.join(cols)})")  # type: ignore[arg-type]

    def write(self, frame: pl.DataFrame, *, replay: bool = True) -> int:  # an upsert is idempotent either way
        if frame.height == 0:
            return 0
        if self.key and self.key not in frame.columns:
            msg = f"key column {self.key!r} is not in the batch for {mask_uri(self.uri)}; columns: {frame.columns}"
            raise SchemaError(msg)
        if self.key:
            frame = frame.unique(subset=[self.key], keep="last", maintain_order=True)
        frame = _plain(frame)
        conn = self._connection()
        try:
            # DuckDB's cursor() is a second connection with its own transactions; use the connection itself.
            cur = conn if self.dialect == "duckdb" else conn.cursor()
            if self._columns is None:
                self._columns = self._existing_columns(cur)
            if self.dialect == "duckdb":
                cur.execute("BEGIN TRANSACTION")
            if self._columns is None:
                self._create(cur, frame)
                self._columns = list(frame.columns)
            missing = [c for c in frame.columns if c not in self._columns]
            if missing:
                msg = (f"table {self.table!r} in {mask_uri(self.uri)} lacks columns {missing}; "
                       "add them (ALTER TABLE) or write to a new table")
                raise SchemaError(msg)
            getattr(self, f"_upsert_{self.dialect}")(cur, frame)
            conn.commit()
            if cur is not conn:
                cur.close()
        except (SchemaError, SpecError):
            conn.rollback()
            self.close()
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):  # the connection itself may be gone; the error below says why
                conn.rollback()
            self.close()
            raise sql_error(exc, self.uri, table=self.table) from None
        return frame.height

    def _update_clause(self, cols: list[str], style: str) -> str:
        q = lambda n: quote_ident(n, self.dialect, dotted=False)  # noqa: E731
        others = [c for c in cols if c != self.key]
        if style == "mysql":
            return ", ".join(f"{q(c)} = VALUES({q(c)})" for c in others) or f"{q(self.key)} = {q(self.key)}"  # type: ignore[arg-type]
        if not others:
            return "NOTHING"
        return "UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in others)

    def _upsert_postgresql(self, cur: Any, frame: pl.DataFrame) -> None:
        q = lambda n: quote_ident(n, self.dialect, dotted=False)  # noqa: E731
        tmp = f"assay_tmp_{uuid.uuid4().hex[:12]}"
        cur.adbc_ingest(tmp, frame.to_arrow(), mode="create", temporary=True)  # binary COPY into a temp table
        cols = ", ".join(q(c) for c in frame.columns)
        sql = f"INSERT INTO {quote_ident(self.table, self.dialect)} ({cols}) SELECT {cols} FROM {q(tmp)}"  # type: ignore[arg-type]
        if self.key:
            sql += f" ON CONFLICT ({q(self.key)}) DO {self._update_clause(frame.columns, 'pg')}"
        cur.execute(sql)
        cur.execute(f"DROP TABLE {q(tmp)}")

    def _insert_sql(self, frame: pl.DataFrame, mark: str) -> str:
        q = lambda n: quote_ident(n, self.dialect, dotted=False)  # noqa: E731
        cols = ", ".join(q(c) for c in frame.columns)
        marks = ", ".join([mark] * frame.width)
        return f"INSERT INTO {quote_ident(self.table, self.dialect)} ({cols}) VALUES ({marks})"  # type: ignore[arg-type]

    def _upsert_sqlite(self, cur: Any, frame: pl.DataFrame) -> None:
        sql = self._insert_sql(frame, "?")
        if self.key:
            key = quote_ident(self.key, "sqlite", dotted=False)
            sql += f" ON CONFLICT ({key}) DO {self._update_clause(frame.columns, 'pg')}"
        rows = frame.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%d %H:%M:%S%.f"),
                                  pl.col(pl.Date).cast(pl.String)).rows()
        cur.executemany(sql, rows)

    def _upsert_mysql(self, cur: Any, frame: pl.DataFrame) -> None:
        sql = self._insert_sql(frame, "%s")
        if self.key:
            sql += " ON DUPLICATE KEY UPDATE " + self._update_clause(frame.columns, "mysql")
        rows = frame.with_columns(pl.col(pl.Datetime).dt.replace_time_zone(None)).rows()
        cur.executemany(sql, rows)

    def _upsert_duckdb(self, cur: Any, frame: pl.DataFrame) -> None:
        q = lambda n: quote_ident(n, self.dialect, dotted=False)  # noqa: E731
        name = f"assay_batch_{uuid.uuid4().hex[:12]}"
        cur.register(name, frame.to_arrow())
        cols = ", ".join(q(c) for c in frame.columns)
        sql = f"INSERT INTO {quote_ident(self.table, self.dialect)} ({cols}) SELECT {cols} FROM {name}"  # type: ignore[arg-type]
        if self.key:
            sql += f" ON CONFLICT ({q(self.key)}) DO {self._update_clause(frame.columns, 'pg')}"
        cur.execute(sql)
        cur.unregister(name)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class Quarantine:
    """A dead-letter NDJSON file: one line per bad record (``id``, ``reason``, ``source``, ``payload``, ``at``).

    Lines are fsynced before the records are acknowledged; an id already in the file is not written twice, so a
    replay after a crash leaves each bad record once.
    """

    def __init__(self, path: str | os.PathLike[str], *, source: str = "") -> None:
        self.path = Path(path).expanduser()
        self.source = mask_uri(source) if source else ""
        self._seen: set[str] | None = None
        self.count = 0

    def _load(self) -> set[str]:
        seen: set[str] = set()
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        seen.add(str(json.loads(line)["id"]))
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line from a crash: its record is replayed and rewritten
        return seen

    def write(self, records: list[tuple[str, str, bytes | str]]) -> int:
        """Append ``(id, reason, payload)`` records; returns how many were new."""
        if not records:
            return 0
        if self._seen is None:
            self._seen = self._load()
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        lines = []
        for rid, reason, payload in records:
            if str(rid) in self._seen:
                continue
            text = payload.decode("utf-8", "backslashreplace") if isinstance(payload, bytes) else str(payload)
            lines.append(json.dumps({"id": str(rid), "reason": reason, "source": self.source, "payload": text,
                                     "at": now}, ensure_ascii=False))
            self._seen.add(str(rid))
        if lines:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.count += len(lines)
            log.info("quarantined %d record(s) from %s into %s", len(lines), self.source, self.path)
        return len(lines)
