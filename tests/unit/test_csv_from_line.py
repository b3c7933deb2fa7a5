"""A line range of a split import starts reading at its first line by skipping the bytes before it (issue 12: a
range's cost must not grow with its place in the file). Whatever the file — GBK, a BOM, CRLF or old-Mac line ends,
blank lines, Excel's sep= line, quoted values spanning lines, any chunking — the rows from a record's line on are
exactly the rows a reading from the start gives from that line on."""
import pytest

from tenants.portfolios.parsing import CsvSource

MAX = 10 * 1024 * 1024

FILES = {
    "gbk": "合同号,姓名,金额\nHT1,张三,100\nHT2,李四,200\nHT3,王五,300\n".encode("gbk"),
    "bom_crlf": "\ufeffref,name,amount\r\nA1,Ann,1\r\n\r\nA2,\"Lee, Bo\",2\r\nA3,Cy,3\r\n".encode("utf-8"),
    "old_mac": b"ref;name\rA1;Ann\rA2;Bo\rA3;Cy\r",
    "sep_and_blanks": b"\n\nsep=|\nref|name\nA1|Ann\n\nA2|Bo\n",
    "multiline": b'ref,note\nA1,"one\nline two\nline three"\nA2,plain\nA3,"x\r\ny"\nA4,end\n',
    "no_final_newline": b"ref,name\nA1,Ann\nA2,Bo",
    "utf8_then_gbk": ("ref,name\n" + "A0,ascii\n" * 3).encode() + "A9,中文\n".encode("gb18030"),
}


def chunked(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("size", [1, 3, 7, 1 << 20])
def test_rows_from_a_record_line_are_the_rows_a_full_reading_gives_from_there(name, size):
    data = FILES[name]
    full = CsvSource(chunked(data, size), max_bytes=MAX)
    rows = list(full)
    assert rows, name
    assert CsvSource.skips_as_bytes(full.encoding)
    for start, _ in rows:
        resumed = CsvSource.from_line(chunked(data, size), max_bytes=MAX, encoding=full.encoding,
                                      delimiter=full.delimiter, header=full.header, first_line=start)
        assert list(resumed) == [(line, row) for line, row in rows if line >= start], (name, size, start)


def test_utf16_is_read_from_the_start():
    assert not CsvSource.skips_as_bytes("utf-16") and not CsvSource.skips_as_bytes(None)
