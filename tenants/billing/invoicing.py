"""Billing a payer at Stripe: its customer, invoice items for unbilled usage, an invoice per closed period.

Exactly once, through crashes and duplicate jobs:
- Every step runs in one transaction holding the payer's plan row FOR UPDATE across its Stripe calls, so a second
  worker running the same job waits, then finds the work done.
- A job may die after Stripe answered and before our commit. Each step therefore asks Stripe first what it already
  holds, by metadata, and adopts it: customers carry our tenant id; invoice items carry the period and the usage
  sequence numbers they bill; an invoice is recognised by its lines' period. Only what Stripe does not hold yet is
  created. Idempotency keys are sent too (the real API honours them) but nothing depends on them.
- Periods are invoiced oldest first, and a period's usage is pushed only once every earlier period is invoiced:
  creating an invoice takes all of the subscription's pending items, which are then exactly that period's. Usage
  is dated under the same lock (tenants.billing.usage), so no case can join a period after its invoice was made.
Calls per payer: a few per period (list + create per push, list + create + collect per invoice) whatever the
number of cases.
"""
import logging
from dataclasses import dataclass, field
from datetime import date

import stripe
from sqlalchemy import func, select, update

from tenants import audit, clock, webhooks
from tenants.billing import standing
from tenants.billing.models import BillingInvoice, BillingPlan, InvoiceStatus, UsageRecord
from tenants.billing.periods import local_day
from tenants.billing.plans import plan_of
from tenants.billing.stripe_gateway import (
    METADATA_CASES,
    METADATA_FREE,
    METADATA_PERIOD,
    METADATA_TENANT,
    StripeGateway,
    seq_runs,
    usage_from_metadata,
    usage_metadata,
)
from tenants.db import db
from tenants.money import Money
from tenants.tenancy.models import Tenant

log = logging.getLogger(__name__)

STRIPE_STATUS = {"paid": InvoiceStatus.PAID, "open": InvoiceStatus.OPEN, "void": InvoiceStatus.VOID,
                 "uncollectible": InvoiceStatus.PAYMENT_FAILED}


@dataclass
class BillingRun:
    items_created: int = 0
    items_adopted: int = 0
    cases_billed: int = 0
    invoices_created: int = 0
    invoices_adopted: int = 0
    periods_invoiced: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def ensure_customer(tenant: Tenant, gateway: StripeGateway) -> BillingPlan:
    """The payer's Stripe customer and subscription, created once (call in the payer's context; commits)."""
    plan = plan_of(tenant, lock=True)
    if plan.stripe_customer_id and plan.stripe_subscription_id:
        db.session.commit()
        return plan
    tenant_key = str(tenant.id)
    created = False
    if plan.stripe_customer_id is None:
        customer_id = gateway.find_customer(tenant_key)
        if customer_id is None:
            customer_id, created = gateway.create_customer(tenant_key, tenant.name, plan.currency), True
            if gateway.settings.standin:
                gateway.attach_test_payment_method(customer_id)
        plan.stripe_customer_id = customer_id
    plan_id = gateway.plan_for(plan.currency)
    existing = None if created else gateway.find_subscription(plan.stripe_customer_id, plan_id)
    plan.stripe_subscription_id = existing or gateway.create_subscription(plan.stripe_customer_id, plan_id,
                                                                          tenant_key)
    plan.updated_at = clock.now()
    audit.record("billing.customer_ready", object_type="billing_plan", object_id=plan.id,
                 after={"stripe_customer_id": plan.stripe_customer_id,
                        "stripe_subscription_id": plan.stripe_subscription_id})
    db.session.commit()
    return plan


