"""Hostile workbooks, written part by part with zipfile (openpyxl could never be made to write them), for the
upload tests and bench/upload_bomb.py:

- `shared_strings_bomb`: ~300 KB whose shared-string table inflates to ~300 MB (one repeated string, deflated).
- `two_million_rows`: ~800 KB whose first sheet holds 2,000,000 tiny rows, streamed into the zip.

Both have an ordinary header (external_ref, debtor_name, principal, days_past_due), so the upload request can read
it; everything wrong with them is further in, where only the worker looks.
"""
import zipfile
from pathlib import Path

HEADER = ("external_ref", "debtor_name", "principal", "days_past_due")
MIB = 1024 * 1024

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>')
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Accounts" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
SHEET_START = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
SHEET_END = "</sheetData></worksheet>"
HEADER_ROW = '<row r="1">' + "".join(f'<c r="{col}1" t="s"><v>{i}</v></c>' for i, col in enumerate("ABCD")) + "</row>"


def _package(archive: zipfile.ZipFile) -> None:
    for name, text in (("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", ROOT_RELS),
                       ("xl/workbook.xml", WORKBOOK), ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)):
        archive.writestr(name, text)


def _shared_strings(extra: str = "", count: int = 0) -> str:
    header = "".join(f"<si><t>{name}</t></si>" for name in HEADER)
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/'
            f'spreadsheetml/2006/main" count="{len(HEADER) + count}" uniqueCount="{len(HEADER) + count}">'
            f"{header}{extra}")


def shared_strings_bomb(path: Path, inflated_mb: int = 300) -> Path:
    """One data row whose name is shared string 4: a single string of `inflated_mb` MB of "A" (deflate's best case,
    about 1,000 to 1)."""
    block = b"A" * MIB
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        _package(archive)
        archive.writestr("xl/worksheets/sheet1.xml", SHEET_START + HEADER_ROW +
                         '<row r="2"><c r="A2" t="inlineStr"><is><t>B-1</t></is></c><c r="B2" t="s"><v>4</v></c>'
                         '<c r="C2"><v>100</v></c><c r="D2"><v>40</v></c></row>' + SHEET_END)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write((_shared_strings(count=1) + "<si><t>").encode())
            for _ in range(inflated_mb):
                part.write(block)
            part.write(b"</t></si></sst>")
    return path


def two_million_rows(path: Path, rows: int = 2_000_000) -> Path:
    """`rows` data rows of four tiny cells, streamed into the sheet part 10,000 rows at a time."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        _package(archive)
        archive.writestr("xl/sharedStrings.xml", _shared_strings() + "</sst>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write((SHEET_START + HEADER_ROW).encode())
            for start in range(2, rows + 2, 10_000):
                part.write("".join(f'<row><c t="s"><v>0</v></c><c t="s"><v>1</v></c><c><v>{n % 60}</v></c>'
                                   f'<c><v>{n % 3}</v></c></row>'
                                   for n in range(start, min(start + 10_000, rows + 2))).encode())
            part.write(SHEET_END.encode())
    return path
