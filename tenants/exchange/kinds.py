"""What each kind of file holds: its columns (stable machine names, the file's header row) and its rows.

Money is in integer minor units beside its ISO currency; times are UTC (ISO 8601, `Z`); days are tenant-local
(the period a file covers) or, for the contact summary, debtor-local (the day the debtor lived the contact in).
Statuses are the API's codes. Personal data appears only in the accounts file, masked by the export's role exactly
as the accounts list's export masks it (tenants.portfolios.export: name, resident ID, first phone); the other files
name an account by the lender's own external reference only.

Every query runs under the tenant lock of the export's tenant: a lender reads its own accounts and what the
agencies did on them; an agency reads its own work (its placements, attempts, promises, the payments of its
placements), and an account's reference only while it holds the account (the lock hides the account after a
recall or a closure: such rows keep the placement id, which the agency's systems know from the API and webhooks).
"""
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, true

from tenants.casework.money_models import Payment, Promise
from tenants.conduct.models import ContactAttempt
from tenants.db import db
from tenants.pii import mask
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.models import Account, AccountPhone, AccountStatus, AccountUpdate, Portfolio, UpdateKind
from tenants.spreadsheet import utc_iso
from tenants.tenancy.models import Tenant

FETCH = 1_000
# Kinds a tenant asks for by name; "changes" is a day's file for one counterparty.
KINDS = ("accounts", "contacts", "promises", "payments", "closures", "changes")
PERIODIC_KINDS = ("contacts", "promises", "payments", "closures", "changes")  # a period narrows them
WITH_PII = ("accounts",)


@dataclass(frozen=True)
class Scope:
    """Whose file it is and what it covers."""

    tenant_id: object
    tenant_kind: str  # lender | agency
    time_zone: str
    role: str
    period_start: date | None = None
    period_end: date | None = None
    counterparty_id: object = None

    @property
    def other(self) -> str:
        return "agency" if self.tenant_kind == "lender" else "lender"

    def bounds(self) -> tuple[datetime, datetime] | None:
        """The period as UTC instants [start, end): tenant-local midnights."""
        if self.period_start is None and self.period_end is None:
            return None
        zone = ZoneInfo(self.time_zone)
        start = datetime.combine(self.period_start or date(1970, 1, 1), time(0), zone)
        end = datetime.combine((self.period_end or date(9999, 12, 30)) + timedelta(days=1), time(0), zone)
        return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def columns(kind: str, tenant_kind: str) -> list[str]:
    other = "agency" if tenant_kind == "lender" else "lender"
    return {
        "accounts": ["external_ref", "portfolio", "debtor_name", "id_number", "phone", "region", "status", "currency",
                     "principal_minor", "interest_minor", "fees_minor", "penalty_minor", "outstanding_minor",
                     "original_minor", "days_past_due", "due_date", "last_payment_date", "last_payment_minor",
                     "placement_id", "placement_status", other, "placed_on", "updated_at"],
        "contacts": ["external_ref", "debtor_local_day", "debtor_time_zone", other, "channel", "outcome",
                     "attempts"],
        "promises": ["external_ref", "placement_id", other, "taken_on", "due_on", "amount_minor", "currency",
                     "paid_minor", "status", "created_at", "resolved_at"],
        "payments": ["external_ref", "placement_id", other, "received_on", "amount_minor", "currency", "method",
                     "reference", "status", "recorded_by", "recorded_at", "confirmed_at", "reversed_at"],
        "closures": ["external_ref", "placement_id", other, "status", "closed_on", "source", "outstanding_minor",
                     "currency"],
        "changes": ["change", "external_ref", "placement_id", "occurred_at", "channel", "outcome", "count",
                    "amount_minor", "currency", "status"],
    }[kind]


