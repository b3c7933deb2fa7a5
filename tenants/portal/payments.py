"""Paying the creditor from the portal, through Stripe.

One PaymentIntent per payment, made for the lender as a connected account: on Stripe's API the intent carries
`on_behalf_of` and `transfer_data[destination]` (the lender's `stripe_connected_account` setting), so the money goes
to the creditor, not to the platform. Methods: card, and Alipay / WeChat Pay where the lender's
`portal_payment_methods` setting enables them. The outcome comes by Stripe's signed webhook (web/billing_webhook.py
hands `payment_intent.*` and `charge.refunded` here) and, when the debtor comes back to the page, by asking Stripe
for the intent: both run `apply_intent`, idempotent by the intent id (one PortalPayment per intent, and the payment
it records carries the key `stripe:<intent id>`). A succeeded intent is recorded as a lender-reported payment —
confirmed at once and allocated fees → penalty → interest → principal like any other —; a failed or cancelled one
records nothing; a full refund reverses the payment exactly.

The Stripe stand-in (localstripe) has PaymentIntents, card PaymentMethods, confirmation, refunds and signed
webhooks, but no Connect: on it the destination travels in the intent's metadata instead, and the debtor pays with a
stand-in test card entered on our own page (no third-party script is ever loaded). On Stripe's API a card is paid on
Stripe's own page and Alipay / WeChat Pay by their redirect or QR code; tests/integration/test_portal_stripe_shapes.py
checks those requests against responses recorded from Stripe.

On Stripe's API the debtor pays on a Stripe-hosted Checkout Session (the portal loads no Stripe.js): mode=payment,
one line item, the chosen method, and `payment_intent_data` carrying the connected account and our metadata, so the
PaymentIntent Stripe makes when the debtor confirms is the lender's like the stand-in's. Stripe makes that intent
only then, so until it is known the row's `intent_id` holds the session id (`cs_…`); the first of
`checkout.session.completed`, `payment_intent.*` (found by the metadata's portal payment id) or the debtor's return
replaces it with the intent id, under the row's lock, and from then on everything is idempotent by the intent id as
before. An expired session cancels a payment that never got an intent.
"""
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import stripe
from sqlalchemy import select

from tenants import audit, clock
from tenants.billing.stripe_gateway import StripeGateway
from tenants.casework import payments as casework_payments
from tenants.casework.money_models import PaymentStatus
from tenants.casework.promises import positive_amount
from tenants.context import current_tenant_id, platform_scope, tenant_scope
from tenants.db import db
from tenants.errors import Conflict, DomainError, ValidationFailed
from tenants.money import Money
from tenants.portal.access import Visit
from tenants.portal.models import PortalPayment, PortalPaymentStatus, PortalRequest, RequestKind, RequestStatus
from tenants.portfolios.models import AccountStatus
from tenants.tenancy.models import Tenant

METHODS = ("card", "alipay", "wechat_pay")
METADATA_ACCOUNT = "recoverly_account_id"
METADATA_PAYMENT = "recoverly_portal_payment_id"
METADATA_DESTINATION = "recoverly_destination"
HANDLED_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
                  "payment_intent.processing", "charge.refunded")
CHECKOUT_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded",
                   "checkout.session.async_payment_failed", "checkout.session.expired")
SESSION_PREFIX = "cs_"


class PaymentRefused(DomainError):
    code = "portal.payment_declined"
    status = 402
    message = "The payment was declined. Nothing was taken; try another card or method."


def enabled_methods(lender: Tenant) -> list[str]:
    chosen = (lender.settings or {}).get("portal_payment_methods") or ["card"]
    return [m for m in METHODS if m in chosen]


def destination_of(lender: Tenant) -> str | None:
    return (lender.settings or {}).get("stripe_connected_account") or None


# ---- the Stripe calls ----------------------------------------------------------------------------------------------

