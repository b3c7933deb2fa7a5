"""Read models of billing: what a lender or agency sees of its own plan, usage and invoices (call in its context),
the billed cases as a CSV that reconciles with each invoice line by line, and every tenant's billing for platform
admins (which opens its own platform context).

Reads never write: a tenant without a plan is shown the default terms it would be billed on, and its plan row is
written only when billing first needs it (tenants.billing.plans).
"""
import csv
import io
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import case, func, select

from tenants import clock
from tenants.billing.models import BillingInvoice, BillingPlan, InvoiceStatus, Standing, UsageRecord
from tenants.billing.periods import Period, local_day, period_containing
from tenants.billing.plans import default_plan
from tenants.context import platform_scope
from tenants.db import db
from tenants.money import Money
from tenants.spreadsheet import decimal_text, safe_cell, utc_iso
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

CSV_COLUMNS = ("seq", "period", "accepted_at", "account_ref", "lender", "agency", "placement_id", "unit_price",
               "free", "amount", "currency", "billed_at", "stripe_invoice_item_id", "stripe_invoice_id",
               "invoice_status")
CSV_TOTAL_COLUMNS = ("total", "currency", "cases", "free_cases", "amount")


@dataclass(frozen=True)
class PeriodUsage:
    """The cases of one period not yet on an invoice."""

    period: Period
    cases: int = 0
    free_cases: int = 0
    amounts: tuple[Money, ...] = ()  # one per currency
    unbilled: int = 0  # recorded, waiting for the billing job
    pushed: int = 0  # sent to Stripe as invoice items (free cases: marked billed with nothing to send)


@dataclass(frozen=True)
class Delinquency:
    since: datetime | None
    stops_new_cases: bool


@dataclass(frozen=True)
class Overview:
    plan: BillingPlan  # the tenant's, or its default terms when it has none yet (not saved)
    unit_price: Money
    current: PeriodUsage
    awaiting_invoice: list[PeriodUsage]  # ended periods the billing job has not invoiced yet
    invoices: list[BillingInvoice]  # newest first
    overdue: list[BillingInvoice]  # payment failed: what makes the payer delinquent

    @property
    def delinquent(self) -> bool:
        return self.plan.standing == Standing.DELINQUENT


@dataclass(frozen=True)
class TenantBilling:
    """One tenant's line in the platform console."""

    tenant_id: uuid.UUID
    name: str
    kind: str
    plan: BillingPlan
    unit_price: Money
    current: PeriodUsage
    awaiting_invoice_cases: int
    unpaid_invoices: int
    unpaid_amounts: tuple[Money, ...]
    stripe_mismatches: int  # invoices whose Stripe total differs from our usage (items added outside Recoverly)


@dataclass(frozen=True)
class CaseRow:
    record: UsageRecord
    lender_name: str
    agency_name: str
    invoice: BillingInvoice | None


@dataclass
class _Tally:
    cases: int = 0
    free_cases: int = 0
    pushed: int = 0
    minor: dict = field(default_factory=lambda: defaultdict(int))

    def usage(self, period: Period) -> PeriodUsage:
        return PeriodUsage(period=period, cases=self.cases, free_cases=self.free_cases,
                           amounts=tuple(Money(m, c) for c, m in sorted(self.minor.items())),
                           unbilled=self.cases - self.pushed, pushed=self.pushed)


def plan_or_default(tenant: Tenant) -> BillingPlan:
    found = db.session.scalar(select(BillingPlan).where(BillingPlan.tenant_id == tenant.id))
    return found if found is not None else _unsaved_default(tenant)


def _unsaved_default(tenant: Tenant) -> BillingPlan:
    plan = default_plan(tenant)
    plan.standing = Standing.GOOD  # a column default, which an unsaved row does not have yet
    return plan


def current_period(tenant: Tenant, plan: BillingPlan) -> Period:
    return period_containing(local_day(clock.now(), tenant.time_zone), plan.billing_day)


