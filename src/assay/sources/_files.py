"""File sources: CSV/TSV, JSON, NDJSON, Parquet and Excel files, read lazily with Polars.

A file is named by a path, a ``file://`` URI or a glob of same-format files; options come as keyword arguments or from
the query string (``sales.csv?separator=;&encoding=gbk``). Text that is not UTF-8 (GBK/GB18030 is common in Chinese
business data) is transcoded chunk by chunk to a temporary UTF-8 file so Polars can still scan it out of core, and
``.gz``/``.bz2``/``.xz`` text files are decompressed the same way. Every failure is turned into one readable
:class:`~assay.exceptions.SourceError` (or ``SchemaError``/``SpecError``) naming the file, line or byte offset.

Transcoded and decompressed copies live in the temporary directory ($TMPDIR) until the process exits, reused while
the original is unchanged. Only local files live here; SQL, HTTP and streams have their own modules.
"""

from __future__ import annotations

import atexit
import bz2
import codecs
import csv
import difflib
import glob
import gzip
import hashlib
import io
import itertools
import json
import logging
import lzma
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import polars as pl

from assay._deps import import_optional
from assay.exceptions import (
    AssayError,
    DecodeError,
    EmptySourceError,
    SchemaError,
    SourceError,
    SourceNotFoundError,
    SpecError,
    UnsupportedSourceError,
    did_you_mean,
)
from assay.sources._base import DEFAULT_BATCH_SIZE, flatten, hash_file, scan_parquet_files

__all__ = ["COMPRESSIONS", "DTYPES", "FORMATS", "OPTIONS", "FileSource", "detect_encoding", "transcode_to_utf8"]

log = logging.getLogger("assay.sources")
_SHEETS_NOTED: set[tuple[str, int]] = set()  # workbooks whose several sheets were already mentioned

# Extension -> format. Read top to bottom to see every file type assay reads.
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
}

# Compression suffix -> opener. A compressed text file (``sales.csv.gz``) is decompressed once, in a streaming copy.
COMPRESSIONS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_TEXT_FORMATS = frozenset({"csv", "json", "ndjson"})

# Option -> (formats it applies to, what it means). Unknown or misplaced options are refused with this table.
OPTIONS: dict[str, tuple[frozenset[str], str]] = {
    "format": (frozenset({"csv", "json", "ndjson", "parquet", "excel"}), "force a format: csv, json, ndjson, ..."),
    "dtypes": (frozenset({"csv", "json", "ndjson", "parquet", "excel"}), "column types, e.g. {'price': 'float'}"),
    "separator": (frozenset({"csv"}), "field separator, one character (default ',', tab for .tsv; ';', tab "
                                             "or '|' when the header line has those and no comma)"),
    "has_header": (frozenset({"csv", "excel"}), "whether the first row holds column names (default true)"),
    "quote_char": (frozenset({"csv"}), "quoting character (default '\"'; empty to turn quoting off)"),
    "encoding": (frozenset({"csv"}), "text encoding, e.g. 'gbk' (default 'auto': detected from a sample)"),
    "encoding_errors": (frozenset({"csv"}), "'strict' (default: undecodable bytes are an error) or 'replace' (U+FFFD)"),
    "null_values": (frozenset({"csv"}), "strings read as missing, e.g. 'NA'"),
    "comment_prefix": (frozenset({"csv"}), "lines starting with this are skipped"),
    "skip_rows": (frozenset({"csv"}), "lines to skip before the header"),
    "infer_schema_length": (frozenset({"csv", "json", "ndjson", "excel"}), "rows used to infer types (default 10000)"),
    "sheet": (frozenset({"excel"}), "sheet name, or 1-based position (default: the first sheet)"),
}

# Spellings users reach for first (pandas, csv module) -> our option name. Not pandas' ``header``: its 0 means "the
# first row is the header", the opposite of has_header=0.
_ALIASES: dict[str, str] = {
    "delimiter": "separator",
    "sep": "separator",
    "quotechar": "quote_char",
    "schema_overrides": "dtypes",
    "sheet_name": "sheet",
    "na_values": "null_values",
}

# Type names accepted in ``dtypes``.
DTYPES: dict[str, Any] = {
    "float": pl.Float64,
    "float64": pl.Float64,
    "float32": pl.Float32,
    "double": pl.Float64,
    "int": pl.Int64,
    "int64": pl.Int64,
    "int32": pl.Int32,
    "str": pl.String,
    "string": pl.String,
    "utf8": pl.String,
    "text": pl.String,
    "bool": pl.Boolean,
    "boolean": pl.Boolean,
    "date": pl.Date,
    "datetime": pl.Datetime,
    "category": pl.Categorical,
    "categorical": pl.Categorical,
}

_UTF8_NAMES = frozenset({"utf-8", "utf_8", "utf8", "utf-8-sig", "utf_8_sig", "ascii"})
_GB_NAMES = frozenset({"gb18030", "gbk", "gb2312", "hz"})
_CJK_RIVALS = frozenset({"shift_jis", "cp932", "euc_jp", "euc_kr", "cp949", "johab", "big5", "big5hkscs", "cp950",
                         "iso2022_jp", "iso2022_kr"})
_PREFERRED = ("gb18030", "cp1252", "latin_1", "big5", "shift_jis", "cp1251", "cp1250")
SAMPLE_BYTES = 64 * 1024
_CHUNK_BYTES = 1 << 20
# Bytes of CSV parsed at a time by batches(): Polars' parse of one piece peaks near 7x its size (measured), so
# 2 MiB keeps a batch loop within tens of MB while costing little speed over larger pieces.
_CSV_CHUNK_BYTES = 2 << 20
_INFER_ROWS = 10_000
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


# --------------------------------------------------------------------------------------------------------------------
# Encodings


# The first bytes of binary files people name .csv/.txt/.json by mistake (a download saved under the wrong name, an
# export in the wrong format): what the file is, and how assay reads it instead.
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"PAR1", "a Parquet file", "name it .parquet or pass format='parquet'"),
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one)", "name a workbook .xlsx; unzip an archive first"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old binary Excel (.xls) workbook", "save it as .xlsx or .csv"),
    (b"\x1f\x8b", "gzip-compressed", "name it with .gz at the end (data.csv.gz)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "name it with .xz at the end (data.csv.xz)"),
    (b"SQLite format 3\x00", "an SQLite database", "read a table with sqlite:///PATH?table=NAME"),
    (b"ARROW1", "an Arrow IPC (Feather) file", "write it as Parquet or CSV"),
    (b"%PDF-", "a PDF document", "export its table as CSV"),
)


