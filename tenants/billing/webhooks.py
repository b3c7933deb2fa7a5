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
    """Apply one verified event (commits). The same event id a second time changes nothing; events that change
    nothing of ours (customer.created, …) are acknowledged without being stored."""
    event_id, event_type = event["id"], event["type"]
    status = INVOICE_EVENTS.get(event_type)
    obj = event["data"]["object"]
    if status is None or obj.get("object") != "invoice":
        return Outcome.IGNORED
    with platform_scope("billing: Stripe webhook"):
        # Written first, so the event claims its id before anything is read (and SQLite takes its write lock now).
        db.session.add(StripeEvent(id=event_id, type=event_type, stripe_invoice_id=obj["id"]))
        try:
            db.session.flush()
        except IntegrityError:  # processed before, or being processed right now
            db.session.rollback()
            return Outcome.DUPLICATE
        invoice = db.session.scalar(select(BillingInvoice).where(BillingInvoice.stripe_invoice_id == obj["id"]))
        outcome = Outcome.IGNORED
        if invoice is None:
            log.info("Stripe event %s for invoice %s we did not make: ignored", event_id, obj["id"])
        else:
            db.session.get(StripeEvent, event_id).tenant_id = invoice.tenant_id
            db.session.flush()  # the platform's row: written before entering the payer's context
            with tenant_scope(invoice.tenant_id):
                # Stripe gives the payment page only once the invoice is finalized.
                invoice.hosted_invoice_url = obj.get("hosted_invoice_url") or invoice.hosted_invoice_url
                if apply_status(invoice, status, int(event["created"])):
                    outcome = Outcome.APPLIED
        db.session.commit()
        return outcome
