"""A payer's standing: delinquent while any of its invoices has a failed payment, good again once all are paid."""
from sqlalchemy import select

from tenants import audit, clock
from tenants.billing.models import BillingInvoice, BillingPlan, InvoiceStatus, Standing
from tenants.db import db


def refresh(plan: BillingPlan) -> str:
    """Call in the payer's context after an invoice's status changed; audits a change of standing."""
    failed = db.session.scalars(select(BillingInvoice.stripe_invoice_id).where(
        BillingInvoice.tenant_id == plan.tenant_id,
        BillingInvoice.status == InvoiceStatus.PAYMENT_FAILED)).all()
    standing = Standing.DELINQUENT if failed else Standing.GOOD
    if standing == plan.standing:
        return standing
    before = {"standing": plan.standing}
    plan.standing = standing
    plan.delinquent_since = clock.now() if failed else None
    plan.updated_at = clock.now()
    db.session.flush()
    audit.record("billing.delinquent" if failed else "billing.reinstated", object_type="billing_plan",
                 object_id=plan.id, before=before,
                 after={"standing": standing, "failed_invoices": list(failed),
                        "new_cases_stopped": bool(failed) and plan.stop_when_delinquent})
    return standing