def bill(tenant: Tenant, gateway: StripeGateway) -> BillingRun:
    """Push unbilled usage and invoice every period that has ended (call in the payer's context; commits)."""
    run = BillingRun()
    uncollected = _uncollected(tenant)
    if not _periods_open(tenant) and not uncollected:
        return run
    ensure_customer(tenant, gateway)
    for period_start in uncollected:  # invoiced by a run that died (or met a Stripe error) before collecting
        _collect(tenant, period_start, gateway)
        db.session.commit()
    today = local_day(clock.now(), tenant.time_zone)
    for period_start, period_end in _periods_open(tenant):
        _push(tenant, period_start, gateway, run)
        # Committed before invoicing: once an invoice has taken an item it is no longer pending, and a rerun
        # looking for pending items would not find it.
        db.session.commit()
        if period_end > today:
            break  # the current period: invoiced once it has ended
        _invoice(tenant, period_start, gateway, run)
        db.session.commit()
        _collect(tenant, period_start, gateway)
        db.session.commit()
    return run


def _uncollected(tenant: Tenant) -> list[date]:
    return list(db.session.scalars(select(BillingInvoice.period_start).where(
        BillingInvoice.tenant_id == tenant.id, BillingInvoice.status == InvoiceStatus.OPEN,
        BillingInvoice.collection_requested_at.is_(None)).order_by(BillingInvoice.period_start)))


def _periods_open(tenant: Tenant) -> list[tuple[date, date]]:
    """Periods with usage not yet on an invoice, oldest first."""
    return db.session.execute(
        select(UsageRecord.period_start, UsageRecord.period_end)
        .where(UsageRecord.tenant_id == tenant.id, UsageRecord.invoice_id.is_(None))
        .group_by(UsageRecord.period_start, UsageRecord.period_end).order_by(UsageRecord.period_start)).all()


def _is_ours(metadata, tenant: Tenant, period_start: date) -> bool:
    metadata = metadata or {}
    return (metadata.get(METADATA_TENANT) == str(tenant.id)
            and metadata.get(METADATA_PERIOD) == period_start.isoformat())


def _push(tenant: Tenant, period_start: date, gateway: StripeGateway, run: BillingRun) -> None:
    plan = plan_of(tenant, lock=True)
    # Columns, not objects, and set-based updates: a payer may have 100,000 cases in a period.
    unbilled = db.session.execute(select(
        UsageRecord.seq, UsageRecord.amount_minor, UsageRecord.free, UsageRecord.unit_price_minor,
        UsageRecord.currency).where(*_in_period(tenant, period_start), UsageRecord.billed_at.is_(None))
        .order_by(UsageRecord.seq)).all()
    if not unbilled:
        return
    now = clock.now()
    by_seq = {record.seq: record for record in unbilled}
    if any(record.amount_minor for record in unbilled):
        for item in gateway.pending_items(plan.stripe_customer_id):
            if not _is_ours(item.get("metadata"), tenant, period_start):
                continue
            adopted = [seq for seq in usage_from_metadata(item["metadata"]) if by_seq.pop(seq, None)]
            if adopted:
                _mark_billed(tenant, period_start, adopted, now, item["id"])
                run.items_adopted += 1
                run.cases_billed += len(adopted)
                log.warning("adopted Stripe invoice item %s (%d cases) left by an interrupted run", item["id"],
                            len(adopted))
    remaining = sorted(by_seq.values(), key=lambda record: record.seq)
    if not remaining:
        return
    amount = sum(record.amount_minor for record in remaining)
    item_id = None
    if amount:
        item_id = gateway.create_item(
            customer_id=plan.stripe_customer_id, subscription_id=plan.stripe_subscription_id,
            amount_minor=amount, currency=plan.currency, description=_describe(remaining, period_start),
            metadata=_item_metadata(tenant, period_start, remaining),
            idempotency_key=f"recoverly-items-{tenant.id}-{period_start}-{remaining[0].seq}-{remaining[-1].seq}",
        )["id"]
        run.items_created += 1
    _mark_billed(tenant, period_start, [record.seq for record in remaining], now, item_id)
    run.cases_billed += len(remaining)


def _in_period(tenant: Tenant, period_start: date) -> tuple:
    return UsageRecord.tenant_id == tenant.id, UsageRecord.period_start == period_start


