"""FileSource: every format, the CSV options, encodings, URIs and globs, on files generated into tmp_path."""

from __future__ import annotations

import codecs
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assay.exceptions import SchemaError, SourceError, SpecError
from assay.sources import open_source, read_source
from assay.sources._files import FileSource, _record_chunks, detect_encoding

SALES = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "城市": ["北京", "上海", "广州", "深圳"],
        "销售额": [12.5, None, 30.25, 7.0],
        "note": ["a, b", 'say "hi"', "line\nbreak", ""],
    }
)


def write_csv(path: Path, frame: pl.DataFrame = SALES, *, encoding: str = "utf-8", sep: str = ",") -> Path:
    path.write_bytes(frame.write_csv(separator=sep).encode(encoding))
    return path


# -- CSV and its options ----------------------------------------------------------------------------------------------


def test_csv_round_trips_types_quotes_and_chinese_names(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sales.csv")
    got = FileSource(str(path)).read()
    assert_frame_equal(got, SALES)  # quoted "" stays an empty string, an empty field is null
    assert got.columns == ["id", "城市", "销售额", "note"]


def test_tsv_defaults_to_tab(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sales.tsv", SALES.drop("note"), sep="\t")
    assert_frame_equal(FileSource(str(path)).read(), SALES.drop("note"))


@pytest.mark.parametrize("how", ["kwarg", "alias", "query"])
def test_separator_option(tmp_path: Path, how: str) -> None:
    path = write_csv(tmp_path / "sales.csv", SALES.drop("note"), sep=";")
    if how == "kwarg":
        source = FileSource(str(path), separator=";")
    elif how == "alias":
        source = FileSource(str(path), delimiter=";")
    else:
        source = FileSource(f"{path}?separator=;")
    assert_frame_equal(source.read(), SALES.drop("note"))


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separator_found_from_a_header_without_commas(tmp_path: Path, sep: str) -> None:
    # A spreadsheet set to a decimal comma writes ';'-separated files with commas inside the values.
    path = tmp_path / "umsatz.csv"
    path.write_text(f"Datum{sep}Umsatz{sep}Region\n05.01.2024{sep}1.234,50{sep}Nord\n06.01.2024{sep}80,25{sep}Süd\n",
                    encoding="utf-8")
    frame = FileSource(str(path)).read()
    assert frame.columns == ["Datum", "Umsatz", "Region"]
    assert frame["Umsatz"].to_list() == ["1.234,50", "80,25"]  # text: the types step reads the decimal comma


def test_a_header_with_a_comma_keeps_the_comma_separator(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("id,note\n1,a;b;c\n2,d;e\n", encoding="utf-8")
    assert FileSource(str(path)).read()["note"].to_list() == ["a;b;c", "d;e"]


@pytest.mark.parametrize("value", [False, "false", "0"])
def test_has_header_off_names_columns_by_position(tmp_path: Path, value: object) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("1,x\n2,y\n")
    got = FileSource(str(path), has_header=value).read()
    assert got.columns == ["column_0", "column_1"]
    assert got.height == 2
    assert [b.height for b in FileSource(str(path), has_header=value).batches(1)] == [1, 1]


def test_quote_char_and_no_quoting(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("a,b\n'x,y',1\n")
    assert FileSource(str(path), quote_char="'").read().row(0) == ("x,y", 1)
    path2 = tmp_path / "noquote.csv"
    path2.write_text('a,b\n"x",1\n')
    assert FileSource(f"{path2}?quote_char=").read().row(0) == ('"x"', 1)


def test_dtypes_option_from_kwargs_and_query(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sales.csv", SALES.drop("note"))
    by_kwarg = FileSource(str(path), dtypes={"id": "float", "城市": "category"}).read()
    assert by_kwarg.schema["id"] == pl.Float64
    assert by_kwarg.schema["城市"] == pl.Categorical
    by_query = FileSource(f"{path}?dtypes=id:str").read()
    assert by_query["id"].to_list() == ["1", "2", "3", "4"]
    with pytest.raises(SchemaError, match="did you mean 'id'"):
        FileSource(str(path), dtypes={"idd": "float"}).read()
    with pytest.raises(SpecError, match=r"unknown type 'flaot'.*did you mean 'float'"):
        FileSource(str(path), dtypes={"id": "flaot"})


def test_dtypes_apply_to_batches_too(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sales.csv", SALES.drop("note"))
    for batch in FileSource(str(path), dtypes={"id": pl.Int32}).batches(3):
        assert batch.schema["id"] == pl.Int32


def test_null_values_skip_rows_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "messy.csv"
    path.write_text("exported by tool\nversion 2\na,b\n1,NA\n# a comment\n3,4\n")
    source = FileSource(str(path), skip_rows=2, null_values="NA", comment_prefix="#")
    want = pl.DataFrame({"a": [1, 3], "b": [None, 4]})
    assert_frame_equal(source.read(), want)
    assert_frame_equal(pl.concat(source.batches(1)), want)


def test_comment_lines_before_the_header(tmp_path: Path) -> None:
    path = tmp_path / "commented.csv"
    path.write_text("# exported 2024-01-01\n# by tool\na,b\n1,2\n# mid\n3,4\n")
    source = FileSource(str(path), comment_prefix="#")
    want = pl.DataFrame({"a": [1, 3], "b": [2, 4]})
    assert_frame_equal(source.read(), want)
    assert_frame_equal(pl.concat(source.batches(1)), want)


def test_one_row_and_header_only_files(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text("城市,销售额\n北京,1.5\n")
    assert FileSource(str(one)).read().to_dicts() == [{"城市": "北京", "销售额": 1.5}]
    empty = tmp_path / "header_only.csv"
    empty.write_text("城市,销售额\n")
    source = FileSource(str(empty))
    frame = source.read()
    assert frame.shape == (0, 2)
    assert frame.columns == ["城市", "销售额"]
    batches = list(source.batches(10))
    assert [b.shape for b in batches] == [(0, 2)]  # one empty frame still carries the columns


def test_batches_are_full_except_the_last(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    pl.DataFrame({"x": range(1000)}).write_csv(path)
    heights = [b.height for b in FileSource(str(path)).batches(300)]
    assert heights == [300, 300, 300, 100]
    with pytest.raises(SpecError, match="batch_size"):
        next(FileSource(str(path)).batches(0))


quoted_text = st.text(alphabet=st.sampled_from(list('ab,"\n\r; 城')), max_size=8)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(quoted_text, min_size=1, max_size=30), chunk=st.integers(1, 40))
def test_record_chunks_never_cut_inside_quotes(tmp_path_factory: pytest.TempPathFactory, values: list[str], chunk: int):
    frame = pl.DataFrame({"text": values, "n": list(range(len(values)))})
    path = tmp_path_factory.mktemp("chunks") / "q.csv"
    frame.write_csv(path)
    schema = pl.Schema({"text": pl.String, "n": pl.Int64})
    chunks = _record_chunks(path, skip=1, quote='"', chunk_bytes=chunk)
    parts = [pl.read_csv(c, has_header=False, schema=schema) for c in chunks]
    got = pl.concat(parts)
    assert_frame_equal(got, pl.read_csv(path, schema=schema))  # the same rows as one whole-file parse


# -- encodings ----------------------------------------------------------------------------------------------------


def test_gbk_file_auto_detected_and_explicit(tmp_path: Path) -> None:
    frame = SALES.drop("note")
    path = write_csv(tmp_path / "gbk.csv", frame, encoding="gbk")
    assert detect_encoding(path) == "gb18030"
    assert_frame_equal(FileSource(str(path)).read(), frame)
    assert_frame_equal(FileSource(str(path), encoding="gbk").read(), frame)
    assert_frame_equal(FileSource(f"{path}?encoding=gb18030").read(), frame)
    assert_frame_equal(pl.concat(FileSource(str(path)).batches(3)), frame)


def test_text_encoding_reports_what_was_used(tmp_path: Path) -> None:
    gbk = write_csv(tmp_path / "gbk.csv", SALES.drop("note"), encoding="gbk")
    assert FileSource(str(gbk)).text_encoding() == "gb18030"
    assert FileSource(str(gbk), encoding="gbk").text_encoding() == "gbk"
    assert FileSource(str(write_csv(tmp_path / "u.csv"))).text_encoding() == "utf-8"
    SALES.write_parquet(tmp_path / "p.parquet")
    assert FileSource(str(tmp_path / "p.parquet")).text_encoding() is None


def test_short_chinese_sample_is_gb18030_not_korean(tmp_path: Path) -> None:
    # charset-normalizer alone ranks cp949 first for this text; Han characters decide for GB18030.
    path = tmp_path / "short.csv"
    path.write_bytes("城市,销售额\n北京,100.5\n".encode("gbk"))
    assert detect_encoding(path) == "gb18030"
    assert FileSource(str(path)).read().columns == ["城市", "销售额"]


def test_short_chinese_sample_is_gb18030_when_the_detector_offers_only_shift_jis(tmp_path: Path) -> None:
    # A case found by the generated-CSV contract test: charset-normalizer lists no GB code page for these bytes and
    # ranks cp932 first, which reads the header "文本" as "ﾎﾄｱｾ".
    frame = pl.DataFrame({"文本": ['aa京b"', "ba\r ", "b", "\n", "京", "售 "], "n": range(6)})
    path = tmp_path / "short.csv"
    path.write_bytes(frame.write_csv().encode("gbk"))
    assert detect_encoding(path) == "gb18030"
    assert FileSource(str(path)).read()["文本"].to_list() == frame["文本"].to_list()


@pytest.mark.parametrize(
    ("encoding", "text", "want"),
    [
        ("utf-8", "城市,销售额\n北京,1\n", "utf-8"),
        ("utf-8-sig", "城市,销售额\n北京,1\n", "utf-8"),
        ("gbk", "区域,产品,数量\n华东,笔记本电脑,3\n华南,打印机,5\n", "gb18030"),
        ("ascii", "a,b\n1,2\n", "utf-8"),
        ("utf-16", "城市,销售额\n北京,1\n", "utf-16"),
        ("latin-1", "name,city\nJosé,Zürich\nRené,Genève\n", "cp1252"),
        ("cp1250", "imię,miasto\nŁukasz,Łódź\nZażółć,Gdańsk\n", "cp1250"),
    ],
)
def test_detect_encoding(tmp_path: Path, encoding: str, text: str, want: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode(encoding))
    assert detect_encoding(path) == want
    assert FileSource(str(path)).read().columns[0] == text.split(",")[0]


def test_utf8_sample_cut_inside_a_character_is_still_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    body = "城市\n" + "北京\n" * 20_000
    path.write_text(body, encoding="utf-8")
    for size in (100, 101, 102):  # the sample ends inside a 3-byte character for two of these
        assert detect_encoding(path, sample_bytes=size) == "utf-8"


def test_bom_is_stripped_from_first_column(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + "城市,销售额\n北京,1\n".encode())
    source = FileSource(str(path))
    assert source.read().columns == ["城市", "销售额"]
    assert next(source.batches(5)).columns == ["城市", "销售额"]
    gbk_bom = tmp_path / "bom16.csv"
    gbk_bom.write_bytes("城市,销售额\n北京,1\n".encode("utf-16"))  # utf-16 carries a BOM of its own
    assert FileSource(str(gbk_bom)).read().columns == ["城市", "销售额"]


def test_gb18030_four_byte_characters(tmp_path: Path) -> None:
    path = tmp_path / "rare.csv"
    path.write_bytes("名字,值\n𠀀𠀁,1\n".encode("gb18030"))
    assert FileSource(str(path), encoding="gb18030").read().row(0) == ("𠀀𠀁", 1)


def test_transcoded_copy_is_reused_until_the_file_changes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", SALES.drop("note"), encoding="gbk")
    source = FileSource(str(path))
    first = source._utf8_path(path)
    assert source._utf8_path(path) == first
    path.write_bytes("城市,销售额\n杭州,9\n".encode("gbk"))
    assert source._utf8_path(path) != first
    assert source.read().to_dicts() == [{"城市": "杭州", "销售额": 9}]


# -- other formats ------------------------------------------------------------------------------------------------


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "sales.json"
    SALES.write_json(path)
    assert_frame_equal(FileSource(str(path)).read(), SALES)
    assert [b.height for b in FileSource(str(path)).batches(3)] == [3, 1]


@pytest.mark.parametrize("ext", [".ndjson", ".jsonl"])
def test_ndjson(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"sales{ext}"
    SALES.write_ndjson(path)
    assert_frame_equal(FileSource(str(path)).read(), SALES)
    assert_frame_equal(pl.concat(FileSource(str(path)).batches(2)), SALES)


@pytest.mark.parametrize("ext", [".json", ".ndjson"])
def test_json_with_bom_blank_lines_and_crlf(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"windows{ext}"
    rows = ['{"城市": "北京"}', '{"城市": "上海"}']
    body = f"[{rows[0]},\r\n{rows[1]}]" if ext == ".json" else f"{rows[0]}\r\n\r\n{rows[1]}\r\n"
    path.write_bytes(codecs.BOM_UTF8 + body.encode())
    source = FileSource(str(path))
    assert source.read()["城市"].to_list() == ["北京", "上海"]
    assert pl.concat(source.batches(1))["城市"].to_list() == ["北京", "上海"]


def test_parquet_with_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "sales.parquet"
    SALES.write_parquet(path)
    assert_frame_equal(FileSource(str(path)).read(), SALES)
    assert FileSource(str(path), dtypes={"id": "float"}).read().schema["id"] == pl.Float64


def test_excel_sheets(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "book.xlsx"
    first = SALES.drop("note")
    second = pl.DataFrame({"产品": ["笔记本", "打印机"], "数量": [3, 5]})
    with __import__("xlsxwriter").Workbook(path) as book:
        first.write_excel(book, worksheet="销售")
        second.write_excel(book, worksheet="库存")
    with caplog.at_level("WARNING", logger="assay.sources"):
        assert_frame_equal(FileSource(str(path)).read(), first)
        FileSource(str(path)).read()
    # No sheet named: the first is read, and the others are mentioned once.
    assert caplog.messages == ["book.xlsx has 2 sheets ('销售', '库存'): reading the first, '销售'; choose another "
                               "with ?sheet=NAME"]
    assert_frame_equal(FileSource(str(path), sheet="库存").read(), second)
    assert_frame_equal(FileSource(str(path), sheet=2).read(), second)
    assert_frame_equal(FileSource(f"{path}?sheet=2").read(), second)
    assert FileSource(str(path), dtypes={"id": "float"}).read().schema["id"] == pl.Float64
    with pytest.raises(SourceError, match=r"no sheet '库'.*sheets: 销售, 库存"):
        FileSource(str(path), sheet="库").read()
    with pytest.raises(SourceError, match="out of range"):
        FileSource(str(path), sheet=3).read()


def test_format_option_reads_an_odd_extension(tmp_path: Path) -> None:
    path = tmp_path / "export.dat"
    SALES.write_ndjson(path)
    assert_frame_equal(FileSource(str(path), format="ndjson").read(), SALES)


# -- naming files -------------------------------------------------------------------------------------------------


def test_file_uri_with_escapes_and_query(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "my sales.csv", SALES.drop("note"), sep=";")
    uri = path.as_uri() + "?separator=%3B"
    assert "%20" in uri
    assert_frame_equal(FileSource(uri).read(), SALES.drop("note"))
    assert_frame_equal(read_source(uri), SALES.drop("note"))


def test_question_mark_in_a_real_path_is_not_a_query(tmp_path: Path) -> None:
    odd = tmp_path / "what?.csv"
    odd.write_text("a\n1\n")
    assert FileSource(str(odd)).read().to_dicts() == [{"a": 1}]
    plain = tmp_path / "plain.csv"
    plain.write_text("a;b\n1;2\n")
    assert FileSource(f"{plain}?separator=;").read().columns == ["a", "b"]


def test_glob_of_same_format_files(tmp_path: Path) -> None:
    for i in range(3):
        pl.DataFrame({"day": [i], "城市": ["北京"]}).write_csv(tmp_path / f"part-{i}.csv")
    source = open_source(str(tmp_path / "part-*.csv"))
    assert source.read()["day"].to_list() == [0, 1, 2]
    assert [b.height for b in source.batches(2)] == [2, 1]
    (tmp_path / "part-9.json").write_text("[]")
    with pytest.raises(SourceError, match="different formats"):
        FileSource(str(tmp_path / "part-*"))


def test_glob_with_query_options(tmp_path: Path) -> None:
    for i in range(2):
        (tmp_path / f"p{i}.csv").write_bytes(f"城市;销售额\n北京;{i}\n".encode("gbk"))
    got = FileSource(f"{tmp_path}/p*.csv?separator=;&encoding=gbk").read()
    assert got["销售额"].to_list() == [0, 1]


def test_fingerprint_is_a_content_hash(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv")
    b = write_csv(tmp_path / "b.csv")
    fa = FileSource(str(a)).fingerprint()
    assert len(fa) == 16
    assert fa == FileSource(str(b)).fingerprint()  # same bytes, different name
    b.write_text("id\n1\n")
    assert FileSource(str(b)).fingerprint() != fa


def test_encoding_errors_replace_keeps_reading(tmp_path: Path) -> None:
    utf8 = tmp_path / "bad_utf8.csv"
    utf8.write_bytes(b"name,n\nok,1\nbad\xff,2\n")
    source = FileSource(str(utf8), encoding="utf-8", encoding_errors="replace")
    assert source.read()["name"].to_list() == ["ok", "bad\ufffd"]
    assert pl.concat(source.batches(1))["name"].to_list() == ["ok", "bad\ufffd"]
    gbk = tmp_path / "bad_gbk.csv"
    gbk.write_bytes("城市,n\n北京,1\n".encode("gbk") + b"\x81\x20x,2\n")
    got = FileSource(f"{gbk}?encoding=gbk&encoding_errors=replace").read()
    assert got["城市"].to_list() == ["北京", "\ufffd x"]


def test_latin1_file_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city\nJosé,Zürich\nRené,Genève\n".encode("latin-1"))
    assert FileSource(str(path)).read().to_dicts() == [
        {"name": "José", "city": "Zürich"},
        {"name": "René", "city": "Genève"},
    ]


def test_glob_with_question_mark_and_a_query(tmp_path: Path) -> None:
    for i in range(2):
        (tmp_path / f"p{i}.csv").write_text(f"a;b\n{i};x\n")
    got = FileSource(f"{tmp_path}/p?.csv?separator=;").read()
    assert got["a"].to_list() == [0, 1]
    assert FileSource(f"{tmp_path}/p?.csv", separator=";").read().height == 2


# -- compressed text files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "opener"), [("sales.csv.gz", "gzip"), ("sales.tsv.bz2", "bz2"), ("sales.csv.xz", "lzma")]
)
def test_compressed_csv_including_gbk(tmp_path: Path, name: str, opener: str) -> None:
    frame = SALES.drop("note")
    sep = "\t" if ".tsv" in name else ","
    path = tmp_path / name
    with __import__(opener).open(path, "wb") as fh:
        fh.write(frame.write_csv(separator=sep).encode("gbk"))
    source = FileSource(str(path))
    assert source.format == "csv"
    assert_frame_equal(source.read(), frame)
    assert_frame_equal(pl.concat(source.batches(3)), frame)


def test_compressed_json_and_ndjson(tmp_path: Path) -> None:
    import gzip
    import lzma

    with gzip.open(tmp_path / "s.json.gz", "wb") as fh:
        fh.write(SALES.write_json().encode())
    with lzma.open(tmp_path / "s.ndjson.xz", "wb") as fh:
        fh.write(SALES.write_ndjson().encode())
    assert_frame_equal(FileSource(str(tmp_path / "s.json.gz")).read(), SALES)
    assert_frame_equal(pl.concat(FileSource(str(tmp_path / "s.ndjson.xz")).batches(3)), SALES)


def test_gbk_rows_after_a_long_ascii_head_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "late_chinese.csv"
    head = "city,amount\n" + "Beijing,1\n" * 30_000  # ~300 KB of ASCII, far past the first sample
    tail = "北京,2\n上海,3\n" * 50
    path.write_bytes(head.encode("ascii") + tail.encode("gbk"))
    assert detect_encoding(path) == "gb18030"
    got = FileSource(str(path)).read()
    assert got.height == 30_100
    assert got["city"].tail(2).to_list() == ["北京", "上海"]
    middle = tmp_path / "middle_chinese.csv"
    middle.write_bytes(head.encode("ascii") + tail.encode("gbk") * 20 + head[12:].encode("ascii"))
    assert detect_encoding(middle) == "gb18030"
    assert detect_encoding(middle, windows=1) == "utf-8"  # head and end alone cannot tell


def test_full_width_digits_are_read_as_text_not_a_failed_number(tmp_path: Path) -> None:
    # Polars guesses a number for '１２３' and then cannot parse it: the column is read as text instead, for the types
    # step to convert, and the batches agree with read().
    path = tmp_path / "wide.csv"
    path.write_text("n,m,x\n１２３,1,1.5\n４５,2,2.5\n7,3,3.5\n", encoding="utf-8")
    source = open_source(str(path))
    frame = source.read()
    assert frame.schema == pl.Schema({"n": pl.String, "m": pl.Int64, "x": pl.Float64})
    assert frame["n"].to_list() == ["１２３", "４５", "7"]
    assert_frame_equal(pl.concat(source.batches(2)), frame)
    given_type = open_source(str(path), dtypes={"n": pl.Int64})  # a type the user gives is still obeyed
    with pytest.raises(SchemaError, match="'１２３' in column 'n'"):
        given_type.read()


def test_a_report_title_above_the_header_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    want = pl.DataFrame({"城市": ["北京", "上海"], "日期": ["2024-01-05", "2024-01-06"], "数量": [3, 2]})
    titled = tmp_path / "report.csv"
    titled.write_text("2024年销售报表,,\n城市,日期,数量\n北京,2024-01-05,3\n上海,2024-01-06,2\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="assay.sources"):
        assert_frame_equal(FileSource(str(titled)).read(), want)
    assert caplog.messages == ["report.csv: skipped 1 line(s) above the header ('2024年销售报表'); give skip_rows=0 "
                               "to read them as rows"]
    # Two note lines without separators, then a ';' table (found with its separator); GBK as Excel in China writes.
    notes = tmp_path / "notes.csv"
    notes.write_bytes("销售报表\n制表人：张三\n城市;日期;数量\n北京;2024-01-05;3\n上海;2024-01-06;2\n".encode("gbk"))
    assert_frame_equal(FileSource(str(notes)).read(), want)
    assert FileSource(str(titled), skip_rows=0).read().columns == ["2024年销售报表", "", "_duplicated_0"]
    # Headers that only look alike are read as they always were.
    kept = {"r_index.csv": '"","x"\n"1",5\n"2",6\n', "one_column.csv": "x\n1\n2\n",
            "year_names.csv": "title,,\nregion,2023,2024\nnorth,1,2\n", "unnamed.csv": "name,\na,1\nb,2\n"}
    for name, text in kept.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        header = text.splitlines()[0]
        assert FileSource(str(tmp_path / name)).read().height == len(text.splitlines()) - 1, (name, header)
    book = tmp_path / "report.xlsx"
    with __import__("xlsxwriter").Workbook(book) as wb:
        sheet = wb.add_worksheet("销售")
        sheet.write(0, 0, "2024年销售报表")
        for row, values in enumerate([["城市", "日期", "数量"], ["北京", "2024-01-05", 3], ["上海", "2024-01-06", 2]]):
            for col, value in enumerate(values):
                sheet.write(row + 1, col, value)
    assert_frame_equal(FileSource(str(book)).read(), want)


ADULT = "39, State-gov, 77516, Bachelors, <=50K\n50, Self-emp-not-inc, 83311, Bachelors, <=50K\n" \
        "38, Private, 215646, HS-grad, >50K\n53, Private, 234721, 11th, <=50K\n"


def test_a_file_without_a_header_keeps_its_first_row(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # UCI's adult.data: no header, an extension assay does not know, spaces after the commas.
    path = tmp_path / "adult.data"
    path.write_text(ADULT)
    with caplog.at_level("WARNING", logger="assay.sources"):
        frame = read_source(str(path))
    assert frame.height == 4
    assert frame.row(0)[:2] == (39, " State-gov")
    assert caplog.messages == [
        "adult.data: read as CSV text (assay does not know the extension '.data'); give format=… to choose",
        "adult.data: the first line looks like data, not column names (39, State-gov, 77516, Bachelors, …): read as "
        "a row, the columns named column_0 … column_4; give has_header=true to read it as names"]
    assert frame.columns == [f"column_{i}" for i in range(5)]  # as the note says
    assert read_source(str(path), has_header=True).columns[0] == "39"
    assert len(list(FileSource(str(path)).batches(2))) == 2


def test_codes_with_leading_zeros_are_read_as_text(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "stores.csv"
    path.write_text('zip,provider,qty,month\n02134,"030001",5,01\n10001,"030002",7,12\n')
    with caplog.at_level("WARNING", logger="assay.sources"):
        frame = read_source(str(path))
    assert frame["zip"].to_list() == ["02134", "10001"]
    assert frame["provider"].to_list() == ["030001", "030002"]
    assert frame.schema["qty"] == pl.Int64
    assert frame.schema["month"] == pl.Int64  # 01..12: two digits are month numbers, not codes
    assert caplog.messages[0] == ("stores.csv: 'zip' read as text: values such as '02134' are codes written with "
                                  "leading zeros, which a number would drop; give dtypes={'zip': 'int'} to read "
                                  "numbers")
    assert read_source(str(path), dtypes={"zip": "int"})["zip"].to_list() == [2134, 10001]


def test_a_repeated_column_name_is_said_with_the_names_it_gets(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "export.csv"
    path.write_text("a,a,y,a\n1,2,x,5\n2,3,z,6\n")
    with caplog.at_level("WARNING", logger="assay.sources"):
        frame = read_source(str(path))
    assert frame.columns == ["a", "a_duplicated_0", "y", "a_duplicated_1"]  # as the note says
    assert caplog.messages == [
        "export.csv: the header names 3 columns 'a': the first is read as 'a', the others as a_duplicated_0, "
        "a_duplicated_1"]


@pytest.mark.parametrize("text", [
    "age,work\n39,State-gov\n50,Private\n",
    "2019,2020,2021\n1.5,2.5,3.5\n0.5,1.5,2.5\n",
    "name,kind\nx,a\ny,b\nname,kind\nz,a\n",  # files joined with their headers
    "city,country\nParis,France\nLyon,France\n",
])
def test_a_header_stays_a_header(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    assert read_source(str(path)).columns == text.split("\n", 1)[0].split(",")


def test_text_files_with_other_extensions_are_sniffed(tmp_path: Path) -> None:
    (tmp_path / "iris").write_text("5.1,3.5,Iris-setosa\n4.9,3.0,Iris-setosa\n7.0,3.2,Iris-versicolor\n")
    (tmp_path / "events.log").write_text('{"a": 1}\n{"a": 2}\n')
    (tmp_path / "notes.dat").write_text("just some words\nno fields here\n")
    assert read_source(str(tmp_path / "iris")).shape == (3, 3)
    assert read_source(str(tmp_path / "events.log")).to_dicts() == [{"a": 1}, {"a": 2}]
    with pytest.raises(SourceError, match=r"unsupported file extension '\.dat'"):
        read_source(str(tmp_path / "notes.dat"))


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_nested_objects_in_json_files_become_columns(tmp_path: Path, fmt: str) -> None:
    rows = [{"id": 1, "user": {"name": "ann", "geo": {"lat": 1.5}}, "tags": ["a"]},
            {"id": 2, "user": {"name": "bob", "geo": {"lat": 2.5}}, "tags": []}]
    path = tmp_path / f"api.{fmt}"
    pl.DataFrame(rows).write_json(path) if fmt == "json" else pl.DataFrame(rows).write_ndjson(path)
    frame = read_source(str(path))
    assert frame.columns == ["id", "user.name", "user.geo.lat", "tags"]  # as HTTP and stream sources flatten them
    assert frame.get_column("user.geo.lat").to_list() == [1.5, 2.5]
    assert FileSource(str(path)).scan().collect().equals(frame)


def test_the_header_is_judged_again_for_another_separator(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("5.1;x\n4.9;x\n6.0;y\n")
    assert read_source(str(path)).columns == ["column_0", "column_1"]  # ';' found: the first line is data
    assert read_source(str(path), separator=",").columns == ["5.1;x"]  # one field per line: read as before


def test_a_quote_inside_a_quoted_header_name_is_read_once(tmp_path: Path) -> None:
    """CSV doubles a quote inside a quoted field; Polars unescapes values but kept the header's doubled quote."""
    import csv

    path = tmp_path / "quoted.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([['a"b\\c', 'say "hi"', "plain"], ['1"', 2, 3], ["4", 5, 6]])
    src = open_source(str(path))
    assert src.read().columns == ['a"b\\c', 'say "hi"', "plain"]
    assert src.read()['a"b\\c'].to_list() == ['1"', "4"]
    assert [b.columns for b in src.batches(1)] == [['a"b\\c', 'say "hi"', "plain"]] * 2
