"""Opening an uploaded .xlsx without trusting it.

An .xlsx is a zip of XML parts, so a few hundred kilobytes can inflate to gigabytes (a "zip bomb") or hold
millions of rows. Before openpyxl sees a workbook, `open_archive` checks the zip's own directory against
`tenants.portfolios.limits`: member count (from the end record, before the directory is parsed), compression
methods (stored or deflated only: those are what Excel writes, and deflate inflates in bounded steps), each
member's and the total declared size, and each member's compression ratio. Python's zipfile never inflates a
member beyond its declared size, so these checks bind what is actually read.

XML is parsed safely: openpyxl uses defusedxml when it is installed (checked at import: this module refuses to
load otherwise), and the streaming readers here forbid any DTD, which rules out entity expansion and external
entities.

`sample_header` reads the first non-blank row of the first sheet for the web request, within
`HEADER_SAMPLE_BYTES` of inflated XML per part; it answers None when that is not enough (the worker then reads the
header). `count_rows` counts the non-blank data rows of the first sheet for the worker, stopping past `MAX_ROWS`.
"""
import posixpath
import re
import struct
import zipfile
from xml.parsers import expat

import openpyxl

from tenants.portfolios import limits
from tenants.portfolios.limits import excerpt, megabytes
from tenants.portfolios.parsing import FileRejected, cell_text, header_names

if not openpyxl.DEFUSEDXML:  # pragma: no cover - defusedxml is a declared dependency
    raise RuntimeError("openpyxl must parse with defusedxml: install defusedxml and leave OPENPYXL_DEFUSEDXML set")

_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_READ = 64 * 1024
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_SMALL_PART = 4 * 1024 * 1024  # workbook.xml and its relationships: read whole, so bounded
_CELL_REF = re.compile(r"([A-Z]{1,3})")


def _bad_format(message: str, **details) -> FileRejected:
    return FileRejected(message, code="import.bad_format", details=details)


def _too_large(message: str, **details) -> FileRejected:
    return FileRejected(message, code="import.file_too_large_uncompressed", details=details)


# ---- the zip -----------------------------------------------------------------------------------------------

def _directory_size(fileobj) -> tuple[int, int]:
    """(member count, central directory bytes) from the zip's end record, without parsing the directory."""
    fileobj.seek(0, 2)
    size = fileobj.tell()
    tail_size = min(size, _END_RECORD_SIZE + 0xFFFF)  # the record plus the longest comment it may carry
    fileobj.seek(size - tail_size)
    tail = fileobj.read(tail_size)
    fileobj.seek(0)
    at = tail.rfind(_END_RECORD)
    if at < 0 or len(tail) - at < _END_RECORD_SIZE:
        raise _bad_format("The file is not a readable Excel workbook (.xlsx). Old .xls files must be saved as "
                          ".xlsx or CSV.")
    _, _, _, members, directory_bytes, _, _ = struct.unpack("<4HIIH", tail[at + 4: at + _END_RECORD_SIZE])
    return members, directory_bytes


def open_archive(fileobj) -> zipfile.ZipFile:
    """The workbook's zip for the worker, once its directory is within every limit; a refusal names the limit."""
    archive = _open_zip(fileobj)
    try:
        _check_sizes(archive)
    except BaseException:
        archive.close()
        raise
    return archive


def _open_zip(fileobj) -> zipfile.ZipFile:
    """The zip with its directory read (once the end record shows it is small) and its compression checked: safe
    to read within a budget, which is all the web request does. Sizes and ratios are the worker's to judge."""
    members, directory_bytes = _directory_size(fileobj)
    # 0xFFFF means "see the ZIP64 record": more members than any workbook has, so it is refused too.
    if members > limits.XLSX_MAX_MEMBERS or directory_bytes > limits.XLSX_MAX_CENTRAL_DIRECTORY:
        raise _bad_format(f"The workbook has more than {limits.XLSX_MAX_MEMBERS:,} parts; a spreadsheet has a "
                          "few dozen. Save it again from Excel or as CSV.", max_members=limits.XLSX_MAX_MEMBERS)
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _bad_format("The file is not a readable Excel workbook (.xlsx).") from None
    infos = archive.infolist()
    problem = None
    if len(infos) > limits.XLSX_MAX_MEMBERS:
        problem = _bad_format(f"The workbook has more than {limits.XLSX_MAX_MEMBERS:,} parts.",
                              max_members=limits.XLSX_MAX_MEMBERS)
    elif any(info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for info in infos):
        problem = _bad_format("The workbook is compressed in a way Excel does not use.")
    if problem is not None:
        archive.close()
        raise problem
    return archive