def _mark_billed(tenant: Tenant, period_start: date, seqs: list[int], now, item_id: str | None) -> None:
    """One UPDATE per run of consecutive numbers (a push's numbers are consecutive but for adopted gaps)."""
    for first, last in seq_runs(seqs):
        db.session.execute(update(UsageRecord).where(
            *_in_period(tenant, period_start), UsageRecord.billed_at.is_(None), UsageRecord.seq.between(first, last))
            .values(billed_at=now, stripe_invoice_item_id=item_id).execution_options(synchronize_session=False))


def _describe(records: list[UsageRecord], period_start: date) -> str:
    paid = [r for r in records if not r.free]
    prices = {r.unit_price_minor for r in paid}
    price = Money(prices.pop(), records[0].currency).decimal() if len(prices) == 1 else "various"
    free = len(records) - len(paid)
    return (f"Recoverly: {len(paid)} accepted case(s) × {price} {records[0].currency}"
            + (f" (+{free} free)" if free else "") + f", period from {period_start.isoformat()}")


def _item_metadata(tenant: Tenant, period_start: date, records: list[UsageRecord]) -> dict:
    return {METADATA_TENANT: str(tenant.id), METADATA_PERIOD: period_start.isoformat(),
            METADATA_CASES: str(len(records)), METADATA_FREE: str(sum(1 for r in records if r.free)),
            **usage_metadata([r.seq for r in records])}


def _invoice(tenant: Tenant, period_start: date, gateway: StripeGateway, run: BillingRun) -> None:
    plan = plan_of(tenant, lock=True)
    invoice = db.session.scalar(select(BillingInvoice).where(BillingInvoice.tenant_id == tenant.id,
                                                            BillingInvoice.period_start == period_start))
    if invoice is None:
        invoice = _new_invoice(tenant, plan, period_start, gateway, run)
        db.session.add(invoice)
        db.session.flush()
        audit.record("billing.invoiced", object_type="billing_invoice", object_id=invoice.id,
                     after={"period_start": period_start.isoformat(), "cases": invoice.cases,
                            "amount_minor": invoice.amount_minor, "currency": invoice.currency,
                            "stripe_invoice_id": invoice.stripe_invoice_id})
        run.periods_invoiced.append(period_start.isoformat())
    db.session.execute(update(UsageRecord).where(*_in_period(tenant, period_start), UsageRecord.invoice_id.is_(None))
                       .values(invoice_id=invoice.id).execution_options(synchronize_session=False))


def _new_invoice(tenant, plan, period_start, gateway, run) -> BillingInvoice:
    totals = db.session.execute(select(
        func.count(UsageRecord.id).label("cases"), func.coalesce(func.sum(UsageRecord.amount_minor), 0).label("amount"),
        func.count(UsageRecord.id).filter(UsageRecord.free.is_(True)).label("free"),
        func.max(UsageRecord.period_end).label("period_end")).where(*_in_period(tenant, period_start))).one()
    invoice = BillingInvoice(tenant_id=tenant.id, period_start=period_start, period_end=totals.period_end,
                             currency=plan.currency, cases=totals.cases, free_cases=totals.free,
                             amount_minor=totals.amount, status=InvoiceStatus.NO_CHARGE)
    if not totals.amount:
        return invoice  # nothing to charge: Stripe is not asked to invoice an empty period
    found = next((candidate for candidate in gateway.invoices(plan.stripe_customer_id)
                  if any(_is_ours(line.get("metadata"), tenant, period_start)
                         for line in candidate["lines"]["data"])), None)
    if found is not None:
        run.invoices_adopted += 1
        log.warning("adopted Stripe invoice %s left by an interrupted run", found["id"])
    else:
        found = gateway.create_invoice(
            customer_id=plan.stripe_customer_id, subscription_id=plan.stripe_subscription_id,
            description=f"Recoverly cases, period {period_start.isoformat()} – {totals.period_end.isoformat()}",
            metadata={METADATA_TENANT: str(tenant.id), METADATA_PERIOD: period_start.isoformat(),
                      METADATA_CASES: str(totals.cases), "recoverly_amount_minor": str(totals.amount)},
            idempotency_key=f"recoverly-invoice-{tenant.id}-{period_start}")
        run.invoices_created += 1
    invoice.stripe_invoice_id = found["id"]
    invoice.stripe_amount_minor = found.get("total")
    invoice.hosted_invoice_url = found.get("hosted_invoice_url")
    invoice.status = InvoiceStatus.OPEN
    if invoice.stripe_amount_minor is not None and invoice.stripe_amount_minor != totals.amount:
        log.error("Stripe invoice %s totals %s, our usage %s: check the customer's items", found["id"],
                  invoice.stripe_amount_minor, totals.amount)
    return invoice


