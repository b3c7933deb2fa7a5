"""What localstripe lacks, checked against responses recorded from Stripe's API (tests/billing/stripe_shapes/):
collecting on the real API finalizes the invoice (localstripe has no finalize), every create carries an idempotency
key (localstripe ignores them), and our reading of invoice items and invoices holds on the real shapes (new-style
line items whose invoice item sits under `parent`, invoiced items listed beside pending ones).

The `stripe` library talks HTTP to a loopback server replaying those responses; nothing of the library is mocked.
"""
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import stripe
from sqlalchemy import select

from tenants.billing import invoicing
from tenants.billing.models import BillingInvoice, InvoiceStatus
from tenants.billing.plans import plan_of
from tenants.billing.stripe_gateway import StripeGateway, StripeSettings
from tenants.context import tenant_scope
from tenants.db import db
from tenants.tenancy.roles import TenantKind
from tests.billing.helpers import NEXT_MONTH, accept_cases

SHAPES = Path(__file__).parent / "stripe_shapes"


class RecordedStripe(BaseHTTPRequestHandler):
    tenant_id = "TENANT"
    requests: list = []

    def log_message(self, *args):
        pass

    def _shape(self, name: str) -> dict:
        return json.loads((SHAPES / f"{name}.json").read_text().replace("TENANT", self.tenant_id))

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Request-Id", "req_recorded")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: str = "") -> None:
        self.requests.append({"method": self.command, "path": urlparse(self.path).path, "headers": dict(self.headers),
                              "query": urlparse(self.path).query, "body": parse_qs(body)})

    def do_GET(self):
        self._record()
        path = urlparse(self.path).path
        if path == "/v1/invoiceitems":
            invoiced = {**self._shape("invoice_item"), "id": "ii_AlreadyInvoiced", "invoice": "in_Older"}
            someone_else = self._shape("invoice_item")
            someone_else.update(id="ii_OtherTenant", metadata={**someone_else["metadata"],
                                                               "recoverly_tenant_id": "another-tenant"})
            return self._answer({"object": "list", "data": [invoiced, someone_else], "has_more": False,
                                 "url": "/v1/invoiceitems"})
        if path == "/v1/invoices":
            return self._answer({"object": "list", "data": [], "has_more": False, "url": "/v1/invoices"})
        self.send_error(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self._record(body)
        path = urlparse(self.path).path
        if path == "/v1/invoiceitems":
            return self._answer(self._shape("invoice_item"))
        if path == "/v1/invoices":
            return self._answer(self._shape("invoice_draft"))
        if path.endswith("/finalize"):
            return self._answer(self._shape("invoice_finalized"))
        self.send_error(404)


@pytest.fixture
def recorded_stripe():
    RecordedStripe.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordedStripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_on_the_real_api_an_ended_period_is_invoiced_and_finalized_with_idempotency_keys(
        db_session, factory, frozen_clock, recorded_stripe):
    lender, agency = factory.tenant(TenantKind.LENDER), factory.tenant(TenantKind.AGENCY)
    factory.panel(lender, agency)
    frozen_clock.set(datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc))
    accept_cases(factory, lender, agency, 3)
    RecordedStripe.tenant_id = str(agency.id)
    with tenant_scope(agency.id):
        plan = plan_of(agency)
        plan.stripe_customer_id, plan.stripe_subscription_id = "cus_RecordedCustomer1", "sub_RecordedSubscription1"
        db.session.flush()
    frozen_clock.set(NEXT_MONTH)
    gateway = StripeGateway(StripeSettings(api_key="sk_test_recorded", api_base=recorded_stripe, standin=False))

    with tenant_scope(agency.id):
        run = invoicing.bill(agency, gateway)
        invoice = db.session.scalar(select(BillingInvoice).where(BillingInvoice.tenant_id == agency.id))

    assert (run.items_created, run.items_adopted, run.invoices_created) == (1, 0, 1)
    assert invoice.status == InvoiceStatus.OPEN  # finalized; the payment's outcome comes by webhook
    assert invoice.stripe_invoice_id == "in_1QRecordedInvoice01"
    assert invoice.stripe_amount_minor == invoice.amount_minor == 1500
    assert invoice.hosted_invoice_url.startswith("https://invoice.stripe.com/")  # where the payer pays
    [listed] = [r for r in RecordedStripe.requests if r["method"] == "GET" and r["path"] == "/v1/invoiceitems"]
    assert "pending=true" in listed["query"]  # only items not yet invoiced, however long the customer's history
    posts = {r["path"]: r for r in RecordedStripe.requests if r["method"] == "POST"}
    assert set(posts) == {"/v1/invoiceitems", "/v1/invoices", "/v1/invoices/in_1QRecordedInvoice01/finalize"}
    for path in ("/v1/invoiceitems", "/v1/invoices"):
        assert posts[path]["headers"]["Idempotency-Key"].startswith("recoverly-")
        assert posts[path]["headers"]["Stripe-Version"] == stripe.api_version
    assert posts["/v1/invoiceitems"]["body"]["subscription"] == ["sub_RecordedSubscription1"]
    assert posts["/v1/invoiceitems"]["body"]["amount"] == ["1500"]
    assert posts["/v1/invoices"]["body"]["pending_invoice_items_behavior"] == ["include"]
    assert posts["/v1/invoices/in_1QRecordedInvoice01/finalize"]["body"]["auto_advance"] == ["true"]


def test_the_gateway_refuses_a_base_address_off_this_machine():
    with pytest.raises(ValueError):
        StripeGateway(StripeSettings(api_key="sk_test_x", api_base="https://stripe.example.com"))