def _check_sizes(archive: zipfile.ZipFile) -> None:
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if (info.file_size > limits.XLSX_RATIO_FLOOR
                and info.file_size > limits.XLSX_MAX_RATIO * max(info.compress_size, 1)):
            ratio = info.file_size // max(info.compress_size, 1)
            raise _too_large(
                f"The workbook unpacks to {ratio:,} times its size (part {excerpt(info.filename)}); more than "
                f"{limits.XLSX_MAX_RATIO} times is refused, as no real spreadsheet compresses that well. "
                "Save it again from Excel or as CSV.",
                part=excerpt(info.filename), ratio=ratio, max_ratio=limits.XLSX_MAX_RATIO)
        if info.filename.endswith("sharedStrings.xml") and info.file_size > limits.XLSX_MAX_SHARED_STRINGS:
            raise _too_large(
                f"The workbook's text table unpacks to {megabytes(info.file_size)}, over the limit of "
                f"{megabytes(limits.XLSX_MAX_SHARED_STRINGS)}. Split the file or save it as CSV.",
                uncompressed_bytes=info.file_size, limit_bytes=limits.XLSX_MAX_SHARED_STRINGS)
    if total > limits.XLSX_MAX_UNCOMPRESSED:
        raise _too_large(
            f"The workbook unpacks to {megabytes(total)}, over the limit of "
            f"{megabytes(limits.XLSX_MAX_UNCOMPRESSED)}. Split it and upload the parts.",
            uncompressed_bytes=total, limit_bytes=limits.XLSX_MAX_UNCOMPRESSED)


# ---- safe streaming XML ------------------------------------------------------------------------------------

class _Enough(Exception):
    """Raised from a handler once a reader has what it came for."""


def _no_dtd(*_args):
    raise _bad_format("The workbook's XML declares a document type, which a workbook never does.")


def _parser() -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    # What defusedxml forbids, and the DTD outright: no entity can expand and nothing external is fetched.
    parser.StartDoctypeDeclHandler = _no_dtd
    parser.EntityDeclHandler = _no_dtd
    parser.UnparsedEntityDeclHandler = _no_dtd
    parser.ExternalEntityRefHandler = _no_dtd
    return parser


def _feed(archive: zipfile.ZipFile, name: str, parser, budget: int | None) -> bool:
    """Parse one part; True when the handlers stopped it or it ended, False when `budget` bytes ran out first."""
    read = 0
    try:
        with archive.open(name) as part:
            while block := part.read(_READ):
                read += len(block)
                if budget is not None and read > budget:
                    return False
                parser.Parse(block, False)
            parser.Parse(b"", True)
    except _Enough:
        return True
    except expat.ExpatError as exc:
        raise _bad_format(f"The workbook's XML is broken ({excerpt(name)}, line {exc.lineno}).") from None
    except (zipfile.BadZipFile, OSError, EOFError):
        raise _bad_format("The workbook is damaged (a part does not match its checksum).") from None
    return True


def _small_xml(archive: zipfile.ZipFile, name: str):
    """A small part (workbook, relationships) as an element tree, through defusedxml."""
    from defusedxml.ElementTree import fromstring

    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _SMALL_PART:
        raise _too_large(f"The workbook's part {excerpt(name)} is larger than a workbook needs.")
    try:
        return fromstring(archive.read(name))
    except Exception:  # noqa: BLE001 - ParseError, DTDForbidden, EntitiesForbidden …
        raise _bad_format(f"The workbook's XML is broken ({excerpt(name)}).") from None


