"""Stripe's webhook: POST /billing/stripe/webhook. Verified with the signing secret before anything is read; a bad
signature answers 400 and changes nothing. Stripe retries any non-2xx, so an event we processed already answers
200 again (tenants.billing.webhooks keeps it from being applied twice)."""
import stripe
from flask import Blueprint, current_app, jsonify, request

from tenants import audit
from tenants.billing import webhooks
from tenants.billing.stripe_gateway import StripeGateway, StripeSettings
from tenants.errors import DomainError
from tenants.portal import payments as portal_payments
from web.extensions import csrf

bp = Blueprint("billing_webhook", __name__, url_prefix="/billing")


@bp.post("/stripe/webhook")
@csrf.exempt
def stripe_webhook():
    gateway = StripeGateway(StripeSettings.from_config(current_app.config))
    try:
        event = gateway.construct_event(request.get_data(), request.headers.get("Stripe-Signature"))
    except stripe.SignatureVerificationError:
        raise DomainError("The Stripe-Signature header does not match this payload.",
                               code="stripe.bad_signature") from None
    except ValueError:
        raise DomainError("The payload is not a Stripe event.", code="stripe.bad_payload") from None
    token = audit.set_actor(audit.Actor(label="stripe:webhook"))
    try:
        data = event.to_dict()
        # The debtor portal's PaymentIntents (tenants/portal/payments.py); everything else is billing's.
        outcome = portal_payments.process_event(data) if portal_payments.handles(data) else webhooks.process(data)
    finally:
        audit.reset_actor(token)
    return jsonify({"received": True, "outcome": outcome})