def rows(kind: str, scope: Scope) -> Iterator[list]:
    """The file's rows as cell values (text, integers, dates; ids as text)."""
    make = {"accounts": _accounts, "contacts": _contacts, "promises": _promises, "payments": _payments,
            "closures": _closures, "changes": _changes}[kind]
    for row in make(scope):
        yield [str(value) if isinstance(value, uuid.UUID) else value for value in row]


# ---- helpers -----------------------------------------------------------------------------------------------------

class _Names:
    """Tenant names, read once each (a lender sees its agencies, an agency its lenders)."""

    def __init__(self):
        self._names = {}

    def __call__(self, tenant_id) -> str | None:
        if tenant_id is None:
            return None
        if tenant_id not in self._names:
            self._names[tenant_id] = db.session.scalar(select(Tenant.name).where(Tenant.id == tenant_id))
        return self._names[tenant_id]


def _stream(statement):
    return db.session.execute(statement.execution_options(yield_per=FETCH))


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return utc_iso(at)


def _within(column, bounds):
    return true() if bounds is None else and_(column >= bounds[0], column < bounds[1])


def _counterparty(scope: Scope, lender_id, agency_id):
    return agency_id if scope.tenant_kind == "lender" else lender_id


# ---- accounts ----------------------------------------------------------------------------------------------------

def _accounts(scope: Scope) -> Iterator[list]:
    first_phone = (select(AccountPhone.phone).where(AccountPhone.account_id == Account.id)
                   .order_by(AccountPhone.position).limit(1).correlate(Account).scalar_subquery())
    open_placement = and_(Placement.account_id == Account.id, Placement.status.in_(PlacementStatus.OPEN))
    statement = (select(Account.external_ref, Portfolio.name.label("portfolio"), Account.debtor_name,
                        Account.id_number, first_phone.label("phone"), Account.region, Account.status,
                        Account.currency, Account.principal_minor, Account.interest_minor, Account.fees_minor,
                        Account.penalty_minor, Account.outstanding_minor, Account.original_minor,
                        Account.days_past_due, Account.due_date, Account.last_payment_date,
                        Account.last_payment_minor, Placement.id.label("placement_id"),
                        Placement.status.label("placement_status"), Placement.tenant_id.label("lender_id"),
                        Placement.agency_tenant_id, Placement.starts_on, Account.updated_at)
                 .outerjoin(Portfolio, Portfolio.id == Account.portfolio_id)  # an agency does not see portfolios
                 .outerjoin(Placement, open_placement)
                 .order_by(Account.external_ref, Account.id))
    names, role = _Names(), scope.role
    for row in _stream(statement):
        yield [row.external_ref, row.portfolio, mask("name", row.debtor_name, role),
               mask("id_number", row.id_number, role), mask("phone", row.phone, role), row.region, row.status,
               row.currency, row.principal_minor, row.interest_minor, row.fees_minor, row.penalty_minor,
               row.outstanding_minor, row.original_minor, row.days_past_due, row.due_date, row.last_payment_date,
               row.last_payment_minor, row.placement_id, row.placement_status,
               names(_counterparty(scope, row.lender_id, row.agency_tenant_id)), row.starts_on,
               _iso(row.updated_at)]


# ---- the contact summary: per account, debtor-local day, channel and outcome -----------------------------------

def debtor_zone(zones: list | None, fallback: str, at: datetime) -> str:
    """As tenants.casework.debtor_dates.debtor_zone: of the candidate zones, the one whose day ends last."""
    candidates = list(zones or ()) or [fallback]
    return min(candidates, key=lambda key: (at.astimezone(ZoneInfo(key)).utcoffset(), key))


def outcome_of(status: str, outcome_code: str | None) -> str:
    """A completed attempt's outcome; else its state (blocked, needs_approval, pending)."""
    return outcome_code or status


