"""The Source protocol, URI parsing and the table of URI schemes.

A source is named by one URI everywhere (CLI, YAML, Python). This module maps the scheme of that URI to the class
that reads it; the classes live in one module per family (``_files``, ``_sql``, ``_http``, ``_streams``) and are
imported only when their scheme is used, so that ``import assay`` never imports a database driver.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import polars as pl

from assay.exceptions import UnsupportedSourceError

__all__ = ["SCHEMES", "Source", "mask_uri", "open_source", "parse_uri", "read_source"]

DEFAULT_BATCH_SIZE = 100_000
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


@runtime_checkable
class Source(Protocol):
    """What every source offers. Batches are Polars frames (Arrow memory), never Python rows."""

    uri: str

    def scan(self) -> pl.LazyFrame:
        """The whole data set as a lazy frame (out-of-core where the format allows)."""
        ...

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pl.DataFrame]:
        """The data as frames of at most ``batch_size`` rows, in order, in bounded memory."""
        ...

    def read(self) -> pl.DataFrame:
        """The whole data set in memory."""
        ...

    def fingerprint(self) -> str:
        """A short stable id of the data (content hash for files); recorded in artifacts as lineage."""
        ...


# Scheme -> "module:Class". Read top to bottom to see every kind of source assay knows.
SCHEMES: dict[str, str] = {
    "file": "assay.sources._files:FileSource",
    "sqlite": "assay.sources._sql:SQLSource",
    "duckdb": "assay.sources._sql:SQLSource",
    "postgresql": "assay.sources._sql:SQLSource",
    "postgres": "assay.sources._sql:SQLSource",
    "mysql": "assay.sources._sql:SQLSource",
    "mariadb": "assay.sources._sql:SQLSource",
    "odbc": "assay.sources._sql:SQLSource",
    "http": "assay.sources._http:HTTPSource",
    "https": "assay.sources._http:HTTPSource",
    "redis": "assay.sources._streams:RedisStreamSource",
    "nats": "assay.sources._streams:NATSSource",
    "mqtt": "assay.sources._streams:MQTTSource",
    "amqp": "assay.sources._streams:AMQPSource",
    "tcp": "assay.sources._streams:TCPSource",
    "udp": "assay.sources._streams:UDPSource",
}

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def mask_uri(uri: str) -> str:
    """Hide the password of a URI so it can go into a log line or an error.

    >>> mask_uri("postgresql://bob:secret@db:5432/sales")
    'postgresql://bob:***@db:5432/sales'
    >>> mask_uri("data/x.csv")
    'data/x.csv'
    """
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def parse_uri(uri: str) -> tuple[str, dict[str, str]]:
    """Return ``(scheme, query options)``; a plain path has scheme ``"file"``.

    >>> parse_uri("data/x.csv")
    ('file', {})
    >>> parse_uri("sqlite:///db.sqlite?table=t")
    ('sqlite', {'table': 't'})
    """
    if "://" not in uri or _WINDOWS_DRIVE.match(uri):
        return "file", {}
    parts = urlsplit(uri)
    scheme = parts.scheme.lower().split("+", 1)[0]
    return scheme, dict(parse_qsl(parts.query, keep_blank_values=True))


def open_source(uri: str | Any, **options: Any) -> Source:
    """Open the source named by ``uri``; ``options`` are passed to its class (e.g. ``encoding="gbk"``).

    A ``Source`` object passes through unchanged, so every API accepts either.
    """
    if not isinstance(uri, str):
        if isinstance(uri, Source):
            return uri
        uri = str(uri)  # a pathlib.Path
    scheme, _ = parse_uri(uri)
    target = SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(sorted(SCHEMES))
        msg = f"unknown URI scheme {scheme!r} in {mask_uri(uri)!r}; assay reads: {known} (or a file path)"
        raise UnsupportedSourceError(msg)
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(uri, **options)


def read_source(uri: str | Any, **options: Any) -> pl.DataFrame:
    """Read a whole source into a Polars frame: ``assay.load``."""
    return open_source(uri, **options).read()


def hash_file(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def flatten(frame: FrameT, sep: str = ".") -> FrameT:
    """Nested objects become columns: ``{"a": {"b": 1}}`` gives column ``a.b`` (vectorised, any depth; a frame or a
    lazy frame). Lists stay lists.

    >>> flatten(pl.DataFrame({"a": [{"b": 1, "c": {"d": 2}}]})).columns
    ['a.b', 'a.c.d']
    """
    while True:
        schema = frame.collect_schema()
        if not any(isinstance(t, pl.Struct) for t in schema.values()):
            return frame
        exprs = []
        for name, dtype in schema.items():
            if isinstance(dtype, pl.Struct) and dtype.fields:
                exprs += [pl.col(name).struct.field(f.name).alias(f"{name}{sep}{f.name}") for f in dtype.fields]
            elif isinstance(dtype, pl.Struct):
                continue  # an always-empty object carries no data
            else:
                exprs.append(pl.col(name))
        frame = frame.select(exprs)


def unify_dtype(a: pl.DataType, b: pl.DataType) -> pl.DataType:
    """The type that holds values of both ``a`` and ``b``: itself, the wider number, else text.

    >>> unify_dtype(pl.Int64(), pl.Float64()), unify_dtype(pl.Null(), pl.Int64())
    (Float64, Int64)
    >>> unify_dtype(pl.Float64(), pl.String())
    String
    """
    if a == b or b == pl.Null:
        return a
    if a == pl.Null:
        return b
    if a.is_numeric() and b.is_numeric():
        return pl.Float64() if a.is_float() or b.is_float() else pl.Int64()
    return pl.String()


def scan_parquet_files(files: Sequence[str | os.PathLike[str]]) -> pl.LazyFrame:
    """Parquet files as one lazy table over the union of their columns, in file order.

    Files written batch by batch (a stream ingested in micro-batches, one file per day) can differ: a column that
    appears later, integers in one file and fractions in the next, text where earlier files held numbers. Each
    column is read as the type that holds all of its files' values (:func:`unify_dtype`), a column a file lacks as
    missing values. Files that already agree are one plain scan.
    """
    paths = [Path(f) for f in files]
    schemas = [pl.read_parquet_schema(p) for p in paths]
    union: dict[str, pl.DataType] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            union[name] = unify_dtype(union.get(name, pl.Null()), dtype)
    if all(list(schema.items()) == list(union.items()) for schema in schemas):
        return pl.scan_parquet(paths)
    # One scan per run of consecutive files with the same schema (file order is row order), each cast to the union.
    parts: list[pl.LazyFrame] = []
    for schema, run in itertools.groupby(zip(schemas, paths, strict=True), key=lambda sp: tuple(sp[0].items())):
        have = dict(schema)
        parts.append(pl.scan_parquet([p for _, p in run]).select(
            (pl.col(name).cast(dtype) if have[name] != dtype else pl.col(name)) if name in have
            else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in union.items()
        ))
    return pl.concat(parts, how="vertical")
