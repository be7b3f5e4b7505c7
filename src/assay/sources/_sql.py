"""SQL sources: SQLite, DuckDB, PostgreSQL, MySQL/MariaDB and ODBC, a table or a query, read as Arrow/Polars batches.

One URI names what to read::

    sqlite:///data/shop.db?table=orders                      (relative path; sqlite:////abs/path.db for absolute)
    duckdb:///warehouse.duckdb?query=SELECT * FROM sales
    postgresql://user:${PGPASS}@host:5432/db?table=public.orders&columns=id,total&where=total > 0
    mysql://root@127.0.0.1:3306/test?table=orders            (MariaDB too)
    odbc://user:pw@DSN?table=orders                          (a DSN from odbc.ini; or odbc:///?Driver=…&Server=…)

Options in the query string (the rest goes to the driver): ``table`` or ``query``; ``columns`` and ``where``, pushed
down into the SQL the database runs; ``batch_size``; ``watermark=COLUMN`` for incremental loads (only rows newer than
the value stored in ``state=FILE``, saved atomically by :meth:`SQLSource.commit` once a batch is durably written).

Memory stays bounded: PostgreSQL and DuckDB stream Arrow record batches (ADBC's binary COPY for PostgreSQL, the
fastest path into Arrow); SQLite, MySQL and ODBC stream rows with server-side (unbuffered) cursors, ``batch_size``
rows at a time. Writing to SQL tables lives in ``_sinks``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import polars as pl

from assay._deps import import_optional
from assay.exceptions import SourceError, SourceNotFoundError, SpecError, did_you_mean
from assay.sources._base import DEFAULT_BATCH_SIZE, mask_uri
from assay.sources._credentials import mask_text, masked_logger, resolve_uri

__all__ = ["SQLSource", "connect", "dialect_of", "quote_ident", "sql_error"]

log = masked_logger(__name__)

# Query-string keys that belong to assay, not to the database driver.
OPTIONS = ("table", "query", "columns", "where", "batch_size", "watermark", "state", "key", "mode")

DIALECTS: dict[str, str] = {
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "odbc": "odbc",
}

# Placeholder for one bound parameter, per driver's paramstyle.
PLACEHOLDER: dict[str, str] = {"sqlite": "?", "duckdb": "?", "postgresql": "$1", "mysql": "%s", "odbc": "?"}

# Driver messages (lower-cased substrings) -> kind of failure, checked top to bottom; first match wins.
_ERROR_KINDS: list[tuple[str, str]] = [
    ("password authentication failed", "auth"),
    ("access denied", "auth"),
    ("authentication failed", "auth"),
    ("no password supplied", "auth"),
    ("connection refused", "connect"),
    ("could not connect", "connect"),
    ("can't connect", "connect"),
    ("could not translate host name", "connect"),
    ("name or service not known", "connect"),
    ("timed out", "connect"),
    ("timeout expired", "connect"),
    ("data source name not found", "connect"),
    ("unable to open database file", "missing_db"),
    ("unknown database", "missing_db"),
    ("database \"", "missing_db_pg"),
    ("column", "column"),
    ("no such table", "table"),
    ("does not exist", "table"),
    ("doesn't exist", "table"),
    ("table with name", "table"),
    ("syntax error", "syntax"),
    ("parser error", "syntax"),
    ("error in your sql syntax", "syntax"),
]


def dialect_of(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower().split("+", 1)[0]
    try:
        return DIALECTS[scheme]
    except KeyError:
        msg = f"{mask_uri(uri)!r} is not a SQL URI; SQL schemes are: {', '.join(sorted(DIALECTS))}"
        raise SourceError(msg) from None


def quote_ident(name: str, dialect: str, *, dotted: bool = True) -> str:
    """Quote an identifier for ``dialect``; with ``dotted``, ``a.b`` is schema ``a``, table ``b`` (not for columns).

    >>> quote_ident("public.orders", "postgresql")
    '"public"."orders"'
    >>> quote_ident("orders", "mysql")
    '`orders`'
    """
    q = "`" if dialect == "mysql" else '"'
    parts = [name] if name.startswith(q) or not dotted else name.split(".")
    return ".".join(p if p.startswith(q) else q + p.replace(q, q + q) + q for p in parts)


def _split_options(uri: str) -> tuple[str, dict[str, str]]:
    """Return (URI without assay's options, assay's options)."""
    parts = urlsplit(uri)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in pairs if k in OPTIONS}
    theirs = [(k, v) for k, v in pairs if k not in OPTIONS]
    # Rebuilt by hand: urlunsplit would turn sqlite:////abs.db into sqlite://abs.db.
    base = uri.split("?", 1)[0].split("#", 1)[0]
    return (base + "?" + urlencode(theirs) if theirs else base), ours


def _file_path(uri: str) -> str:
    """SQLAlchemy's convention: ``sqlite:///rel.db`` is relative, ``sqlite:////abs.db`` absolute."""
    parts = urlsplit(uri)
    path = unquote(parts.netloc + parts.path)
    if path.startswith("/"):
        path = path[1:]
    return os.path.expanduser(path) or ":memory:"