def _contacts(scope: Scope) -> Iterator[list]:
    lender_zone = func.coalesce(select(Tenant.time_zone).where(Tenant.id == Account.tenant_id)
                                .correlate(Account).scalar_subquery(), scope.time_zone)
    statement = (select(ContactAttempt.account_id, Account.external_ref, Account.time_zones,
                        lender_zone.label("lender_zone"), ContactAttempt.tenant_id.label("agency_id"),
                        ContactAttempt.lender_tenant_id, ContactAttempt.channel, ContactAttempt.status,
                        ContactAttempt.outcome_code, ContactAttempt.decided_at)
                 .join(Account, Account.id == ContactAttempt.account_id)
                 .where(_within(ContactAttempt.decided_at, scope.bounds()))
                 .order_by(ContactAttempt.account_id, ContactAttempt.decided_at, ContactAttempt.id))
    names = _Names()
    current, counts = None, {}

    def flush():
        ref, day, zone = current[1], current[2], current[3]
        for (other, channel, outcome), n in sorted(counts.items(), key=lambda item: tuple(map(str, item[0]))):
            yield [ref, day, zone, names(other), channel, outcome, n]

    for row in _stream(statement):
        decided = row.decided_at if row.decided_at.tzinfo else row.decided_at.replace(tzinfo=timezone.utc)
        zone = debtor_zone(row.time_zones, row.lender_zone, decided)
        key = (row.account_id, row.external_ref, decided.astimezone(ZoneInfo(zone)).date(), zone)
        if key[:3] != (current or (None, None, None))[:3]:
            if current is not None:
                yield from flush()
            current, counts = key, {}
        group = (_counterparty(scope, row.lender_tenant_id, row.agency_id), row.channel,
                 outcome_of(row.status, row.outcome_code))
        counts[group] = counts.get(group, 0) + 1
    if current is not None:
        yield from flush()


# ---- promises, payments, closures ------------------------------------------------------------------------------

def _promises(scope: Scope) -> Iterator[list]:
    statement = (select(Promise, Account.external_ref)
                 .outerjoin(Account, Account.id == Promise.account_id)
                 .where(_within(Promise.created_at, scope.bounds()))
                 .order_by(Promise.created_at, Promise.id))
    names = _Names()
    for promise, ref in _stream(statement):
        yield [ref, promise.placement_id, names(_counterparty(scope, promise.lender_tenant_id, promise.tenant_id)),
               promise.taken_on, promise.due_on, promise.amount_minor, promise.currency, promise.paid_minor,
               promise.status, _iso(promise.created_at), _iso(promise.resolved_at)]


def _payments(scope: Scope) -> Iterator[list]:
    bounds = scope.bounds()
    where = true()
    if bounds is not None:
        where = or_(and_(Payment.received_on >= (scope.period_start or date.min),
                         Payment.received_on <= (scope.period_end or date.max)),
                    _within(Payment.recorded_at, bounds), _within(Payment.confirmed_at, bounds),
                    _within(Payment.reversed_at, bounds))
    statement = (select(Payment, Account.external_ref)
                 .outerjoin(Account, Account.id == Payment.account_id)
                 .where(where).order_by(Payment.recorded_at, Payment.id))
    names = _Names()
    for payment, ref in _stream(statement):
        recorded_by = "lender" if payment.recorded_by_tenant_id == payment.tenant_id else "agency"
        yield [ref, payment.placement_id,
               names(_counterparty(scope, payment.tenant_id, payment.agency_tenant_id)), payment.received_on,
               payment.amount_minor, payment.currency, payment.method, payment.reference, payment.status,
               recorded_by, _iso(payment.recorded_at), _iso(payment.confirmed_at), _iso(payment.reversed_at)]


