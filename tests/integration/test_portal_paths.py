"""The portal's other paths, as a debtor uses them through HTTP: a settlement within the placement's discount limit
(offered at once) and beyond it (the lender decides, and the answer goes back to the debtor); more time within the
lender's limit (a promise at once) and beyond it (a collector decides); a dispute with a document (the dispute hold
refuses the next contact); contact preferences the conduct engine reads (an opted-out channel, agreed hours); a
proof of payment made elsewhere (queued for a collector); a declined card (nothing recorded); a full refund through
the signed webhook (the payment reversed exactly once, a replay changes nothing)."""
import io
import json
import re
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tenants.audit import AuditEvent
from tenants.casework import worklist
from tenants.casework.disputes import Dispute
from tenants.casework.evidence import Evidence
from tenants.casework.money_models import Payment, Promise
from tenants.casework.settlements import Settlement
from tenants.conduct import service as conduct
from tenants.conduct.models import ConductHold
from tenants.context import tenant_scope
from tenants.db import db
from tenants.portal import links
from tenants.portal.models import PortalCode, PortalPayment, PortalRequest
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tests.conftest import FreshContextClient
from tests.factories import login
from tests.integration.test_portal import csrf_of, open_session, signed
from tests.integration.test_settlements import placed_case

TODAY = date(2026, 12, 1)  # the frozen clock: 09:00 in Shanghai
SHANGHAI_7PM = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)


@pytest.fixture
def debtor(app, client, factory, frozen_clock):
    """A debtor of 4,450.00 CNY whose account is placed under a 10% discount limit, in the portal through a link
    sent by SMS. Returns a callable, so a test may open several cases. (`client` turns the staff forms' CSRF
    check off, as elsewhere; the portal's own token is always checked.)"""
    def make(**account_values):
        lender, agency, account = placed_case(factory, max_discount_bps=1000, time_zones=["Asia/Shanghai"],
                                              **account_values)
        with tenant_scope(lender.id):
            row = db.session.get(Tenant, lender.id)
            row.settings = {**(row.settings or {}), "stripe_connected_account": "acct_1JadeLending",
                            "portal_payment_methods": ["card"]}
            db.session.flush()
        with tenant_scope(agency.id):
            _link, url = links.issue(db.session.get(Account, account.id), channel="sms")
            db.session.flush()
        client = FreshContextClient(app, app.response_class, use_cookies=True)
        open_session(client, agency, account, url.rsplit("/p/", 1)[1])
        return Case(client, lender, agency, account, factory)
    return make


class Case:
    def __init__(self, client, lender, agency, account, factory):
        self.client, self.lender, self.agency, self.account, self.factory = client, lender, agency, account, factory

    def post(self, path: str, data: dict, **kwargs):
        page = self.client.get(path)
        assert page.status_code == 200, page.get_data(as_text=True)
        return self.client.post(path, data={"csrf": csrf_of(page), **data}, **kwargs)

    def requests(self) -> list[PortalRequest]:
        db.session.expire_all()
        with tenant_scope(self.agency.id):
            return db.session.scalars(select(PortalRequest).where(PortalRequest.account_id == self.account.id)
                                      .order_by(PortalRequest.created_at)).all()

    def notices(self) -> list[PortalCode]:
        with tenant_scope(self.lender.id):
            lender_rows = db.session.scalars(select(PortalCode).where(PortalCode.account_id == self.account.id,
                                                                      PortalCode.kind == "notice")).all()
        with tenant_scope(self.agency.id):
            agency_rows = db.session.scalars(select(PortalCode).where(PortalCode.account_id == self.account.id,
                                                                      PortalCode.kind == "notice")).all()
        return [*lender_rows, *agency_rows]

    def staff(self, tenant, role: str):
        email = f"{role}-{tenant.slug}@paths.test"
        self.factory.user(tenant, role, email=email)
        staff = FreshContextClient(self.client.application, self.client.application.response_class,
                                   use_cookies=True)
        login(staff, email)
        return staff

    def home(self) -> str:
        return self.client.get("/p/home").get_data(as_text=True)


def attempt(agency, account_id, channel):
    """A contact decided as the agency: None when allowed, else the refusal's code."""
    with tenant_scope(agency.id):
        try:
            conduct.attempt(account_id, conduct.AttemptRequest(channel=channel), collector_user_id=None)
            return None
        except conduct.ConductBlocked as refused:
            return refused.code


