"""Reading uploaded portfolio files into rows: CSV (streamed from stored chunks), XLSX and JSON.

API
---
``FileRejected(ValidationFailed)``
    A problem with the file as a whole; ``.code`` is one of ``import.empty_file``, ``import.undecodable``,
    ``import.too_large``, ``import.missing_columns``, ``import.bad_format``, ``import.no_header``;
    ``.details`` carries specifics (``line``, ``tried``, ``duplicates``, ``missing`` …), which are also the
    parameters the web layer renders the refusal with in the reader's language (``variant`` picks the message
    where one code has several).
``detect_encoding(head: bytes) -> str``
    ``'utf-8-sig'`` (UTF-8 BOM), ``'utf-16'`` (UTF-16 BOM, Excel's "Unicode text"), ``'utf-8'`` or ``'gb18030'``.
``CsvSource(chunks, *, max_bytes)``
    Reads just enough on construction to know ``.encoding``, ``.delimiter`` and ``.header`` (list of column
    names in file order); iterating it once yields ``(line_number, {header: value})``. An Excel ``sep=;``
    first line is honoured. If the first 64 KB were pure ASCII and a later byte is GBK, ``.encoding`` switches
    from ``'utf-8'`` to ``'gb18030'`` during iteration instead of rejecting the file.
``sniff_delimiter(header_line) -> str``: comma, tab or semicolon, counted outside quotes (comma when none).
``iter_csv_rows(chunks, *, max_bytes)`` is ``iter(CsvSource(chunks, max_bytes=max_bytes))``.
``count_csv_rows(chunks, *, max_bytes=None) -> int`` counts the rows ``iter_csv_rows`` would yield.
``csv_header_sample(head, *, truncated)``: a ``CsvSource`` over the first ``SAMPLE_BYTES`` of a file, for its
    ``.encoding``, ``.delimiter`` and ``.header`` only (a header row longer than the sample is ``import.bad_format``).
``XlsxSource(fileobj)`` / ``iter_xlsx_rows(fileobj)``: first worksheet, same row shape; the workbook is first
    checked against the zip-bomb limits (``tenants.portfolios.workbook``); ``.count_rows()`` counts without openpyxl.
``JsonSource(data)`` / ``iter_json_rows(data)``: a list of objects, same row shape.
``cell_text(value)``: the conversion of spreadsheet/JSON cell values to text used by all sources.

Row shape, for every source
---------------------------
``(line_number, row)``. ``line_number`` is what a user can find in their file: for CSV the physical line on
which the record starts (the header is line 1 unless blank lines precede it; quoted values spanning lines
count every line), for XLSX the worksheet row number, for JSON the 1-based position of the object in the
list ("line" means record number there). ``row`` maps each header to a stripped string ("" when absent);
JSON lists and objects pass through unchanged (for fields like ``phones`` or ``third_parties``). Rows whose
cells are all blank are skipped. A row with more non-blank cells than the header has columns additionally
carries ``EXTRA_KEY`` ("__extra__") with the surplus values joined by the delimiter, so validation can
flag it; surplus *empty* cells (trailing delimiters, as spreadsheets often write) are ignored. Missing
trailing cells read as "".

Header rules: the first non-blank line/row is the header; names are stripped (and a stray BOM removed);
trailing empty names are dropped; an empty name between named columns becomes ``column_<n>`` (1-based);
duplicate names, or a name longer than ``MAX_HEADER_CHARS``, reject the file (``import.bad_format``, quoting at
most ``EXCERPT_CHARS`` of it); a header without any name is ``import.no_header``.

Values are not otherwise normalised here (full-width characters, number formats …): that is validation's
job (``tenants.portfolios.rows``), so the error file can echo what the lender sent.

CSV memory use is bounded by the chunk size plus the longest record; ``import.too_large`` is raised, possibly
mid-iteration, as soon as more than ``max_bytes`` bytes have been read, so a consumer must treat any
``FileRejected`` during iteration as a failed import. A ``CsvSource`` can be iterated only once.
"""
from __future__ import annotations

import codecs
import csv
import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from tenants.errors import ValidationFailed
from tenants.portfolios.limits import MAX_HEADER_CHARS, MIB, excerpt

EXTRA_KEY = "__extra__"
SAMPLE_BYTES = 64 * 1024
ENCODINGS_TRIED = ("utf-8", "gb18030")
DELIMITERS = (",", "\t", ";")  # preference order on a tie
_SEP_LINE = re.compile(r"sep=([,;\t|])", re.IGNORECASE)