def _closures(scope: Scope) -> Iterator[list]:
    """Closed accounts: the lender's closure (its date), else the end of the placement the closure ended, else the
    last payment. An agency lists the placements a closure ended (the account itself is hidden from it then)."""
    zone = ZoneInfo(scope.time_zone)
    if scope.tenant_kind == "agency":
        yield from _agency_closures(scope, zone)
        return
    closure_day = (select(func.max(AccountUpdate.occurred_on))
                   .where(AccountUpdate.account_id == Account.id, AccountUpdate.kind == UpdateKind.CLOSURE)
                   .correlate(Account).scalar_subquery())
    def last_closed(column):
        return (select(column).where(Placement.account_id == Account.id, Placement.status == PlacementStatus.CLOSED)
                .order_by(Placement.ended_at.desc()).limit(1).correlate(Account).scalar_subquery())

    statement = (select(Account.external_ref, Account.status, Account.outstanding_minor, Account.currency,
                        Account.last_payment_date, Account.updated_at, closure_day.label("closure_day"),
                        last_closed(Placement.id).label("placement_id"),
                        last_closed(Placement.agency_tenant_id).label("agency_tenant_id"),
                        last_closed(Placement.ended_at).label("ended_at"))
                 .where(Account.status.in_(AccountStatus.CLOSED))
                 .order_by(Account.external_ref, Account.id))
    names = _Names()
    for row in _stream(statement):
        if row.closure_day is not None:
            closed_on, source = row.closure_day, "lender_closure"
        elif row.ended_at is not None:
            closed_on, source = _local_day(row.ended_at, zone), "payment"
        else:
            closed_on, source = row.last_payment_date or _local_day(row.updated_at, zone), "payment"
        if not _in_period(closed_on, scope):
            continue
        yield [row.external_ref, row.placement_id, names(row.agency_tenant_id), row.status, closed_on, source,
               row.outstanding_minor, row.currency]


def _agency_closures(scope: Scope, zone: ZoneInfo) -> Iterator[list]:
    statement = (select(Placement.id, Placement.tenant_id, Placement.ended_at, Placement.currency,
                        Account.external_ref, Account.status, Account.outstanding_minor)
                 .outerjoin(Account, Account.id == Placement.account_id)
                 .where(Placement.status == PlacementStatus.CLOSED, _within(Placement.ended_at, scope.bounds()))
                 .order_by(Placement.ended_at, Placement.id))
    names = _Names()
    for row in _stream(statement):
        yield [row.external_ref, row.id, names(row.tenant_id), row.status, _local_day(row.ended_at, zone),
               "placement_closed", row.outstanding_minor, row.currency]


def _local_day(at: datetime | None, zone: ZoneInfo) -> date | None:
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(zone).date()


def _in_period(day: date | None, scope: Scope) -> bool:
    if day is None:
        return scope.period_start is None and scope.period_end is None
    return (scope.period_start is None or day >= scope.period_start) and (
        scope.period_end is None or day <= scope.period_end)


# ---- what changed: one day's changes between one lender and one agency -----------------------------------------

