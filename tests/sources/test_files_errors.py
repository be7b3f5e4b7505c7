"""Bad files and bad options: each gives the right AssayError subclass with one readable message."""

from __future__ import annotations

import codecs
from pathlib import Path

import polars as pl
import pytest

from assay.exceptions import (
    AssayError,
    DecodeError,
    EmptySourceError,
    SchemaError,
    SourceError,
    SourceNotFoundError,
    SpecError,
    UnsupportedSourceError,
)
from assay.sources import open_source
from assay.sources._files import FileSource, transcode_to_utf8


def one_line(exc: pytest.ExceptionInfo[AssayError]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    assert "Traceback" not in text
    return text


# -- naming the file ----------------------------------------------------------------------------------------------


def test_missing_file_names_path_and_suggests_a_close_name(tmp_path: Path) -> None:
    (tmp_path / "sales_2024.csv").write_text("a\n1\n")
    with pytest.raises(SourceNotFoundError) as exc:
        open_source(str(tmp_path / "sales_2042.csv"))
    text = one_line(exc)
    assert str(tmp_path / "sales_2042.csv") in text
    assert f"did you mean '{tmp_path / 'sales_2024.csv'}'" in text


def test_missing_file_without_a_close_name_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError) as exc:
        FileSource(str(tmp_path / "zzz.csv"))
    assert "did you mean" not in one_line(exc)
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        FileSource(str(tmp_path / "no_such_dir" / "x.csv"))


def test_missing_file_with_query_names_the_file_not_the_options(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError) as exc:
        FileSource(f"{tmp_path}/gone.csv?separator=;")
    assert "separator" not in one_line(exc)


def test_glob_matching_nothing(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="no file matches"):
        FileSource(str(tmp_path / "*.parquet"))


def test_directory_is_read_as_the_dataset_it_holds(tmp_path: Path) -> None:
    """A directory of Parquet files (what ``assay ingest`` writes) is one table with the union of
    the files' columns; a manifest beside them, hidden and '_' files are not data; subfolders are read."""
    pl.DataFrame({"id": [1, 2], "x": [0.5, 1.5]}).write_parquet(tmp_path / "part-1.parquet")
    (tmp_path / "later").mkdir()
    pl.DataFrame({"id": [3], "x": [2], "y": ["new"]}).write_parquet(tmp_path / "later" / "part-2.parquet")
    (tmp_path / "parts.json").write_text("{}")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".tmp-abc").write_bytes(b"partial")
    data = open_source(str(tmp_path)).read().sort("id")  # (files are read in path order: later/ first)
    assert data.to_dict(as_series=False) == {"id": [1, 2, 3], "x": [0.5, 1.5, 2.0], "y": [None, None, "new"]}


def test_directory_of_csv_files_is_read_as_one_table(tmp_path: Path) -> None:
    (tmp_path / "2024-01.csv").write_text("a,b\n1,x\n")
    (tmp_path / "2024-02.csv").write_text("a,b\n2,y\n")
    assert open_source(str(tmp_path)).read()["a"].to_list() == [1, 2]


def test_directory_written_by_split_reads_back_as_the_whole_table(tmp_path: Path) -> None:
    from assay.cli import main

    source = tmp_path / "sales.csv"
    source.write_text("region,amount\nnorth,1\nsouth,2\nnorth,3\n")
    assert main(["split", str(source), "--by", "region", "--out", str(tmp_path / "parts")]) == 0
    assert (tmp_path / "parts" / "parts.json").is_file()
    back = open_source(str(tmp_path / "parts")).read().sort("amount")
    assert back.to_dict(as_series=False) == {"region": ["north", "south", "north"], "amount": [1, 2, 3]}


def test_directory_of_several_formats_asks_for_a_glob(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    (tmp_path / "b.csv").write_text("a\n2\n")
    (tmp_path / "c.json").write_text('[{"a": 3}]')
    with pytest.raises(SourceError, match=r"several formats \(2 csv, 1 json\).*\*\.csv"):
        FileSource(str(tmp_path))


def test_directory_without_data_files_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"PK")
    with pytest.raises(SourceNotFoundError, match="no data files"):
        FileSource(str(tmp_path))