# ---- settlements --------------------------------------------------------------------------------------------------

def test_a_settlement_within_the_discount_limit_is_offered_at_once(debtor):
    case = debtor()
    made = case.post("/p/settle", {"amount": "4005.00"})  # 10% off 4,450.00: the limit exactly
    assert made.status_code == 302 and made.headers["Location"].endswith("done=settlement_done")
    [request] = case.requests()
    assert (request.kind, request.status, request.details["discount_bps"]) == ("settlement", "done", 1000)
    with tenant_scope(case.agency.id):
        offer = db.session.get(Settlement, request.object_id)
        assert (offer.status, offer.amount_minor) == ("proposed", 400_500)
    home = case.home()
    assert "Your settlement offer is accepted" in case.client.get(made.headers["Location"]).get_data(as_text=True)
    assert 'id="sign-link"' in home
    assert case.client.get("/p/agreement").status_code == 200


def test_a_settlement_beyond_the_limit_waits_for_the_lender_whose_answer_goes_back(debtor):
    case = debtor()
    made = case.post("/p/settle", {"amount": "3500.00"})  # 21.35% off
    assert made.headers["Location"].endswith("done=settlement_awaiting_lender")
    [request] = case.requests()
    assert request.status == "awaiting_lender"
    assert case.client.get("/p/agreement").status_code == 404  # nothing to sign before the lender agrees

    manager = case.staff(case.lender, "lender_manager")
    decided = manager.post(f"/t/{case.lender.slug}/settlements/{request.object_id}/decision",
                           data={"decision": "approve", "note": "Agreed as a one-off."})
    assert decided.status_code == 302
    [request] = case.requests()
    assert (request.status, request.answer) == ("accepted", "Agreed as a one-off.")
    [notice] = case.notices()
    with tenant_scope(case.lender.id):
        phone = db.session.get(Account, case.account.id).phones[0].phone
    assert (notice.status, notice.channel, notice.recipient, notice.tenant_id) == ("sent", "sms", phone,
                                                                                   case.lender.id)
    assert case.lender.name in notice.body
    home = case.home()
    assert "The creditor accepted your offer" in home and "Agreed as a one-off." in home
    assert case.client.get("/p/agreement").status_code == 200  # the agreement to sign is prepared now


def test_a_settlement_the_lender_declines_is_answered_too(debtor):
    case = debtor()
    case.post("/p/settle", {"amount": "3000.00"})
    [request] = case.requests()
    manager = case.staff(case.lender, "lender_manager")
    manager.post(f"/t/{case.lender.slug}/settlements/{request.object_id}/decision",
                 data={"decision": "decline", "note": "Too deep a discount."})
    [request] = case.requests()
    assert (request.status, request.answer) == ("declined", "Too deep a discount.")
    assert len(case.notices()) == 1
    assert "The creditor did not accept your offer" in case.home()


# ---- more time ----------------------------------------------------------------------------------------------------

def test_more_time_within_the_limit_is_a_promise_at_once(debtor):
    case = debtor()
    made = case.post("/p/time", {"pay_by": (TODAY + timedelta(days=10)).isoformat(), "amount": "1000.00"})
    assert made.headers["Location"].endswith("done=extension_done")
    [request] = case.requests()
    with tenant_scope(case.agency.id):
        promise = db.session.get(Promise, request.object_id)
        assert (promise.amount_minor, promise.due_on) == (100_000, TODAY + timedelta(days=10))