def _uninvoiced(tenant_ids) -> dict[uuid.UUID, dict[Period, _Tally]]:
    """Usage not yet on an invoice, per tenant and period: one grouped query on the unbilled index."""
    rows = db.session.execute(
        select(UsageRecord.tenant_id, UsageRecord.period_start, UsageRecord.period_end, UsageRecord.currency,
               func.count(UsageRecord.id), func.sum(case((UsageRecord.free, 1), else_=0)),
               func.count(UsageRecord.billed_at), func.sum(UsageRecord.amount_minor))
        .where(UsageRecord.tenant_id.in_(list(tenant_ids)), UsageRecord.invoice_id.is_(None))
        .group_by(UsageRecord.tenant_id, UsageRecord.period_start, UsageRecord.period_end, UsageRecord.currency))
    found = defaultdict(lambda: defaultdict(_Tally))
    for tenant_id, start, end, currency, cases, free, pushed, minor in rows:
        tally = found[tenant_id][Period(start, end)]
        tally.cases += cases
        tally.free_cases += int(free or 0)
        tally.pushed += pushed
        tally.minor[currency] += int(minor or 0)
    return found


def _split(tallies: dict[Period, _Tally], current: Period) -> tuple[PeriodUsage, list[PeriodUsage]]:
    now = tallies.get(current, _Tally()).usage(current)
    others = [tally.usage(period) for period, tally in sorted(tallies.items(), key=lambda item: item[0].start)
              if period != current]
    return now, others


def invoice_query(tenant: Tenant):
    return select(BillingInvoice).where(BillingInvoice.tenant_id == tenant.id)


def overview(tenant: Tenant) -> Overview:
    """The tenant's terms, standing, usage of the current period and its invoices."""
    plan = plan_or_default(tenant)
    current, awaiting = _split(_uninvoiced([tenant.id]).get(tenant.id, {}), current_period(tenant, plan))
    invoices = list(db.session.scalars(invoice_query(tenant).order_by(BillingInvoice.period_start.desc())))
    return Overview(plan=plan, unit_price=Money(plan.unit_price_minor, plan.currency), current=current,
                    awaiting_invoice=awaiting, invoices=invoices,
                    overdue=[i for i in invoices if i.status == InvoiceStatus.PAYMENT_FAILED])


def delinquency(tenant_id: uuid.UUID) -> Delinquency | None:
    """For the banner on every page, so a single read on the plan's unique tenant index."""
    row = db.session.execute(select(BillingPlan.standing, BillingPlan.delinquent_since,
                                    BillingPlan.stop_when_delinquent)
                             .where(BillingPlan.tenant_id == tenant_id)).first()
    if row is None or row.standing != Standing.DELINQUENT:
        return None
    return Delinquency(since=row.delinquent_since, stops_new_cases=row.stop_when_delinquent)


# ---- the billed cases, one CSV row each --------------------------------------------------------------------------

def case_rows(tenant: Tenant, period_start: date | None = None) -> list[CaseRow]:
    """Every case billed to the tenant (or those of one period), in acceptance order, with its invoice."""
    query = (select(UsageRecord, BillingInvoice)
             .outerjoin(BillingInvoice, BillingInvoice.id == UsageRecord.invoice_id)
             .where(UsageRecord.tenant_id == tenant.id).order_by(UsageRecord.seq))
    if period_start is not None:
        query = query.where(UsageRecord.period_start == period_start)
    rows = db.session.execute(query).all()
    names = _tenant_names({tid for record, _ in rows for tid in (record.lender_tenant_id, record.agency_tenant_id)})
    return [CaseRow(record=record, lender_name=names.get(record.lender_tenant_id, ""),
                    agency_name=names.get(record.agency_tenant_id, ""), invoice=invoice) for record, invoice in rows]


def _tenant_names(tenant_ids) -> dict[uuid.UUID, str]:
    if not tenant_ids:
        return {}
    return dict(db.session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(list(tenant_ids)))).all())