def sql_error(exc: BaseException, uri: str, *, table: str | None = None, sql: str | None = None) -> SourceError:
    """Turn a driver exception into a one-line :class:`SourceError` that names the source and the fix."""
    where = mask_uri(uri)
    raw = mask_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    text = str(exc).lower()
    kind = next((k for pattern, k in _ERROR_KINDS if pattern in text), "other")
    if kind == "auth":
        msg = (f"wrong user or password for {where} ({raw}); put the password in the URI as ${{VAR}} from the "
               "environment or a .env file")
        return SourceError(msg)
    if kind == "connect":
        msg = f"cannot connect to {where}: {raw}; check host, port and DSN, and that the database server is running"
        return SourceError(msg)
    if kind in ("missing_db", "missing_db_pg"):
        return SourceNotFoundError(f"database not found for {where}: {raw}; check the database name or path")
    if kind == "table" and table:
        return SourceNotFoundError(f"table {table!r} not found in {where} ({raw}); check ?table=")
    if kind in ("syntax", "column", "table"):
        shown = f" in: {mask_text(sql)[:200]}" if sql else ""
        return SourceError(f"bad SQL for {where}: {raw}{shown}; fix ?query=, ?where= or ?columns=")
    return SourceError(f"cannot read {where}: {raw}")


def connect(uri: str, *, read_only: bool = True) -> Any:
    """A DB-API connection for a SQL URI (password from ``${VAR}``/.env resolved); errors are one-line SourceErrors."""
    uri = resolve_uri(uri)
    dialect = dialect_of(uri)
    base, _ = _split_options(uri)
    try:
        return _CONNECTORS[dialect](base, read_only)
    except SourceError:
        raise
    except Exception as exc:
        raise sql_error(exc, uri) from None


def _connect_sqlite(uri: str, read_only: bool) -> Any:
    import sqlite3

    path = _file_path(uri)
    if path != ":memory:" and read_only and not Path(path).exists():
        msg = f"SQLite database file not found: {path} (from {mask_uri(uri)}); sqlite:///rel.db or sqlite:////abs.db"
        raise SourceNotFoundError(msg)
    if read_only and path != ":memory:":
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    return sqlite3.connect(path, check_same_thread=False)


def _connect_duckdb(uri: str, read_only: bool) -> Any:
    duckdb = import_optional("duckdb", "sql")
    path = _file_path(uri)
    if path != ":memory:" and read_only and not Path(path).exists():
        msg = f"DuckDB database file not found: {path} (from {mask_uri(uri)})"
        raise SourceNotFoundError(msg)
    return duckdb.connect(path, read_only=read_only and path != ":memory:")


def _connect_postgresql(uri: str, read_only: bool) -> Any:
    dbapi = import_optional("adbc_driver_postgresql.dbapi", "sql")
    parts = urlsplit(uri)
    return dbapi.connect(urlunsplit(parts._replace(scheme="postgresql")))


def _connect_mysql(uri: str, read_only: bool) -> Any:
    pymysql = import_optional("pymysql", "sql")
    parts = urlsplit(uri)
    extra = dict(parse_qsl(parts.query))
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/") or None,
        charset=extra.get("charset", "utf8mb4"),
        connect_timeout=int(extra.get("connect_timeout", 10)),
        cursorclass=pymysql.cursors.SSCursor,  # unbuffered: rows stream from the server in bounded memory
    )


def odbc_connection_string(uri: str) -> str:
    """``odbc://user:pw@DSN?Key=Value`` -> ``DSN=DSN;UID=user;PWD=pw;Key=Value``.

    >>> odbc_connection_string("odbc://bob:pw@pg?Database=test")
    'DSN=pg;UID=bob;PWD=pw;Database=test'
    """
    parts = urlsplit(uri)
    fields: list[str] = []
    host = unquote(parts.netloc.rsplit("@", 1)[-1])
    if host:
        fields.append(f"DSN={host}")
    if parts.username:
        fields.append(f"UID={unquote(parts.username)}")
    if parts.password:
        fields.append(f"PWD={unquote(parts.password)}")
    fields += [f"{k}={v}" for k, v in parse_qsl(parts.query)]
    return ";".join(fields)


