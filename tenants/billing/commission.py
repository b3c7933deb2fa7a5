"""Monthly commission statements between a lender and one of its agencies.

A statement for (lender, agency, month) has one line per event on a payment credited to the agency under one of
its placements:
- a payment line (`+`) for each payment confirmed in the month;
- a reversal line (`−`) for each payment reversed in the month after having been confirmed, whatever month it was
  confirmed in. A reversal after a statement was issued is thereby carried into the next statement, and a payment
  confirmed and reversed in one month shows both lines and nets to zero. A payment reversed while still pending
  (rejected) was never commissioned: it has no line.

Rate: `placement.commission_bps_for(placement.dpd_at_placement)`, the commission tier matching the account's days
past due when it was placed (the terms were agreed on the account as placed, not as it ages), else the
placement's flat rate. Commission per line = amount × bps / 10 000, rounded half-up to the minor unit
(`Money.times_bps`, exact decimals); a reversal line is exactly the negative of its payment line's commission, so
the two always cancel.

Months are calendar months in the lender's time zone (`Tenant.time_zone`): the lender's books close the month,
and both sides must cut it at the same instant. Timestamps are stored in UTC; a line shows its day in that zone
(`Line.on`), so every line of a month's statement falls in that month for both readers. Totals are per currency
(payment lines, reversal lines, amount collected net of reversals, commission), never added across currencies.

The lender and the agency read the same statement through the same functions, each in its own tenant context:
the lender reads the payments on its accounts, the agency the payments credited to it (`Payment.agency_tenant_id`)
and their placements, both of which it keeps reading after a recall (the `visible_to` of Payment and Placement and
their row-level security policies, migrations 0002 and 0008). The account's `external_ref` is read only while the
tenant still sees the account: after a recall the agency's lines have no reference, every number is the same.

A counterpart the current tenant has no panel relationship with (in any status), or any id that is not one, is
`NotFound`: never an empty statement that would confirm such a tenant exists.

CSV (`csv_text`): a header and one row per line — date (in the lender's zone), account_external_ref, kind
(payment/reversal), currency, amount (decimal string, e.g. 1234.50), bps, commission, placed_on, then for
reconciliation with the API at_utc (ISO 8601), payment_id and placement_id — then an empty row, a header and one
total row per currency: total, currency, payments, reversals, collected, commission.
"""
import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import lazyload

from tenants.casework.money_models import Payment
from tenants.compliance.sql import utc_day
from tenants.context import current_tenant_id
from tenants.db import db
from tenants.errors import NotFound, ValidationFailed
from tenants.money import Money
from tenants.placements.models import AgencyRelationship, Placement
from tenants.portfolios.models import Account
from tenants.spreadsheet import decimal_text, safe_cell, utc_iso
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

