"""Stripe webhooks: verified, applied once, and what they do to an invoice and its payer."""
import json
import time
from datetime import date

import pytest
import stripe
from sqlalchemy import func, select

from tenants.billing.models import BillingInvoice, BillingPlan, InvoiceStatus, StripeEvent
from tenants.billing.plans import plan_of
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.tenancy.roles import TenantKind

SECRET = "whsec_recoverly_tests"


def signed(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    at = at or int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{at}.{payload.decode()}", secret)
    return f"t={at},v1={signature}"


def invoice_event(event_id: str, event_type: str, stripe_invoice_id: str, created: int, **invoice) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": event_type, "created": created,
                       "data": {"object": {"id": stripe_invoice_id, "object": "invoice", **invoice}}}).encode()


@pytest.fixture
def open_invoice(factory, stripe_settings):
    agency = factory.tenant(TenantKind.AGENCY)
    stripe_id = f"in_test_{agency.id.hex[:12]}"
    with tenant_scope(agency.id):
        plan_of(agency)
        invoice = BillingInvoice(tenant_id=agency.id, period_start=date(2026, 11, 1),
                                 period_end=date(2026, 12, 1), currency="CNY", cases=3,
                                 free_cases=0, amount_minor=1500, stripe_invoice_id=stripe_id,
                                 status=InvoiceStatus.OPEN)
        db.session.add(invoice)
        db.session.flush()
    return agency, stripe_id


def post(client, payload: bytes, signature: str):
    return client.post("/billing/stripe/webhook", data=payload,
                       headers={"Stripe-Signature": signature, "Content-Type": "application/json"})


def state(agency):
    with tenant_scope(agency.id):
        invoice = db.session.scalar(select(BillingInvoice).where(BillingInvoice.tenant_id == agency.id))
        plan = db.session.scalar(select(BillingPlan).where(BillingPlan.tenant_id == agency.id))
        return invoice.status, plan.standing


def test_a_bad_signature_is_refused_and_changes_nothing(client, open_invoice):
    agency, stripe_id = open_invoice
    payload = invoice_event("evt_bad_sig", "invoice.payment_failed", stripe_id, int(time.time()))
    for signature in (signed(payload, secret="whsec_someone_else"), "t=1,v1=deadbeef", ""):
        response = post(client, payload, signature)
        assert response.status_code == 400
        assert response.json["error"]["code"] == "stripe.bad_signature"
    tampered = payload.replace(b"payment_failed", b"paid")
    assert post(client, tampered, signed(payload)).status_code == 400
    assert state(agency) == (InvoiceStatus.OPEN, "good")
    with platform_scope("test"):
        assert db.session.get(StripeEvent, "evt_bad_sig") is None


def test_a_failed_payment_flags_the_payer_and_the_same_event_twice_changes_nothing(client, open_invoice):
    agency, stripe_id = open_invoice
    payload = invoice_event("evt_failed_1", "invoice.payment_failed", stripe_id, int(time.time()))
    first = post(client, payload, signed(payload))
    assert (first.status_code, first.json["outcome"]) == (200, "applied")
    assert state(agency) == (InvoiceStatus.PAYMENT_FAILED, "delinquent")

    again = post(client, payload, signed(payload))
    assert (again.status_code, again.json["outcome"]) == (200, "duplicate")
    with tenant_scope(agency.id):
        from tenants.audit import AuditEvent

        delinquent_events = db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.tenant_id == agency.id, AuditEvent.action == "billing.delinquent"))
    assert delinquent_events == 1


def test_paying_the_invoice_reinstates_the_payer_and_a_late_older_event_is_ignored(client, open_invoice):
    agency, stripe_id = open_invoice
    now = int(time.time())
    failed = invoice_event("evt_failed_2", "invoice.payment_failed", stripe_id, now,
                           hosted_invoice_url="https://invoice.stripe.com/i/acct_x/test_y")
    paid = invoice_event("evt_paid_2", "invoice.paid", stripe_id, now + 60)
    stale = invoice_event("evt_failed_stale", "invoice.payment_failed", stripe_id, now + 30)
    post(client, failed, signed(failed))
    with tenant_scope(agency.id):
        url = db.session.scalar(select(BillingInvoice.hosted_invoice_url).where(BillingInvoice.tenant_id == agency.id))
    assert url == "https://invoice.stripe.com/i/acct_x/test_y"  # where the payer can pay what failed
    post(client, paid, signed(paid))
    assert state(agency) == (InvoiceStatus.PAID, "good")
    response = post(client, stale, signed(stale))
    assert (response.status_code, response.json["outcome"]) == (200, "ignored")
    assert state(agency) == (InvoiceStatus.PAID, "good")


def test_an_event_about_an_invoice_we_did_not_make_is_acknowledged(client, stripe_settings):
    payload = invoice_event("evt_foreign", "invoice.paid", "in_not_ours", int(time.time()))
    response = post(client, payload, signed(payload))
    assert (response.status_code, response.json["outcome"]) == (200, "ignored")
