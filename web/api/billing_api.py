"""Per-case billing (tenants.billing): a lender's or agency's own plan, standing, current period, invoices and billed
cases (admin tokens of lenders and agencies), and each tenant's plan for platform-admin tokens.

Money is integer minor units with its currency. Periods start on the plan's billing day in the payer's time zone;
`period_end` is exclusive (the next period's start). The rules of what is billed are those of
tenants.billing.usage: an accepted case is billed once per agency and period, recalls are not refunded, the plan's
free cases of each period cost nothing.
"""
import uuid

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from tenants.billing import reports
from tenants.billing.models import BillingInvoice
from tenants.billing.plans import update_plan
from tenants.capabilities import Capability
from tenants.context import platform_scope
from tenants.db import db
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.services import get_tenant
from web.access import require_capability
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.portfolio_schemas import lenders_and_agencies, only_for
from web.tenant.billing import cases_csv_response

blp = Blueprint("api_billing", __name__, url_prefix="/api/v1",
                description="Per-case billing: plan, standing, current period, invoices and billed cases; plans of "
                            "every tenant for platform admins")

platform_only = only_for(TenantKind.PLATFORM)

CSV_DOC = {"200": {
    "description": "UTF-8 CSV (with BOM): one row per billed case (seq, period, accepted_at, account_ref, lender, "
                   "agency, placement_id, unit_price, free, amount, currency, billed_at, stripe_invoice_item_id, "
                   "stripe_invoice_id, invoice_status; amounts as decimal strings, times UTC), an empty row, then "
                   "one total row per currency (total, currency, cases, free_cases, amount). The amounts of one "
                   "period add up to its invoice's amount.",
    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}}


class BillingMoneyOut(Schema):
    currency = fields.String()
    amount_minor = fields.Integer(attribute="minor")


class BillingPlanIn(Schema):
    """Fields left out keep their value; values are checked by the billing plan rules (422 with details.fields)."""

    payer = fields.String(metadata={"description": "agency (default: the accepting agency pays) or lender (a "
                                                   "lender's plan only: the lender pays for the cases it places)."})
    unit_price = fields.String(metadata={"description": "Price per case as a decimal string in the tenant's "
                                                        "currency, e.g. \"5.00\". Applies to cases accepted from "
                                                        "now on."})
    free_cases = fields.Integer(strict=True, metadata={"description": "Cases free of charge in each period, 0 or "
                                                                     "more."})
    billing_day = fields.Integer(strict=True, metadata={"description": "1–28: the day each period starts. Changes "
                                                                      "only when every case is invoiced."})
    stop_when_delinquent = fields.Boolean(metadata={"description": "Whether a payer with a failed invoice payment "
                                                                   "stops receiving new cases."})


class BillingPlanOut(Schema):
    tenant_id = fields.UUID()
    payer = fields.String()
    unit_price_minor = fields.Integer()
    currency = fields.String()
    free_cases = fields.Integer()
    billing_day = fields.Integer()
    stop_when_delinquent = fields.Boolean()
    standing = fields.String(metadata={"description": "good, or delinquent while an invoice's payment has failed."})
    delinquent_since = fields.DateTime(allow_none=True)


class BillingPeriodOut(Schema):
    period_start = fields.Date(attribute="period.start")
    period_end = fields.Date(attribute="period.end", metadata={"description": "Exclusive."})
    cases = fields.Integer()
    free_cases = fields.Integer()
    amounts = fields.List(fields.Nested(BillingMoneyOut), metadata={"description": "One per currency."})
    unbilled = fields.Integer(metadata={"description": "Cases not yet sent to Stripe by the billing job."})
    pushed = fields.Integer(metadata={"description": "Cases sent to Stripe as invoice items."})


class BillingInvoiceOut(Schema):
    id = fields.UUID()
    period_start = fields.Date()
    period_end = fields.Date(metadata={"description": "Exclusive."})
    currency = fields.String()
    cases = fields.Integer()
    free_cases = fields.Integer()
    amount_minor = fields.Integer()
    status = fields.String(metadata={"description": "no_charge, open, paid, payment_failed or void."})
    stripe_invoice_id = fields.String(allow_none=True)
    hosted_invoice_url = fields.String(allow_none=True, metadata={"description": "Where to pay it at Stripe."})
    created_at = fields.DateTime()
    paid_at = fields.DateTime(allow_none=True)


class BillingOut(Schema):
    plan = fields.Nested(BillingPlanOut)
    time_zone = fields.String(metadata={"description": "The payer's, which dates its periods."})
    new_cases_stopped = fields.Boolean(metadata={"description": "Delinquent under a plan that stops new cases."})
    overdue_invoices = fields.List(fields.Nested(BillingInvoiceOut), attribute="overdue")
    current_period = fields.Nested(BillingPeriodOut, attribute="current")
    awaiting_invoice = fields.List(fields.Nested(BillingPeriodOut), metadata={
        "description": "Ended periods the billing job has not invoiced yet."})


class BillingCasesCsvArgs(Schema):
    period = fields.Date(load_default=None, metadata={"description": "YYYY-MM-DD, a period's first day: only its "
                                                                     "cases (default: every case)."})


@blp.route("/billing")
@lenders_and_agencies
@require_capability(Capability.BILLING_READ)
@blp.response(200, BillingOut)
def billing():
    """The plan, standing, cases of the current period and periods waiting for their invoice. A lender whose plan
    leaves payment to its agencies is billed nothing."""
    found = reports.overview(g.tenant)
    return {"plan": found.plan, "time_zone": g.tenant.time_zone, "overdue": found.overdue, "current": found.current,
            "awaiting_invoice": found.awaiting_invoice,
            "new_cases_stopped": found.delinquent and found.plan.stop_when_delinquent}


@blp.route("/billing/invoices")
@lenders_and_agencies
@require_capability(Capability.BILLING_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(BillingInvoiceOut, "BillingInvoicePage"))
def billing_invoices(args):
    """Invoices, one per closed period, newest first."""
    return paginate(reports.invoice_query(g.tenant), BillingInvoice.created_at, BillingInvoice.id,
                    newest_first=True, **args)


@blp.route("/billing/cases.csv")
@lenders_and_agencies
@require_capability(Capability.BILLING_READ)
@blp.arguments(BillingCasesCsvArgs, location="query")
@blp.doc(responses=CSV_DOC)
def billing_cases_csv(args):
    """Every billed case as CSV, or those of one period."""
    return cases_csv_response(args["period"])


@blp.route("/tenants/<uuid:tenant_id>/billing-plan")
@platform_only
@require_capability(Capability.PLATFORM_CONSOLE)
@blp.response(200, BillingPlanOut)
def tenant_billing_plan(tenant_id: uuid.UUID):
    """A lender's or agency's plan (platform admins; its default terms if it has none yet)."""
    return reports.tenant_plan(get_tenant(tenant_id))


@blp.route("/tenants/<uuid:tenant_id>/billing-plan", methods=["PUT"])
@platform_only
@require_capability(Capability.PLATFORM_CONSOLE)
@blp.arguments(BillingPlanIn)
@blp.response(200, BillingPlanOut)
def set_tenant_billing_plan(changes, tenant_id: uuid.UUID):
    """Change a lender's or agency's plan (platform admins). Audited in the tenant's chain."""
    tenant = get_tenant(tenant_id)
    with platform_scope("api: billing plan change"):
        update_plan(tenant, changes)
    db.session.commit()
    return reports.tenant_plan(tenant)