def test_more_time_beyond_the_limit_waits_for_a_collector_at_the_top_of_the_queue(debtor):
    case = debtor()
    other = debtor()  # another case of the same kind, for the queue to order
    del other
    made = case.post("/p/time", {"pay_by": (TODAY + timedelta(days=30)).isoformat(), "amount": "4450.00"})
    assert made.headers["Location"].endswith("done=extension_awaiting_collector")
    [request] = case.requests()
    assert request.status == "awaiting_collector" and request.object_id is None
    with tenant_scope(case.agency.id):
        assert db.session.scalars(select(Promise).where(Promise.account_id == case.account.id)).all() == []
        queue = worklist.build(scope=worklist.Scope.UNASSIGNED)
        first = (queue.ready + queue.waiting)[0]
        assert first.account_id == case.account.id and first.portal_request

    collector = case.staff(case.agency, "agency_collector")
    answered = collector.post(f"/t/{case.agency.slug}/cases/{case.account.id}/portal/decide",
                              data={"request_id": str(request.id), "decision": "accept"})
    assert answered.status_code == 302
    [request] = case.requests()
    assert request.status == "accepted" and request.object_type == "promise"
    with tenant_scope(case.agency.id):
        promise = db.session.get(Promise, request.object_id)
        assert promise.due_on == TODAY + timedelta(days=30)
    assert len(case.notices()) == 1
    assert "Your request for more time was accepted." in case.home()


# ---- a dispute ------------------------------------------------------------------------------------------------------

def test_a_dispute_with_a_document_opens_the_hold_and_the_next_contact_is_refused(debtor):
    case = debtor()
    assert attempt(case.agency, case.account.id, "sms") is None  # allowed before
    made = case.post("/p/dispute", {"category": "already_paid", "reason": "I paid it all in October.",
                                    "documents": [(io.BytesIO(b"%PDF-1.4 bank statement"), "statement.pdf")]},
                     content_type="multipart/form-data")
    assert made.headers["Location"].endswith("done=dispute_done")
    [request] = case.requests()
    with tenant_scope(case.agency.id):
        dispute = db.session.get(Dispute, request.object_id)
        assert (dispute.status, dispute.category, dispute.source) == ("open", "already_paid", "portal")
        hold = db.session.get(ConductHold, dispute.hold_id)
        assert hold.type == "dispute" and hold.ends_at is None
        [document] = db.session.scalars(select(Evidence).where(Evidence.dispute_id == dispute.id)).all()
        assert document.filename == "statement.pdf" and str(document.id) in request.details["documents"]
    assert attempt(case.agency, case.account.id, "sms") == "conduct.hold.dispute"
    assert attempt(case.agency, case.account.id, "call") == "conduct.hold.dispute"


# ---- contact preferences ---------------------------------------------------------------------------------------------

def test_contact_preferences_are_read_by_the_conduct_engine(debtor, frozen_clock):
    case = debtor()
    made = case.post("/p/preferences", {"opted_out": ["sms"], "preferred_from": "18:00", "preferred_to": "20:00"})
    assert made.headers["Location"].endswith("done=preferences_done")
    # 09:00 in Shanghai: inside the usual 08:00-22:00, outside the hours the debtor agreed.
    assert attempt(case.agency, case.account.id, "call") == "conduct.cn.hours"
    frozen_clock.set(SHANGHAI_7PM)
    assert attempt(case.agency, case.account.id, "sms") == "conduct.platform.optout"
    assert attempt(case.agency, case.account.id, "call") is None


# ---- proof of a payment made elsewhere -------------------------------------------------------------------------------

def test_a_proof_of_payment_waits_for_a_collector_then_is_recorded(debtor):
    case = debtor()
    made = case.post("/p/proof", {"amount": "500.00", "paid_on": (TODAY - timedelta(days=2)).isoformat(),
                                  "reference": "BANK-778812",
                                  "document": (io.BytesIO(b"\x89PNG receipt"), "receipt.png")},
                     content_type="multipart/form-data")
    assert made.status_code == 302, made.get_data(as_text=True)
    [request] = case.requests()
    assert (request.kind, request.status) == ("proof_of_payment", "awaiting_collector")
    with tenant_scope(case.agency.id):
        assert db.session.get(Evidence, request.object_id).filename == "receipt.png"
        assert db.session.scalars(select(Payment).where(Payment.account_id == case.account.id)).all() == []
        queue = worklist.build(scope=worklist.Scope.UNASSIGNED)
        assert any(i.account_id == case.account.id and i.portal_request for i in queue.ready + queue.waiting)
    assert "Your proof of payment was sent to the agency to check." in case.home()

    collector = case.staff(case.agency, "agency_collector")
    collector.post(f"/t/{case.agency.slug}/cases/{case.account.id}/portal/decide",
                   data={"request_id": str(request.id), "decision": "accept"})
    db.session.expire_all()
    with tenant_scope(case.agency.id):
        [payment] = db.session.scalars(select(Payment).where(Payment.account_id == case.account.id)).all()
        assert (payment.amount_minor, payment.received_on) == (50_000, TODAY - timedelta(days=2))
        assert payment.reference == "BANK-778812"