def test_unsupported_extension_lists_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK")
    with pytest.raises(UnsupportedSourceError) as exc:
        open_source(str(path))
    text = one_line(exc)
    assert "'.docx'" in text
    for ext in (".csv", ".tsv", ".json", ".ndjson", ".jsonl", ".parquet", ".xlsx"):
        assert ext in text
    with pytest.raises(UnsupportedSourceError, match="unknown format 'xml'"):
        FileSource(str(path), format="xml")


# -- options ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"seperator": ";"}, "unknown file option 'seperator'; did you mean 'separator'"),
        ({"separator": ";;"}, "one character"),
        ({"has_header": "maybe"}, "true or false"),
        ({"skip_rows": "two"}, "whole number"),
        ({"encoding": "klingon"}, "unknown encoding 'klingon'"),
        ({"sheet": "Sheet1"}, "does not apply to csv files"),
        ({"dtypes": "a=float"}, "column:type"),
    ],
)
def test_bad_options_are_spec_errors(tmp_path: Path, options: dict[str, object], pattern: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(SpecError, match=pattern):
        FileSource(str(path), **options)


# -- empty --------------------------------------------------------------------------------------------------------


def test_zero_byte_file_is_empty_error(tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.json", "empty.parquet"):
        path = tmp_path / name
        path.touch()
        with pytest.raises(EmptySourceError) as exc:
            FileSource(str(path))
        assert "0 bytes" in one_line(exc)


def test_binary_files_named_as_text_say_what_they_are(tmp_path: Path) -> None:
    import gzip
    import sqlite3

    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    frame.write_parquet(tmp_path / "parquet.csv")
    frame.write_excel(tmp_path / "workbook.csv")
    (tmp_path / "packed.csv").write_bytes(gzip.compress(b"a,b\n1,x\n"))
    with sqlite3.connect(tmp_path / "db.json") as con:
        con.execute("create table t (a)")
    con.close()
    expected = {"parquet.csv": "is a Parquet file, not a csv text file: name it .parquet or pass format='parquet'",
                "workbook.csv": "is a zip archive (an .xlsx workbook is one)",
                "packed.csv": "is gzip-compressed, not a csv text file: name it with .gz at the end",
                "db.json": "is an SQLite database, not a json text file: read a table with sqlite:///PATH?table=NAME"}
    for name, message in expected.items():
        with pytest.raises(UnsupportedSourceError) as exc:
            FileSource(str(tmp_path / name))
        assert message in one_line(exc)
    # The format given explicitly, the file is read as that format.
    assert FileSource(f"{tmp_path / 'parquet.csv'}?format=parquet").read().equals(frame)
    # Unknown binary content still fails on its encoding, and the message says the bytes look binary.
    (tmp_path / "._resource.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02Mac OS X " + bytes(range(128, 256)))
    with pytest.raises(DecodeError) as exc:
        FileSource(str(tmp_path / "._resource.csv")).read()
    assert "it holds NUL bytes, as binary files do" in one_line(exc)


def test_blank_lines_only_is_empty_error(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n\n\n")
    with pytest.raises(EmptySourceError, match="no header and no rows"):
        FileSource(str(path)).read()


def test_json_without_columns_is_empty_error(tmp_path: Path) -> None:
    path = tmp_path / "none.json"
    path.write_text("[]")
    with pytest.raises(EmptySourceError, match="no columns"):
        FileSource(str(path)).read()


def test_header_only_csv_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("a,b\n")
    assert FileSource(str(path)).read().shape == (0, 2)


# -- decoding -----------------------------------------------------------------------------------------------------


def test_gbk_read_as_utf8_names_offset_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    data = "city,sales\nBeijing,1\n城市,2\n".encode("gbk")
    path.write_bytes(data)
    with pytest.raises(DecodeError) as exc:
        FileSource(str(path), encoding="utf-8").read()
    text = one_line(exc)
    offset = data.index("城".encode("gbk"))
    assert f"byte offset {offset}" in text
    assert "line 3" in text
    assert "encodings tried: utf-8" in text
    assert "encoding='gbk'" in text


def test_bad_bytes_after_a_utf8_sample_are_found(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    head = "a,b\n" + "北京,1\n" * 10_000  # well past the 64 KiB sample
    data = head.encode() + b"\xff\xfe,2\n"
    path.write_bytes(data)
    with pytest.raises(DecodeError) as exc:
        FileSource(str(path)).read()
    assert f"byte offset {len(head.encode())}" in one_line(exc)
    with pytest.raises(DecodeError):
        list(FileSource(str(path)).batches(1000))


def test_bytes_invalid_in_the_chosen_encoding(tmp_path: Path) -> None:
    path = tmp_path / "bad_gbk.csv"
    good = "城市,销售额\n北京,1\n".encode("gbk")
    path.write_bytes(good + b"\x81\x20,2\n")  # 0x81 must be followed by 0x30-0xFE in GB18030
    with pytest.raises(DecodeError) as exc:
        FileSource(str(path), encoding="gb18030").read()
    text = one_line(exc)
    assert f"byte offset {len(good)}" in text
    assert "gb18030" in text


def test_transcode_reports_offsets_across_chunk_boundaries(tmp_path: Path) -> None:
    # A multi-byte character split by a 1 MiB chunk boundary must decode, and a bad byte after it is found exactly.
    src = tmp_path / "big_gbk.csv"
    prefix = b"a" * ((1 << 20) - 1)
    tail = "城市".encode("gbk")
    src.write_bytes(prefix + tail + b"\xff")
    with pytest.raises(DecodeError, match=f"byte offset {len(prefix) + len(tail)}"):
        transcode_to_utf8(src, tmp_path / "out.csv", "gbk")
    src.write_bytes(prefix + tail)
    transcode_to_utf8(src, tmp_path / "out.csv", "gbk")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").endswith("城市")


def test_binary_garbage_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DecodeError) as exc:
        FileSource(str(path)).read()
    assert "byte offset" in one_line(exc)


# -- malformed content --------------------------------------------------------------------------------------------


def test_ragged_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    with pytest.raises(SourceError) as exc:
        FileSource(str(path)).read()
    text = one_line(exc)
    assert "line 4" in text
    assert "3 fields" in text
    with pytest.raises(SourceError, match="line 4"):
        list(FileSource(str(path)).batches(2))


def test_ragged_line_counts_quoted_newlines_and_skipped_rows(tmp_path: Path) -> None:
    path = tmp_path / "ragged2.csv"
    path.write_text('junk\na,b\n"x\ny",2\n1,2,3\n')
    with pytest.raises(SourceError, match="line 5"):
        FileSource(str(path), skip_rows=1).read()


def test_ragged_gbk_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged_gbk.csv"
    path.write_bytes("城市,销售额\n北京,1\n上海,2,3\n".encode("gbk"))
    with pytest.raises(SourceError, match="line 3"):
        FileSource(str(path)).read()


def test_malformed_json_array_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"a": 1},\n  {"a": 2\n]\n')
    with pytest.raises(SourceError) as exc:
        FileSource(str(path)).read()
    text = one_line(exc)
    assert "malformed JSON" in text
    assert str(path) in text
    assert "line 4" in text


def test_malformed_ndjson_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3,}\n{"a": 4}\n')
    with pytest.raises(SourceError) as exc:
        FileSource(str(path)).read()
    assert "line 3" in one_line(exc)


def test_value_that_does_not_fit_the_dtype_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("price\n1.5\nabc\n")
    with pytest.raises(SchemaError) as exc:
        FileSource(str(path), dtypes={"price": "float"}).read()
    text = one_line(exc)
    assert f"{path} row 2 (line 3)" in text
    assert "'abc'" in text
    assert "column 'price'" in text


def test_value_past_the_inferred_rows_names_row_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_text("n,s\n" + "1,x\n" * 12_000 + "oops,y\n")
    for read in (lambda s: s.read(), lambda s: list(s.batches(5000))):
        with pytest.raises(SchemaError) as exc:
            read(FileSource(str(path)))
        text = one_line(exc)
        assert "row 12001 (line 12002)" in text
        assert "guessed from the first 10000 rows" in text
        assert "dtypes={'n': 'str'}" in text
    assert FileSource(str(path), dtypes={"n": "str"}).read()["n"][-1] == "oops"


def test_corrupt_parquet_and_excel(tmp_path: Path) -> None:
    pq = tmp_path / "broken.parquet"
    pl.DataFrame({"a": [1, 2]}).write_parquet(pq)
    pq.write_bytes(pq.read_bytes()[:-20])
    with pytest.raises(SourceError) as exc:
        FileSource(str(pq)).read()
    assert str(pq) in one_line(exc)
    xl = tmp_path / "broken.xlsx"
    xl.write_bytes(b"not a zip file at all")
    with pytest.raises(SourceError) as exc:
        FileSource(str(xl)).read()
    assert str(xl) in one_line(exc)


def test_utf8_bom_file_with_bad_bytes_still_reports_offset(tmp_path: Path) -> None:
    path = tmp_path / "bom_bad.csv"
    data = codecs.BOM_UTF8 + b"a\n" + b"x" * 70_000 + b"\n\xc3\x28\n"
    path.write_bytes(data)
    bad = data.index(b"\xc3")
    with pytest.raises(DecodeError, match=f"byte offset {bad}"):
        FileSource(str(path)).read()


def test_excel_sheet_without_cells_is_empty_error(tmp_path: Path) -> None:
    path = tmp_path / "blank.xlsx"
    import xlsxwriter

    with xlsxwriter.Workbook(path) as book:
        book.add_worksheet("空")
    with pytest.raises(EmptySourceError, match="no columns"):
        FileSource(str(path)).read()


def test_bad_encoding_errors_value(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    with pytest.raises(SpecError, match="'strict' or 'replace'"):
        FileSource(str(path), encoding_errors="ignore")


def test_auto_detected_encoding_failing_later_lists_both_tries(tmp_path: Path) -> None:
    path = tmp_path / "gbk_then_junk.csv"
    good = ("城市,销售额\n" + "北京,1\n" * 20_000).encode("gbk")  # past the detection sample
    path.write_bytes(good + b"\x81\x20,2\n")
    with pytest.raises(DecodeError) as exc:
        FileSource(str(path)).read()
    text = one_line(exc)
    assert f"byte offset {len(good)}" in text
    assert "line 20002" in text
    assert "encodings tried: utf-8, gb18030" in text


def test_compressed_files_errors_name_the_archive(tmp_path: Path) -> None:
    import gzip

    ragged = tmp_path / "ragged.csv.gz"
    with gzip.open(ragged, "wb") as fh:
        fh.write(b"a,b\n1,2\n3,4,5\n")
    with pytest.raises(SourceError, match=rf"{ragged} line 3"):
        FileSource(str(ragged)).read()
    bad = tmp_path / "bad.csv.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write("城市\n北京\n".encode("gbk"))
    with pytest.raises(DecodeError) as exc:
        FileSource(str(bad), encoding="utf-8").read()
    assert f"{bad} (decompressed)" in one_line(exc)
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(gzip.compress(b"a,b\n1,2\n" * 100)[:-30])
    with pytest.raises(SourceError, match=rf"cannot decompress {corrupt}"):
        FileSource(str(corrupt)).read()
    parquet = tmp_path / "x.parquet.gz"
    parquet.write_bytes(gzip.compress(b"PAR1"))
    with pytest.raises(UnsupportedSourceError, match="compressed parquet"):
        FileSource(str(parquet))


# -- through the CLI ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (None, "sales_2042.csv", "file not found"),
        (b"", "empty.csv", "is empty (0 bytes)"),
        (b"a,b\n1,2\n3,4,5\n", "ragged.csv", "line 3 has 3 fields"),
        (b'[{"a": 1},\n{"a": 2\n]', "bad.json", "malformed JSON"),
        ("城市\n北京\n".encode("gbk"), "gbk.csv?encoding=utf-8", "byte offset 0"),
        (b"x", "notes.docx", "unsupported file extension"),
    ],
)
def test_cli_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, name: str, expected: str
) -> None:
    from assay.cli import main

    if content is not None:
        (tmp_path / name.split("?")[0]).write_bytes(content)
    code = main(["profile", str(tmp_path / name), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert expected in err
    assert len(err.splitlines()) == 1, err
