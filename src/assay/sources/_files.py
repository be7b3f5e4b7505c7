"""File sources: CSV/TSV, JSON, NDJSON, Parquet, Excel, read lazily with Polars.

Only local paths live here; SQL, HTTP and streams have their own modules.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from assay.exceptions import EmptySourceError, SourceNotFoundError, UnsupportedSourceError
from assay.sources._base import DEFAULT_BATCH_SIZE, hash_file

__all__ = ["FileSource"]

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class FileSource:
    """A local file named by its path (or ``file://`` URI)."""

    def __init__(self, uri: str, **options: Any) -> None:
        self.uri = uri
        self.options = options
        path = uri[len("file://") :] if uri.startswith("file://") else uri
        self.path = Path(os.path.expanduser(path))
        if not self.path.exists():
            msg = f"file not found: {self.path}"
            raise SourceNotFoundError(msg)
        self.format = FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            known = ", ".join(sorted(FORMATS))
            msg = f"unsupported file extension {self.path.suffix!r} for {self.path}; assay reads {known}"
            raise UnsupportedSourceError(msg)
        if self.path.stat().st_size == 0:
            msg = f"{self.path} is empty (0 bytes)"
            raise EmptySourceError(msg)

    def scan(self) -> pl.LazyFrame:
        if self.format == "parquet":
            return pl.scan_parquet(self.path)
        sep = "\t" if self.path.suffix.lower() == ".tsv" else self.options.get("separator", ",")
        return pl.scan_csv(self.path, separator=sep, infer_schema_length=10_000)

    def read(self) -> pl.DataFrame:
        return self.scan().collect()

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pl.DataFrame]:
        yield from self.scan().collect_batches(chunk_size=batch_size)

    def fingerprint(self) -> str:
        return hash_file(str(self.path))[:16]
