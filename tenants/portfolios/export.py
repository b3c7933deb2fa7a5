"""A lender's accounts as a file: the list's filters and order, every matching account, streamed as CSV or XLSX.

Memory stays bounded whatever the count (a million accounts): the rows are read a page at a time by keyset in the
list's order (each page as cheap as the first) and written out as they come — CSV a batch of lines at a time, XLSX
through openpyxl's write-only mode, which spools rows to a temporary file and zips it at the end (that download
starts once the workbook is closed). Each page is read in the tenant's context: the tenant lock decides which
accounts are read, as for the list.

PII is masked by the exporter's role exactly as on the pages (tenants.pii.mask: a role not in FULL_VIEW gets the
masked form; nobody gets a full resident ID). Every export is an audit event with its filters, order and row count
(`record_export`), recorded before the first byte leaves.

CSV is UTF-8 with a BOM (Excel in a Chinese locale otherwise reads it as GBK), CRLF line ends, and cells Excel
would run as a formula quoted (tenants.spreadsheet.safe_cell).
"""
import codecs
import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select

from tenants import audit
from tenants.db import db
from tenants.money import Money
from tenants.pii import mask
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.accounts import AccountFilter, last_contacts, parse_sort, sorted_accounts
from tenants.portfolios.models import Account, AccountPhone, Portfolio
from tenants.spreadsheet import safe_cell
from tenants.tenancy.models import Tenant

FORMATS = ("csv", "xlsx")
# The file's columns, in order; the web layer names them in the reader's language.
COLUMNS = ("external_ref", "portfolio", "debtor_name", "id_number", "phone", "region", "currency", "outstanding",
           "principal", "interest", "fees", "penalty", "days_past_due", "due_date", "status", "agency",
           "last_contact")
FETCH = 1_000  # rows per round trip from the cursor
CSV_LINES_PER_CHUNK = 500
XLSX_CHUNK = 256 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024


def _columns(query, contacts):
    """The list's query (filters, lender fence) as the export's columns."""
    first_phone = (select(AccountPhone.phone).where(AccountPhone.account_id == Account.id)
                   .order_by(AccountPhone.position).limit(1).correlate(Account).scalar_subquery())
    open_placement = and_(Placement.account_id == Account.id, Placement.status.in_(PlacementStatus.OPEN))
    return (query.with_only_columns(
        Account.id, Account.external_ref, Portfolio.name.label("portfolio"), Account.debtor_name,
        Account.id_number, first_phone.label("phone"), Account.region, Account.currency, Account.outstanding_minor,
        Account.principal_minor, Account.interest_minor, Account.fees_minor, Account.penalty_minor,
        Account.days_past_due, Account.due_date, Account.status, Placement.agency_tenant_id,
        contacts.c.last_contact_at)
        .join(Portfolio, Portfolio.id == Account.portfolio_id)
        .outerjoin(Placement, open_placement)
        .outerjoin(contacts, contacts.c.account_id == Account.id))


SORT_VALUE = {"ref": "external_ref", "balance": "outstanding_minor", "dpd": "days_past_due", "status": "status",
              "last_contact": "last_contact_at"}


def rows(query, sort: str | None, *, role: str, time_zone: str, scope: Callable[[], AbstractContextManager],
         status_labels: dict | None = None) -> Iterator[list]:
    """The export's rows as values (amounts as Decimals in the currency's units, dates, local times), read FETCH
    at a time by keyset in the list's order. Each page is read inside a fresh `scope()` (the app and the tenant's
    context) closed before its rows are handed on: a streamed body may be resumed in another context."""
    zone, labels, agencies = ZoneInfo(time_zone), status_labels or {}, {}
    key, _descending = parse_sort(sort)
    after = None
    while True:
        with scope():
            contacts = last_contacts()
            page = db.session.execute(
                sorted_accounts(_columns(query, contacts), sort, contacts=contacts, after=after).limit(FETCH)).all()
            values = [_values(row, role, zone, labels, agencies) for row in page]
        if not page:
            return
        yield from values
        after = (getattr(page[-1], SORT_VALUE[key]), page[-1].id)


def _values(row, role: str, zone: ZoneInfo, labels: dict, agencies: dict) -> list:
    if row.agency_tenant_id and row.agency_tenant_id not in agencies:
        agencies[row.agency_tenant_id] = db.session.scalar(select(Tenant.name).where(Tenant.id == row.agency_tenant_id))
    amounts = [Money(getattr(row, f"{c}_minor"), row.currency).decimal()
               for c in ("outstanding", "principal", "interest", "fees", "penalty")]
    return [row.external_ref, row.portfolio, mask("name", row.debtor_name, role),
            mask("id_number", row.id_number, role), mask("phone", row.phone, role), row.region, row.currency,
            *amounts, row.days_past_due, row.due_date, str(labels.get(row.status, row.status)),
            agencies.get(row.agency_tenant_id), _local(row.last_contact_at, zone)]


def _local(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    # SQLite hands back naive UTC from an aggregate; PostgreSQL an aware time.
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo("UTC"))
    return at.astimezone(zone).replace(tzinfo=None, microsecond=0)


def count(query) -> int:
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def record_export(filters: AccountFilter, sort: str | None, file_format: str, row_count: int) -> None:
    audit.record("accounts.exported", object_type="accounts",
                 after={"filters": {k: (str(v) if v is not None else None) for k, v in asdict(filters).items()},
                        "sort": sort or None, "format": file_format, "rows": row_count})


# ---- the files -----------------------------------------------------------------------------------------------

def csv_chunks(values: Iterable[list], headers: list[str]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    pending = 1
    first = True
    for row in values:
        writer.writerow([safe_cell(_text(value)) for value in row])
        pending += 1
        if pending >= CSV_LINES_PER_CHUNK:
            yield (codecs.BOM_UTF8 if first else b"") + _drain(buffer)
            first, pending = False, 0
    yield (codecs.BOM_UTF8 if first else b"") + _drain(buffer)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data


def xlsx_chunks(values: Iterable[list], headers: list[str], sheet_title: str = "accounts") -> Iterator[bytes]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    sheet.append(headers)
    for row in values:
        cells = []
        for value in row:
            if isinstance(value, str):
                value = safe_cell(value)
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            cells.append(cell)
        sheet.append(cells)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        workbook.save(spool)
        spool.seek(0)
        while block := spool.read(XLSX_CHUNK):
            yield block
