"""What the Stripe stand-in lacks for the portal's payments, checked against responses recorded from Stripe's API
(tests/integration/stripe_shapes/): localstripe has no Connect and no Checkout, so on it the lender's account travels
in metadata and the debtor types a test card on our page; on the real API the debtor is sent to a Stripe-hosted
Checkout Session whose PaymentIntent is made for the lender's connected account (`payment_intent_data[on_behalf_of]`
and `[transfer_data][destination]`), with an idempotency key, and the `payment_intent.succeeded` /
`payment_intent.payment_failed` / `checkout.session.*` events of that shape are what records (or does not record)
the payment.

The `stripe` library talks HTTP to a loopback server replaying those responses; nothing of the library is mocked.
The debtor goes through the portal's own pages; only the portal's gateway is pointed at the recorded server."""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import stripe
from sqlalchemy import select

from tenants.billing.stripe_gateway import StripeGateway, StripeSettings
from tenants.casework.money_models import Payment
from tenants.context import tenant_scope
from tenants.db import db
from tenants.portal.models import PortalPayment
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tests.conftest import FreshContextClient
from tests.integration.test_portal import SECRET, csrf_of, signed
from tests.integration.test_portal_paths import debtor  # noqa: F401  (the fixture)

SHAPES = Path(__file__).parent / "stripe_shapes"
INTENT = "pi_3QRecordedCheckout0001"  # the intent the recorded Checkout Session made
SESSION = "cs_test_a1RecordedPortalCheckout0001"
CHECKOUT_URL = ("https://checkout.stripe.com/c/pay/cs_test_a1RecordedPortalCheckout0001"
                "#fidkdWxOYHwnPyd1blpxYHZxWjA0RecordedFragment")