Row = tuple[int, dict]


class FileRejected(ValidationFailed):
    code = "import.bad_format"
    message = "The file cannot be imported."


def _reject(code: str, message: str, **details) -> FileRejected:
    return FileRejected(message, code=code, details=details)


# --------------------------------------------------------------------------------------------- encoding

def _decodes(data: bytes, encoding: str) -> bool:
    """True when ``data`` decodes, ignoring an incomplete multibyte character cut off at the end."""
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(head: bytes) -> str:
    """Pick the encoding from the first bytes of a file (up to ``SAMPLE_BYTES`` are looked at).

    A BOM decides outright. Otherwise UTF-8 is preferred when the sample is valid UTF-8, then GB18030
    (a superset of GBK and GB2312). The sample may end in the middle of a multibyte character; that
    incomplete tail is not held against an encoding.
    """
    head = head[:SAMPLE_BYTES]
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:  # decodes as UTF-8 all the same: an .xls, a zip or an image renamed .csv
        raise _reject("import.bad_format", "This is not a text file: a CSV has no zero bytes. Was an Excel .xls or "
                      "another binary file renamed? Save it as CSV UTF-8 (or .xlsx) and upload it again.",
                      variant="binary")
    for encoding in ENCODINGS_TRIED:
        if _decodes(head, encoding):
            return encoding
    raise _reject(
        "import.undecodable",
        "The file is not text in a supported encoding (tried UTF-8 and GB18030/GBK). "
        "Save it as CSV UTF-8 and upload it again.",
        tried=list(ENCODINGS_TRIED),
    )


def _count_delimiters(line: str) -> dict[str, int]:
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return counts


def sniff_delimiter(header_line: str) -> str:
    """The delimiter used most often outside quotes in the header line; comma when there is none."""
    counts = _count_delimiters(header_line)
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] else ","


def header_names(cells: list[str]) -> list[str]:
    names = [cell.replace("\ufeff", "").strip() for cell in cells]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise _reject("import.no_header", "The first row must name the columns, but it is empty.")
    names = [name or f"column_{i}" for i, name in enumerate(names, start=1)]
    for position, name in enumerate(names, start=1):
        if len(name) > MAX_HEADER_CHARS:
            raise _reject(
                "import.bad_format",
                f"Column {position}'s name is longer than {MAX_HEADER_CHARS} characters ({excerpt(name)}); "
                "is the first row really the header?",
                column=position, name=excerpt(name), limit=MAX_HEADER_CHARS, variant="long_header",
            )
    seen: set[str] = set()
    duplicates: dict[str, None] = {}
    for name in names:
        if name in seen:
            duplicates[name] = None
        seen.add(name)
    if duplicates:
        raise _reject(
            "import.bad_format",
            f"Column names must be unique; repeated: {excerpt(', '.join(duplicates))}.",
            duplicates=[excerpt(name) for name in list(duplicates)[:20]],
            names=excerpt(", ".join(duplicates)), variant="duplicate_headers",
        )
    return names


def _shape(header: list[str], values: list, delimiter: str = ",") -> dict | None:
    """Zip one record's values with the header, or None for a blank record."""
    if not any(v != "" for v in values):
        return None
    width = len(header)
    if len(values) < width:
        values = values + [""] * (width - len(values))
    row = dict(zip(header, values))
    if len(values) > width:
        extra = [v for v in values[width:] if v != ""]
        if extra:
            row[EXTRA_KEY] = delimiter.join(str(v) for v in extra)
    return row


# --------------------------------------------------------------------------------------------- CSV

def _first_non_blank(lines: Iterator[str]) -> tuple[str | None, int]:
    """The next line with content, and how many blank lines came before it."""
    skipped = 0
    for line in lines:
        if line.strip():
            return line, skipped
        skipped += 1
    return None, skipped


