"""What the Stripe stand-in lacks for the portal's payments, checked against responses recorded from Stripe's API
(tests/integration/stripe_shapes/): localstripe has no Connect, so on it the lender's account travels in metadata;
on the real API the PaymentIntent is created for the lender's connected account (`on_behalf_of` and
`transfer_data[destination]`) with an idempotency key, and the `payment_intent.succeeded` /
`payment_intent.payment_failed` events of that shape are what records (or does not record) the payment.

The `stripe` library talks HTTP to a loopback server replaying those responses; nothing of the library is mocked.
The debtor goes through the portal's own pages; only the portal's gateway is pointed at the recorded server."""
import json
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
from tests.conftest import FreshContextClient
from tests.integration.test_portal import SECRET, csrf_of, signed
from tests.integration.test_portal_paths import debtor  # noqa: F401  (the fixture)

SHAPES = Path(__file__).parent / "stripe_shapes"
INTENT = "pi_3QRecordedPortal0001"


class RecordedStripe(BaseHTTPRequestHandler):
    """Answers PaymentIntent calls with the recorded shapes, echoing the metadata the request sent (as Stripe does)."""

    requests: list = []
    metadata: dict = {}

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
        if urlparse(self.path).path == f"/v1/payment_intents/{INTENT}":
            return self._answer(shape("payment_intent_created", RecordedStripe.metadata))
        self.send_error(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self._record(body)
        if urlparse(self.path).path == "/v1/payment_intents":
            sent = parse_qs(body)
            RecordedStripe.metadata = {key[len("metadata["):-1]: values[0] for key, values in sent.items()
                                       if key.startswith("metadata[")}
            return self._answer(shape("payment_intent_created", RecordedStripe.metadata))
        self.send_error(404)


def shape(name: str, metadata: dict) -> dict:
    recorded = json.loads((SHAPES / f"{name}.json").read_text())
    intent = recorded["data"]["object"] if recorded.get("object") == "event" else recorded
    intent["metadata"] = {key: metadata.get(key, value) for key, value in intent["metadata"].items()}
    return recorded


@pytest.fixture
def recorded_stripe(app, monkeypatch):
    RecordedStripe.requests, RecordedStripe.metadata = [], {}
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


def pay_500(case) -> str:
    page = case.client.get("/p/pay")
    started = case.client.post("/p/pay", data={"csrf": csrf_of(page), "amount": "500.00", "method": "card"})
    assert started.status_code == 302, started.get_data(as_text=True)
    return started.headers["Location"]


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


def test_the_intent_is_made_for_the_lenders_connected_account_and_the_succeeded_event_records_the_payment(
        debtor, recorded_stripe):  # noqa: F811
    case = debtor()
    url = pay_500(case)

    [create] = [r for r in RecordedStripe.requests if r["method"] == "POST"]
    body = create["body"]
    assert create["path"] == "/v1/payment_intents"
    assert body["amount"] == ["50000"] and body["currency"] == ["cny"]
    assert body["payment_method_types[0]"] == ["card"]
    assert body["on_behalf_of"] == ["acct_1JadeLending"]
    assert body["transfer_data[destination]"] == ["acct_1JadeLending"]
    assert body["metadata[recoverly_account_id]"] == [str(case.account.id)]
    assert body["metadata[recoverly_tenant_id]"] == [str(case.lender.id)]
    assert "metadata[recoverly_destination]" not in body  # the stand-in's stopgap only
    assert "payment_method" not in body  # the debtor pays on Stripe's side, never by a card number sent to us
    [(portal_payment_id,)] = [tuple(v) for k, v in body.items() if k == "metadata[recoverly_portal_payment_id]"]
    assert create["headers"]["Idempotency-Key"] == f"recoverly-portal-payment-{portal_payment_id}"
    assert create["headers"]["Stripe-Version"] == stripe.api_version

    [row], recorded, balance = rows(case)
    assert (str(row.id), row.intent_id, row.connected_account) == (portal_payment_id, INTENT, "acct_1JadeLending")
    assert (row.status, recorded, balance) == ("created", [], 445_000)

    # Back on the page before the webhook: Stripe is asked, says it waits for a payment method; nothing changes.
    page = case.client.get(url).get_data(as_text=True)
    assert any(r["method"] == "GET" and r["path"] == f"/v1/payment_intents/{INTENT}" for r in RecordedStripe.requests)
    assert 'id="card-form"' not in page and 'id="paid"' not in page

    assert deliver(case, "event_payment_intent_succeeded")["outcome"] == "applied"
    [row], [payment], balance = rows(case)
    assert row.status == "succeeded" and row.payment_id == payment.id
    assert (payment.status, payment.amount_minor, payment.method, payment.reference) == (
        "confirmed", 50_000, "card", INTENT)
    assert balance == 395_000
    assert deliver(case, "event_payment_intent_succeeded")["outcome"] == "duplicate"  # Stripe retries
    assert len(rows(case)[1]) == 1
    assert 'id="paid"' in case.client.get(url).get_data(as_text=True)


def test_the_payment_failed_event_records_the_failure_and_no_payment(debtor, recorded_stripe):  # noqa: F811
    case = debtor()
    url = pay_500(case)
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
    payload = json.dumps(shape("event_payment_intent_succeeded", RecordedStripe.metadata)).encode()
    at = int(time.time())
    forged = f"t={at},v1=" + stripe.WebhookSignature._compute_signature(f"{at}.{payload.decode()}", "whsec_other")
    answer = stripe_client(case).post(
        "/billing/stripe/webhook", data=payload, headers={"Stripe-Signature": forged,
                                                          "Content-Type": "application/json"})
    assert answer.status_code == 400
    [row], recorded, _balance = rows(case)
    assert (row.status, recorded) == ("created", [])