def _parts(archive: zipfile.ZipFile) -> tuple[str, str | None]:
    """The first worksheet's part and the shared-string table's part, as workbook.xml and its relationships say."""
    workbook = _small_xml(archive, "xl/workbook.xml")
    rels = _small_xml(archive, "xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        raise _bad_format("The file is not an Excel workbook (.xlsx): it has no workbook part.")
    targets, shared = {}, None
    for rel in rels.iter(f"{{{_PACKAGE_REL}}}Relationship"):
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        targets[rel.get("Id")] = path
        if rel.get("Type", "").endswith("/sharedStrings"):
            shared = path
    sheet = workbook.find(f"{{{_MAIN}}}sheets/{{{_MAIN}}}sheet")
    if sheet is None or targets.get(sheet.get(f"{{{_REL}}}id")) not in archive.NameToInfo:
        raise _bad_format("The workbook has no worksheets.")
    return targets[sheet.get(f"{{{_REL}}}id")], shared if shared in archive.NameToInfo else None


# ---- the first sheet -----------------------------------------------------------------------------------------

def _column(reference: str | None) -> int | None:
    match = _CELL_REF.match(reference or "")
    if not match:
        return None
    number = 0
    for letter in match.group(1):
        number = number * 26 + ord(letter) - 64
    return number - 1


class _SheetReader:
    """Streams `<row>` elements of a worksheet; `on_row(cells)` gets {column: (type, text)} per non-blank row."""

    def __init__(self, on_row):
        self.on_row = on_row
        self.parser = _parser()
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._text
        self.cells: dict | None = None
        self.cell = None
        self.text: list[str] | None = None

    def _start(self, name, attrs):
        local = name.rpartition(" ")[2]
        if local == "row":
            self.cells = {}
        elif local == "c" and self.cells is not None:
            column = _column(attrs.get("r"))
            self.cell = [column if column is not None else len(self.cells), attrs.get("t", "n"), []]
        elif local in ("v", "t") and self.cell is not None:
            self.text = self.cell[2]

    def _text(self, data):
        if self.text is not None:
            _append_capped(self.text, data)

    def _end(self, name):
        local = name.rpartition(" ")[2]
        if local in ("v", "t"):
            self.text = None
        elif local == "c" and self.cell is not None:
            column, kind, parts = self.cell
            value = "".join(parts)
            if value.strip():
                self.cells[column] = (kind, value)
            self.cell = None
        elif local == "row" and self.cells is not None:
            cells, self.cells = self.cells, None
            if cells:
                self.on_row(cells)


def _append_capped(parts: list[str], data: str) -> None:
    """Keep a cell's text only up to just past the longest header name allowed: enough to refuse it, no more."""
    room = limits.MAX_HEADER_CHARS + 1 - sum(map(len, parts))
    if room > 0:
        parts.append(data[:room])


def count_rows(archive: zipfile.ZipFile, max_rows: int = limits.MAX_ROWS) -> int:
    """Non-blank rows of the first sheet after the header, refused as soon as there are more than `max_rows`."""
    sheet, _ = _parts(archive)
    seen = 0

    def on_row(_cells):
        nonlocal seen
        seen += 1
        if seen > max_rows + 1:
            raise _Enough

    reader = _SheetReader(on_row)
    _feed(archive, sheet, reader.parser, budget=None)
    if seen > max_rows + 1:
        raise FileRejected(f"The sheet has more than {max_rows:,} rows, the most one import takes. Split it and "
                           "upload the parts.", code="import.too_many_rows", details={"max_rows": max_rows})
    return max(seen - 1, 0)


def sample_header(fileobj) -> list[str] | None:
    """The first sheet's first non-blank row as text, reading at most HEADER_SAMPLE_BYTES of each part; None when
    that is not enough to tell. Raises FileRejected for a file that is plainly not a workbook; its sizes are left
    to the worker."""
    archive = _open_zip(fileobj)
    try:
        sheet, shared = _parts(archive)
        found: list[dict] = []

        def on_row(cells):
            found.append(cells)
            raise _Enough

        reader = _SheetReader(on_row)
        if not _feed(archive, sheet, reader.parser, budget=limits.HEADER_SAMPLE_BYTES) or not found:
            return None
        cells = found[0]
        wanted = {int(text) for kind, text in cells.values() if kind == "s" and text.strip().isdigit()}
        strings = _shared_strings(archive, shared, wanted) if wanted else {}
        if strings is None:
            return None
        width = max(cells) + 1
        return header_names([_header_text(cells.get(i), strings) for i in range(width)])
    finally:
        archive.close()


def _header_text(cell, strings: dict[int, str]) -> str:
    if cell is None:
        return ""
    kind, text = cell
    if kind == "s":
        return strings.get(int(text), "")
    if kind == "b":
        return "true" if text.strip() == "1" else "false"
    if kind == "n":
        try:
            number = float(text)
        except ValueError:
            return text.strip()
        return cell_text(int(number) if number.is_integer() else number)
    return text.strip()


def _shared_strings(archive: zipfile.ZipFile, part: str | None, wanted: set[int]) -> dict[int, str] | None:
    """The shared strings numbered in `wanted`, read from the start of the table within the sample budget."""
    if part is None:
        return {}
    parser = _parser()
    strings: dict[int, str] = {}
    state = {"index": -1, "text": None, "phonetic": 0}
    last = max(wanted)

    def start(name, _attrs):
        local = name.rpartition(" ")[2]
        if local == "si":
            state["index"] += 1
            state["text"] = []
        elif local == "rPh":  # the phonetic guide shown above East Asian text is not part of the value
            state["phonetic"] += 1

    def end(name):
        local = name.rpartition(" ")[2]
        if local == "rPh":
            state["phonetic"] -= 1
        elif local == "si":
            if state["index"] in wanted:
                strings[state["index"]] = "".join(state["text"])
            state["text"] = None
            if state["index"] >= last:
                raise _Enough

    def text(data):
        if state["text"] is not None and not state["phonetic"]:
            _append_capped(state["text"], data)

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    if not _feed(archive, part, parser, budget=limits.HEADER_SAMPLE_BYTES) or state["index"] < last:
        return None
    return strings