class CsvSource:
    """A CSV/TSV file stored as a sequence of byte chunks. See the module docstring."""

    def __init__(self, chunks: Iterable[bytes], *, max_bytes: int):
        self._chunks = iter(chunks)
        self._max_bytes = max_bytes
        self._bytes_read = 0
        self._quotes = 0  # '"' characters decoded so far: an odd total at the end means an unclosed quote
        self._last_text = ""  # the last physical line read
        self._consumed = False

        head: list[bytes] = []
        size = 0
        while size < SAMPLE_BYTES:
            chunk = self._next_chunk()
            if chunk is None:
                break
            head.append(chunk)
            size += len(chunk)
        self._head = head
        if not size:
            raise _reject("import.empty_file", "The file is empty.")
        sample = b"".join(head)[:SAMPLE_BYTES]
        self.encoding = detect_encoding(sample)
        newline_probe = sample if self.encoding != "utf-16" else sample.decode("utf-16", "ignore").encode()
        self._newline = "\n" if b"\n" in newline_probe or b"\r" not in newline_probe else "\r"

        lines = self._text_lines()
        first, blank_before = _first_non_blank(lines)
        declared = _SEP_LINE.fullmatch(first.replace("\ufeff", "").strip()) if first is not None else None
        if declared:  # Excel's "sep=;" line names the delimiter and is not the header
            first, more_blank = _first_non_blank(lines)
            blank_before += 1 + more_blank
        if first is None:
            raise _reject("import.empty_file", "The file has no rows, only blank lines.", variant="blank_lines")
        self.delimiter = declared.group(1) if declared else sniff_delimiter(first.replace("\ufeff", ""))
        self._line_offset = blank_before
        self._reader = csv.reader(itertools.chain([first], lines), delimiter=self.delimiter, strict=False)
        self._last_line = blank_before
        header_cells = self._next_record()
        self.header: list[str] = header_names(header_cells or [])

    @classmethod
    def from_line(cls, chunks: Iterable[bytes], *, max_bytes: int, encoding: str, delimiter: str,
                  header: list[str], first_line: int) -> "CsvSource":
        """The rows of a file already read once (its encoding, delimiter and header known) from physical line
        `first_line` on, which must begin a record: one line range of a split import. The lines before it are
        skipped as bytes, by counting their ends, not decoded and parsed, so a range costs the same wherever it
        lies in the file. A line end is one byte in every encoding but UTF-16: see `skips_as_bytes`."""
        source = cls.__new__(cls)
        source._chunks, source._max_bytes, source._bytes_read = iter(chunks), max_bytes, 0
        source._quotes, source._last_text, source._consumed = 0, "", False
        source.encoding, source.delimiter, source.header = encoding, delimiter, list(header)
        head = b""
        while len(head) < SAMPLE_BYTES and (chunk := source._next_chunk()) is not None:
            head += chunk
        probe = head[:SAMPLE_BYTES]  # the sample the first reading judged the line ends by
        source._newline = "\n" if b"\n" in probe or b"\r" not in probe else "\r"
        source._head = [source._after_line_ends(head, source._newline.encode(), first_line - 1)]
        source._line_offset = source._last_line = first_line - 1
        source._reader = csv.reader(source._text_lines(), delimiter=delimiter, strict=False)
        return source

    @staticmethod
    def skips_as_bytes(encoding: str | None) -> bool:
        return bool(encoding) and not encoding.startswith("utf-16")

    def _after_line_ends(self, chunk: bytes, line_end: bytes, count: int) -> bytes:
        """What follows the `count`-th line end, reading on from `chunk` through the next chunks as needed."""
        while count:
            found = chunk.count(line_end)
            if found >= count:
                position = -1
                for _ in range(count):
                    position = chunk.index(line_end, position + 1)
                return chunk[position + 1:]
            count -= found
            chunk = self._next_chunk()
            if chunk is None:
                return b""
        return chunk

    # -- byte and text plumbing

    def _next_chunk(self) -> bytes | None:
        chunk = next(self._chunks, None)
        if chunk is None:
            return None
        self._bytes_read += len(chunk)
        if self._bytes_read > self._max_bytes:
            raise _reject(
                "import.too_large",
                f"The file is larger than the limit of {self._max_bytes:,} bytes. Split it and upload the parts.",
                max_bytes=self._max_bytes, limit_mb=round(self._max_bytes / MIB, 1),
            )
        return bytes(chunk)

    def _all_chunks(self) -> Iterator[bytes]:
        head, self._head = self._head, []
        yield from head
        while (chunk := self._next_chunk()) is not None:
            yield chunk

    def _undecodable(self, line: int) -> FileRejected:
        return _reject(
            "import.undecodable",
            f"Line {line} is not valid {self.encoding.upper()} text, unlike the lines before it "
            f"(tried {' and '.join(ENCODINGS_TRIED).upper()}). Save the whole file in one encoding, "
            "preferably CSV UTF-8.",
            line=line,
            encoding=self.encoding,
            variant="line",
            tried=list(ENCODINGS_TRIED),
        )

    def _text_lines(self) -> Iterator[str]:
        """Decoded physical lines, each keeping its line ending (so quoted newlines survive)."""
        newline = self._newline
        decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        ascii_so_far = True
        pending = ""
        lines_out = 0
        for chunk in self._all_chunks():
            buffered = decoder.getstate()[0]
            try:
                text = decoder.decode(chunk, final=False)
            except UnicodeDecodeError as exc:
                # An all-ASCII start says nothing about the encoding; a later GBK byte means GB18030.
                data = buffered + chunk
                if (self.encoding == "utf-8" and ascii_so_far and data[:exc.start].isascii()
                        and _decodes(data, "gb18030")):
                    self.encoding = "gb18030"
                    decoder = codecs.getincrementaldecoder("gb18030")("strict")
                    text = decoder.decode(data, final=False)
                else:
                    line = lines_out + pending.count(newline) + data[: max(exc.start, 0)].count(b"\n") + 1
                    raise self._undecodable(line) from None
            ascii_so_far = ascii_so_far and text.isascii()
            self._quotes += text.count('"')
            if pending:
                text = pending + text
            parts = text.split(newline)
            pending = parts.pop()
            for part in parts:
                lines_out += 1
                self._last_text = part
                yield part + newline
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise self._undecodable(lines_out + 1) from None
        self._quotes += tail.count('"')
        pending += tail
        if pending:
            self._last_text = pending
            yield pending

    def _next_record(self) -> list[str] | None:
        try:
            return next(self._reader, None)
        except csv.Error as exc:
            line = self._last_line + 1
            raise _reject(
                "import.bad_format",
                f"The row starting on line {line} cannot be read ({exc}); check for an unbalanced quote (\").",
                line=line, variant="unreadable_row",
            ) from None

    # -- rows

    def __iter__(self) -> Iterator[Row]:
        header, delimiter = self.header, self.delimiter
        return self._walk(lambda record: _shape(header, [value.strip() for value in record], delimiter))

    def lines(self) -> Iterator[int]:
        """The line each row starts on, as iterating would give it (blank records skipped, the same errors),
        without making the rows: what counting a file needs."""
        return (start for start, _ in self._walk(lambda record: True if any(v.strip() for v in record) else None))

    def _walk(self, make: Callable[[list[str]], object]) -> Iterator[tuple[int, object]]:
        """(start line, make(record)) for each record `make` does not answer None for."""
        if self._consumed:
            raise RuntimeError("a CsvSource can be iterated only once")
        self._consumed = True
        offset = self._line_offset
        reader = self._reader
        self._last_line = offset + reader.line_num
        held = None  # one record of lookahead, so the last one can be checked for an unclosed quote
        while True:
            record = self._next_record()
            if record is None:
                break
            start = self._last_line + 1
            self._last_line = offset + reader.line_num
            row = make(record)
            if row is None:
                continue
            if held is not None:
                yield held[0], held[1]
            held = (start, row, self._last_line > start)
        if held is not None:
            start, row, multiline = held
            # An odd number of quotes in the file is a quote opened and never closed — or a literal one inside a
            # value (5" screen). An unclosed one runs its value to the end of the file: over several lines, or to
            # the end of the last one, where only a strict reading tells it from a literal quote.
            if self._quotes % 2 and (multiline or _opens_a_quote_it_never_closes(self._last_text, self.delimiter)):
                raise _reject(
                    "import.bad_format",
                    f"A quote (\") opened on line {start} or earlier is never closed, so the rest of the file "
                    "would be read as one value. Fix the quote and upload again.",
                    line=start, variant="unclosed_quote",
                )
            yield start, row