class RecordedStripe(BaseHTTPRequestHandler):
    """Answers Checkout Session and PaymentIntent calls with the recorded shapes, echoing the metadata the request
    sent (as Stripe does). `paid` turns the session into the completed one and its intent into the succeeded one."""

    requests: list = []
    metadata: dict = {}
    paid: bool = False

    def log_message(self, *args):
        pass

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Request-Id", "req_recorded")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: str = "") -> None:
        self.requests.append({"method": self.command, "path": urlparse(self.path).path,
                              "headers": dict(self.headers), "body": parse_qs(body)})

    def do_GET(self):
        self._record()
        path = urlparse(self.path).path
        if path == f"/v1/checkout/sessions/{SESSION}":
            if RecordedStripe.paid:
                return self._answer(recorded_object("event_checkout_session_completed"))
            return self._answer(shape("checkout_session_created", RecordedStripe.metadata))
        if path == f"/v1/payment_intents/{INTENT}" and RecordedStripe.paid:
            return self._answer(recorded_object("event_checkout_payment_intent_succeeded"))
        self.send_error(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self._record(body)
        if urlparse(self.path).path == "/v1/checkout/sessions":
            sent = parse_qs(body)
            RecordedStripe.metadata = {key[len("metadata["):-1]: values[0] for key, values in sent.items()
                                       if key.startswith("metadata[")}
            return self._answer(shape("checkout_session_created", RecordedStripe.metadata))
        self.send_error(404)


def shape(name: str, metadata: dict) -> dict:
    recorded = json.loads((SHAPES / f"{name}.json").read_text())
    obj = recorded["data"]["object"] if recorded.get("object") == "event" else recorded
    obj["metadata"] = {key: metadata.get(key, value) for key, value in obj["metadata"].items()}
    if obj.get("object") == "checkout.session":
        obj["client_reference_id"] = metadata.get("recoverly_portal_payment_id", obj["client_reference_id"])
    return recorded


def recorded_object(event_name: str) -> dict:
    """The object of a recorded event, as Stripe answers a retrieve of it."""
    return shape(event_name, RecordedStripe.metadata)["data"]["object"]


@pytest.fixture
def recorded_stripe(app, monkeypatch):
    RecordedStripe.requests, RecordedStripe.metadata, RecordedStripe.paid = [], {}, False
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedStripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = StripeSettings(api_key="sk_test_recorded", api_base=f"http://127.0.0.1:{server.server_address[1]}",
                              webhook_secret=SECRET, standin=False)  # the real API's behaviour, not the stand-in's
    from tenants.portal import payments
    from web.portal import views

    monkeypatch.setattr(views, "_gateway", lambda: payments.PaymentsGateway(StripeGateway(settings)))
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", SECRET)
    yield settings
    server.shutdown()


def pay_500(case, method: str = "card") -> str:
    """The debtor asks to pay 500.00 and is sent to Stripe's hosted page; returns the page of this payment."""
    page = case.client.get("/p/pay")
    # The pay form may lead to Stripe's page (its answer is a redirect there), and nowhere else.
    assert "form-action 'self' https://checkout.stripe.com;" in page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    started = case.client.post("/p/pay", data={"csrf": csrf_of(page), "amount": "500.00", "method": method})
    assert started.status_code == 303, started.get_data(as_text=True)
    assert started.headers["Location"] == CHECKOUT_URL
    [create] = [r for r in RecordedStripe.requests if r["method"] == "POST"]
    return create["body"]["success_url"][0]


def stripe_client(case):
    """Stripe's side: a client of its own, each request in a fresh context as a server would run it."""
    return FreshContextClient(case.client.application, case.client.application.response_class)


def deliver(case, name: str) -> dict:
    payload = json.dumps(shape(name, RecordedStripe.metadata)).encode()
    answer = stripe_client(case).post(
        "/billing/stripe/webhook", data=payload,
        headers={"Stripe-Signature": signed(payload), "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json


def rows(case):
    db.session.expire_all()
    with tenant_scope(case.lender.id):
        portal = db.session.scalars(select(PortalPayment).where(PortalPayment.account_id == case.account.id)).all()
        recorded = db.session.scalars(select(Payment).where(Payment.account_id == case.account.id)).all()
        balance = db.session.scalar(select(Account.outstanding_minor).where(Account.id == case.account.id))
    return portal, recorded, balance


def returned_to_payment_page(case, success_url: str) -> str:
    """Stripe sends the debtor back to a page that needs no session cookie (SameSite=Strict is not sent on a
    navigation from Stripe's site); its link leads on to the payment's page, where the session is checked."""
    landing = FreshContextClient(case.client.application, case.client.application.response_class)
    back = landing.get(success_url.removeprefix("http://127.0.0.1:5000"))
    assert back.status_code == 200
    return re.search(r'href="([^"]+)" id="see-payment"', back.get_data(as_text=True)).group(1).replace("&amp;", "&")


def test_the_debtor_pays_on_a_checkout_session_for_the_lenders_connected_account_and_the_webhook_records_it_once(
        debtor, recorded_stripe):  # noqa: F811
    case = debtor()
    success_url = pay_500(case)

    [create] = [r for r in RecordedStripe.requests if r["method"] == "POST"]
    body = create["body"]
    assert create["path"] == "/v1/checkout/sessions"
    assert body["mode"] == ["payment"]
    assert body["line_items[0][quantity]"] == ["1"]
    assert body["line_items[0][price_data][unit_amount]"] == ["50000"]
    assert body["line_items[0][price_data][currency]"] == ["cny"]
    assert body["payment_method_types[0]"] == ["card"] and "payment_method_types[1]" not in body
    assert "payment_method_options[wechat_pay][client]" not in body
    assert body["payment_intent_data[on_behalf_of]"] == ["acct_1JadeLending"]
    assert body["payment_intent_data[transfer_data][destination]"] == ["acct_1JadeLending"]
    [portal_payment_id] = body["client_reference_id"]
    assert body["payment_intent_data[metadata][recoverly_portal_payment_id]"] == [portal_payment_id]
    assert body["payment_intent_data[metadata][recoverly_account_id]"] == [str(case.account.id)]
    assert body["payment_intent_data[metadata][recoverly_tenant_id]"] == [str(case.lender.id)]
    assert not any("recoverly_destination" in key for key in body)  # the stand-in's stopgap only
    assert success_url == body["cancel_url"][0] == f"http://127.0.0.1:5000/p/returned?ref={portal_payment_id}"
    assert create["headers"]["Idempotency-Key"] == f"recoverly-portal-payment-{portal_payment_id}"
    assert create["headers"]["Stripe-Version"] == stripe.api_version
    # Nothing about the debtor leaves: what Stripe shows and keeps names the creditor only, metadata is our ids.
    with tenant_scope(case.lender.id):
        account = db.session.get(Account, case.account.id)
        personal = [value for value in (account.external_ref, account.debtor_name, account.id_number) if value]
    assert personal
    description = body["line_items[0][price_data][product_data][name]"][0]
    assert description == body["payment_intent_data[description]"][0] == f"Repayment to {case.lender.name}"
    sent_text = " ".join(v for values in body.values() for v in values)
    assert not any(p in sent_text for p in personal)
    assert all(key.startswith(("line_items", "payment_intent_data", "metadata", "payment_method_types"))
               or key in ("mode", "client_reference_id", "success_url", "cancel_url") for key in body)

    [row], recorded, balance = rows(case)
    assert (str(row.id), row.intent_id, row.connected_account) == (portal_payment_id, SESSION, "acct_1JadeLending")
    assert (row.status, recorded, balance) == ("created", [], 445_000)

    # Back from Stripe without paying: the session is still open, the page leads back to it; nothing changes.
    url = returned_to_payment_page(case, success_url)
    page = case.client.get(url).get_data(as_text=True)
    assert any(r["method"] == "GET" and r["path"] == f"/v1/checkout/sessions/{SESSION}"
               for r in RecordedStripe.requests)
    assert 'id="continue-checkout"' in page and CHECKOUT_URL in page
    assert 'id="card-form"' not in page and 'id="paid"' not in page

    # The debtor paid: the intent's event comes before the session's; it finds its row by the metadata.
    assert deliver(case, "event_checkout_payment_intent_succeeded")["outcome"] == "applied"
    [row], [payment], balance = rows(case)
    assert row.intent_id == INTENT and row.status == "succeeded" and row.payment_id == payment.id
    assert (payment.status, payment.amount_minor, payment.method, payment.reference) == (
        "confirmed", 50_000, "card", INTENT)
    assert balance == 395_000
    assert deliver(case, "event_checkout_session_completed")["outcome"] == "duplicate"
    assert deliver(case, "event_checkout_payment_intent_succeeded")["outcome"] == "duplicate"  # Stripe retries
    assert len(rows(case)[1]) == 1
    RecordedStripe.paid = True
    assert 'id="paid"' in case.client.get(url).get_data(as_text=True)
    assert len(rows(case)[1]) == 1


def test_the_completed_session_links_its_intent_and_the_return_records_the_payment_once(
        debtor, recorded_stripe):  # noqa: F811
    case = debtor()
    success_url = pay_500(case)
    assert deliver(case, "event_checkout_session_completed")["outcome"] == "applied"
    [row], recorded, _balance = rows(case)
    assert (row.intent_id, row.status, recorded) == (INTENT, "created", [])  # linked; the money is the intent's
    # The debtor is back before the intent's event: Stripe is asked, the payment is recorded.
    RecordedStripe.paid = True
    page = case.client.get(returned_to_payment_page(case, success_url)).get_data(as_text=True)
    assert 'id="paid"' in page
    assert deliver(case, "event_checkout_payment_intent_succeeded")["outcome"] == "duplicate"
    [row], [payment], balance = rows(case)
    assert (row.payment_id, payment.reference, balance) == (payment.id, INTENT, 395_000)


def test_an_expired_session_cancels_the_payment(debtor, recorded_stripe):  # noqa: F811
    case = debtor()
    pay_500(case)
    assert deliver(case, "event_checkout_session_expired")["outcome"] == "applied"
    assert deliver(case, "event_checkout_session_expired")["outcome"] == "duplicate"
    [row], recorded, balance = rows(case)
    assert (row.status, recorded, balance) == ("canceled", [], 445_000)


def test_wechat_pay_is_asked_for_the_web_client(debtor, recorded_stripe):  # noqa: F811
    case = debtor()
    with tenant_scope(case.lender.id):
        lender = db.session.get(Tenant, case.lender.id)
        lender.settings = {**lender.settings, "portal_payment_methods": ["card", "alipay", "wechat_pay"]}
        db.session.commit()
    pay_500(case, method="wechat_pay")
    [create] = [r for r in RecordedStripe.requests if r["method"] == "POST"]
    assert create["body"]["payment_method_types[0]"] == ["wechat_pay"]
    assert create["body"]["payment_method_options[wechat_pay][client]"] == ["web"]


def test_the_payment_failed_event_records_the_failure_and_no_payment(debtor, recorded_stripe):  # noqa: F811
    case = debtor()
    url = returned_to_payment_page(case, pay_500(case))
    # The intent's event finds the row, still known by its session, by the metadata.
    assert deliver(case, "event_payment_intent_payment_failed")["outcome"] == "applied"
    [row], recorded, balance = rows(case)
    assert (row.status, row.failure_code, row.payment_id) == ("failed", "card_declined", None)
    assert (recorded, balance) == ([], 445_000)
    assert 'id="failed"' in case.client.get(url).get_data(as_text=True)
    # The same intent paid after all (another card on Stripe's page): the money arrived, recorded once.
    assert deliver(case, "event_payment_intent_succeeded")["outcome"] == "applied"
    [row], [payment], balance = rows(case)
    assert (row.status, row.payment_id, payment.amount_minor, balance) == ("succeeded", payment.id, 50_000, 395_000)


def test_an_event_signed_with_another_secret_changes_nothing(debtor, recorded_stripe):  # noqa: F811
    case = debtor()
    pay_500(case)
    payload = json.dumps(shape("event_checkout_payment_intent_succeeded", RecordedStripe.metadata)).encode()
    at = int(time.time())
    forged = f"t={at},v1=" + stripe.WebhookSignature._compute_signature(f"{at}.{payload.decode()}", "whsec_other")
    answer = stripe_client(case).post(
        "/billing/stripe/webhook", data=payload, headers={"Stripe-Signature": forged,
                                                          "Content-Type": "application/json"})
    assert answer.status_code == 400
    [row], recorded, _balance = rows(case)
    assert (row.status, recorded) == ("created", [])