def _connect_odbc(uri: str, read_only: bool) -> Any:
    pyodbc = import_optional("pyodbc", "sql")
    return pyodbc.connect(odbc_connection_string(uri), autocommit=True, timeout=10)


_CONNECTORS = {
    "sqlite": _connect_sqlite,
    "duckdb": _connect_duckdb,
    "postgresql": _connect_postgresql,
    "mysql": _connect_mysql,
    "odbc": _connect_odbc,
}


def arrow_to_polars(batch: Any) -> pl.DataFrame:
    """A Polars frame from an Arrow record batch or table, with PostgreSQL's extension types made usable.

    ADBC hands ``numeric`` over as an opaque string column, ``uuid`` as 16 raw bytes and ``json`` as tagged text;
    models want numbers and strings, so numeric becomes Float64, uuid its canonical text, json plain text.
    """
    pa = import_optional("pyarrow", "core")
    fix: dict[str, str] = {}
    arrays = []
    is_table = isinstance(batch, pa.Table)
    for field, col in zip(batch.schema, batch.columns, strict=True):
        kind = field.type
        if isinstance(kind, pa.BaseExtensionType):
            name = getattr(kind, "type_name", "") or kind.extension_name
            if name in ("numeric", "arrow.uuid"):
                fix[field.name] = name
            if is_table:
                col = pa.chunked_array([c.storage for c in col.chunks], type=kind.storage_type)
            else:
                col = col.storage
        if pa.types.is_interval(col.type):
            col = pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())
        arrays.append(col)
    build = pa.Table.from_arrays if is_table else pa.RecordBatch.from_arrays
    frame = pl.from_arrow(build(arrays, names=batch.schema.names))
    assert isinstance(frame, pl.DataFrame)  # from_arrow of a batch or table is always a frame
    if fix:
        exprs = []
        for name, what in fix.items():
            if what == "numeric":
                exprs.append(pl.col(name).cast(pl.Float64, strict=False))
            else:
                hexed = pl.col(name).bin.encode("hex")
                exprs.append(pl.concat_str([hexed.str.slice(0, 8), hexed.str.slice(8, 4), hexed.str.slice(12, 4),
                                            hexed.str.slice(16, 4), hexed.str.slice(20)], separator="-").alias(name))
        frame = frame.with_columns(exprs)
    return frame


