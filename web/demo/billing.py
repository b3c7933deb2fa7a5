"""The demo's billing run against localstripe: Stripe customers for the demo's payers (one paying by a direct
debit that bounces), then the same billing jobs a worker runs. localstripe posts its signed webhooks back to the
demo's web server, so the declined payment flags that agency as the real flow would."""
import json
import urllib.request

import stripe
from flask import Flask
from sqlalchemy import select

from tenants.billing.invoicing import bill, ensure_customer, payers_to_bill
from tenants.billing.stripe_gateway import StripeGateway, StripeSettings
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.demo_data import DEMO_DECLINING_AGENCY
from tenants.tenancy.models import Tenant


def register_webhook(stripe_base: str, web_base: str, secret: str) -> None:
    request = urllib.request.Request(
        f"{stripe_base}/_config/webhooks/recoverly", method="POST",
        data=json.dumps({"url": f"{web_base}/billing/stripe/webhook", "secret": secret}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


def run(app: Flask) -> dict:
    """Bill every demo payer now; returns {tenant slug: what the run did}."""
    results = {}
    with app.app_context():
        gateway = StripeGateway(StripeSettings.from_config(app.config))
        with platform_scope("demo: billing run"):
            payers = list(db.session.scalars(select(Tenant).where(Tenant.id.in_(payers_to_bill()))))
        for payer in payers:
            with tenant_scope(payer.id):
                try:
                    plan = ensure_customer(payer, gateway)
                    if payer.slug == DEMO_DECLINING_AGENCY and gateway.settings.standin:
                        gateway.attach_test_payment_method(plan.stripe_customer_id, bouncing=True)
                    results[payer.slug] = bill(payer, gateway).as_dict()
                except stripe.StripeError as exc:  # the demo still starts; the worker's hourly run tries again
                    db.session.rollback()
                    results[payer.slug] = {"error": exc.user_message or str(exc)}
        db.session.remove()
    return results
