"""The debtor's portal end to end through HTTP: a link in an approved message, a code through the gateway, the
debt as the debtor sees it, a plan within the limits accepted at once, the agreement signed with its evidence, the
first instalment paid through Stripe's stand-in and recorded as a lender-confirmed payment; and what the agency and
the lender see of it."""
import json
import re
import time

import pytest
import stripe
from sqlalchemy import select

from tenants.casework.agreements import Agreement
from tenants.casework.evidence import Evidence
from tenants.casework.money_models import Payment, PaymentPlan
from tenants.context import tenant_scope
from tenants.db import db
from tenants.messaging import sending
from tenants.messaging.models import OutboundMessage
from tenants.portal.models import PortalCode, PortalPayment, PortalRequest
from tenants.tenancy.models import Tenant
from tenants.webhooks.models import WebhookEvent

SECRET = "whsec_recoverly_tests"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(response) -> str:
    return CSRF.search(response.get_data(as_text=True)).group(1)


@pytest.fixture
def case(factory, frozen_clock):
    lender, agency, account = factory.placed_account(time_zones=["Asia/Shanghai"])
    with tenant_scope(lender.id):
        row = db.session.get(Tenant, lender.id)
        row.settings = {**(row.settings or {}), "stripe_connected_account": "acct_1JadeLending",
                        "portal_payment_methods": ["card", "alipay"]}
        db.session.flush()
    template = factory.message_template(lender, body="{{ debtor_name }}您好，您在{{ lender_name }}的欠款可在线处理："
                                                     "{{ portal_link }} 回复TD退订")
    return lender, agency, account, template


def send_link(agency, account, template) -> str:
    with tenant_scope(agency.id):
        message = sending.send_template(account.id, template.id)
        db.session.flush()
        body = db.session.get(OutboundMessage, message.id).body
    return re.search(r"/p/(\S+)", body).group(1)


def last_code(agency, account) -> str:
    with tenant_scope(agency.id):
        row = db.session.scalar(select(PortalCode).where(PortalCode.account_id == account.id)
                                .order_by(PortalCode.created_at.desc()))
        return re.search(r"(\d{6})", row.body).group(1)


def open_session(client, agency, account, token):
    landing = client.get(f"/p/{token}")
    assert landing.status_code == 200
    sent = client.post(f"/p/{token}/code", data={"csrf": csrf_of(landing)})
    assert sent.status_code == 302
    page = client.get(f"/p/{token}?sent=1")
    opened = client.post(f"/p/{token}/verify", data={"csrf": csrf_of(page), "code": last_code(agency, account)})
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/p/home")
    return client.get("/p/home")


def signed(payload: bytes) -> str:
    at = int(time.time())
    return f"t={at},v1=" + stripe.WebhookSignature._compute_signature(f"{at}.{payload.decode()}", SECRET)


def test_link_code_plan_signature_and_payment(client, case, stripe_settings):
    lender, agency, account, template = case
    token = send_link(agency, account, template)
    home = open_session(client, agency, account, token)
    text = home.get_data(as_text=True)
    assert home.status_code == 200 and lender.name in text and agency.name in text
    assert "Set-Cookie" not in home.headers or "session=" not in home.headers.get("Set-Cookie", "")

    plan_page = client.get("/p/plan")
    first_due = "2026-12-05"
    made = client.post("/p/plan", data={"csrf": csrf_of(plan_page), "instalment_count": "3", "frequency": "monthly",
                                        "first_due_on": first_due})
    assert made.status_code == 302, made.get_data(as_text=True)
    with tenant_scope(agency.id):
        plan = db.session.scalar(select(PaymentPlan).where(PaymentPlan.account_id == account.id))
        assert plan.status == "proposed" and plan.instalment_count == 3
        request = db.session.scalar(select(PortalRequest).where(PortalRequest.account_id == account.id))
        assert (request.kind, request.status, request.source) == ("plan", "done", "portal")

    page = client.get("/p/agreement")
    assert page.status_code == 200
    signed_page = client.post("/p/agreement", data={"csrf": csrf_of(page), "typed_name": "借款人 本人",
                                                    "acknowledged": "yes"})
    assert signed_page.status_code == 302, signed_page.get_data(as_text=True)
    db.session.expire_all()
    with tenant_scope(agency.id):
        plan = db.session.scalar(select(PaymentPlan).where(PaymentPlan.account_id == account.id))
        agreement = db.session.scalar(select(Agreement).where(Agreement.plan_id == plan.id))
        evidence = db.session.get(Evidence, agreement.signed_evidence_id)
        assert plan.status == "active" and agreement.status == "signed" and len(evidence.sha256) == 64
        first = plan.instalments[0].amount_minor

    pay_page = client.get("/p/pay")
    started = client.post("/p/pay", data={"csrf": csrf_of(pay_page), "amount": f"{first / 100:.2f}",
                                          "method": "card"})
    assert started.status_code == 302, started.get_data(as_text=True)
    payment_url = started.headers["Location"]
    card_page = client.get(payment_url)
    paid = client.post(payment_url, data={"csrf": csrf_of(card_page), "card_number": "4242424242424242"})
    assert paid.status_code == 302, paid.get_data(as_text=True)
    assert "id=\"paid\"" in client.get(payment_url).get_data(as_text=True)

    db.session.expire_all()
    with tenant_scope(lender.id):
        row = db.session.scalar(select(PortalPayment).where(PortalPayment.account_id == account.id))
        payment = db.session.get(Payment, row.payment_id)
        assert (payment.status, payment.amount_minor, payment.method) == ("confirmed", first, "card")
        assert payment.reference == row.intent_id and row.connected_account == "acct_1JadeLending"
        # The lender's systems learn the debtor paid by themselves (webhooks count self-service).
        recorded = db.session.scalar(select(WebhookEvent).where(WebhookEvent.type == "payment.recorded",
                                                                WebhookEvent.account_id == account.id))
        assert json.loads(recorded.body)["data"]["source"] == "portal"

    # The signed webhook for the same intent changes nothing more (idempotent by the intent id).
    event = json.dumps({"id": "evt_portal_1", "object": "event", "type": "payment_intent.succeeded",
                        "created": int(time.time()), "data": {"object": {
                            "id": row.intent_id, "object": "payment_intent", "status": "succeeded",
                            "amount": first, "currency": "cny"}}}).encode()
    answer = client.post("/billing/stripe/webhook", data=event,
                         headers={"Stripe-Signature": signed(event), "Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json["outcome"] == "duplicate"
    with tenant_scope(lender.id):
        assert len(db.session.scalars(select(Payment).where(Payment.account_id == account.id)).all()) == 1
