"""Every call Recoverly makes to Stripe, through the official `stripe` library (StripeClient, `client.v1.*`).

The calls are the subset that is valid on the real Stripe API and that localstripe (the local stand-in used by the
demo, the tests and the benchmark) implements:
- customers, a zero-amount Plan (not a Price: localstripe has no Prices) and one subscription per customer, because
  localstripe creates invoices only for a subscription. Invoice items are attached to that subscription, so on the
  real API an invoice created for the subscription takes exactly our pending items. The plan renews yearly so
  Stripe's own renewal invoice (which would sweep pending items) is rare; the jobs adopt such an invoice by its
  lines' metadata anyway.
- idempotency keys are sent on every create (the real API honours them for 24 hours; localstripe ignores them),
  but correctness never rests on them: the jobs reconcile by metadata before creating.
- collecting an invoice: the real API finalizes it (`finalize_invoice`; automatic collection then charges the
  customer and reports by webhook); localstripe has no finalize, so on the stand-in we pay it directly, which is
  what automatic collection would do. tests/billing/test_stripe_real_shapes.py checks the real-API path against
  recorded responses.

The gateway answers plain dicts (the library's objects are not dicts) and counts its calls (the billing benchmark
reports them).
"""
import ipaddress
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlparse

import stripe

PRODUCT_ID = "recoverly-cases"
METADATA_TENANT = "recoverly_tenant_id"
METADATA_PERIOD = "recoverly_period"
METADATA_USAGE = "recoverly_usage"  # usage sequence numbers as ranges, e.g. "1-1500,1502-1600"
METADATA_CASES = "recoverly_cases"
METADATA_FREE = "recoverly_free_cases"
METADATA_VALUE_LIMIT = 500  # Stripe's limit on one metadata value


@dataclass(frozen=True)
class StripeSettings:
    api_key: str
    api_base: str | None = None  # None: Stripe itself
    webhook_secret: str | None = None
    # localstripe: it has no finalize, so collecting pays the invoice directly, and test cards may be attached.
    standin: bool = False

    @classmethod
    def from_config(cls, config) -> "StripeSettings":
        api_base = config.get("STRIPE_API_BASE") or None
        return cls(api_key=config.get("STRIPE_API_KEY") or "sk_test_localstripe", api_base=api_base,
                   webhook_secret=config.get("STRIPE_WEBHOOK_SECRET") or None, standin=api_base is not None)