# ---- paying: a declined card, a refund -------------------------------------------------------------------------------

def start_payment(case, amount="500.00") -> str:
    started = case.post("/p/pay", {"amount": amount, "method": "card"})
    assert started.status_code == 302, started.get_data(as_text=True)
    return started.headers["Location"]


def portal_payments(case) -> list[PortalPayment]:
    db.session.expire_all()
    with tenant_scope(case.lender.id):
        return db.session.scalars(select(PortalPayment).where(PortalPayment.account_id == case.account.id)
                                  .order_by(PortalPayment.created_at)).all()


def payments_of(case) -> list[Payment]:
    with tenant_scope(case.lender.id):
        return db.session.scalars(select(Payment).where(Payment.account_id == case.account.id)).all()


def test_a_declined_card_records_no_payment_and_another_card_then_pays(debtor, stripe_settings):
    case = debtor()
    url = start_payment(case)
    declined = case.post(url, {"card_number": "4000 0000 0000 0341"})
    assert declined.status_code == 402
    assert "declined" in declined.get_data(as_text=True)
    [row] = portal_payments(case)
    assert row.status == "failed" and row.failure_code == "card_declined" and row.payment_id is None
    assert payments_of(case) == []
    with tenant_scope(case.lender.id):
        assert db.session.get(Account, case.account.id).outstanding_minor == 445_000
    # The page does not take the same intent again; a new payment with another card goes through.
    url = start_payment(case)
    assert case.post(url, {"card_number": "4242424242424242"}).status_code == 302
    assert [p.amount_minor for p in payments_of(case)] == [50_000]


def refund_event(event_id: str, intent_id: str, amount: int) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": "charge.refunded", "created": int(time.time()),
                       "data": {"object": {"id": f"ch_{intent_id[3:]}", "object": "charge",
                                           "payment_intent": intent_id, "amount": amount,
                                           "amount_refunded": amount, "refunded": True, "currency": "cny"}}}).encode()


def test_a_full_refund_through_the_signed_webhook_reverses_the_payment_once(debtor, stripe_settings):
    from tenants.billing.stripe_gateway import StripeGateway
    from tenants.portal.payments import PaymentsGateway

    case = debtor()
    url = start_payment(case)
    assert case.post(url, {"card_number": "4242424242424242"}).status_code == 302
    [row] = portal_payments(case)
    with tenant_scope(case.lender.id):
        assert db.session.get(Account, case.account.id).outstanding_minor == 395_000
    PaymentsGateway(StripeGateway(stripe_settings)).refund(row.intent_id)  # the refund made in Stripe

    payload = refund_event("evt_refund_1", row.intent_id, 50_000)
    hook = FreshContextClient(case.client.application, case.client.application.response_class)
    first = hook.post("/billing/stripe/webhook", data=payload,
                      headers={"Stripe-Signature": signed(payload), "Content-Type": "application/json"})
    assert first.status_code == 200 and first.json["outcome"] == "applied"
    again = hook.post("/billing/stripe/webhook", data=payload,
                      headers={"Stripe-Signature": signed(payload), "Content-Type": "application/json"})
    other_id = refund_event("evt_refund_2", row.intent_id, 50_000)
    resent = hook.post("/billing/stripe/webhook", data=other_id,
                       headers={"Stripe-Signature": signed(other_id), "Content-Type": "application/json"})
    assert again.json["outcome"] == resent.json["outcome"] == "duplicate"
    forged = hook.post("/billing/stripe/webhook", data=payload,
                       headers={"Stripe-Signature": "t=1,v1=bad", "Content-Type": "application/json"})
    assert forged.status_code == 400

    [row] = portal_payments(case)
    [payment] = payments_of(case)
    assert (row.status, row.refunded_minor, payment.status) == ("refunded", 50_000, "reversed")
    with tenant_scope(case.lender.id):
        assert db.session.get(Account, case.account.id).outstanding_minor == 445_000
        reversals = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "payment.reversed", AuditEvent.object_id == str(payment.id)))
        assert reversals == 1
    assert re.search(r"refunded", case.home())
