"""Reading lenders' portfolio files: encodings, delimiters, messy CSV, XLSX and JSON."""
import codecs
from datetime import date, datetime

import pytest

from tenants.portfolios.parsing import (
    EXTRA_KEY,
    SAMPLE_BYTES,
    CsvSource,
    FileRejected,
    JsonSource,
    XlsxSource,
    count_csv_rows,
    detect_encoding,
    iter_csv_rows,
    iter_json_rows,
    iter_xlsx_rows,
)

CHINESE_CSV = "合同号,姓名,本金\nHT001,张三,\"1,234.50\"\nHT002,李四,88\n"
MB = 1 << 20


def chunked(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)]


def rows(data: bytes, size: int = 1 << 20, max_bytes: int = 10 * MB):
    return list(iter_csv_rows(chunked(data, size), max_bytes=max_bytes))


def rejected(data: bytes, size: int = 1 << 20, max_bytes: int = 10 * MB) -> FileRejected:
    with pytest.raises(FileRejected) as exc:
        rows(data, size, max_bytes)
    return exc.value


# ---------------------------------------------------------------------------------------------- encodings

@pytest.mark.parametrize("encoding,expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030"),
])
def test_chinese_files_read_the_same_whatever_the_encoding(encoding, expected):
    source = CsvSource(chunked(CHINESE_CSV.encode(encoding), 5), max_bytes=MB)
    assert source.encoding == expected
    assert source.header == ["合同号", "姓名", "本金"]
    assert list(source) == [
        (2, {"合同号": "HT001", "姓名": "张三", "本金": "1,234.50"}),
        (3, {"合同号": "HT002", "姓名": "李四", "本金": "88"}),
    ]


def test_gb18030_only_characters_decode():
    text = "姓名,备注\n𠀀明,䶮\n"  # outside GBK: needs the four-byte GB18030 forms
    assert rows(text.encode("gb18030"), size=3) == [(2, {"姓名": "𠀀明", "备注": "䶮"})]


def test_excel_unicode_text_export_is_utf16_tab_separated():
    data = codecs.BOM_UTF16_LE + "合同号\t姓名\r\nHT001\t张三\r\n".encode("utf-16-le")
    source = CsvSource(chunked(data, 3), max_bytes=MB)
    assert (source.encoding, source.delimiter) == ("utf-16", "\t")
    assert list(source) == [(2, {"合同号": "HT001", "姓名": "张三"})]


def test_detection_ignores_a_multibyte_character_cut_by_the_sample_end():
    utf8 = ("张" * 30_000).encode("utf-8")  # 3 bytes each: the 64 KB sample ends inside one
    assert SAMPLE_BYTES % 3
    assert detect_encoding(utf8) == "utf-8"
    gbk = ("a" + "张" * 40_000).encode("gbk")  # 2 bytes each after one: the sample ends on a lead byte
    assert detect_encoding(gbk) == "gb18030"


def test_bytes_that_are_neither_utf8_nor_gb18030_are_refused_naming_what_was_tried():
    error = rejected(b"name,amount\n\xff\xff\xff,1\n")
    assert error.code == "import.undecodable"
    assert "UTF-8" in error.message and "GB18030" in error.message