def csv_text(rows: list[CaseRow]) -> str:
    """One line per case, then a total per currency: the amounts of one period add up to its invoice."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    totals = defaultdict(_Tally)
    for row in rows:
        r, invoice = row.record, row.invoice
        writer.writerow([r.seq, r.period_start.isoformat(), utc_iso(r.accepted_at), safe_cell(r.account_ref),
                         safe_cell(row.lender_name), safe_cell(row.agency_name), r.placement_id,
                         decimal_text(Money(r.unit_price_minor, r.currency)), "yes" if r.free else "no",
                         decimal_text(Money(r.amount_minor, r.currency)), r.currency,
                         utc_iso(r.billed_at) if r.billed_at else "", r.stripe_invoice_item_id or "",
                         (invoice.stripe_invoice_id or "") if invoice else "", invoice.status if invoice else ""])
        total = totals[r.currency]
        total.cases += 1
        total.free_cases += r.free
        total.minor[r.currency] += r.amount_minor
    writer.writerow([])
    writer.writerow(CSV_TOTAL_COLUMNS)
    for currency, total in sorted(totals.items()):
        writer.writerow(["total", currency, total.cases, total.free_cases,
                         decimal_text(Money(total.minor[currency], currency))])
    return buffer.getvalue()


# ---- platform admins ---------------------------------------------------------------------------------------------

def all_tenants() -> list[TenantBilling]:
    """Every lender's and agency's plan, standing, current period and unpaid invoices, in a few grouped queries."""
    with platform_scope("billing console: every tenant's billing"):
        tenants = list(db.session.scalars(select(Tenant).where(Tenant.kind != TenantKind.PLATFORM)
                                          .order_by(Tenant.kind, Tenant.name)))
        plans = {p.tenant_id: p for p in db.session.scalars(select(BillingPlan))}
        usage = _uninvoiced(t.id for t in tenants)
        unpaid = defaultdict(lambda: [0, defaultdict(int)])
        for tenant_id, currency, count, minor in db.session.execute(
                select(BillingInvoice.tenant_id, BillingInvoice.currency, func.count(BillingInvoice.id),
                       func.sum(BillingInvoice.amount_minor))
                .where(BillingInvoice.status.in_(InvoiceStatus.UNPAID))
                .group_by(BillingInvoice.tenant_id, BillingInvoice.currency)):
            unpaid[tenant_id][0] += count
            unpaid[tenant_id][1][currency] += int(minor or 0)
        mismatches = dict(db.session.execute(
            select(BillingInvoice.tenant_id, func.count(BillingInvoice.id))
            .where(BillingInvoice.stripe_amount_minor.is_not(None),
                   BillingInvoice.stripe_amount_minor != BillingInvoice.amount_minor)
            .group_by(BillingInvoice.tenant_id)).all())
    found = []
    for tenant in tenants:
        plan = plans.get(tenant.id) or _unsaved_default(tenant)
        current, awaiting = _split(usage.get(tenant.id, {}), current_period(tenant, plan))
        count, minor = unpaid.get(tenant.id, (0, {}))
        found.append(TenantBilling(
            tenant_id=tenant.id, name=tenant.name, kind=tenant.kind, plan=plan,
            unit_price=Money(plan.unit_price_minor, plan.currency), current=current,
            awaiting_invoice_cases=sum(p.cases for p in awaiting), unpaid_invoices=count,
            unpaid_amounts=tuple(Money(m, c) for c, m in sorted(minor.items())),
            stripe_mismatches=mismatches.get(tenant.id, 0)))
    return found


def tenant_plan(tenant: Tenant) -> BillingPlan:
    """A tenant's plan (or the default terms it would be billed on), read by a platform admin."""
    with platform_scope("billing console: one tenant's plan"):
        return plan_or_default(tenant)


def tenant_overview(tenant: Tenant) -> Overview:
    """One tenant's billing as its own page shows it, read by a platform admin."""
    with platform_scope("billing console: one tenant's billing"):
        return overview(tenant)
