"""The downloadable error file of an import: the rejected rows as uploaded, with what is wrong in each.

API
---
``error_csv(rows, headers, describe=None) -> Iterator[bytes]``
    ``rows`` yields ``(line_number, raw_row, [CellError, ...])``; ``headers`` are the file's headers in order;
    ``describe(error) -> str`` words an error for the person downloading the file (the web layer renders it in
    their language from its code and params); without it, the stored English message.
    Produces UTF-8 CSV with a BOM (so Excel shows Chinese correctly), CRLF line endings, one ``bytes`` per row
    (the first also carries the BOM and the header line). Columns: ``line``, the original headers, ``errors``
    (``"column: code — message"`` joined with ``"; "``; a row-level error has no ``column:`` prefix: the code stays
    the machine's, whatever the language of the message). Should the
    lender's file already have a ``line`` or ``errors`` column, ours are called ``import line``/``import errors``.
    Surplus cells (``row.extra_values``) are not written as cells; the error message quotes them.

The lender fixes the rows in this file and uploads it again: the extra ``line`` and ``errors`` columns are not
mapped by ``suggest_mapping``, so they are ignored. Cells that Excel would run as a formula (starting with
``=``, ``@``, a tab or CR, or ``+``/``-`` followed by something other than a number) are prefixed with ``'``
(CSV injection); phone numbers like ``+86 138…`` and amounts like ``-5`` are left alone.
"""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator

from tenants.portfolios.rows import CellError
from tenants.spreadsheet import safe_cell


def _own_name(name: str, headers: list[str]) -> str:
    """``line``/``errors``, or ``import line``/``import errors`` if the lender's file already has such a column."""
    taken = set(headers)
    while name in taken:
        name = f"import {name}"
    return name


def _english(error: CellError) -> str:
    return error.message


def error_csv(rows: Iterable[tuple[int, dict, list[CellError]]], headers: list[str],
              describe: Callable[[CellError], str] | None = None) -> Iterator[bytes]:
    describe = describe or _english

    def cell(error: CellError) -> str:
        prefix = f"{error.column}: " if error.column else ""
        return f"{prefix}{error.code} — {describe(error)}"

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> bytes:
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.writerow([_own_name("line", headers), *(safe_cell(h) for h in headers), _own_name("errors", headers)])
    yield codecs.BOM_UTF8 + flush()
    for line, raw, errors in rows:
        writer.writerow([line, *(safe_cell(raw.get(header, "")) for header in headers),
                         "; ".join(cell(e) for e in errors)])
        yield flush()
