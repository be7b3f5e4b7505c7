"""check_source over every file format and encoding FileSource reads, plus checks that check_source catches breakage."""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assay.sources import open_source
from assay.testing import check_source

DATA = pl.DataFrame(
    {
        "id": list(range(1, 11)),
        "城市": ["北京", "上海", "广州", "深圳", "杭州"] * 2,
        "销售额": [1.5, None, 3.25, 4.0, 5.5, 6.0, None, 8.75, 9.0, 10.5],
        "ok": [True, False] * 5,
    }
)


def _csv(path: Path, frame: pl.DataFrame, encoding: str = "utf-8", bom: bool = False, sep: str = ",") -> str:
    raw = frame.write_csv(separator=sep).encode(encoding)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + raw)
    return str(path)


def _excel(path: Path, frame: pl.DataFrame) -> str:
    frame.write_excel(path)
    return str(path)


def _gz(path: Path, data: bytes) -> str:
    path.write_bytes(gzip.compress(data))
    return str(path)


def _parts(tmp: Path, frame: pl.DataFrame) -> str:
    for i, part in enumerate(frame.iter_slices(4)):
        part.write_csv(tmp / f"part-{i}.csv")
    return str(tmp / "part-*.csv")


# name -> writer(tmp_path, frame) returning the URI to open
WRITERS: dict[str, Callable[[Path, pl.DataFrame], str]] = {
    "csv": lambda tmp, f: _csv(tmp / "d.csv", f),
    "csv-semicolon-query": lambda tmp, f: _csv(tmp / "d.csv", f, sep=";") + "?separator=;",
    "tsv": lambda tmp, f: _csv(tmp / "d.tsv", f, sep="\t"),
    "csv-utf8-bom": lambda tmp, f: _csv(tmp / "d.csv", f, bom=True),
    "csv-gbk": lambda tmp, f: _csv(tmp / "d.csv", f, encoding="gbk"),
    "csv-gb18030-explicit": lambda tmp, f: _csv(tmp / "d.csv", f, encoding="gb18030") + "?encoding=gb18030",
    "csv-glob": _parts,
    "json": lambda tmp, f: (f.write_json(tmp / "d.json"), str(tmp / "d.json"))[1],
    "ndjson": lambda tmp, f: (f.write_ndjson(tmp / "d.ndjson"), str(tmp / "d.ndjson"))[1],
    "jsonl": lambda tmp, f: (f.write_ndjson(tmp / "d.jsonl"), str(tmp / "d.jsonl"))[1],
    "parquet": lambda tmp, f: (f.write_parquet(tmp / "d.parquet", row_group_size=3), str(tmp / "d.parquet"))[1],
    "xlsx": lambda tmp, f: _excel(tmp / "d.xlsx", f),
    "file-uri": lambda tmp, f: Path(_csv(tmp / "d d.csv", f)).as_uri(),
    "csv-gbk-gz": lambda tmp, f: _gz(tmp / "d.csv.gz", f.write_csv().encode("gbk")),
    "ndjson-gz": lambda tmp, f: _gz(tmp / "d.ndjson.gz", f.write_ndjson().encode()),
}


@pytest.mark.parametrize("kind", list(WRITERS))
@pytest.mark.parametrize("rows", [10, 1])
def test_every_file_format_keeps_the_source_contract(tmp_path: Path, kind: str, rows: int) -> None:
    frame = DATA.head(rows)
    source = open_source(WRITERS[kind](tmp_path, frame))
    got = check_source(source)
    assert_frame_equal(got, frame, check_dtypes=kind != "xlsx")
    assert got.columns == ["id", "城市", "销售额", "ok"]


@pytest.mark.parametrize("kind", ["csv", "csv-gbk", "csv-utf8-bom", "tsv", "parquet", "xlsx"])
def test_zero_row_files_keep_the_contract(tmp_path: Path, kind: str) -> None:
    source = open_source(WRITERS[kind](tmp_path, DATA.clear()))
    got = check_source(source)
    assert got.height == 0
    assert got.columns == DATA.columns


class _Broken:
    """A source whose batches break the contract in one chosen way."""

    def __init__(self, frame: pl.DataFrame, fault: str) -> None:
        self.uri = f"broken://{fault}"
        self.frame = frame
        self.fault = fault
        self.calls = 0

    def scan(self) -> pl.LazyFrame:
        return self.frame.lazy()

    def read(self) -> pl.DataFrame:
        return self.frame

    def batches(self, batch_size: int = 100_000) -> Iterator[pl.DataFrame]:
        if self.fault == "oversized":
            yield self.frame
            return
        parts = list(self.frame.iter_slices(batch_size))
        if self.fault == "dropped":
            parts = parts[:-1]
        if self.fault == "retyped":
            parts = [p.with_columns(pl.col("id").cast(pl.Float64)) for p in parts]
        yield from parts

    def fingerprint(self) -> str:
        self.calls += 1
        return f"fp{self.calls}" if self.fault == "unstable" else "fp"


@pytest.mark.parametrize(
    ("fault", "pattern"),
    [
        ("oversized", "more than the batch size"),
        ("dropped", "joined differ from read"),
        ("retyped", "schema"),
        ("unstable", "not stable"),
    ],
)
def test_check_source_catches_a_broken_source(fault: str, pattern: str) -> None:
    with pytest.raises(AssertionError, match=pattern):
        check_source(_Broken(DATA, fault))


def test_check_source_refuses_a_non_source() -> None:
    with pytest.raises(AssertionError, match="Source protocol"):
        check_source(DATA)  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64])
@pytest.mark.parametrize("kind", ["csv", "csv-gbk", "csv-utf8-bom", "tsv", "csv-glob", "csv-gbk-gz"])
def test_contract_holds_when_csv_is_cut_into_tiny_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, chunk_bytes: int
) -> None:
    # Real batches parse 2 MiB pieces; tiny pieces put a cut inside every kind of record on small test files.
    monkeypatch.setattr("assay.sources._files._CSV_CHUNK_BYTES", chunk_bytes)
    frame = DATA.with_columns(
        pl.Series("note", ['a, "quoted"', "two\nlines", "", None, "crlf\r\nhere", "逗号，", "x", "y", "z", "end"])
    )
    got = check_source(open_source(WRITERS[kind](tmp_path, frame)))
    assert_frame_equal(got, frame)


text_cells = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab ,;"\n\r\t城市销售额北京')), max_size=6))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(text_cells, min_size=1, max_size=25),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]),
    separator=st.sampled_from([",", ";", "\t"]),
    chunk_bytes=st.sampled_from([1, 5, 33, 1 << 21]),
)
def test_generated_csv_round_trips_and_keeps_the_contract(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    texts: list[str | None],
    encoding: str,
    separator: str,
    chunk_bytes: int,
) -> None:
    monkeypatch.setattr("assay.sources._files._CSV_CHUNK_BYTES", chunk_bytes)
    frame = pl.DataFrame(
        {"文本": texts, "n": list(range(len(texts))), "x": [i / 7 for i in range(len(texts))]},
        schema={"文本": pl.String, "n": pl.Int64, "x": pl.Float64},
    )
    path = tmp_path_factory.mktemp("gen") / "gen.csv"
    path.write_bytes(frame.write_csv(separator=separator).encode(encoding))
    got = check_source(open_source(str(path), separator=separator, dtypes={"文本": "str"}))
    assert_frame_equal(got, frame)
