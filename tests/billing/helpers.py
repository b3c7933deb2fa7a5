"""Billing test helpers: cases accepted through the placement services, plans set as a platform admin would,
billing runs in the payer's context, and the rows they leave."""
from datetime import date, datetime, timezone

from sqlalchemy import select

from tenants.billing import invoicing
from tenants.billing.models import BillingInvoice, BillingPlan, InvoiceStatus, UsageRecord
from tenants.billing.plans import plan_of, update_plan
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.placements import services as placements

NEXT_MONTH = datetime(2027, 1, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 on 1 January in Shanghai


def accept_cases(factory, lender, agency, count: int, *, accept: bool = True):
    accounts = [factory.account(lender) for _ in range(count)]
    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(
            external_refs=tuple(a.external_ref for a in accounts)), weights={agency.id: 1}, terms={},
            created_by=None, seed=1, debtors_notified=True)
    if accept:
        with tenant_scope(agency.id):
            placements.respond(batch.id, accept=True)
    return accounts, batch


def set_plan(tenant, **changes):
    with platform_scope("test: plan"):
        update_plan(tenant, changes)


def usage_of(tenant):
    with tenant_scope(tenant.id):
        return list(db.session.scalars(select(UsageRecord).where(UsageRecord.tenant_id == tenant.id)
                                       .order_by(UsageRecord.seq)))


def bill(tenant, gateway):
    with tenant_scope(tenant.id):
        return invoicing.bill(db.session.get(type(tenant), tenant.id), gateway)


def invoices_of(tenant):
    with tenant_scope(tenant.id):
        return list(db.session.scalars(select(BillingInvoice).where(BillingInvoice.tenant_id == tenant.id)))


def plan_row(tenant):
    with tenant_scope(tenant.id):
        return db.session.scalar(select(BillingPlan).where(BillingPlan.tenant_id == tenant.id))


OVERDUE_URL = "https://invoice.stripe.test/i/overdue"


def make_delinquent(tenant, hosted_invoice_url=OVERDUE_URL):
    """An invoice whose payment failed, as the Stripe webhook reports it."""
    with tenant_scope(tenant.id):
        plan_of(tenant, lock=True)
        invoice = BillingInvoice(tenant_id=tenant.id, period_start=date(2026, 11, 1), period_end=date(2026, 12, 1),
                                 currency="CNY", cases=2,
                                 free_cases=0, amount_minor=1000, stripe_invoice_id=f"in_failed_{tenant.id.hex[:8]}",
                                 status=InvoiceStatus.OPEN, hosted_invoice_url=hosted_invoice_url)
        db.session.add(invoice)
        db.session.flush()
        invoicing.apply_status(invoice, InvoiceStatus.PAYMENT_FAILED, 1_800_000_000)