def _opens_a_quote_it_never_closes(line: str, delimiter: str) -> bool:
    try:
        list(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)  # the csv module's words for a quoted value cut by the end
    return False


def csv_header_sample(head: bytes, *, truncated: bool) -> CsvSource:
    """Encoding, delimiter and header from the first ``SAMPLE_BYTES`` of a file (``truncated``: there is more), so
    a web request learns the columns without reading the rest. Do not iterate the rows of the answer."""

    def beyond_the_sample():
        raise _reject("import.bad_format",
                      f"The header row is longer than {SAMPLE_BYTES // 1024} KB; is the first row really the header?",
                      kb=SAMPLE_BYTES // 1024, variant="header_too_long")
        yield  # a generator: raises only if the header needs more than the sample

    head = head[:SAMPLE_BYTES]
    return CsvSource(itertools.chain([head], beyond_the_sample() if truncated else ()), max_bytes=SAMPLE_BYTES)


def iter_csv_rows(chunks: Iterable[bytes], *, max_bytes: int) -> Iterator[Row]:
    return iter(CsvSource(chunks, max_bytes=max_bytes))


def count_csv_rows(chunks: Iterable[bytes], *, max_bytes: int | None = None) -> int:
    """How many rows ``iter_csv_rows`` will yield (for progress bars); raises the same FileRejected errors."""
    limit = max_bytes if max_bytes is not None else 1 << 62
    return sum(1 for _ in CsvSource(chunks, max_bytes=limit))


# --------------------------------------------------------------------------------------------- values

def cell_text(value):
    """A spreadsheet or JSON value as the text a lender would have typed.

    None → "", strings stripped, booleans "true"/"false", whole numbers without ".0", other floats in plain
    decimal notation via ``Decimal(repr(v))`` (never "1e-07"), dates and datetimes as ISO dates
    (YYYY-MM-DD), lists and dicts unchanged.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, (list, dict)):
        return value
    if isinstance(value, tuple):
        return list(value)
    return str(value).strip()


# --------------------------------------------------------------------------------------------- XLSX

class XlsxSource:
    """The first worksheet of an .xlsx workbook (a seekable binary file); ``.header`` is read on construction."""

    def __init__(self, fileobj):
        from openpyxl import load_workbook

        from tenants.portfolios.workbook import open_archive

        self._archive = open_archive(fileobj)
        try:
            self._workbook = load_workbook(fileobj, read_only=True, data_only=True)
        except FileRejected:
            self._archive.close()
            raise
        except Exception as exc:  # noqa: BLE001 - BadZipFile, InvalidFileException, KeyError, XML errors …
            self._archive.close()
            raise _reject(
                "import.bad_format",
                "The file is not a readable Excel workbook (.xlsx). Old .xls files must be saved as .xlsx or CSV.",
                reason=type(exc).__name__, variant="not_xlsx",
            ) from None
        try:
            if not self._workbook.worksheets:
                raise _reject("import.empty_file", "The workbook has no worksheets.", variant="no_sheets")
            self._rows = enumerate(self._workbook.worksheets[0].iter_rows(min_row=1, values_only=True), start=1)
            for number, cells in self._rows:
                values = [cell_text(v) for v in cells]
                if any(v != "" for v in values):
                    self.header: list[str] = header_names([str(v) for v in values])
                    self.header_row = number
                    break
            else:
                raise _reject("import.empty_file", "The first worksheet is empty.", variant="empty_sheet")
        except BaseException:
            self.close()
            raise

    def count_rows(self, max_rows: int) -> int:
        """The non-blank rows after the header, counted from the sheet's XML; more than ``max_rows`` is refused."""
        from tenants.portfolios.workbook import count_rows

        return count_rows(self._archive, max_rows)

    def close(self) -> None:
        self._workbook.close()
        self._archive.close()

    def __iter__(self) -> Iterator[Row]:
        header = self.header
        try:
            for number, cells in self._rows:
                row = _shape(header, [cell_text(v) for v in cells])
                if row is not None:
                    yield number, row
        finally:
            self.close()


def iter_xlsx_rows(fileobj) -> Iterator[Row]:
    return iter(XlsxSource(fileobj))


# --------------------------------------------------------------------------------------------- JSON

class JsonSource:
    """A parsed JSON document that must be a list of objects; ``.header`` is every key, in order first seen."""

    def __init__(self, data):
        if not isinstance(data, list):
            raise _reject("import.bad_format", "A JSON import must be a list of objects, one per account.",
                          variant="json_not_list")
        if not data:
            raise _reject("import.empty_file", "The JSON list is empty.", variant="empty_list")
        header: dict[str, None] = {}
        for index, record in enumerate(data, start=1):
            if not isinstance(record, dict):
                raise _reject(
                    "import.bad_format",
                    f"Record {index} is not an object; a JSON import must be a list of objects.",
                    line=index, variant="json_record",
                )
            header.update(dict.fromkeys(record))
        self._data = data
        self.header: list[str] = [str(key) for key in header]

    def __iter__(self) -> Iterator[Row]:
        header = self.header
        for index, record in enumerate(self._data, start=1):
            row = {key: cell_text(record.get(key)) for key in header}
            if any(v != "" and v != [] and v != {} for v in row.values()):
                yield index, row


def iter_json_rows(data: list[dict]) -> Iterator[Row]:
    return iter(JsonSource(data))