class PaymentsGateway:
    """PaymentIntents through the billing gateway's StripeClient (the one Stripe client of the platform)."""

    def __init__(self, gateway: StripeGateway):
        self.gateway = gateway
        self.client = gateway.client
        self.standin = gateway.settings.standin

    def create_intent(self, *, amount_minor: int, currency: str, method: str, destination: str, metadata: dict,
                      idempotency_key: str) -> dict:
        """The stand-in only: a PaymentIntent the debtor pays with a test card on our page (Stripe's API takes the
        payment on a hosted Checkout Session, `create_checkout`). localstripe has no Connect: the destination
        travels in the metadata."""
        params = {"amount": amount_minor, "currency": currency.lower(), "payment_method_types": [method],
                  "metadata": {**metadata, METADATA_DESTINATION: destination}}
        self.gateway._count("payment_intents.create")
        return self.client.v1.payment_intents.create(params=params,
                                                     options={"idempotency_key": idempotency_key}).to_dict()

    def create_checkout(self, *, amount_minor: int, currency: str, method: str, destination: str, metadata: dict,
                        description: str, reference: str, return_url: str, idempotency_key: str) -> dict:
        """Stripe's API only: a hosted Checkout Session for one payment to the lender's connected account."""
        if self.standin:
            raise RuntimeError("localstripe has no Checkout; the stand-in pays on our page")
        params = {
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {"currency": currency.lower(), "unit_amount": amount_minor,
                                                          "product_data": {"name": description}}}],
            "payment_method_types": [method],
            "payment_intent_data": {"on_behalf_of": destination, "transfer_data": {"destination": destination},
                                    "description": description, "metadata": dict(metadata)},
            "metadata": dict(metadata),
            "client_reference_id": reference,
            "success_url": return_url,
            "cancel_url": return_url,
        }
        if method == "wechat_pay":
            params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
        self.gateway._count("checkout.sessions.create")
        return self.client.v1.checkout.sessions.create(params=params,
                                                       options={"idempotency_key": idempotency_key}).to_dict()

    def retrieve_checkout(self, session_id: str) -> dict:
        self.gateway._count("checkout.sessions.retrieve")
        return self.client.v1.checkout.sessions.retrieve(session_id).to_dict()

    def pay_with_test_card(self, intent_id: str, card_number: str) -> dict:
        """Stand-in only: a test card entered on our page, attached and confirmed server-side."""
        if not self.standin:
            raise RuntimeError("test cards are for the local stand-in only")
        self.gateway._count("payment_methods.create")
        method = self.client.v1.payment_methods.create(params={"type": "card", "card": {
            "number": card_number, "exp_month": 12, "exp_year": 2035, "cvc": "123"}})
        self.gateway._count("payment_intents.update")
        self.client.v1.payment_intents.update(intent_id, params={"payment_method": method.id})
        self.gateway._count("payment_intents.confirm")
        return self.client.v1.payment_intents.confirm(intent_id).to_dict()

    def retrieve(self, intent_id: str) -> dict:
        self.gateway._count("payment_intents.retrieve")
        return self.client.v1.payment_intents.retrieve(intent_id).to_dict()

    def refund(self, intent_id: str, amount_minor: int | None = None) -> dict:
        params = {"payment_intent": intent_id, **({"amount": amount_minor} if amount_minor else {})}
        self.gateway._count("refunds.create")
        return self.client.v1.refunds.create(params=params).to_dict()


# ---- the debtor pays ----------------------------------------------------------------------------------------------

@dataclass
class Started:
    payment: PortalPayment
    intent: dict
    checkout_url: str | None = None  # Stripe's API: where the debtor pays


def description_of(lender: Tenant) -> str:
    """What Stripe shows and keeps: the creditor's name, nothing about the debtor."""
    return f"Repayment to {lender.name}"[:250]