def test_a_binary_file_renamed_csv_is_refused_as_not_text_not_as_an_empty_portfolio():
    """An .xls (OLE) file renamed .csv decodes as UTF-8 — zero bytes and all — and read as a header with no rows."""
    error = rejected(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00\x00\x00\x00\x00\x00\x3e\x00\x03\x00")
    assert (error.code, error.details.get("variant")) == ("import.bad_format", "binary")
    assert ".xls" in error.message


def test_a_bad_byte_after_the_sample_is_reported_with_its_line_number():
    lines = ["ref,name"] + [f"R{i},张三" for i in range(2, 10001)]  # well past the 64 KB sample
    data = ("\n".join(lines) + "\n").encode("utf-8") + b"R10001,\xe5\x00bad\n"
    with pytest.raises(FileRejected) as exc:
        list(iter_csv_rows(chunked(data, 4096), max_bytes=10 * MB))
    assert exc.value.code == "import.undecodable"
    assert exc.value.details["line"] == 10001
    assert "Line 10001" in exc.value.message


def test_an_ascii_start_followed_by_gbk_rows_switches_to_gb18030():
    head = "ref,name\n" + "".join(f"R{i},Zhang San\n" for i in range(2, 6000))
    data = head.encode("ascii") + "R6000,张三\n".encode("gbk")
    assert len(head) > SAMPLE_BYTES
    got = rows(data, size=4096)
    assert got[-1] == (6000, {"ref": "R6000", "name": "张三"})


def test_gbk_character_split_across_chunks_after_an_ascii_start():
    data = b"ref,name\n" + b"x" * (SAMPLE_BYTES - 10) + b",a\n" + "R2,张三\n".encode("gbk")
    cut = data.index("张".encode("gbk")) + 1
    for size in (SAMPLE_BYTES, cut, 4096):  # `cut` splits the two bytes of 张 between chunks
        assert rows(data, size=size)[-1] == (3, {"ref": "R2", "name": "张三"})


def test_bom_character_is_never_part_of_the_first_header():
    data = codecs.BOM_UTF8 + codecs.BOM_UTF8 + b"ref,name\n1,a\n"  # a doubled BOM, as some tools write
    assert CsvSource([data], max_bytes=MB).header == ["ref", "name"]


# ---------------------------------------------------------------------------------------------- CSV shape

def test_tab_and_semicolon_delimiters_are_recognised():
    tab = CsvSource([b"ref\tname\tamount\n1\tAnn\t1,5\n"], max_bytes=MB)
    assert tab.delimiter == "\t"
    assert list(tab) == [(2, {"ref": "1", "name": "Ann", "amount": "1,5"})]
    semi = CsvSource([b"ref;name\n1;Ann\n"], max_bytes=MB)
    assert semi.delimiter == ";"


def test_excel_sep_line_declares_the_delimiter():
    source = CsvSource([b"sep=;\r\nref;name,alias\r\n1;Ann,A\r\n"], max_bytes=MB)
    assert (source.delimiter, source.header) == (";", ["ref", "name,alias"])
    assert list(source) == [(3, {"ref": "1", "name,alias": "Ann,A"})]


def test_delimiter_is_not_fooled_by_commas_inside_a_quoted_header():
    source = CsvSource([b'"Name, full"\tref\n"Ann, B"\t1\n'], max_bytes=MB)
    assert source.delimiter == "\t"
    assert source.header == ["Name, full", "ref"]


def test_quoted_values_with_commas_and_newlines_keep_their_line_numbers():
    data = (
        'ref,address,note\r\n'
        '1,"北京市, 朝阳区\r\n建国路 1 号",ok\r\n'
        '2,"line one\nline two\nline three","say ""hi"""\r\n'
        '3,plain,x\r\n'
    ).encode()
    got = rows(data, size=4)
    assert [line for line, _ in got] == [2, 4, 7]
    assert got[0][1]["address"] == "北京市, 朝阳区\r\n建国路 1 号"
    assert got[1][1] == {"ref": "2", "address": "line one\nline two\nline three", "note": 'say "hi"'}


def test_blank_lines_are_skipped_but_still_counted():
    data = b"\n\nref,name\n1,Ann\n\n   \n,,\n2,Bob\n\n"
    got = rows(data)
    assert got == [(4, {"ref": "1", "name": "Ann"}), (8, {"ref": "2", "name": "Bob"})]


def test_values_and_headers_are_stripped():
    got = rows(b" ref , name \n 1 ,  Ann  \n")
    assert got == [(2, {"ref": "1", "name": "Ann"})]


def test_short_rows_are_padded_and_long_rows_flag_their_extra_values():
    got = rows(b"ref,name,amount\n1,Ann\n2,Bob,3,surplus,more\n3,Cy,4,,\n")
    assert got[0] == (2, {"ref": "1", "name": "Ann", "amount": ""})
    assert got[1] == (3, {"ref": "2", "name": "Bob", "amount": "3", EXTRA_KEY: "surplus,more"})
    assert got[2] == (4, {"ref": "3", "name": "Cy", "amount": "4"})  # trailing empty cells are harmless


def test_old_mac_line_endings():
    assert rows(b"ref,name\r1,Ann\r2,Bob\r") == [(2, {"ref": "1", "name": "Ann"}), (3, {"ref": "2", "name": "Bob"})]


def test_unnamed_columns_get_a_placeholder_and_trailing_ones_are_dropped():
    source = CsvSource([b"ref,,name,,\n1,x,Ann,,\n"], max_bytes=MB)
    assert source.header == ["ref", "column_2", "name"]
    assert list(source) == [(2, {"ref": "1", "column_2": "x", "name": "Ann"})]


def test_header_only_file_yields_nothing():
    assert rows("合同号,姓名\n".encode()) == []
    assert count_csv_rows([b"a,b\n"]) == 0


def test_count_matches_rows_yielded():
    data = b"ref,note\n1,\"two\nlines\"\n\n2,x\n3,y"
    assert count_csv_rows(chunked(data, 3)) == len(rows(data)) == 3


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, b"\n\n  \r\n"])
def test_empty_files_are_refused(data):
    assert rejected(data).code == "import.empty_file"


def test_header_row_without_names_is_refused():
    assert rejected(b",,,\n1,2,3\n").code == "import.no_header"


def test_duplicate_headers_are_refused_and_named():
    error = rejected("姓名,手机号,姓名\n张三,1,张三\n".encode())
    assert error.code == "import.bad_format"
    assert error.details["duplicates"] == ["姓名"]
    assert "姓名" in error.message


def test_files_over_the_limit_are_refused_while_streaming():
    data = b"ref,name\n" + b"1,Ann\n" * 1000
    assert rejected(data, size=100, max_bytes=5000).code == "import.too_large"
    assert rejected(data, size=10_000, max_bytes=5000).details["max_bytes"] == 5000
    assert len(rows(data, size=100, max_bytes=len(data))) == 1000


