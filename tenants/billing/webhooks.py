"""Stripe webhook events: verified by the web layer, applied here once each."""
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenants.billing.invoicing import apply_status
from tenants.billing.models import BillingInvoice, InvoiceStatus, StripeEvent
from tenants.context import platform_scope, tenant_scope
from tenants.db import db

log = logging.getLogger(__name__)

INVOICE_EVENTS = {
    "invoice.paid": InvoiceStatus.PAID,
    "invoice.payment_succeeded": InvoiceStatus.PAID,
    "invoice.payment_failed": InvoiceStatus.PAYMENT_FAILED,
    "invoice.marked_uncollectible": InvoiceStatus.PAYMENT_FAILED,
    "invoice.voided": InvoiceStatus.VOID,
}


class Outcome:
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


def process(event) -> str:
    """Apply one verified event (commits). The same event id a second time changes nothing."""
    event_id, event_type = event["id"], event["type"]
    obj = event["data"]["object"]
    stripe_invoice_id = obj.get("id") if obj.get("object") == "invoice" else None
    with platform_scope("billing: Stripe webhook"):
        if db.session.get(StripeEvent, event_id) is not None:
            return Outcome.DUPLICATE
        invoice = None
        if stripe_invoice_id:
            invoice = db.session.scalar(select(BillingInvoice).where(
                BillingInvoice.stripe_invoice_id == stripe_invoice_id))
        db.session.add(StripeEvent(id=event_id, type=event_type, stripe_invoice_id=stripe_invoice_id,
                                   tenant_id=invoice.tenant_id if invoice else None))
        try:
            db.session.flush()
        except IntegrityError:  # the same event, delivered twice at once
            db.session.rollback()
            return Outcome.DUPLICATE
        outcome = Outcome.IGNORED
        status = INVOICE_EVENTS.get(event_type)
        if invoice is not None and status is not None:
            with tenant_scope(invoice.tenant_id):
                if apply_status(invoice, status, int(event["created"])):
                    outcome = Outcome.APPLIED
        elif status is not None:
            log.info("Stripe event %s for invoice %s we did not make: ignored", event_id, stripe_invoice_id)
        db.session.commit()
        return outcome