def start(visit: Visit, *, amount: str, method: str, gateway: PaymentsGateway, return_url: str | None = None
          ) -> Started:
    """Create the payment. On the stand-in: a PaymentIntent the debtor pays with a test card on our page. On Stripe's
    API: a hosted Checkout Session (return_url: the portal's page of this payment, `{ref}` replaced by its id)."""
    from tenants.portal.service import case

    c = case(visit)
    if c.account.status != AccountStatus.OPEN:
        raise Conflict("This account is closed.", code="account.closed")
    money = positive_amount(amount, c.account)
    if method not in enabled_methods(c.lender):
        raise ValidationFailed(details={"fields": {"method": ["Not a payment method this creditor accepts."]}})
    destination = destination_of(c.lender)
    if destination is None:
        raise Conflict("Online payment is not set up for this creditor.", code="portal.payments_unavailable")
    payment_id = uuid.uuid4()
    metadata = {METADATA_ACCOUNT: str(c.account.id), METADATA_PAYMENT: str(payment_id),
                "recoverly_tenant_id": str(c.lender.id)}
    key = f"recoverly-portal-payment-{payment_id}"
    checkout_url = None
    try:
        if gateway.standin:
            intent = gateway.create_intent(amount_minor=money.minor, currency=money.currency, method=method,
                                           destination=destination, metadata=metadata, idempotency_key=key)
        else:
            session = gateway.create_checkout(
                amount_minor=money.minor, currency=money.currency, method=method, destination=destination,
                metadata=metadata, description=description_of(c.lender), reference=str(payment_id),
                return_url=(return_url or "").replace("{ref}", str(payment_id)), idempotency_key=key)
            # The intent is made when the debtor confirms; until then the row is known by its session.
            intent, checkout_url = {"id": session.get("payment_intent") or session["id"]}, session["url"]
    except stripe.StripeError:
        raise Conflict("The payment service did not answer. Nothing was taken; try again.",
                       code="portal.payment_unavailable") from None
    row = PortalPayment(id=payment_id, tenant_id=c.lender.id,
                        agency_tenant_id=c.placement.agency_tenant_id if c.placement else None,
                        account_id=c.account.id, session_id=visit.session_id, intent_id=intent["id"],
                        connected_account=destination, amount_minor=money.minor, currency=money.currency,
                        method=method, status=PortalPaymentStatus.CREATED, refunded_minor=0,
                        created_at=clock.now(), updated_at=clock.now())
    db.session.add(row)
    db.session.flush()
    audit.record("portal.payment_started", object_type="portal_payment", object_id=row.id,
                 after={"account_id": str(c.account.id), "intent_id": intent["id"], "amount_minor": money.minor,
                        "currency": money.currency, "method": method, "source": "portal"})
    return Started(payment=row, intent=intent, checkout_url=checkout_url)


def of_visit(visit: Visit, payment_id: uuid.UUID) -> PortalPayment:
    """One of this account's payments (anything else: not found)."""
    row = db.session.scalar(select(PortalPayment).where(PortalPayment.id == payment_id,
                                                        PortalPayment.account_id == visit.account_id))
    if row is None:
        from tenants.errors import NotFound

        raise NotFound(code="portal.payment_not_found")
    return row


def pay_on_standin(visit: Visit, payment_id: uuid.UUID, card_number: str, gateway: PaymentsGateway) -> str:
    row = of_visit(visit, payment_id)
    if row.status != PortalPaymentStatus.CREATED:
        return apply_intent(gateway.retrieve(row.intent_id))
    digits = "".join(ch for ch in card_number or "" if ch.isdigit())
    if len(digits) != 16:
        raise ValidationFailed(details={"fields": {"card_number": ["16 digits."]}})
    intent_id = row.intent_id
    try:
        intent = gateway.pay_with_test_card(intent_id, digits)
    except stripe.CardError:
        apply_intent(gateway.retrieve(intent_id))
        raise PaymentRefused() from None
    return apply_intent(intent)


@dataclass
class Refreshed:
    row: PortalPayment
    checkout_url: str | None = None  # a Checkout Session still open: the debtor may go back to it


def refresh(visit: Visit, payment_id: uuid.UUID, gateway: PaymentsGateway) -> Refreshed:
    """The debtor is back on the page: ask Stripe, apply what it says (the webhook may not have come yet)."""
    row = of_visit(visit, payment_id)
    checkout_url = None
    if row.status in (PortalPaymentStatus.CREATED, PortalPaymentStatus.PROCESSING):
        try:
            if row.intent_id.startswith(SESSION_PREFIX):
                session = gateway.retrieve_checkout(row.intent_id)
                apply_checkout(session)
                if session.get("payment_intent"):
                    apply_intent(gateway.retrieve(session["payment_intent"]))
                elif session.get("status") == "open":
                    checkout_url = session.get("url")
            else:
                apply_intent(gateway.retrieve(row.intent_id))
        except stripe.StripeError:
            pass
    return Refreshed(row=of_visit(visit, payment_id), checkout_url=checkout_url)