@pytest.mark.parametrize("repeat", [3, 200_000])
def test_an_unclosed_quote_is_reported_instead_of_swallowing_the_following_rows(repeat):
    data = b'ref,name\n1,"Ann\n' + b"2,Bob\n" * repeat
    error = rejected(data)
    assert error.code == "import.bad_format"
    assert error.details["line"] == 2


@pytest.mark.parametrize("last_line", [b'3,"Cy,13800138000', b'3,"Cy,13800138000\n', b'3,"Cy'])
def test_an_unclosed_quote_on_the_last_line_is_reported_not_read_as_missing_values(last_line):
    error = rejected(b"ref,name,phone\n1,Ann,13800138001\n2,Bob,13800138002\n" + last_line)
    assert error.code == "import.bad_format"
    assert error.details == {**error.details, "line": 4, "variant": "unclosed_quote"}


def test_a_literal_quote_in_the_last_value_of_the_last_line_is_kept():
    assert rows(b'ref,note\n1,5" screen') == [(2, {"ref": "1", "note": '5" screen'})]


def test_stray_quotes_inside_values_are_kept_and_a_closed_multiline_last_value_is_fine():
    data = 'ref,name,note\n1,张"三,5" screen\n2,"Big" Bob,"two\nlines"\n'.encode()
    assert rows(data) == [(2, {"ref": "1", "name": '张"三', "note": '5" screen'}),
                          (3, {"ref": "2", "name": "Big Bob", "note": "two\nlines"})]


# ---------------------------------------------------------------------------------------------- XLSX

def test_xlsx_first_sheet_round_trip(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([])
    sheet.append(["合同号", "姓名", "本金", "到期日", "手机号", "逾期天数", None])
    sheet.append(["HT001", " 张三 ", 1234.5, datetime(2024, 3, 5), 13800138000, 30, None])
    sheet.append([None, None, None])
    sheet.append(["HT002", "李四", 0.1, date(2024, 1, 31), "139 0013 9000", 12.0, "surplus"])
    workbook.create_sheet("ignored").append(["x"])
    path = tmp_path / "portfolio.xlsx"
    workbook.save(path)

    with open(path, "rb") as handle:
        source = XlsxSource(handle)
        header, rows = source.header, list(source)
    assert header == ["合同号", "姓名", "本金", "到期日", "手机号", "逾期天数"]
    assert rows == [
        (3, {"合同号": "HT001", "姓名": "张三", "本金": "1234.5", "到期日": "2024-03-05", "手机号": "13800138000",
             "逾期天数": "30"}),
        (5, {"合同号": "HT002", "姓名": "李四", "本金": "0.1", "到期日": "2024-01-31", "手机号": "139 0013 9000",
             "逾期天数": "12", EXTRA_KEY: "surplus"}),
    ]
    with open(path, "rb") as handle:
        assert len(list(iter_xlsx_rows(handle))) == 2


def test_xlsx_that_is_not_a_workbook_is_refused(tmp_path):
    pytest.importorskip("openpyxl")
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"ref,name\n1,Ann\n")
    with pytest.raises(FileRejected) as exc, open(path, "rb") as handle:
        XlsxSource(handle)
    assert exc.value.code == "import.bad_format"


def test_empty_xlsx_is_refused(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    path = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(FileRejected) as exc, open(path, "rb") as handle:
        XlsxSource(handle)
    assert exc.value.code == "import.empty_file"


# ---------------------------------------------------------------------------------------------- JSON

def test_json_records_become_rows_numbered_by_position():
    data = [
        {"external_ref": "A1", "principal": 1234.5, "dpd": 30, "phones": ["13800138000", "+12125550123"]},
        {},
        {"external_ref": "A3", "principal": "88", "flag": True, "note": None,
         "third_parties": [{"name": "李四", "phone": "13700137000"}]},
    ]
    source = JsonSource(data)
    assert source.header == ["external_ref", "principal", "dpd", "phones", "flag", "note", "third_parties"]
    got = list(iter_json_rows(data))
    assert [line for line, _ in got] == [1, 3]
    assert got[0][1]["principal"] == "1234.5" and got[0][1]["dpd"] == "30"
    assert got[0][1]["phones"] == ["13800138000", "+12125550123"]
    assert got[0][1]["flag"] == ""
    assert got[1][1]["flag"] == "true" and got[1][1]["note"] == ""
    assert got[1][1]["third_parties"] == [{"name": "李四", "phone": "13700137000"}]


@pytest.mark.parametrize("data,code", [
    ({"external_ref": "A1"}, "import.bad_format"),
    ([{"a": 1}, "nope"], "import.bad_format"),
    ([], "import.empty_file"),
])
def test_json_that_is_not_a_list_of_objects_is_refused(data, code):
    with pytest.raises(FileRejected) as exc:
        list(iter_json_rows(data))
    assert exc.value.code == code
