"""Partitioned sources: a plan of independent, small pieces of one source that workers read on their own.

A :class:`Partition` is a few plain values (what to read, which rows), cheap to send to a worker and safe to read
twice: reading the same partition again gives the same rows, which is what lets a job survive a killed worker (the
scheduler re-runs the lost reads elsewhere and each partition's result is used exactly once).

- Parquet: consecutive row groups, up to ``rows_per_partition`` rows each (the row counts come from the footer).
- CSV, NDJSON and other files: row ranges of each file (the rows are counted once); a glob or a directory gives
  the files in sorted order, so the global row order equals what the local engine reads.
- SQL: ranges of a numeric key column (``key=`` ... ``partitions=``), each read with ``WHERE lo <= key < hi`` pushed
  into the database.

Partitions know their global row ``offset`` so that per-row decisions (train/test split, CV folds) made from one
column on the client can be applied to each partition by position.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from assay.exceptions import SchemaError, SourceError, SourceNotFoundError, SpecError

__all__ = ["Partition", "plan_partitions", "read_partition"]

DEFAULT_PARTITION_ROWS = 1_000_000


@dataclass(frozen=True)
class Partition:
    """One independently readable piece of a source.

    ``kind`` is ``"parquet"`` (row groups ``start:stop`` of ``uri``), ``"file"`` (rows ``start:stop`` of the file
    ``uri`` read with ``options``) or ``"sql"`` (``uri`` with ``options`` holding the range condition). ``drop``:
    columns left out when the partition is read whole (a spec's ``drop:``); asked for by name, they are still read.
    """

    kind: str
    uri: str
    index: int
    offset: int = 0
    rows: int | None = None
    start: int = 0
    stop: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """File name used for this partition's output: ``part-00007.parquet``."""
        return f"part-{self.index:05d}.parquet"


def read_partition(part: Partition, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Read one partition into memory (run on a worker): ``columns``, or every column but ``part.drop``."""
    if columns is None and part.drop:
        return _read(part, None).drop(part.drop, strict=False)
    return _read(part, columns)


def _read(part: Partition, columns: Sequence[str] | None) -> pl.DataFrame:
    if part.kind == "parquet":
        lazy = pl.scan_parquet(part.uri).slice(part.start, part.rows)
        if columns is not None:
            lazy = lazy.select(columns)
        return lazy.collect()
    if part.kind == "file":
        from assay.sources._files import FileSource

        lazy = FileSource(part.uri, **part.options).scan().slice(part.start, part.rows)
        if columns is not None:
            lazy = lazy.select(columns)
        return lazy.collect()
    if part.kind == "sql":
        from assay.sources._sql import SQLSource

        opts = dict(part.options)
        if columns is not None:
            opts["columns"] = ",".join(columns)
        return SQLSource(part.uri, **opts).read()
    if part.kind == "frame":
        frame = part.options["frame"]
        return frame if columns is None else frame.select(columns)
    msg = f"unknown partition kind {part.kind!r}"
    raise SpecError(msg)


def plan_partitions(
    source: str | pl.DataFrame,
    *,
    source_options: dict[str, Any] | None = None,
    rows_per_partition: int = DEFAULT_PARTITION_ROWS,
    key: str | None = None,
    partitions: int | None = None,
    count_rows: Callable[[list[Partition]], list[int]] | None = None,
) -> list[Partition]:
    """Cut ``source`` (a path, glob, directory, SQL URI, or an in-memory frame) into partitions.

    Args:
        rows_per_partition: target rows per partition for files.
        key, partitions: for SQL, the numeric column whose range is split and into how many pieces (default: 2
            per 1M rows, at least 1).
        count_rows: how to count the rows of text files (the Dask engine passes a function that counts on the
            workers); default counts here.

    >>> import polars as pl
    >>> [p.rows for p in plan_partitions(pl.DataFrame({"a": range(5)}), rows_per_partition=2)]
    [2, 2, 1]
    """
    opts = dict(source_options or {})
    if rows_per_partition < 1:
        msg = f"rows_per_partition must be >= 1, not {rows_per_partition}"
        raise SpecError(msg)
    if isinstance(source, pl.DataFrame):
        return [
            Partition("frame", "<frame>", i, offset=start, rows=min(rows_per_partition, source.height - start),
                      options={"frame": source.slice(start, rows_per_partition)})
            for i, start in enumerate(range(0, max(source.height, 1), rows_per_partition))
        ]
    source = str(source)
    scheme = source.split("://", 1)[0].lower() if "://" in source else "file"
    if scheme != "file":
        from assay.sources._base import SCHEMES

        if SCHEMES.get(scheme, "").endswith(":SQLSource"):
            return _plan_sql(source, opts, key=key, partitions=partitions)
        msg = (f"the dask engine reads files (Parquet, CSV, NDJSON, globs and directories) and SQL sources; "
               f"{scheme}:// sources are not partitionable — load them to Parquet first")
        raise SpecError(msg)
    return _plan_files(source, opts, rows_per_partition, count_rows)


def _files_of(source: str) -> list[Path]:
    # Absolute: the workers read the files, and a worker started in another directory than this process (a
    # scheduler's own workers) would find a relative path nowhere.
    path = Path(source).expanduser().absolute()
    if path.is_dir():
        from assay.sources._files import _dataset_files

        return _dataset_files(path, source)  # the files the local engine reads as this directory's table
    if any(ch in source for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            msg = f"no file matches {source}"
            raise SourceNotFoundError(msg)
        return files
    if not path.exists():
        msg = f"file not found: {Path(source).expanduser()}"
        raise SourceNotFoundError(msg)
    return [path]


def _plan_files(source: str, opts: dict[str, Any], rows_per_partition: int,
                count_rows: Callable[[list[Partition]], list[int]] | None) -> list[Partition]:
    files = _files_of(source.removeprefix("file://"))
    parquet = [f for f in files if f.suffix.lower() in (".parquet", ".pq")]
    if parquet and len(parquet) != len(files):
        msg = f"{source} mixes Parquet and other files; point the source at one format"
        raise SourceError(msg)
    plan: list[Partition] = []
    if parquet and not opts:
        import pyarrow.parquet as pq

        for path in files:
            meta = pq.ParquetFile(path).metadata
            first = rows = 0
            for group in range(meta.num_row_groups):
                n = meta.row_group(group).num_rows
                if rows and rows + n > rows_per_partition:
                    plan.append(Partition("parquet", str(path), 0, rows=rows, start=first))
                    first, rows = first + rows, 0
                rows += n
            if rows or not plan:
                plan.append(Partition("parquet", str(path), 0, rows=rows, start=first))
    else:
        whole = [Partition("file", str(path), 0, options=opts) for path in files]
        counts = count_rows(whole) if count_rows is not None else [count_partition_rows(p) for p in whole]
        for part, n in zip(whole, counts, strict=True):
            pieces = max(1, math.ceil(n / rows_per_partition))
            for j in range(pieces):
                start = j * rows_per_partition
                plan.append(replace(part, start=start, rows=min(rows_per_partition, n - start) if n else 0))
    return _numbered(plan)


def count_partition_rows(part: Partition) -> int:
    """Rows in a whole-file partition (a worker task for text files)."""
    from assay.sources._files import FileSource

    return int(FileSource(part.uri, **part.options).scan().select(pl.len()).collect().item())


def _numbered(plan: list[Partition]) -> list[Partition]:
    out, offset = [], 0
    for i, part in enumerate(plan):
        out.append(replace(part, index=i, offset=offset))
        offset += part.rows or 0
    return out


def _literal(value: Any) -> str:
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _plan_sql(uri: str, opts: dict[str, Any], *, key: str | None, partitions: int | None) -> list[Partition]:
    from assay.sources._sql import SQLSource, quote_ident

    src = SQLSource(uri, **opts)
    key = key or src.options.get("key")
    if not key:
        msg = (f"{src.table or 'the query'}: the dask engine splits SQL sources on a numeric key column; add "
               f"source_options: {{key: id}} (and optionally partitions: N)")
        raise SpecError(msg)
    q = quote_ident(key, src.dialect)
    table = quote_ident(src.table, src.dialect) if src.table else f"({src.query}) AS assay_q"
    where = f" WHERE ({src.where})" if src.where else ""
    sql = f"SELECT MIN({q}) AS lo, MAX({q}) AS hi, COUNT(*) AS n FROM {table}{where}"
    lo, hi, n = next(src._frames(sql, [], 1)).row(0)
    if n == 0 or lo is None:
        return [Partition("sql", uri, 0, rows=0, options={**_plain(opts, key), "where": src.where or "1=1"})]
    if not isinstance(lo, int | float) or isinstance(lo, bool):
        msg = f"key column {key!r} is {type(lo).__name__}; the dask engine needs a numeric key to split ranges on"
        raise SchemaError(msg)
    count = int(partitions or src.options.get("partitions") or max(1, math.ceil(n / 500_000)))
    count = max(1, min(count, int(n)))
    edges = [lo + (hi - lo) * i / count for i in range(count + 1)]
    if isinstance(lo, int):
        edges = [lo + math.ceil((hi - lo) * i / count) for i in range(count)] + [hi]
    plan = []
    for i in range(count):
        low, high = edges[i], edges[i + 1]
        op = "<=" if i == count - 1 else "<"
        cond = f"{q} >= {_literal(low)} AND {q} {op} {_literal(high)}"
        if src.where:
            cond = f"({src.where}) AND {cond}"
        plan.append(Partition("sql", uri, i, options={**_plain(opts, key), "where": cond}))
    return plan


def _plain(opts: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in opts.items() if k not in ("key", "partitions", "where")}