# ---- what Stripe says ---------------------------------------------------------------------------------------------

def apply_intent(intent: dict) -> str:
    """Apply a PaymentIntent's state to its PortalPayment (from a verified webhook or from Stripe itself). Running
    it again changes nothing. Returns applied / duplicate / ignored."""
    ctx_lender = _lender_of(intent.get("id")) or _lender_of_checkout_intent(intent)
    if ctx_lender is None:
        return "ignored"
    lender_id, row_id = ctx_lender
    with tenant_scope(lender_id):
        row = db.session.scalar(select(PortalPayment).where(PortalPayment.id == row_id).with_for_update()
                                .execution_options(populate_existing=True))
        if row.intent_id != intent["id"]:
            if not _link(row, intent["id"]):
                return "ignored"
        outcome = _apply(row, intent)
        db.session.flush()
    return outcome


def _lender_of(intent_id: str | None):
    if not intent_id:
        return None
    with platform_scope("portal: which lender a Stripe payment belongs to"):
        found = db.session.execute(select(PortalPayment.tenant_id, PortalPayment.id)
                                   .where(PortalPayment.intent_id == intent_id)).first()
    return tuple(found) if found else None


def _lender_of_checkout_intent(intent: dict):
    """An intent a Checkout Session made, before the row knows it: the row named by the intent's metadata, still
    known by its session id."""
    try:
        row_id = uuid.UUID(str((intent.get("metadata") or {}).get(METADATA_PAYMENT)))
    except ValueError:
        return None
    with platform_scope("portal: which lender a Stripe payment belongs to"):
        found = db.session.execute(select(PortalPayment.tenant_id, PortalPayment.id)
                                   .where(PortalPayment.id == row_id,
                                          PortalPayment.intent_id.startswith(SESSION_PREFIX))).first()
    return tuple(found) if found else None


def _link(row: PortalPayment, intent_id: str) -> bool:
    """The locked row, still known by its Checkout Session, learns its intent (once)."""
    if not row.intent_id.startswith(SESSION_PREFIX) or not intent_id or not intent_id.startswith("pi_"):
        return False
    audit.record("portal.payment_linked", object_type="portal_payment", object_id=row.id,
                 before={"intent_id": row.intent_id}, after={"intent_id": intent_id})
    row.intent_id, row.updated_at = intent_id, clock.now()
    db.session.flush()
    return True


def apply_checkout(session: dict) -> str:
    """A Checkout Session's news (a verified webhook, or Stripe asked on the debtor's return): link the row to the
    intent the session made; an expired session that made none cancels the payment. The payment itself is recorded
    by the intent's state only (apply_intent)."""
    ctx_lender = _lender_of(session.get("id"))
    if ctx_lender is None:
        return "duplicate" if _lender_of(session.get("payment_intent")) else "ignored"
    lender_id, row_id = ctx_lender
    with tenant_scope(lender_id):
        row = db.session.scalar(select(PortalPayment).where(PortalPayment.id == row_id).with_for_update()
                                .execution_options(populate_existing=True))
        if row.intent_id != session.get("id"):
            return "duplicate"
        if session.get("payment_intent"):
            outcome = "applied" if _link(row, session["payment_intent"]) else "ignored"
        elif session.get("status") == "expired" and row.status == PortalPaymentStatus.CREATED:
            row.status, row.updated_at = PortalPaymentStatus.CANCELED, clock.now()
            audit.record("portal.payment_canceled", object_type="portal_payment", object_id=row.id,
                         before={"status": PortalPaymentStatus.CREATED},
                         after={"status": row.status, "intent_id": row.intent_id, "failure_code": None,
                                "payment_id": None})
            outcome = "applied"
        else:
            outcome = "duplicate"
        db.session.flush()
    return outcome