class SQLSource:
    """A table or query in a SQL database; see the module docstring for the URI forms and options."""

    def __init__(self, uri: str, **options: Any) -> None:
        self.uri = uri
        self.dialect = dialect_of(uri)
        _, ours = _split_options(uri)
        self.options = {**ours, **{k: str(v) for k, v in options.items()}}
        self.table = self.options.get("table") or None
        self.query = self.options.get("query") or None
        if not self.table and not self.query:
            msg = f"{mask_uri(uri)} names no data; add ?table=NAME or ?query=SELECT…"
            raise SpecError(msg)
        if self.table and self.query:
            msg = f"{mask_uri(uri)} has both ?table= and ?query=; keep one"
            raise SpecError(msg)
        cols = self.options.get("columns", "")
        self.columns = [c.strip() for c in cols.split(",") if c.strip()] or None
        self.where = self.options.get("where") or None
        self.watermark = self.options.get("watermark") or None
        self.batch_size = int(self.options.get("batch_size", DEFAULT_BATCH_SIZE))

    # -- SQL text ------------------------------------------------------------------------------------------------
    def _select(self, columns: Sequence[str] | None = None, *, limit: int | None = None) -> tuple[str, list[Any]]:
        q = lambda name: quote_ident(name, self.dialect, dotted=False)  # noqa: E731  (columns)
        wanted = list(columns) if columns is not None else self.columns
        if wanted is not None and self.watermark and self.watermark not in wanted and columns is None:
            wanted = [*wanted, self.watermark]
        projection = ", ".join(q(c) for c in wanted) if wanted else "*"
        source = quote_ident(self.table, self.dialect) if self.table else f"({self.query}) AS assay_q"
        conditions: list[str] = []
        params: list[Any] = []
        if self.where:
            conditions.append(f"({self.where})")
        mark = self.load_watermark() if self.watermark else None
        if mark is not None:
            conditions.append(f"{q(self.watermark)} > {PLACEHOLDER[self.dialect]}")
            params.append(mark)
        if self.query and not conditions and wanted is None and not self.watermark and limit is None:
            return self.query, params  # the user's SQL untouched
        sql = f"SELECT {projection} FROM {source}"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        if self.watermark:
            sql += f" ORDER BY {q(self.watermark)}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return sql, params

    # -- reading -------------------------------------------------------------------------------------------------
    def _frames(self, sql: str, params: list[Any], batch_size: int) -> Iterator[pl.DataFrame]:
        """Run ``sql`` and yield frames as the driver delivers them (Arrow batches or fetchmany rows)."""
        conn = connect(self.uri)
        try:
            cur = conn.cursor()
            try:
                if self.dialect == "postgresql":
                    cur.adbc_statement.set_options(
                        **{"adbc.postgresql.batch_size_hint_bytes": str(max(1 << 20, batch_size * 64))})
                    cur.execute(sql, params or None)
                    reader = cur.fetch_record_batch()
                elif self.dialect == "duckdb":
                    reader = conn.sql(sql, params=params or None).to_arrow_reader(batch_size)
                else:
                    cur.execute(sql, params) if params else cur.execute(sql)
                    reader = None
            except SourceError:
                raise
            except Exception as exc:
                raise sql_error(exc, self.uri, table=self.table, sql=sql) from None
            if reader is not None:
                for rb in reader:
                    if rb.num_rows:
                        yield arrow_to_polars(rb)
                return
            names = [d[0] for d in cur.description]
            while rows := cur.fetchmany(batch_size):
                frame = pl.DataFrame([tuple(r) for r in rows], schema=names, orient="row", infer_schema_length=None)
                # DECIMAL/NUMERIC as Float64, as on the Arrow path: models and profiles want numbers
                yield frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
        finally:
            # Stopped early (a head() or an error): an unbuffered MySQL result would drain every remaining row on
            # close; dropping the connection ends the query on the server instead.
            cur = locals().get("cur")
            result = getattr(cur, "_result", None)
            if result is not None and getattr(result, "unbuffered_active", False):
                result.unbuffered_active = False
            elif cur is not None and self.dialect != "mysql":
                cur.close()
            conn.close()

    def _rebatch(self, frames: Iterator[pl.DataFrame], batch_size: int) -> Iterator[pl.DataFrame]:
        """Frames of exactly ``batch_size`` rows (the last shorter), with one schema across all of them.

        With a watermark, the rows that tie on the batch's last watermark value are held back for the next batch,
        so that committing a batch's maximum never skips rows that share it.
        """
        schema: dict[str, pl.DataType] | None = None
        pending: list[pl.DataFrame] = []
        held = 0
        for frame in frames:
            if schema is None:
                schema = dict(frame.schema)
            else:
                for name, dtype in frame.schema.items():
                    if schema.get(name) == pl.Null and dtype != pl.Null:
                        schema[name] = dtype
                frame = frame.cast({n: t for n, t in schema.items() if frame.schema[n] != t and t != pl.Null},
                                   strict=False)
            pending.append(frame)
            held += frame.height
            while held >= batch_size:
                block = pl.concat(pending, how="vertical_relaxed")
                cut = batch_size
                if self.watermark:
                    # Rows arrive sorted on the watermark, so equal values are contiguous: cut before the run that
                    # holds the batch's last row, or after it when it fills the whole batch.
                    tied = (block[self.watermark] == block[self.watermark][batch_size - 1]).fill_null(False).arg_true()
                    first, end = int(tied[0]), int(tied[-1]) + 1
                    if first > 0:
                        cut = first
                    elif end < block.height:
                        cut = end
                    else:
                        pending, held = [block], block.height
                        break  # one value fills everything so far: wait for a row with the next value
                out, rest = block.head(cut), block.slice(cut)
                pending, held = ([rest] if rest.height else []), rest.height
                yield out
        if pending:
            yield pl.concat(pending, how="vertical_relaxed")

    def batches(self, batch_size: int | None = None) -> Iterator[pl.DataFrame]:
        size = batch_size or self.batch_size
        sql, params = self._select()
        log.debug("reading %s with: %s", mask_uri(self.uri), sql)
        yield from self._rebatch(self._frames(sql, params, size), size)

    def read(self) -> pl.DataFrame:
        sql, params = self._select()
        if self.dialect in ("postgresql", "duckdb"):
            return self._read_arrow(sql, params)
        frames = list(self._frames(sql, params, self.batch_size))
        if not frames:
            return self._empty()
        return pl.concat(frames, how="vertical_relaxed").rechunk()

    def _read_arrow(self, sql: str, params: list[Any]) -> pl.DataFrame:
        """The whole result as one Arrow table, built by the driver in C++ (no per-batch Python work)."""
        conn = connect(self.uri)
        cur = None
        try:
            if self.dialect == "postgresql":
                cur = conn.cursor()
                cur.execute(sql, params or None)
                table = cur.fetch_arrow_table()
            else:
                table = conn.sql(sql, params=params or None).to_arrow_table()
        except SourceError:
            raise
        except Exception as exc:
            raise sql_error(exc, self.uri, table=self.table, sql=sql) from None
        finally:
            if cur is not None:
                cur.close()
            conn.close()
        return arrow_to_polars(table)

    def _empty(self) -> pl.DataFrame:
        sql, params = self._select(limit=0)
        frames = list(self._frames(sql, params, 1))
        if frames:
            return frames[0].clear()
        return pl.DataFrame()

    def schema(self) -> dict[str, pl.DataType]:
        """Column names and types, from a sample of 1,000 rows (exact for PostgreSQL and DuckDB)."""
        sql, params = self._select(limit=1000)
        frames = list(self._frames(sql, params, 1000))
        if not frames:
            return dict(self._empty().schema)
        frame = pl.concat(frames, how="vertical_relaxed")
        return {n: (pl.String() if t == pl.Null else t) for n, t in frame.schema.items()}

    def scan(self) -> pl.LazyFrame:
        """A lazy frame whose column selection and row limit are pushed down into the SQL; read in batches."""
        from polars.io.plugins import register_io_source

        schema = self.schema()

        def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
                   batch_size: int | None) -> Iterator[pl.DataFrame]:
            cols = with_columns if with_columns is not None else list(schema)
            limit = n_rows if self.dialect != "odbc" else None
            sql, params = self._select(cols, limit=limit)
            seen = 0
            for frame in self._frames(sql, params, batch_size or self.batch_size):
                frame = frame.cast({c: schema[c] for c in frame.columns if frame.schema[c] != schema[c]},
                                   strict=False)
                if predicate is not None:
                    frame = frame.filter(predicate)
                if n_rows is not None:
                    frame = frame.head(n_rows - seen)
                seen += frame.height
                yield frame
                if n_rows is not None and seen >= n_rows:
                    return

        return register_io_source(source, schema=schema, explain_name="assay SQL", explain_detail=mask_uri(self.uri))

    def fingerprint(self) -> str:
        """Hash of the source's identity and its row count (and newest watermark): cheap, changes with the data."""
        src = quote_ident(self.table, self.dialect) if self.table else f"({self.query}) AS assay_q"
        mark = quote_ident(self.watermark, self.dialect, dotted=False) if self.watermark else None
        agg = "COUNT(*)" + (f", MAX({mark})" if mark else "")
        sql = f"SELECT {agg} FROM {src}" + (f" WHERE ({self.where})" if self.where else "")
        row = next(self._frames(sql, [], 1)).row(0)
        key = json.dumps([mask_uri(self.uri), self.table, self.query, self.columns, self.where, [str(v) for v in row]])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    # -- incremental loads ---------------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        """Where the watermark is kept: ``?state=FILE`` or ``.assay/watermarks/<hash of the source>.json``."""
        if self.options.get("state"):
            return Path(self.options["state"]).expanduser()
        ident = json.dumps([mask_uri(_split_options(self.uri)[0]), self.table, self.query, self.watermark])
        return Path(".assay") / "watermarks" / (hashlib.sha256(ident.encode()).hexdigest()[:16] + ".json")

    def load_watermark(self) -> Any:
        """The stored watermark value, or ``None`` before the first committed batch."""
        path = self.state_path
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            msg = f"watermark file {path} for {mask_uri(self.uri)} is unreadable ({exc}); delete it to reload all rows"
            raise SourceError(msg) from None
        value, kind = data.get("value"), data.get("type")
        if kind == "datetime":
            return dt.datetime.fromisoformat(value)
        if kind == "date":
            return dt.date.fromisoformat(value)
        return value

    def commit(self, batch: pl.DataFrame) -> None:
        """Save the batch's largest watermark value atomically (temp file + rename), once the batch is durable."""
        if not self.watermark or batch.height == 0:
            return
        if self.watermark not in batch.columns:
            msg = f"watermark column {self.watermark!r} is not in the batch from {mask_uri(self.uri)}"
            raise SourceError(msg + did_you_mean(self.watermark, batch.columns))
        value = batch[self.watermark].max()
        kind = "datetime" if isinstance(value, dt.datetime) else "date" if isinstance(value, dt.date) else "plain"
        if kind != "plain":
            value = value.isoformat()  # type: ignore[union-attr]
        elif not isinstance(value, (int, float, str)):
            value = str(value)
        payload = {"source": mask_uri(self.uri), "column": self.watermark, "value": value, "type": kind}
        write_atomic(self.state_path, json.dumps(payload).encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