PAYMENT = "payment"
REVERSAL = "reversal"
_MONTH = re.compile(r"(\d{4})-(\d{2})")
# No UTC offset is wider than 14 hours: a UTC day either side of a month holds every instant of it in any zone.
_ANY_ZONE = timedelta(days=1)


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Month":
        found = _MONTH.fullmatch((text or "").strip())
        if found is None or not 1 <= int(found[2]) <= 12 or not 1 <= int(found[1]) < 9999:
            raise ValidationFailed("A month is written YYYY-MM, e.g. 2026-11.", code="commission.bad_month",
                                   details={"fields": {"month": ["YYYY-MM, e.g. 2026-11."]}})
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of(cls, instant: datetime, zone: ZoneInfo) -> "Month":
        local = instant.astimezone(zone)
        return cls(local.year, local.month)

    def following(self) -> "Month":
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The month in `zone` as a half-open range of UTC instants [start, end)."""
        def start(month: Month) -> datetime:
            return datetime(month.year, month.month, 1, tzinfo=zone).astimezone(timezone.utc)

        return start(self), start(self.following())

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Line:
    payment_id: uuid.UUID
    account_id: uuid.UUID
    external_ref: str | None  # None: the account is no longer the reader's to see (an agency after a recall)
    placement_id: uuid.UUID
    kind: str  # PAYMENT or REVERSAL
    at: datetime  # confirmed at (payment) or reversed at (reversal), UTC
    on: date  # the day of `at` in the lender's time zone: what a statement shows
    placed_on: date  # when the placement the commission is earned under began
    amount: Money  # negative on a reversal line
    bps: int
    commission: Money  # negative on a reversal line


@dataclass(frozen=True)
class Total:
    currency: str
    payments: int  # payment lines
    reversals: int  # reversal lines
    collected: Money  # net of reversals
    commission: Money


@dataclass(frozen=True)
class Statement:
    lender_id: uuid.UUID
    lender_name: str
    agency_id: uuid.UUID
    agency_name: str
    counterparty_id: uuid.UUID  # the other side, seen from the reader
    counterparty_name: str
    month: Month
    zone: str  # the lender's, which cuts the month
    lines: tuple[Line, ...]
    totals: tuple[Total, ...]


@dataclass(frozen=True)
class Available:
    """A month with at least one line between the reader and one counterpart."""

    month: Month
    counterparty_id: uuid.UUID
    counterparty_name: str
    lender_id: uuid.UUID
    agency_id: uuid.UUID


# ---- reading ---------------------------------------------------------------------------------------------------

def _reader() -> Tenant:
    tenant = db.session.get(Tenant, current_tenant_id())
    if tenant is None or tenant.kind not in (TenantKind.LENDER, TenantKind.AGENCY):
        raise NotFound(code="commission.not_found")
    return tenant


def _credited():
    """Payments credited to an agency under one of its own placements (the rate comes from that placement)."""
    return (select().select_from(Payment)
            .join(Placement, and_(Placement.id == Payment.placement_id,
                                  Placement.agency_tenant_id == Payment.agency_tenant_id)))


def _events():
    """(kind, instant column, condition): a payment line when confirmed, a reversal line when a confirmed payment
    is reversed. A rejected payment (reversed while pending) has no `confirmed_at`, hence no line."""
    return ((PAYMENT, Payment.confirmed_at, Payment.confirmed_at.is_not(None)),
            (REVERSAL, Payment.reversed_at, and_(Payment.confirmed_at.is_not(None),
                                                 Payment.reversed_at.is_not(None))))


def statement(counterparty_id: uuid.UUID, month: Month) -> Statement:
    """The statement between the current tenant (lender or agency) and `counterparty_id` for `month`."""
    reader = _reader()
    if reader.kind == TenantKind.LENDER:
        lender_id, agency_id = reader.id, counterparty_id
    else:
        lender_id, agency_id = counterparty_id, reader.id
    related = db.session.scalar(select(AgencyRelationship.id).where(
        AgencyRelationship.tenant_id == lender_id, AgencyRelationship.agency_tenant_id == agency_id))
    if related is None:
        raise NotFound(code="commission.not_found")
    lender, agency = db.session.get(Tenant, lender_id), db.session.get(Tenant, agency_id)
    start, end = month.bounds(ZoneInfo(lender.time_zone))
    rows = []
    for kind, at, condition in _events():
        found = db.session.execute(
            _credited().add_columns(Payment.id, Payment.account_id, Payment.amount_minor, Payment.currency, at,
                                    Placement)
            .where(Payment.tenant_id == lender_id, Payment.agency_tenant_id == agency_id, condition,
                   at >= start, at < end)
            .options(lazyload(Placement.agency)))
        rows += [(kind, *row) for row in found]
    refs = _external_refs({row[2] for row in rows})
    zone = ZoneInfo(lender.time_zone)
    lines = sorted((_line(kind, payment_id, account_id, refs.get(account_id), Money(amount_minor, currency), when,
                          placement, zone)
                    for kind, payment_id, account_id, amount_minor, currency, when, placement in rows),
                   key=lambda line: (line.at, line.kind != PAYMENT, str(line.payment_id)))
    counterparty = agency if reader.kind == TenantKind.LENDER else lender
    return Statement(lender_id=lender.id, lender_name=lender.name, agency_id=agency.id, agency_name=agency.name,
                     counterparty_id=counterparty.id, counterparty_name=counterparty.name, month=month,
                     zone=lender.time_zone, lines=tuple(lines), totals=_totals(lines))


def _external_refs(account_ids: set) -> dict:
    if not account_ids:
        return {}
    return dict(db.session.execute(select(Account.id, Account.external_ref).where(Account.id.in_(account_ids))).all())


def _line(kind: str, payment_id, account_id, external_ref, amount: Money, at: datetime,
          placement: Placement, zone: ZoneInfo) -> Line:
    bps = placement.commission_bps_for(placement.dpd_at_placement)
    commission = amount.times_bps(bps)
    if kind == REVERSAL:  # negated after rounding: the reversal cancels exactly what the payment earned
        amount, commission = -amount, -commission
    return Line(payment_id=payment_id, account_id=account_id, external_ref=external_ref,
                placement_id=placement.id, kind=kind, at=at, on=_aware(at).astimezone(zone).date(),
                placed_on=placement.starts_on, amount=amount, bps=bps, commission=commission)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC


def _totals(lines: list[Line]) -> tuple[Total, ...]:
    totals = []
    for currency in sorted({line.amount.currency for line in lines}):
        own = [line for line in lines if line.amount.currency == currency]
        totals.append(Total(
            currency=currency, payments=sum(line.kind == PAYMENT for line in own),
            reversals=sum(line.kind == REVERSAL for line in own),
            collected=sum((line.amount for line in own), Money.zero(currency)),
            commission=sum((line.commission for line in own), Money.zero(currency))))
    return tuple(totals)


def statements(month: Month | None = None) -> list[Available]:
    """The statements the current tenant has: every month (or only `month`) × counterpart with at least one line,
    newest month first, then by counterpart name."""
    reader = _reader()
    if reader.kind == TenantKind.LENDER:
        mine, theirs = Payment.tenant_id == reader.id, Payment.agency_tenant_id
    else:
        mine, theirs = Payment.agency_tenant_id == reader.id, Payment.tenant_id
    pairs: dict[uuid.UUID, set[datetime]] = {}
    for _kind, at, condition in _events():
        where = [mine, condition]
        if month is not None:
            where += [at >= datetime.combine(month.first_day(), datetime.min.time(), timezone.utc) - _ANY_ZONE,
                      at < datetime.combine(month.following().first_day(), datetime.min.time(), timezone.utc)
                      + _ANY_ZONE]
        # Per counterpart and UTC day, the first and last instant: a UTC day meets at most two months of any
        # zone, each holding one of the two, so months are found exactly without reading every payment.
        for counterparty_id, first, last in db.session.execute(
                _credited().add_columns(theirs, func.min(at), func.max(at)).where(*where)
                .group_by(theirs, utc_day(at))):
            pairs.setdefault(counterparty_id, set()).update((first, last))
    tenants = {t.id: t for t in db.session.scalars(select(Tenant).where(Tenant.id.in_(pairs)))} if pairs else {}
    found = []
    for counterparty_id, instants in pairs.items():
        counterparty = tenants[counterparty_id]
        lender, agency = (reader, counterparty) if reader.kind == TenantKind.LENDER else (counterparty, reader)
        zone = ZoneInfo(lender.time_zone)
        for each in {Month.of(instant, zone) for instant in instants}:
            if month is None or each == month:
                found.append(Available(month=each, counterparty_id=counterparty.id,
                                       counterparty_name=counterparty.name, lender_id=lender.id,
                                       agency_id=agency.id))
    return sorted(found, key=lambda a: (-a.month.year, -a.month.month, a.counterparty_name, str(a.counterparty_id)))


# ---- CSV -------------------------------------------------------------------------------------------------------

LINE_COLUMNS = ("date", "account_external_ref", "kind", "currency", "amount", "bps", "commission", "placed_on",
                "at_utc", "payment_id", "placement_id")
TOTAL_COLUMNS = ("total", "currency", "payments", "reversals", "collected", "commission")


def csv_text(found: Statement) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(LINE_COLUMNS)
    for line in found.lines:
        writer.writerow([line.on.isoformat(), safe_cell(line.external_ref), line.kind, line.amount.currency,
                         decimal_text(line.amount), line.bps, decimal_text(line.commission),
                         line.placed_on.isoformat(), utc_iso(line.at), line.payment_id, line.placement_id])
    writer.writerow([])
    writer.writerow(TOTAL_COLUMNS)
    for total in found.totals:
        writer.writerow(["total", total.currency, total.payments, total.reversals, decimal_text(total.collected),
                         decimal_text(total.commission)])
    return buffer.getvalue()