def _changes(scope: Scope) -> Iterator[list]:
    """New placements, the contact summary, promises, payments, closures and recalls (and expiries) of the day,
    between the lender and the agency of the file (the exporting tenant and its counterparty)."""
    lender_id, agency_id = ((scope.tenant_id, scope.counterparty_id) if scope.tenant_kind == "lender"
                            else (scope.counterparty_id, scope.tenant_id))
    bounds = scope.bounds()
    between = and_(Placement.tenant_id == lender_id, Placement.agency_tenant_id == agency_id)
    ref = Account.external_ref

    placements = (select(Placement.offered_at, Placement.id, ref, Placement.status, Placement.currency,
                         Placement.balance_at_placement_minor)
                  .outerjoin(Account, Account.id == Placement.account_id)
                  .where(between, _within(Placement.offered_at, bounds)).order_by(Placement.offered_at, Placement.id))
    for row in _stream(placements):
        yield ["placement", row.external_ref, row.id, _iso(row.offered_at), None, None, None,
               row.balance_at_placement_minor, row.currency, row.status]

    contacts = (select(ref, ContactAttempt.placement_id, ContactAttempt.channel, ContactAttempt.status,
                       ContactAttempt.outcome_code, func.count().label("n"),
                       func.max(ContactAttempt.decided_at).label("last_at"))
                .outerjoin(Account, Account.id == ContactAttempt.account_id)
                .where(ContactAttempt.tenant_id == agency_id, ContactAttempt.lender_tenant_id == lender_id,
                       _within(ContactAttempt.decided_at, bounds))
                .group_by(ref, ContactAttempt.account_id, ContactAttempt.placement_id, ContactAttempt.channel,
                          ContactAttempt.status, ContactAttempt.outcome_code)
                .order_by(ContactAttempt.account_id, ContactAttempt.channel, ContactAttempt.status,
                          ContactAttempt.outcome_code))
    for row in _stream(contacts):
        yield ["contacts", row.external_ref, row.placement_id, _iso(row.last_at), row.channel,
               outcome_of(row.status, row.outcome_code), row.n, None, None, None]

    promise_rows = (select(Promise, ref).outerjoin(Account, Account.id == Promise.account_id)
                    .where(Promise.tenant_id == agency_id, Promise.lender_tenant_id == lender_id,
                           or_(_within(Promise.created_at, bounds), _within(Promise.resolved_at, bounds)))
                    .order_by(Promise.created_at, Promise.id))
    for promise, external_ref in _stream(promise_rows):
        for change, at in (("promise_made", promise.created_at), ("promise_resolved", promise.resolved_at)):
            if at is not None and _inside(at, bounds):
                yield [change, external_ref, promise.placement_id, _iso(at), None, None, None,
                       promise.amount_minor, promise.currency, promise.status]

    payment_rows = (select(Payment, ref).outerjoin(Account, Account.id == Payment.account_id)
                    .where(Payment.tenant_id == lender_id, Payment.agency_tenant_id == agency_id,
                           or_(_within(Payment.recorded_at, bounds), _within(Payment.confirmed_at, bounds),
                               _within(Payment.reversed_at, bounds)))
                    .order_by(Payment.recorded_at, Payment.id))
    for payment, external_ref in _stream(payment_rows):
        for change, at in (("payment_recorded", payment.recorded_at), ("payment_confirmed", payment.confirmed_at),
                           ("payment_reversed", payment.reversed_at)):
            if at is not None and _inside(at, bounds):
                yield [change, external_ref, payment.placement_id, _iso(at), None, None, None,
                       payment.amount_minor, payment.currency, payment.status]

    ended = (select(Placement.ended_at, Placement.id, ref, Placement.status, Placement.currency,
                    Account.outstanding_minor)
             .outerjoin(Account, Account.id == Placement.account_id)
             .where(between, Placement.status.in_((PlacementStatus.CLOSED, PlacementStatus.RECALLED,
                                                   PlacementStatus.EXPIRED)),
                    _within(Placement.ended_at, bounds))
             .order_by(Placement.ended_at, Placement.id))
    label = {PlacementStatus.CLOSED: "closure", PlacementStatus.RECALLED: "recall",
             PlacementStatus.EXPIRED: "expiry"}
    for row in _stream(ended):
        yield [label[row.status], row.external_ref, row.id, _iso(row.ended_at), None, None, None,
               row.outstanding_minor, row.currency, row.status]


def _inside(at: datetime, bounds) -> bool:
    if bounds is None:
        return True
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return bounds[0] <= at < bounds[1]


def counterparties(scope: Scope, day_start: datetime) -> list:
    """The tenants a "what changed" file is made for: for a lender, each agency handling its accounts (an open
    placement, or one that ended since `day_start`); for an agency, each lender that placed such cases with it."""
    recent = or_(Placement.status.in_(PlacementStatus.OPEN), Placement.ended_at >= day_start)
    column = Placement.agency_tenant_id if scope.tenant_kind == "lender" else Placement.tenant_id
    mine = (Placement.tenant_id if scope.tenant_kind == "lender" else Placement.agency_tenant_id) == scope.tenant_id
    return list(db.session.scalars(select(column).where(mine, recent).distinct().order_by(column)))
