"""The contract every finite Source must keep, as one callable check: :func:`check_source`.

Run it over each source family in the tests (files, SQL, HTTP, recorded streams) so that a new source gets every
check for free. Live streams that never end are out of scope: give it a bounded or recorded source.
"""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from assay.sources._base import Source

__all__ = ["check_source"]


def check_source(source: Source, *, batch_sizes: tuple[int, ...] | None = None) -> pl.DataFrame:
    """Check that ``source`` keeps the Source contract; return its data (``read()``) for further checks.

    - it is a :class:`~assay.sources.Source` with a string ``uri``;
    - ``scan()`` is a LazyFrame whose collected data equals ``read()``;
    - for each batch size, ``batches()`` yields frames of at most that many rows, all with ``read()``'s schema,
      which concatenated equal ``read()`` in order;
    - ``fingerprint()`` is a non-empty string, the same on every call.

    ``batch_sizes`` defaults to sizes that cut the data into one row, a third, all of it, and more than all of it.
    Raises ``AssertionError`` naming the broken part of the contract.

    >>> import tempfile, pathlib
    >>> from assay.sources import open_source
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = path.write_text("a,b\\n1,x\\n2,y\\n3,z\\n")
    >>> check_source(open_source(str(path))).height
    3
    """
    name = type(source).__name__
    if not isinstance(source, Source):
        msg = f"{name} does not offer the Source protocol (uri, scan, batches, read, fingerprint)"
        raise AssertionError(msg)
    if not isinstance(source.uri, str) or not source.uri:
        msg = f"{name}.uri must be a non-empty string, got {source.uri!r}"
        raise AssertionError(msg)

    frame = source.read()
    if not isinstance(frame, pl.DataFrame):
        msg = f"{name}.read() must return a polars DataFrame, got {type(frame).__name__}"
        raise AssertionError(msg)

    lazy = source.scan()
    if not isinstance(lazy, pl.LazyFrame):
        msg = f"{name}.scan() must return a polars LazyFrame, got {type(lazy).__name__}"
        raise AssertionError(msg)
    _same(lazy.collect(), frame, f"{name}.scan().collect() differs from read()")

    sizes = batch_sizes or _default_sizes(frame.height)
    for size in sizes:
        parts = list(source.batches(size))
        for i, part in enumerate(parts):
            if not isinstance(part, pl.DataFrame):
                msg = f"{name}.batches({size}) item {i} is a {type(part).__name__}, not a polars DataFrame"
                raise AssertionError(msg)
            if part.height > size:
                msg = f"{name}.batches({size}) item {i} has {part.height} rows, more than the batch size"
                raise AssertionError(msg)
            if part.schema != frame.schema:
                msg = f"{name}.batches({size}) item {i} has schema {part.schema}, read() has {frame.schema}"
                raise AssertionError(msg)
        joined = pl.concat(parts) if parts else frame.clear()
        _same(joined, frame, f"{name}.batches({size}) joined differ from read()")

    first, second = source.fingerprint(), source.fingerprint()
    if not isinstance(first, str) or not first:
        msg = f"{name}.fingerprint() must be a non-empty string, got {first!r}"
        raise AssertionError(msg)
    if first != second:
        msg = f"{name}.fingerprint() is not stable: {first!r} then {second!r}"
        raise AssertionError(msg)
    return frame


def _default_sizes(height: int) -> tuple[int, ...]:
    sizes = {max(1, height // 3 + 1), max(1, height), height + 1}
    if height <= 200:  # one row per batch is only affordable on small data
        sizes.add(1)
    return tuple(sorted(sizes))


def _same(left: pl.DataFrame, right: pl.DataFrame, what: str) -> None:
    try:
        assert_frame_equal(left, right, check_exact=True)
    except AssertionError as exc:
        msg = f"{what}: {exc}"
        raise AssertionError(msg) from None