def _collect(tenant: Tenant, period_start: date, gateway: StripeGateway) -> None:
    plan_of(tenant, lock=True)
    invoice = db.session.scalar(select(BillingInvoice).where(
        BillingInvoice.tenant_id == tenant.id, BillingInvoice.period_start == period_start,
        BillingInvoice.status == InvoiceStatus.OPEN, BillingInvoice.collection_requested_at.is_(None)))
    if invoice is None:
        return
    try:
        collected = gateway.collect(invoice.stripe_invoice_id)
    except stripe.InvalidRequestError as exc:
        # Already finalized or paid (a run that died after asking): Stripe reports the outcome by webhook.
        log.info("collecting %s: %s", invoice.stripe_invoice_id, exc.user_message)
    except stripe.CardError as exc:
        log.info("collecting %s declined: %s", invoice.stripe_invoice_id, exc.user_message)
    else:
        invoice.hosted_invoice_url = collected.get("hosted_invoice_url") or invoice.hosted_invoice_url
        apply_status(invoice, STRIPE_STATUS.get(collected.get("status"), invoice.status), None)
    invoice.collection_requested_at = clock.now()


RANK = {InvoiceStatus.OPEN: 0, InvoiceStatus.PAYMENT_FAILED: 1, InvoiceStatus.PAID: 2, InvoiceStatus.VOID: 3}


def apply_status(invoice: BillingInvoice, status: str, event_created: int | None) -> bool:
    """Move an invoice to what Stripe says, unless Stripe already told us something newer (events arrive out of
    order). Call in the payer's context; refreshes the payer's standing. Returns whether anything changed."""
    if status == invoice.status or invoice.status == InvoiceStatus.NO_CHARGE:
        return False
    if event_created is not None and invoice.status_event_at is not None:
        if event_created < invoice.status_event_at or (
                event_created == invoice.status_event_at and RANK[status] < RANK.get(invoice.status, 0)):
            return False
    before = invoice.status
    invoice.status = status
    if event_created is not None:
        invoice.status_event_at = event_created
    if status == InvoiceStatus.PAID:
        invoice.paid_at = clock.now()
    db.session.flush()
    audit.record("billing.invoice_" + status, object_type="billing_invoice", object_id=invoice.id,
                 before={"status": before}, after={"status": status, "stripe_invoice_id": invoice.stripe_invoice_id})
    webhooks.emit({InvoiceStatus.PAID: "invoice.paid", InvoiceStatus.PAYMENT_FAILED: "invoice.failed"}.get(status),
                  refs={"invoice_id": invoice.id}, data={"status": status, "amount_minor": invoice.amount_minor,
                                                         "currency": invoice.currency})
    standing.refresh(plan_of(db.session.get(Tenant, invoice.tenant_id)))
    return True


def payers_to_bill() -> list:
    """Tenants with usage not yet on an invoice, or an invoice not yet sent for collection (call in a platform
    context)."""
    unbilled = select(UsageRecord.tenant_id).where(UsageRecord.invoice_id.is_(None))
    uncollected = select(BillingInvoice.tenant_id).where(BillingInvoice.status == InvoiceStatus.OPEN,
                                                         BillingInvoice.collection_requested_at.is_(None))
    return sorted(set(db.session.scalars(unbilled.union(uncollected))))