def _apply(row: PortalPayment, intent: dict) -> str:
    status = intent.get("status")
    before = row.status
    if row.payment_id is not None or row.status in (PortalPaymentStatus.SUCCEEDED, PortalPaymentStatus.REFUNDED):
        return "duplicate"
    if status == "succeeded":
        if int(intent.get("amount") or 0) != row.amount_minor or (intent.get("currency") or "").upper() != row.currency:
            row.status, row.failure_code = PortalPaymentStatus.SUCCEEDED, "amount_mismatch"
        else:
            _record_payment(row)
    elif status == "processing":
        row.status = PortalPaymentStatus.PROCESSING
    elif status == "canceled":
        row.status = PortalPaymentStatus.CANCELED
    elif status == "requires_payment_method" and intent.get("last_payment_error"):
        row.status = PortalPaymentStatus.FAILED
        row.failure_code = (intent["last_payment_error"] or {}).get("code") or "declined"
    if row.status == before:
        return "duplicate"
    row.updated_at = clock.now()
    audit.record(f"portal.payment_{row.status}", object_type="portal_payment", object_id=row.id,
                 before={"status": before},
                 after={"status": row.status, "intent_id": row.intent_id, "failure_code": row.failure_code,
                        "payment_id": str(row.payment_id) if row.payment_id else None})
    return "applied"


def _record_payment(row: PortalPayment) -> None:
    lender = db.session.get(Tenant, row.tenant_id)
    received_on = clock.now().astimezone(ZoneInfo(lender.time_zone)).date()
    amount = str(Money(row.amount_minor, row.currency).decimal())
    try:
        payment = casework_payments.record(row.account_id, amount=amount, received_on=received_on,
                                           method=row.method, reference=row.intent_id,
                                           idempotency_key=f"stripe:{row.intent_id}", source="portal")
    except (ValidationFailed, Conflict) as exc:  # the balance changed meanwhile: a person looks at it
        row.status, row.failure_code = PortalPaymentStatus.SUCCEEDED, exc.code[:100]
        return
    row.payment_id, row.status = payment.id, PortalPaymentStatus.SUCCEEDED
    db.session.add(PortalRequest(tenant_id=current_tenant_id(), lender_tenant_id=row.tenant_id,
                                 account_id=row.account_id, session_id=row.session_id, kind=RequestKind.PAYMENT,
                                 status=RequestStatus.DONE, created_at=clock.now(), object_type="payment",
                                 object_id=payment.id,
                                 details={"amount_minor": row.amount_minor, "currency": row.currency,
                                          "method": row.method, "intent_id": row.intent_id}))


def apply_refund(charge: dict) -> str:
    """A refund made in Stripe: a full one reverses the payment it recorded; a partial one is noted on the row."""
    ctx_lender = _lender_of(charge.get("payment_intent"))
    if ctx_lender is None:
        return "ignored"
    lender_id, row_id = ctx_lender
    refunded = int(charge.get("amount_refunded") or 0)
    with tenant_scope(lender_id):
        row = db.session.scalar(select(PortalPayment).where(PortalPayment.id == row_id).with_for_update()
                                .execution_options(populate_existing=True))
        if row.status == PortalPaymentStatus.REFUNDED or refunded <= row.refunded_minor:
            return "duplicate"
        row.refunded_minor, row.updated_at = refunded, clock.now()
        if refunded >= row.amount_minor:
            if row.payment_id is not None:
                payment = casework_payments.get_payment(row.payment_id)
                if payment.status != PaymentStatus.REVERSED:
                    casework_payments.reverse(payment.id, "refunded through Stripe", None)
            row.status = PortalPaymentStatus.REFUNDED
        audit.record("portal.payment_refunded", object_type="portal_payment", object_id=row.id,
                     after={"intent_id": row.intent_id, "refunded_minor": refunded, "status": row.status})
        db.session.flush()
    return "applied"


def process_event(event: dict) -> str:
    """A verified Stripe event of HANDLED_EVENTS (commits)."""
    obj = event["data"]["object"]
    if event["type"] == "charge.refunded":
        outcome = apply_refund(obj)
    elif event["type"] in CHECKOUT_EVENTS:
        outcome = apply_checkout(obj)
    else:
        outcome = apply_intent(obj)
    db.session.commit()
    return outcome


def handles(event: dict) -> bool:
    """payment_intent.* and charge.refunded; a Checkout Session only when it is one of the portal's (its metadata
    names a portal payment), any other is billing's."""
    if event.get("type") in CHECKOUT_EVENTS:
        session = (event.get("data") or {}).get("object") or {}
        return bool((session.get("metadata") or {}).get(METADATA_PAYMENT))
    return event.get("type") in HANDLED_EVENTS