def _on_this_machine(url: str) -> bool:
    host = urlparse(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StripeGateway:
    def __init__(self, settings: StripeSettings):
        if settings.api_base and not _on_this_machine(settings.api_base):
            raise ValueError("STRIPE_API_BASE may only point at a stand-in on this machine (127.0.0.1)")
        self.settings = settings
        options = {"base_addresses": {"api": settings.api_base}} if settings.api_base else {}
        # Network retries are the library's (with its own idempotency keys); our jobs retry whole steps.
        self.client = stripe.StripeClient(settings.api_key, max_network_retries=2, **options)
        self.calls: Counter = Counter()
        self._plans_seen: set[str] = set()

    def _count(self, name: str) -> None:
        self.calls[name] += 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    # ---- catalogue: one zero-amount yearly plan per currency -----------------------------------------------
    def plan_for(self, currency: str) -> str:
        plan_id = f"recoverly-cases-{currency.lower()}"
        if plan_id in self._plans_seen:
            return plan_id
        self._plans_seen.add(self._plan_in_stripe(plan_id, currency))
        return plan_id

    def _plan_in_stripe(self, plan_id: str, currency: str) -> str:
        try:
            self._count("plans.retrieve")
            return self.client.v1.plans.retrieve(plan_id).id
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
        self._ensure_product()
        self._count("plans.create")
        try:
            return self.client.v1.plans.create(params={
                "id": plan_id, "product": PRODUCT_ID, "amount": 0, "currency": currency.lower(),
                "interval": "year", "nickname": f"Recoverly per-case billing ({currency})"}).id
        except stripe.InvalidRequestError:
            return self.client.v1.plans.retrieve(plan_id).id  # created meanwhile by another worker

    def _ensure_product(self) -> None:
        try:
            self._count("products.retrieve")
            self.client.v1.products.retrieve(PRODUCT_ID)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
            self._count("products.create")
            try:
                self.client.v1.products.create(params={"id": PRODUCT_ID, "name": "Recoverly cases"})
            except stripe.InvalidRequestError:
                pass  # created meanwhile

    # ---- customers --------------------------------------------------------------------------------------------
    def find_customer(self, tenant_id: str) -> str | None:
        """Reconciliation after an interrupted create: our tenant id is in the customer's metadata."""
        self._count("customers.list")
        for customer in self.client.v1.customers.list(params={"limit": 100}).auto_paging_iter():
            if (customer.to_dict().get("metadata") or {}).get(METADATA_TENANT) == tenant_id:
                return customer.id
        return None

    def create_customer(self, tenant_id: str, name: str, currency: str) -> str:
        self._count("customers.create")
        return self.client.v1.customers.create(
            params={"name": name, "metadata": {METADATA_TENANT: tenant_id},
                    "description": f"Recoverly tenant {tenant_id} ({currency})"},
            options={"idempotency_key": f"recoverly-customer-{tenant_id}"}).id

    def attach_test_payment_method(self, customer_id: str, *, bouncing: bool = False) -> None:
        """Stand-in only: a card that pays, or a direct debit whose charge bounces after a moment (reported by the
        invoice.payment_failed webhook, as a failed automatic collection is on the real API)."""
        if not self.settings.standin:
            raise RuntimeError("test payment methods are for the local stand-in only")
        self._count("payment_methods.create")
        params = ({"type": "sepa_debit", "sepa_debit": {"iban": "DE62370400440532013001"}} if bouncing else
                  {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035,
                                            "cvc": "123"}})
        method = self.client.v1.payment_methods.create(params=params)
        self._count("payment_methods.attach")
        self.client.v1.payment_methods.attach(method.id, params={"customer": customer_id})
        self._count("customers.update")
        self.client.v1.customers.update(customer_id, params={
            "invoice_settings": {"default_payment_method": method.id}})

    def find_subscription(self, customer_id: str, plan_id: str) -> str | None:
        self._count("subscriptions.list")
        for subscription in self.client.v1.subscriptions.list(params={"customer": customer_id}).auto_paging_iter():
            items = subscription["items"]["data"]
            if any(item["plan"]["id"] == plan_id for item in items):
                return subscription.id
        return None

    def create_subscription(self, customer_id: str, plan_id: str, tenant_id: str) -> str:
        self._count("subscriptions.create")
        return self.client.v1.subscriptions.create(
            params={"customer": customer_id, "items": [{"plan": plan_id}], "metadata": {METADATA_TENANT: tenant_id}},
            options={"idempotency_key": f"recoverly-subscription-{tenant_id}-{plan_id}"}).id

    # ---- invoice items ----------------------------------------------------------------------------------------
    def pending_items(self, customer_id: str) -> list:
        """Invoice items not yet on an invoice. The real API filters them (`pending`); localstripe refuses that
        parameter and lists only pending ones anyway."""
        self._count("invoice_items.list")
        params = {"customer": customer_id, "limit": 100, **({} if self.settings.standin else {"pending": True})}
        items = (item.to_dict() for item in self.client.v1.invoice_items.list(params=params).auto_paging_iter())
        return [item for item in items if not item.get("invoice")]

    def create_item(self, *, customer_id: str, subscription_id: str, amount_minor: int, currency: str,
                    description: str, metadata: dict, idempotency_key: str):
        self._count("invoice_items.create")
        return self.client.v1.invoice_items.create(
            params={"customer": customer_id, "subscription": subscription_id, "amount": amount_minor,
                    "currency": currency.lower(), "description": description, "metadata": metadata},
            options={"idempotency_key": idempotency_key}).to_dict()

    # ---- invoices ---------------------------------------------------------------------------------------------
    def invoices(self, customer_id: str) -> list:
        self._count("invoices.list")
        return [invoice.to_dict() for invoice in self.client.v1.invoices.list(
            params={"customer": customer_id, "limit": 100}).auto_paging_iter()]

    def create_invoice(self, *, customer_id: str, subscription_id: str, description: str, metadata: dict,
                       idempotency_key: str):
        self._count("invoices.create")
        return self.client.v1.invoices.create(
            params={"customer": customer_id, "subscription": subscription_id, "description": description,
                    "metadata": metadata, "pending_invoice_items_behavior": "include"},
            options={"idempotency_key": idempotency_key}).to_dict()

    def collect(self, invoice_id: str):
        """Ask Stripe to charge the invoice; the outcome arrives by webhook."""
        if self.settings.standin:
            self._count("invoices.pay")
            return self.client.v1.invoices.pay(invoice_id).to_dict()
        self._count("invoices.finalize_invoice")
        return self.client.v1.invoices.finalize_invoice(invoice_id, params={"auto_advance": True}).to_dict()

    # ---- webhooks ---------------------------------------------------------------------------------------------
    def construct_event(self, payload: bytes, signature: str | None):
        """The verified event; raises stripe.SignatureVerificationError or ValueError (not JSON)."""
        if not self.settings.webhook_secret:
            raise stripe.SignatureVerificationError("no webhook signing secret is configured", signature)
        return self.client.construct_event(payload, signature, self.settings.webhook_secret)


def seq_runs(seqs) -> list[tuple[int, int]]:
    """[1, 2, 3, 7] → [(1, 3), (7, 7)]."""
    runs = []
    for seq in sorted(seqs):
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def usage_ranges(seqs) -> str:
    """[1, 2, 3, 7] → "1-3,7"."""
    return ",".join(f"{first}-{last}" if last != first else str(first) for first, last in seq_runs(seqs))


def parse_ranges(text: str) -> set[int]:
    seqs = set()
    for part in filter(None, (text or "").split(",")):
        low, _, high = part.partition("-")
        seqs.update(range(int(low), int(high or low) + 1))
    return seqs


def usage_metadata(seqs: list[int]) -> dict:
    """The ranges, split over numbered keys when one value would pass Stripe's 500-character limit."""
    text = usage_ranges(seqs)
    chunks, current = [], ""
    for part in text.split(","):
        candidate = f"{current},{part}" if current else part
        if len(candidate) > METADATA_VALUE_LIMIT:
            chunks.append(current)
            current = part
        else:
            current = candidate
    chunks.append(current)
    return {METADATA_USAGE if i == 0 else f"{METADATA_USAGE}_{i}": chunk for i, chunk in enumerate(chunks)}


def usage_from_metadata(metadata: dict) -> set[int]:
    return set().union(*(parse_ranges(v) for k, v in (metadata or {}).items()
                         if k == METADATA_USAGE or k.startswith(METADATA_USAGE + "_")))