def _refuse_binary(path: Path, fmt: str) -> None:
    """Raise a one-line error when ``path``, read as text, starts like a known binary format."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    for magic, what, fix in _MAGIC:
        if head.startswith(magic):
            msg = f"{path} is {what}, not a {fmt} text file: {fix}"
            raise UnsupportedSourceError(msg)


_SNIFFED: dict[tuple[str, int, int], str | None] = {}


def _text_format_of(path: Path) -> str | None:
    """The format of a text file whose extension assay does not know (UCI's ``adult.data``, ``iris.data``, a
    ``.dat`` export, no extension): ``csv`` when its first lines split into the same two or more fields by a comma,
    tab, semicolon or pipe, ``ndjson`` when each starts with ``{``, ``json`` when the file starts with ``[``; else
    None (then the extension is refused). Said once per file version."""
    if path.suffix.lower() in COMPRESSIONS or not path.is_file():
        return None
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _SNIFFED:
        return _SNIFFED[key]
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    found: str | None = None
    if head and b"\x00" not in head and not any(head.startswith(magic) for magic, _, _ in _MAGIC):
        lines = [line for line in head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines() if line.strip()]
        if len(lines) > 1 and len(head) == 1 << 16:
            lines = lines[:-1]  # (the last may be cut off)
        lines = lines[:50]
        if lines and lines[0].lstrip().startswith("["):
            found = "json"
        elif lines and all(line.lstrip().startswith("{") for line in lines):
            found = "ndjson"
        else:
            for sep in (",", "\t", ";", "|"):
                widths = [len(row) for row in csv.reader(lines, delimiter=sep)]
                if widths and min(widths) >= 2 and widths.count(widths[0]) >= 0.9 * len(widths):
                    found = "csv"
                    break
    _SNIFFED[key] = found
    if found:
        why = f"assay does not know the extension {path.suffix!r}" if path.suffix else "it has no extension"
        log.warning("%s: read as %s text (%s); give format=… to choose", path.name,
                    found.upper() if found != "ndjson" else "NDJSON", why)
    return found


def detect_encoding(path: str | os.PathLike[str], sample_bytes: int = SAMPLE_BYTES, windows: int = 8) -> str:
    """Guess the text encoding of a file: ``'utf-8'`` or a Python codec name.

    The first ``sample_bytes`` and ``windows`` more samples spread through the file are checked, so a file whose
    first rows are plain ASCII and whose Chinese rows come later is still caught (at the cost of reading a few
    hundred KiB, whatever the file's size). A UTF-8 BOM, or samples that all decode as UTF-8, give ``'utf-8'``
    (Polars drops the BOM itself); otherwise charset-normalizer decides on the head plus the first failing sample,
    with GB18030 preferred when that reads as Chinese text.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(sample_bytes)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        failed = None
        for offset, sample in _samples(fh, head, size, sample_bytes, windows):
            at_end = offset + len(sample) >= size
            try:
                # final=False: a sample cut in the middle of a multi-byte character is still UTF-8.
                codecs.getincrementaldecoder("utf-8")().decode(sample, final=at_end)
            except UnicodeDecodeError as exc:
                failed = offset, sample, exc.start, at_end
                break
    if failed is None:
        return "utf-8"
    offset, sample, bad, at_end = failed
    if offset:  # give the detector the head too, cut at a line end so no character is split in the middle
        sample = head[: head.rfind(b"\n") + 1] + sample
    charset_normalizer = import_optional("charset_normalizer", "core")
    matches = charset_normalizer.from_bytes(sample)
    names = [m.encoding for m in matches]
    # charset-normalizer often ranks cp949 (Korean) above gb18030 on short Chinese samples; a GB decoding that is
    # almost all Han characters is the better bet for the Chinese business data this path exists for.
    gb = next((n for n in names if n in _GB_NAMES), None)
    best = matches.best()
    # On a few dozen bytes it may not list GB at all and pick Shift-JIS instead ("文本" in GBK is "ﾎﾄｱｾ" in
    # Shift-JIS, byte for byte); among the East Asian double-byte code pages, GB wins when it reads as Chinese.
    rival = best is not None and best.encoding in _CJK_RIVALS
    if (gb is not None or rival) and _mostly_han(sample, at_end):
        return "gb18030"
    if best is None:
        msg = (
            f"cannot tell the text encoding of {path}: byte 0x{failed[1][bad]:02X} at byte offset {offset + bad} is "
            "not UTF-8 and no other encoding fits the bytes around it "
            "(encodings tried: utf-8, charset detection); pass encoding='...' if it is text"
        )
        if b"\x00" in sample:
            msg += " (it holds NUL bytes, as binary files do)"
        raise DecodeError(msg)
    # Short samples often tie several code pages exactly (cp1250 and cp1252 read "José" alike, not "Genève"); on a
    # tie take the most widespread one rather than charset-normalizer's arbitrary first.
    tied = [m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    choice = next((name for name in _PREFERRED if name in tied), best.encoding)
    return "gb18030" if choice in _GB_NAMES else choice


def _samples(fh: Any, head: bytes, size: int, sample_bytes: int, windows: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)`` of the head, then of windows spread evenly up to the file's end, each from a line start."""
    yield 0, head
    if size <= len(head):
        return
    starts = sorted({size * i // windows for i in range(1, windows)} | {max(len(head), size - sample_bytes)})
    for start in starts:
        fh.seek(start)
        window = fh.read(sample_bytes)
        cut = window.find(b"\n")  # a line start is a character start in every ASCII-compatible encoding
        if 0 <= cut < len(window) - 1:
            yield start + cut + 1, window[cut + 1 :]


def _mostly_han(sample: bytes, at_end: bool) -> bool:
    try:
        text = codecs.getincrementaldecoder("gb18030")().decode(sample, final=at_end)
    except UnicodeDecodeError:
        return False
    wide = [c for c in text if ord(c) > 0x7F]
    if not wide:
        return False
    han = sum(1 for c in wide if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef")
    return han >= 0.9 * len(wide)


def _codec_name(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        msg = f"unknown encoding {encoding!r}; use a Python codec name such as 'utf-8', 'gbk', 'gb18030', 'latin-1'"
        raise SpecError(msg) from None


def transcode_to_utf8(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    encoding: str,
    *,
    tried: list[str] | None = None,
    errors: str = "strict",
    name: str | None = None,
) -> None:
    """Re-encode ``src`` from ``encoding`` to UTF-8 into ``dst``, one chunk at a time (bounded memory).

    Undecodable bytes raise :class:`DecodeError` naming their byte offset; ``tried`` lists the encodings already
    tried, for that message (``name`` is how the file is called there); ``errors="replace"`` writes U+FFFD for them
    instead. A BOM of the source encoding is dropped.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    offset = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while True:
            chunk = fin.read(_CHUNK_BYTES)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.start counts from the start of what the decoder buffered, which began before this chunk
                # when a multi-byte character straddled the boundary.
                pending = len(exc.object) - len(chunk)
                bad = offset - pending + exc.start
                names = [*(tried or []), encoding]
                msg = (
                    f"cannot decode {name or src} as {encoding}: byte 0x{exc.object[exc.start]:02X} at byte offset "
                    f"{bad} ({_line_of(src, bad)}) is invalid; encodings tried: {', '.join(dict.fromkeys(names))}; "
                    f"pass the file's real encoding, e.g. {_other_encodings(encoding)}, or encoding_errors='replace'"
                )
                raise DecodeError(msg) from None
            if text:
                fout.write(text.lstrip("\ufeff").encode("utf-8") if offset == 0 else text.encode("utf-8"))
            if not chunk:
                break
            offset += len(chunk)


def _record_chunks(
    path: Path, *, skip: int, quote: str | None, chunk_bytes: int, comment: str | None = None
) -> Iterator[bytes]:
    """Yield the bytes of a UTF-8 CSV file in pieces that end at a record end, after ``skip`` records.

    Lines starting with ``comment`` do not count as skipped records (Polars skips them before the header too).

    A newline inside a quoted field is not a record end: with RFC 4180 quoting (a quote inside a field is doubled)
    a position is inside quotes exactly when an odd number of quote characters precede it in the piece.
    """
    q = quote.encode() if quote else None
    with open(path, "rb") as fh:
        if fh.read(3) != codecs.BOM_UTF8:
            fh.seek(0)
        carry = b""
        while skip:
            line = fh.readline()
            if not line:
                return
            if not carry and comment and line.startswith(comment.encode()):
                continue
            carry += line
            if q is None or carry.count(q) % 2 == 0:
                carry, skip = b"", skip - 1
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                if carry.strip():
                    yield carry
                return
            data = carry + block
            cut = _last_record_end(data, q)
            if cut:
                yield data[:cut]
            carry = data[cut:]


def _last_record_end(data: bytes, quote: bytes | None) -> int:
    """Index just after the last newline of ``data`` that is outside quotes, or 0."""
    end = data.rfind(b"\n")
    if quote is None or end < 0:
        return end + 1
    odd = data.count(quote, 0, end) % 2
    while end >= 0 and odd:
        prev = data.rfind(b"\n", 0, end)
        odd ^= data.count(quote, prev + 1, end) % 2
        end = prev
    return end + 1


def _other_encodings(failed: str) -> str:
    gb = codecs.lookup(failed).name in _GB_NAMES
    return "encoding='latin-1' or encoding='big5'" if gb else "encoding='gbk' or encoding='latin-1'"


def _line_of(path: str | os.PathLike[str], offset: int) -> str:
    """``'line N'`` for a byte offset, counted in chunks (error path only)."""
    lines, seen = 1, 0
    with open(path, "rb") as fh:
        while seen < offset:
            chunk = fh.read(min(_CHUNK_BYTES, offset - seen))
            if not chunk:
                break
            lines += chunk.count(b"\n")
            seen += len(chunk)
    return f"line {lines}"


def _first_invalid_utf8(path: Path) -> tuple[int, int] | None:
    """Byte offset and value of the first byte that is not UTF-8, or None (error path only)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                pending = len(exc.object) - len(chunk)
                return offset - pending + exc.start, exc.object[exc.start]
            if not chunk:
                return None
            offset += len(chunk)


class _TranscodeCache:
    """UTF-8 copies of non-UTF-8 files, reused while the file is unchanged and removed when the process exits.

    Lazy frames handed out by ``scan()`` point at these copies, so they live as long as the process, not the source.
    """

    def __init__(self) -> None:
        self._dir: str | None = None
        self._paths: dict[tuple[str, int, int, str], Path] = {}
        self._origin: dict[Path, str] = {}
        self._lock = threading.Lock()

    def name(self, path: Path) -> str:
        """How to call a file in a message: a decompressed copy is named after its archive."""
        return self._origin.get(path, str(path))

    def get(self, path: Path, encoding: str, tried: list[str], errors: str) -> Path:
        """A UTF-8 copy of ``path`` read as ``encoding``."""
        name = self.name(path)

        def make(tmp: str) -> None:
            transcode_to_utf8(path, tmp, encoding, tried=tried, errors=errors, name=name)

        return self._make(path, f"{encoding}:{errors}", make, f"transcoding {name} from {encoding} to UTF-8")

    def decompress(self, path: Path, opener: Callable[..., Any]) -> Path:
        """A decompressed copy of ``path``, copied in chunks."""

        def make(tmp: str) -> None:
            try:
                with opener(path, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout, _CHUNK_BYTES)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                msg = f"cannot decompress {path}: {_first_line(exc)}"
                raise SourceError(msg) from None

        copy = self._make(path, "decompress", make, f"decompressing {path}")
        self._origin[copy] = f"{path} (decompressed)"
        return copy

    def _make(self, path: Path, kind: str, make: Callable[[str], None], what: str) -> Path:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, kind)
        with self._lock:
            if key in self._paths and self._paths[key].exists():
                return self._paths[key]
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="assay-transcode-")
                atexit.register(shutil.rmtree, self._dir, ignore_errors=True)
            fd, tmp = tempfile.mkstemp(dir=self._dir)
            os.close(fd)
            log.info("%s (%d bytes)", what, st.st_size)
            try:
                make(tmp)
            except BaseException:
                os.unlink(tmp)
                raise
            self._paths[key] = Path(tmp)
            return self._paths[key]


_TRANSCODED = _TranscodeCache()
_HASHES: dict[tuple[str, int, int], str] = {}
_DETECTED: dict[tuple[str, int, int], str] = {}
_SEPARATORS: dict[tuple[str, int, int], str] = {}
# Whether the first line holds names, by file version, lines skipped, separator and quote character.
_HEADERS: dict[tuple[str, int, int, int, str, str | None], bool] = {}
_PREAMBLES: dict[tuple[str, int, int], int] = {}  # lines above the header (a report's title), by file version
_PREAMBLE_LINES = 10  # the header is looked for among the first lines only


def header_row(rows: list[list[Any]], *, same_width: bool = True) -> int:
    """Index of the header row when a report's title (or a few note lines) sits above it, else 0.

    Spreadsheet exports often start with a title: ``2024年销售报表,,,`` then the header. Those rows are recognised
    conservatively: each holds at most one value, in its first cell; the header after them holds two or more values,
    none a number (column names, not data); and the row after the header holds two or more values (and, for CSV, as
    many fields as the header). Anything else (R's ``"",x`` header, whose first cell is empty; a header with a year
    for a name) is read as it always was.

    >>> header_row([["2024年销售报表", "", ""], ["城市", "日期", "销售额"], ["北京", "2024-01-05", "1200"]])
    1
    >>> header_row([["", "x"], ["1", "5"], ["2", "6"]]), header_row([["name", ""], ["a", "1"], ["b", "2"]])
    (0, 0)
    """

    def values(row: list[Any]) -> list[int]:
        return [i for i, cell in enumerate(row) if cell is not None and str(cell).strip() != ""]

    def number(cell: Any) -> bool:
        try:
            float(str(cell).replace(",", ""))
        except ValueError:
            return False
        return True

    for h in range(1, min(_PREAMBLE_LINES, len(rows) - 1)):
        above = [values(r) for r in rows[:h]]
        if any(len(v) > 1 or (v and v[0] != 0) for v in above) or not any(above):
            return 0
        header, first = rows[h], rows[h + 1]
        named = values(header)
        if len(named) < 2:
            continue
        if any(number(header[i]) for i in named) or len(values(first)) < 2:
            return 0
        if same_width and len(first) != len(header):
            return 0
        return h
    return 0
_WIDE_DIGITS: dict[tuple[str, int, int, int], list[str]] = {}
_ZERO_CODES: dict[tuple[str, int, int, int, str], list[str]] = {}
# A field that is a whole number written with a leading zero and at least three digits (zip 02134, 007, "030001").
_ZERO_FIELD = re.compile(rb'(?:^|[,;\t|])"?0\d{2,}"?(?=[,;\t|\r\n])', re.MULTILINE)


# --------------------------------------------------------------------------------------------------------------------
# Locating files and options


def headerless(rows: list[list[str]]) -> bool:
    """Whether the first row of a CSV file holds data rather than column names (UCI's ``adult.data`` and
    ``iris.data`` have no header): every cell of it fits its column (a number over numbers; any text over text) and
    at least one could only be data: a text value that occurs again in its column, or a number with a fraction,
    exponent or minus sign (no header names a column ``5.1``). Conservative: a name over a column of numbers, a
    first row repeated further down (files joined with their headers), or names that are increasing numbers (years,
    wavelengths) keep the header. A first row of numbers only, one repeated, is data too.

    >>> headerless([["39", "State-gov", "Bachelors"], ["50", "Private", "Bachelors"], ["38", "State-gov", "HS-grad"]])
    True
    >>> headerless([["5.1", "3.5", "setosa"], ["4.9", "3.0", "setosa"], ["6.2", "2.9", "virginica"]])
    True
    >>> headerless([["age", "work"], ["39", "State-gov"], ["50", "Private"]])
    False
    >>> headerless([["city", "country"], ["Paris", "France"], ["Lyon", "France"]])
    False
    >>> headerless([["2019", "2020", "2021"], ["1.5", "2.5", "3.5"], ["0.5", "1.5", "2.5"]])
    False
    >>> headerless([["0", "0", "5", "13"], ["0", "0", "0", "12"], ["0", "0", "0", "4"]])
    True
    """

    def number(cell: str) -> bool:
        try:
            float(cell.replace(",", ""))
        except ValueError:
            return False
        return any(c.isdigit() for c in cell)

    first = [cell.strip() for cell in rows[0]] if rows else []
    body = [[cell.strip() for cell in row] for row in rows[1:] if len(row) == len(first)]
    if len(first) < 2 or len(body) < 2 or first in body:
        return False
    data, names = False, []
    for j, head in enumerate(first):
        values = [row[j] for row in body if row[j]]
        if not head or not values:
            continue
        if all(number(v) for v in values):
            if not number(head):
                return False  # a name over a column of numbers
            names.append(float(head.replace(",", "")))
            data = data or any(c in head.lower() for c in ".e-")
        elif head in values:
            data = True
    # Numbers for every name, one of them twice (digits.csv: 0,0,5,13,9,1,0,0,…): column names are never repeated.
    data = data or (len(names) == len(first) and len(set(names)) < len(names))
    increasing = len(names) >= 3 and all(a < b for a, b in itertools.pairwise(names))
    return data and not increasing


def _split_location(uri: str) -> tuple[list[Path], dict[str, str], str]:
    """Return ``(paths, query options, display name)``.

    A plain path may itself contain '?', so a query string is split off only when the part before it is a file
    (or a glob that matches); ``file://`` URIs follow URI rules (a literal '?' is spelled %3F there).
    """
    if uri.startswith("file://"):
        parts = urlsplit(uri)
        raw = unquote(parts.path)
        if parts.netloc not in ("", "localhost"):
            raw = f"//{parts.netloc}{raw}"
        return _resolve(raw), dict(parse_qsl(parts.query, keep_blank_values=True)), raw
    full = os.path.expanduser(uri)
    if os.path.exists(full):
        return _resolve(full), {}, full
    # Try each '?' from the right, so 'part-?.csv?separator=;' is a glob with a query.
    cuts = [i for i, ch in enumerate(uri) if ch == "?"][::-1]
    for cut in cuts:
        before, query = os.path.expanduser(uri[:cut]), uri[cut + 1 :]
        if os.path.exists(before) or (glob.has_magic(before) and _glob(before)):
            return _resolve(before), dict(parse_qsl(query, keep_blank_values=True)), before
    if glob.has_magic(full) and _glob(full):
        return _resolve(full), {}, full
    if cuts and re.fullmatch(r"[^/\\?=&]+=[^/\\?]*(&[^/\\?=&]+=[^/\\?]*)*", uri[cuts[0] + 1 :]):
        full = os.path.expanduser(uri[: cuts[0]])  # a query was meant; name the file, not the options, in the error
    return _resolve(full), {}, full


def _glob(pattern: str) -> list[str]:
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


def _resolve(raw: str) -> list[Path]:
    path = Path(raw)
    if path.is_file():
        return [path]
    if path.is_dir():
        return _dataset_files(path, raw)
    if glob.has_magic(raw):
        matches = _glob(raw)
        if matches:
            return [Path(m) for m in matches]
        msg = f"no file matches {raw!r}"
        raise SourceNotFoundError(msg)
    parent = path.parent
    if not parent.is_dir():
        msg = f"file not found: {raw} (directory {parent} does not exist)"
        raise SourceNotFoundError(msg)
    close = difflib.get_close_matches(path.name, [p.name for p in parent.iterdir()], n=1, cutoff=0.6)
    hint = f"; did you mean '{path.with_name(close[0])}'?" if close else ""
    msg = f"file not found: {raw}{hint}"
    raise SourceNotFoundError(msg)


def _guessed_as_text(head: bytes, kwargs: dict[str, Any], lazy: pl.LazyFrame, infer: int,
                     kind: Callable[[pl.DataType], bool]) -> pl.DataFrame:
    """The columns Polars guesses to be of ``kind`` (numbers, integers), as the text of the rows it guessed from,
    parsed from ``head`` cut after its last whole line (Polars' own n_rows reads the whole file). Empty when the
    header cannot be read (the scan reports it) or a quoted value is cut at the end of ``head`` (the plain read
    decides then)."""
    try:
        columns = [n for n, t in lazy.collect_schema().items() if kind(t)]
    except pl.exceptions.PolarsError:
        return pl.DataFrame()
    if not columns:
        return pl.DataFrame()
    data = head[: head.rfind(b"\n") + 1] or head
    try:
        return pl.read_csv(io.BytesIO(data), **kwargs, infer_schema=False, n_rows=infer, columns=columns)
    except pl.exceptions.PolarsError:
        return pl.DataFrame()


def _say_repeated_names(name: str, header: list[str]) -> None:
    """A note for column names the header repeats: Polars reads the second ``a`` as ``a_duplicated_0``."""
    counts: dict[str, int] = {}
    for cell in header:
        counts[cell] = counts.get(cell, 0) + 1
    repeated = {cell: n for cell, n in counts.items() if n > 1}
    for cell, n in repeated.items():
        renamed = ", ".join(f"{cell}_duplicated_{i}" for i in range(n - 1))
        log.warning("%s: the header names %d columns %r: the first is read as %r, the others as %s", name, n, cell,
                    cell, renamed)


def _dataset_files(directory: Path, raw: str) -> list[Path]:
    """The data files of a directory read as one table: its Parquet files when it has any (a dataset that
    ``assay ingest`` or Spark wrote; other files beside them, such as a manifest, are not data), else its files of the
    one format it holds. Files and folders whose names start with '.' or '_' (temporary files, ``_SUCCESS``) and the
    index ``parts.json`` of ``assay split`` are skipped; subfolders are read too."""
    files = sorted(
        p for p in directory.rglob("*")
        if p.is_file() and not any(part[:1] in "._" for part in p.relative_to(directory).parts)
        and p.relative_to(directory).as_posix() != "parts.json"  # the index `assay split` writes beside its parts
    )
    by_format: dict[str, list[Path]] = {}
    for p in files:
        fmt = FORMATS.get(_suffix(p))
        if fmt is not None:
            by_format.setdefault(fmt, []).append(p)
    if "parquet" in by_format:
        return by_format["parquet"]
    if len(by_format) == 1:
        return next(iter(by_format.values()))
    if not by_format:
        msg = f"{raw} is a directory with no data files assay reads ({', '.join(FORMATS)}); name a file in it"
        raise SourceNotFoundError(msg)
    found = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_format.items()))
    example = next(iter(sorted(by_format.items(), key=lambda kv: -len(kv[1]))))[1][0].suffix
    msg = f"{raw} holds files of several formats ({found}); name one kind with a glob such as '{raw}/*{example}'"
    raise SourceError(msg)


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f"option {name}={value!r} must be true or false"
    raise SpecError(msg)


def _as_int(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        msg = f"option {name}={value!r} must be a whole number"
        raise SpecError(msg) from None


def _as_dtype(column: str, value: Any) -> Any:
    if isinstance(value, str):
        dtype = DTYPES.get(value.strip().lower())
        if dtype is None:
            msg = (
                f"unknown type {value!r} for column {column!r}{did_you_mean(value, DTYPES)}; known: {', '.join(DTYPES)}"
            )
            raise SpecError(msg)
        return dtype
    if isinstance(value, pl.DataType) or (isinstance(value, type) and issubclass(value, pl.DataType)):
        return value
    msg = f"type for column {column!r} must be a name such as 'float' or a Polars type, not {value!r}"
    raise SpecError(msg)


FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def unescape_quoted_names(frame: FrameT, quote: str | None = '"') -> FrameT:
    """Header names as CSV writes them: a quote inside a quoted name is doubled (``"a""b"`` is ``a"b``), and Polars
    keeps both (it unescapes values, not the header), so names are unescaped here (for training files and for CSV
    bodies sent to the server alike, so that both read the same names)."""
    if not quote:
        return frame
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    doubled = quote * 2
    renamed = {name: name.replace(doubled, quote) for name in names if doubled in name}
    return frame.rename(renamed) if renamed else frame


def _normalise_options(raw: dict[str, Any]) -> dict[str, Any]:
    """Check option names and turn query-string text into typed values."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _ALIASES.get(key, key)
        if name not in OPTIONS:
            msg = f"unknown file option {key!r}{did_you_mean(key, OPTIONS)}; known: {', '.join(OPTIONS)}"
            raise SpecError(msg)
        out[name] = value
    if "separator" in out:
        sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(out["separator"], out["separator"])
        if not isinstance(sep, str) or len(sep) != 1:
            msg = f"separator must be one character, not {out['separator']!r}"
            raise SpecError(msg)
        out["separator"] = sep
    if "quote_char" in out:
        quote = out["quote_char"]
        if quote in ("", None) or str(quote).lower() == "none":
            out["quote_char"] = None
        elif not isinstance(quote, str) or len(quote) != 1:
            msg = f"quote_char must be one character or empty, not {quote!r}"
            raise SpecError(msg)
    if "has_header" in out:
        out["has_header"] = _as_bool("has_header", out["has_header"])
    for name in ("skip_rows", "infer_schema_length"):
        if name in out:
            out[name] = _as_int(name, out[name])
    if "dtypes" in out:
        dtypes = out["dtypes"]
        if isinstance(dtypes, str):  # query string form: "price:float,qty:int"
            pairs = [item.split(":", 1) for item in dtypes.split(",") if item.strip()]
            if any(len(p) != 2 for p in pairs):
                msg = f"dtypes={dtypes!r} must look like 'column:type,column:type'"
                raise SpecError(msg)
            dtypes = {k.strip(): v.strip() for k, v in pairs}
        if not isinstance(dtypes, dict):
            msg = f"dtypes must map column names to types, e.g. {{'price': 'float'}}, not {dtypes!r}"
            raise SpecError(msg)
        out["dtypes"] = {str(k): _as_dtype(str(k), v) for k, v in dtypes.items()}
    if "encoding_errors" in out and out["encoding_errors"] not in ("strict", "replace"):
        msg = f"encoding_errors must be 'strict' or 'replace', not {out['encoding_errors']!r}"
        raise SpecError(msg)
    if "encoding" in out and str(out["encoding"]).lower() != "auto":
        out["encoding"] = _codec_name(str(out["encoding"]))
    return out


# --------------------------------------------------------------------------------------------------------------------
# The source


# Text that CSV writers use for a missing value (R writes NA, pandas NaN or an empty field, databases NULL), read
# as null by default, as pandas does; pass ``null_values=[]`` to keep them as text.
DEFAULT_NULL_VALUES = ["NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A"]

class FileSource:
    """A local file (or a glob of same-format files) named by its path or ``file://`` URI.

    Options are keyword arguments or query-string pairs (keywords win); :data:`OPTIONS` lists them all, e.g.
    ``separator=";"``, ``has_header=False``, ``quote_char="'"``, ``dtypes={"price": "float"}``, ``encoding="gbk"``,
    ``encoding_errors="replace"``, ``null_values="NA"``, ``sheet="2024"``, ``format="ndjson"``. CSV text in any
    encoding is detected (``encoding="auto"``) and read as UTF-8; ``batches()`` streams CSV, NDJSON and Parquet in
    bounded memory, while JSON arrays and Excel sheets are read whole (neither format can be split safely).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sales.csv"
    >>> _ = path.write_text("城市;销售额\\n北京;12.5\\n", encoding="gbk")
    >>> FileSource(f"{path}?separator=;&encoding=gbk").read().to_dicts()
    [{'城市': '北京', '销售额': 12.5}]
    """

    def __init__(self, uri: str, **options: Any) -> None:
        self.uri = str(uri)
        self.paths, query, self.display = _split_location(self.uri)
        self.path = self.paths[0]
        self.options = _normalise_options({**query, **options})
        self.format = self._format()
        for name in self.options:
            formats, _ = OPTIONS[name]
            if self.format not in formats:
                msg = f"option {name!r} does not apply to {self.format} files like {self.display}"
                raise SpecError(msg)
        for path in self.paths:
            if path.suffix.lower() in COMPRESSIONS and self.format not in _TEXT_FORMATS:
                msg = f"{path}: compressed {self.format} files are not supported ({self.format} compresses internally)"
                raise UnsupportedSourceError(msg)
            if path.stat().st_size == 0:
                msg = f"{path} is empty (0 bytes); expected a {self.format} file with at least a header"
                raise EmptySourceError(msg)
            named_as_text = self.format in _TEXT_FORMATS and "format" not in self.options
            if named_as_text and path.suffix.lower() not in COMPRESSIONS:
                _refuse_binary(path, self.format)

    def __repr__(self) -> str:
        return f"FileSource({self.uri!r})"

    def _format(self) -> str:
        if "format" in self.options:
            fmt = str(self.options["format"]).lower()
            if fmt not in OPTIONS["format"][0]:
                known = ", ".join(sorted(OPTIONS["format"][0]))
                msg = f"unknown format {fmt!r} for {self.display}; known formats: {known}"
                raise UnsupportedSourceError(msg)
            return fmt
        found = {FORMATS.get(_suffix(p)) or _text_format_of(p) for p in self.paths}
        if None in found:
            bad = next(p for p in self.paths if _suffix(p) not in FORMATS and _text_format_of(p) is None)
            known = ", ".join(FORMATS)
            msg = (
                f"unsupported file extension {_suffix(bad) or '(none)'!r} for {bad}; assay reads {known} "
                f"(also compressed with {', '.join(COMPRESSIONS)}), or pass format='csv' etc."
            )
            raise UnsupportedSourceError(msg)
        if len(found) > 1:
            msg = f"{self.display} matches files of different formats ({', '.join(sorted(map(str, found)))})"
            raise SourceError(msg)
        return found.pop()  # type: ignore[return-value]

    def _plain(self, path: Path) -> Path:
        """The file itself, or a decompressed copy of a ``.gz``/``.bz2``/``.xz`` text file."""
        opener = COMPRESSIONS.get(path.suffix.lower())
        if opener is None:
            return path
        return _TRANSCODED.decompress(path, opener)

    # -- reading ----------------------------------------------------------------------------------------------------

    def scan(self) -> pl.LazyFrame:
        """The data as a lazy frame; CSV, NDJSON and Parquet are scanned out of core, JSON and Excel are read."""
        lazy = self._guard(self._scan)
        self._guard(lazy.collect_schema)  # header problems, empty files and bad dtypes surface here, not later
        return lazy

    def read(self) -> pl.DataFrame:
        """The whole file(s) in memory."""
        frame = self._guard(self.scan().collect)
        if frame.width == 0:
            msg = f"{self.display} has no columns"
            raise EmptySourceError(msg)
        return frame

    def batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pl.DataFrame]:
        """Frames of exactly ``batch_size`` rows (the last may be shorter), streamed in bounded memory."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a positive whole number, not {batch_size!r}"
            raise SpecError(msg)
        lazy = self.scan()
        if self.format in ("json", "excel"):  # already in memory: slicing is free
            frame = self._guard(lazy.collect)
            yield from frame.iter_slices(batch_size) if frame.height else [frame]
            return
        if self.format == "csv":
            schema = self._guard(lazy.collect_schema)
            stream = self._csv_frames(schema)
        else:
            stream = iter(lazy.collect_batches(chunk_size=batch_size))
        yielded = False
        pending: list[pl.DataFrame] = []
        held = 0
        while True:
            frame = self._guard(lambda: next(stream, None))
            if frame is None:
                break
            if frame.height == 0:
                continue
            pending.append(frame)
            held += frame.height
            if held >= batch_size:
                # Polars' chunk_size is a target, not a bound: re-cut so every batch but the last is full.
                merged = pl.concat(pending, rechunk=False)
                full = held - held % batch_size
                yield from merged.slice(0, full).iter_slices(batch_size)
                yielded = True
                rest = merged.slice(full)
                pending, held = ([rest], rest.height) if rest.height else ([], 0)
        if held:
            yield pl.concat(pending)
        elif not yielded:
            # No rows: one empty frame still tells a consumer the columns and types.
            yield pl.DataFrame(schema=self._guard(lazy.collect_schema))

    def _csv_frames(self, schema: pl.Schema) -> Iterator[pl.DataFrame]:
        """Parse CSV in byte chunks cut at record ends, with the schema of ``scan()``.

        Hand-written because Polars 2.1's streaming CSV scan holds the whole file in memory (measured: the resident
        size grows with the file), and pyarrow's streaming reader infers types differently from ``read()``.
        """
        kwargs = self._csv_kwargs()
        chunk_bytes = _CSV_CHUNK_BYTES
        for path in self.paths:
            chunks = _record_chunks(
                self._utf8_path(path),
                skip=kwargs["skip_rows"] + (1 if kwargs["has_header"] else 0),
                quote=kwargs["quote_char"],
                chunk_bytes=chunk_bytes,
                comment=kwargs["comment_prefix"],
            )
            for chunk in chunks:
                yield pl.read_csv(
                    chunk,
                    has_header=False,
                    schema=schema,
                    separator=kwargs["separator"],
                    quote_char=kwargs["quote_char"],
                    null_values=kwargs["null_values"],
                    comment_prefix=kwargs["comment_prefix"],
                    encoding=kwargs["encoding"],
                )

    def fingerprint(self) -> str:
        """First 16 hex digits of the SHA-256 of the content, cached while size and mtime are unchanged."""
        digests = []
        for path in self.paths:
            st = path.stat()
            key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
            if key not in _HASHES:
                _HASHES[key] = hash_file(str(path))
            digests.append(_HASHES[key])
        if len(digests) == 1:
            return digests[0][:16]
        return hashlib.sha256("".join(digests).encode()).hexdigest()[:16]

    # -- per format -------------------------------------------------------------------------------------------------

    def _scan(self) -> pl.LazyFrame:
        dtypes: dict[str, Any] = self.options.get("dtypes", {})
        infer = self.options.get("infer_schema_length", _INFER_ROWS)
        if self.format == "csv":
            return self._scan_csv(dtypes, infer)
        if self.format == "parquet":
            lazy = scan_parquet_files(self.paths) if len(self.paths) > 1 else pl.scan_parquet(self.paths)
        elif self.format == "ndjson":
            # Nested objects become columns (user.name), as from HTTP APIs and streams.
            lazy = flatten(pl.scan_ndjson([self._bomless(self._plain(p)) for p in self.paths],
                                          infer_schema_length=infer))
        elif self.format == "json":
            frames = [flatten(pl.read_json(self._plain(p), infer_schema_length=infer)) for p in self.paths]
            lazy = (frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")).lazy()
        else:
            lazy = self._read_excel(infer).lazy()
        if dtypes:
            self._check_columns(lazy.collect_schema().names(), dtypes)
            lazy = lazy.with_columns(pl.col(name).cast(dtype) for name, dtype in dtypes.items())
        return lazy

    def _csv_kwargs(self) -> dict[str, Any]:
        opts = self.options
        return {
            "separator": self._separator(),
            "has_header": opts["has_header"] if "has_header" in opts else self._sniffed_header(),
            "quote_char": opts.get("quote_char", '"'),
            "null_values": opts.get("null_values", DEFAULT_NULL_VALUES),
            "comment_prefix": opts.get("comment_prefix"),
            "skip_rows": self._skip_rows(),
            # Transcoded copies are valid UTF-8 already; this only matters for files read as they are.
            "encoding": "utf8-lossy" if opts.get("encoding_errors") == "replace" else "utf8",
        }

    def _skip_rows(self) -> int:
        """Lines before the header: ``skip_rows`` when given, else the title lines :func:`header_row` finds above
        the header of the first file (checked once per file version, said once)."""
        if "skip_rows" in self.options:
            return int(self.options["skip_rows"] or 0)
        if not self.options.get("has_header", True) or self.options.get("comment_prefix"):
            return 0  # (lines above the header marked as comments are skipped as comments)
        path = self._plain(self.paths[0])
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _PREAMBLES:
            with open(self._utf8_path(path), encoding="utf-8", errors="replace", newline="") as fh:
                lines = [fh.readline(1 << 16) for _ in range(_PREAMBLE_LINES + 1)]
            lines = [line.rstrip("\r\n") for line in lines if line]

            def split(sep: str) -> list[list[str]]:
                return [next(csv.reader([line], delimiter=sep), []) for line in lines]

            # The separator the body of the file uses: the one that splits its later lines into the most fields.
            given = self.options.get("separator")
            body = slice(len(lines) // 2, None)
            sep = given or max([",", ";", "\t", "|"], key=lambda c: min((len(r) for r in split(c)[body]), default=0))
            found = header_row(split(sep))
            _PREAMBLES[key] = found
            if found:
                title = lines[0].strip().strip(",;\t|").strip('"')
                log.warning("%s: skipped %d line(s) above the header (%r%s); give skip_rows=0 to read them as rows",
                            path.name, found, title[:60], ", …" if found > 1 else "")
        return _PREAMBLES[key]

    def _separator(self) -> str:
        """``separator`` when given, else tab for ``.tsv``/``.tab`` files, else :meth:`_sniffed_separator`."""
        if "separator" in self.options:
            return self.options["separator"]
        return "\t" if all(_suffix(p) in (".tsv", ".tab") for p in self.paths) else self._sniffed_separator()

    def _sniffed_header(self) -> bool:
        """False when the first line of the first file (after any title lines) is data (:func:`headerless`):
        checked once per file version and way of splitting it, said once."""
        path = self._plain(self.paths[0])
        st = path.stat()
        skip, sep = self._skip_rows(), self._separator()
        quote = self.options.get("quote_char", '"') or None
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, skip, sep, quote)
        if key not in _HEADERS:
            with open(self._utf8_path(path), encoding="utf-8", errors="replace", newline="") as fh:
                lines = [fh.readline(1 << 16) for _ in range(skip + 200)][skip:]
            lines = [line for line in lines if line.strip()]
            reader = csv.reader(lines, delimiter=sep, quotechar=quote or '"', quoting=csv.QUOTE_NONE if not quote
                                else csv.QUOTE_MINIMAL)
            rows = list(reader)
            _HEADERS[key] = not headerless(rows)
            if _HEADERS[key] and rows:
                _say_repeated_names(path.name, rows[0])
            if not _HEADERS[key]:
                shown = ", ".join(cell.strip() for cell in rows[0][:4]) + (", …" if len(rows[0]) > 4 else "")
                log.warning("%s: the first line looks like data, not column names (%s): read as a row, the columns "
                            "named column_0 … column_%d; give has_header=true to read it as names", path.name, shown,
                            len(rows[0]) - 1)
        return _HEADERS[key]

    def _sniffed_separator(self) -> str:
        """``,`` unless the header line has no comma but semicolons, tabs or pipes (the most of them wins): the
        ``;``-separated files of spreadsheets set to a decimal comma, read without ``separator=`` given.

        Deliberately narrower than ``csv.Sniffer``: a header with a comma keeps ``,``, so a comma file whose text
        holds semicolons is never misread.
        """
        path = self._plain(self.paths[0])
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _SEPARATORS:
            with open(self._utf8_path(path), "rb") as fh:
                for _ in range(self._skip_rows()):
                    fh.readline()
                header = fh.readline(1 << 16)
            counts = {sep: header.count(sep.encode()) for sep in (";", "\t", "|")}
            best = max(counts, key=lambda sep: counts[sep])
            _SEPARATORS[key] = best if b"," not in header and counts[best] else ","
        return _SEPARATORS[key]

    def _scan_csv(self, dtypes: dict[str, Any], infer: int) -> pl.LazyFrame:
        paths = [self._utf8_path(p) for p in self.paths]
        kwargs = self._csv_kwargs()
        if dtypes:
            header = pl.scan_csv(paths[0], **kwargs, infer_schema=False, n_rows=0).collect_schema().names()
            self._check_columns(header, dtypes)
        lazy = pl.scan_csv(
            paths if len(paths) > 1 else paths[0], **kwargs, schema_overrides=dtypes or None, infer_schema_length=infer
        )
        text = [c for c in self._non_ascii_numbers(paths[0], kwargs, lazy, infer) if c not in dtypes]
        text += [c for c in self._zero_codes(paths[0], kwargs, lazy, infer) if c not in dtypes and c not in text]
        if text:
            lazy = pl.scan_csv(
                paths if len(paths) > 1 else paths[0],
                **kwargs,
                schema_overrides={**dict.fromkeys(text, pl.String), **dtypes},
                infer_schema_length=infer,
            )
        return unescape_quoted_names(lazy, kwargs["quote_char"])

    def _non_ascii_numbers(self, path: Path, kwargs: dict[str, Any], lazy: pl.LazyFrame, infer: int) -> list[str]:
        """Columns Polars guesses numeric but whose guessed rows hold non-ASCII digits (full-width ``１２３``).

        Polars' type guess counts any Unicode digit as a digit, then cannot parse the value, so the whole read fails.
        Such columns are read as text instead; the types step turns full-width digits into numbers. Checked once per
        file version, and only when the start of the file holds a non-ASCII byte at all.
        """
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, infer)
        if key in _WIDE_DIGITS:
            return _WIDE_DIGITS[key]
        found: list[str] = []
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
            if not head.isascii():
                head += fh.read((8 << 20) - len(head))  # the rows Polars guessed from, within reason
        if not head.isascii():
            raw = _guessed_as_text(head, kwargs, lazy, infer, lambda t: t.is_numeric())
            found = [c for c in raw.columns if raw[c].str.contains(r"[^\x00-\x7F]").any()]
        _WIDE_DIGITS[key] = found
        return found

    def _zero_codes(self, path: Path, kwargs: dict[str, Any], lazy: pl.LazyFrame, infer: int) -> list[str]:
        """Columns Polars guesses to be integers whose guessed rows hold codes written with leading zeros (zip
        ``02134``, provider ``030001``): a number would drop the zeros, and two codes could become one. They are read
        as text, with a note; the types step keeps such columns as text too. Checked once per file version, and only
        when the start of the file has such a field at all (a byte search: the usual file pays about a millisecond).
        """
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, infer, kwargs["separator"])
        if key in _ZERO_CODES:
            return _ZERO_CODES[key]
        found: list[str] = []
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
        if _ZERO_FIELD.search(head):
            raw = _guessed_as_text(head, kwargs, lazy, infer, lambda t: t.is_integer())
            for column in raw.columns:
                codes = raw[column].str.strip_chars().str.contains(r"^0\d{2,}$")
                if codes.any():
                    found.append(column)
                    example = raw[column].filter(codes)[0].strip()
                    log.warning("%s: %r read as text: values such as %r are codes written with leading zeros, "
                                "which a number would drop; give dtypes={%r: 'int'} to read numbers", path.name,
                                column, example, column)
        _ZERO_CODES[key] = found
        return found

    def text_encoding(self) -> str | None:
        """The encoding the (first) file is read with, given or detected: ``'utf-8'``, ``'gb18030'``, ...

        ``None`` for formats that are not text. Handy for a profile or lineage record.
        """
        if self.format not in _TEXT_FORMATS:
            return None
        if self.format != "csv":
            return "utf-8"
        return self._guard(lambda: self._encoding_of(self._plain(self.path)))

    def _encoding_of(self, path: Path) -> str:
        wanted = str(self.options.get("encoding", "auto"))
        if wanted.lower() != "auto":
            return wanted
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _DETECTED:  # detection runs charset-normalizer: once per file version, not per scan()
            _DETECTED[key] = _codec_name(detect_encoding(path))
        return _DETECTED[key]

    def _utf8_path(self, path: Path) -> Path:
        """The path Polars should read: the file itself if UTF-8, else a transcoded copy."""
        path = self._plain(path)
        encoding = self._encoding_of(path)
        tried = ["utf-8"] if str(self.options.get("encoding", "auto")).lower() == "auto" else []
        if encoding in _UTF8_NAMES:
            return path
        return _TRANSCODED.get(path, encoding, tried, self.options.get("encoding_errors", "strict"))

    def _bomless(self, path: Path) -> Path:
        """NDJSON with a UTF-8 BOM (Windows tools write one) as a copy without it: Polars refuses the BOM."""
        with open(path, "rb") as fh:
            if fh.read(3) != codecs.BOM_UTF8:
                return path
        return _TRANSCODED.get(path, "utf-8-sig", [], "strict")

    def _read_excel(self, infer: int) -> pl.DataFrame:
        fastexcel = import_optional("fastexcel", "core")
        sheet = self.options.get("sheet")
        frames = []
        for path in self.paths:
            kwargs: dict[str, Any] = {}
            if sheet is not None:
                names = fastexcel.read_excel(path).sheet_names
                if isinstance(sheet, int) or (str(sheet) not in names and str(sheet).isdigit()):
                    position = int(sheet)
                    if not 1 <= position <= len(names):
                        msg = f"{path} has {len(names)} sheet(s) ({', '.join(names)}); sheet={sheet} is out of range"
                        raise SourceError(msg)
                    kwargs["sheet_id"] = position
                elif str(sheet) in names:
                    kwargs["sheet_name"] = str(sheet)
                else:
                    msg = f"no sheet {sheet!r} in {path}{did_you_mean(str(sheet), names)}; sheets: {', '.join(names)}"
                    raise SourceError(msg)
            else:
                names = fastexcel.read_excel(path).sheet_names
                key = (str(path), path.stat().st_mtime_ns)
                if len(names) > 1 and key not in _SHEETS_NOTED:  # said once, however often the file is read
                    _SHEETS_NOTED.add(key)
                    listed = ", ".join(repr(n) for n in names[:6]) + (", …" if len(names) > 6 else "")
                    log.warning("%s has %d sheets (%s): reading the first, %r; choose another with ?sheet=NAME",
                                path.name, len(names), listed, names[0])
            has_header = self.options.get("has_header", True)
            if has_header:
                top = self._excel_title_rows(fastexcel, path, kwargs)
                if top:
                    kwargs["read_options"] = {"header_row": top}
            frames.append(
                pl.read_excel(
                    path,
                    **kwargs,
                    has_header=has_header,
                    infer_schema_length=infer,
                    raise_if_empty=False,  # a header-only sheet is a 0-row frame, as for CSV
                )
            )
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")

    @staticmethod
    def _excel_title_rows(fastexcel: Any, path: Path, kwargs: dict[str, Any]) -> int:
        """Rows above a sheet's header (a report's title), found by :func:`header_row`; said once per file."""
        st = path.stat()
        key = (f"{path.resolve()}#{kwargs.get('sheet_name', kwargs.get('sheet_id', 1))}", st.st_size, st.st_mtime_ns)
        if key not in _PREAMBLES:
            book = fastexcel.read_excel(path)
            which = kwargs.get("sheet_name", kwargs.get("sheet_id", 1) - 1)
            top = book.load_sheet(which, header_row=None, n_rows=_PREAMBLE_LINES + 1).to_polars()
            found = header_row([list(row) for row in top.iter_rows()], same_width=False)
            _PREAMBLES[key] = found
            if found:
                title = next((str(v) for v in top.row(0) if v is not None), "")
                log.warning("%s: skipped %d row(s) above the header (%r%s)", path.name, found, title[:60],
                            ", …" if found > 1 else "")
        return _PREAMBLES[key]

    def _check_columns(self, columns: list[str], dtypes: dict[str, Any]) -> None:
        for name in dtypes:
            if name not in columns:
                msg = f"dtypes names column {name!r}, which is not in {self.display}{did_you_mean(name, columns)}"
                raise SchemaError(msg)

    # -- errors -----------------------------------------------------------------------------------------------------

    def _guard(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``, turning Polars' and fastexcel's errors into one readable SourceError about this file."""
        try:
            return fn()
        except pl.exceptions.PolarsError as exc:
            raise self._translate(exc) from None
        except Exception as exc:
            if "fastexcel" in type(exc).__module__:
                msg = f"cannot read Excel file {self.display}: {_first_line(exc)}"
                raise SourceError(msg) from None
            raise

    def _translate(self, exc: Exception) -> AssayError:
        text = _first_line(exc)
        if isinstance(exc, pl.exceptions.NoDataError) or ("empty" in text.lower() and "csv" in text.lower()):
            return EmptySourceError(f"{self.display} has no data: no header and no rows")
        if self.format == "csv" and "more fields than defined" in text:
            return SourceError(self._ragged_message())
        bad_value = re.search(r"could not parse `(.*)` as dtype `(.+)` at column '(.+)'", text)
        if self.format == "csv" and bad_value:
            return SchemaError(self._bad_value_message(*bad_value.groups()))
        if "invalid utf-8" in text.lower() or "invalid utf8" in text.lower():
            for path in self.paths:
                plain = self._plain(path)
                found = _first_invalid_utf8(plain)
                if found is not None:
                    offset, byte = found
                    return DecodeError(
                        f"cannot decode {_TRANSCODED.name(plain)} as UTF-8: byte 0x{byte:02X} at byte offset {offset} "
                        f"({_line_of(plain, offset)}) is invalid; encodings tried: utf-8; "
                        "pass the file's encoding, e.g. encoding='gbk', or encoding_errors='replace'"
                    )
        if self.format in ("json", "ndjson"):
            where = self._json_error_location()
            if where:
                return SourceError(f"malformed JSON in {where}")
        if isinstance(exc, pl.exceptions.InvalidOperationError | pl.exceptions.SchemaError):
            return SchemaError(f"cannot read {self.display}: {text}")
        return SourceError(f"cannot read {self.display}: {text}")

    def _bad_value_message(self, value: str, dtype: str, column: str) -> str:
        """Name the row of a value that does not fit its column's guessed type (error path: one column re-read)."""
        kwargs = self._csv_kwargs()
        where = ""
        for path in self.paths:
            raw = pl.scan_csv(self._utf8_path(path), **kwargs, infer_schema=False).select(pl.col(column))
            hit = (
                raw.with_row_index("row")
                .filter(pl.col(column) == value)
                .select("row")
                .head(1)
                .collect(engine="streaming")
            )
            if hit.height:
                row = int(hit.item()) + 1
                line = row + kwargs["skip_rows"] + (1 if kwargs["has_header"] else 0)
                where = f"{path} row {row} (line {line})"
                break
        guessed = (
            ""
            if "dtypes" in self.options and column in self.options["dtypes"]
            else (f" (the type was guessed from the first {self.options.get('infer_schema_length', _INFER_ROWS)} rows)")
        )
        return (
            f"{where or self.display}: value {value!r} in column {column!r} is not {dtype}{guessed}; "
            f"pass dtypes={{{column!r}: 'str'}} to keep such values, or fix the row"
        )

    def _ragged_message(self) -> str:
        """Find the first row with more fields than the header (error path: a Python pass over the rows)."""
        kwargs = self._csv_kwargs()
        quote = kwargs["quote_char"]
        for path in self.paths:
            with open(self._utf8_path(path), encoding="utf-8", errors="replace", newline="") as fh:
                for _ in range(kwargs["skip_rows"]):
                    fh.readline()
                reader = csv.reader(
                    fh,
                    delimiter=kwargs["separator"],
                    quotechar=quote or '"',
                    quoting=csv.QUOTE_NONE if quote is None else csv.QUOTE_MINIMAL,
                )
                expected = None
                for row in reader:
                    if expected is None:
                        expected = len(row)
                        continue
                    if len(row) > expected:
                        line = reader.line_num + kwargs["skip_rows"]
                        return (
                            f"{path} line {line} has {len(row)} fields but the first row has {expected}; "
                            f"quote values that contain {kwargs['separator']!r}, or check the separator option"
                        )
        return f"{self.display} has a row with more fields than the header; check the separator and quoting"

    def _json_error_location(self) -> str | None:
        """``'file line L, column C'`` of the first malformed JSON (error path only)."""
        for path in self.paths:
            plain = self._plain(path)
            if self.format == "ndjson":
                with open(plain, encoding="utf-8-sig", errors="replace") as fh:
                    for number, line in enumerate(fh, start=1):
                        if not line.strip():
                            continue
                        try:
                            json.loads(line)
                        except json.JSONDecodeError as err:
                            return f"{path} line {number}, column {err.colno}: {err.msg}"
            else:
                # The stdlib parser gives line and column; malformed input is the error path, and a JSON array
                # is read whole anyway.
                try:
                    with open(plain, encoding="utf-8-sig", errors="replace") as fh:
                        json.load(fh)
                except json.JSONDecodeError as err:
                    return f"{path} line {err.lineno}, column {err.colno} (char {err.pos}): {err.msg}"
        return None


def _suffix(path: Path) -> str:
    """The format extension, looking through a compression suffix: ``x.csv.gz`` -> ``.csv``."""
    if path.suffix.lower() in COMPRESSIONS:
        return Path(path.stem).suffix.lower()
    return path.suffix.lower()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
