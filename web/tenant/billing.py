"""A lender's or agency's own billing (tenants.billing.reports): its plan and standing, the cases of the current
period, its invoices, the billed cases as CSV, and the rules of what is billed.

Only its admins open them: terms and invoices are the organisation's account with Recoverly, as its API tokens and
audit trail are. Every member sees the delinquency banner (web.templating) and is told to ask an admin.
"""
from datetime import date, timedelta

from flask import Response, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from tenants.billing import reports
from tenants.billing.models import InvoiceStatus, Payer
from tenants.capabilities import Capability
from tenants.errors import ValidationFailed
from web.access import require_capability
from web.downloads import csv_attachment
from web.tenant import bp

# The rules of tenants.billing.usage, as its docstring states them, for the people billed by them.
RULES = (
    _l("A case is an account accepted by an agency. It is billed to the payer — the agency, or the lender when the "
       "lender's plan says so — in the payer's billing period that contains the acceptance, in the payer's time "
       "zone."),
    _l("Recalling a case does not refund it: the agency accepted the work."),
    _l("An account placed again with the same agency within the same period is not billed again; placed with "
       "another agency, or in a later period, it is a new case."),
    _l("The first free cases of each period, as many as the plan allows, cost nothing: they are listed at 0."),
)
INVOICE_STATUS = {InvoiceStatus.NO_CHARGE: _l("no charge"), InvoiceStatus.OPEN: _l("open"),
                  InvoiceStatus.PAID: _l("paid"), InvoiceStatus.PAYMENT_FAILED: _l("payment failed"),
                  InvoiceStatus.VOID: _l("void")}
INVOICE_BADGE = {InvoiceStatus.NO_CHARGE: "bg-secondary", InvoiceStatus.OPEN: "bg-info text-dark",
                 InvoiceStatus.PAID: "bg-success", InvoiceStatus.PAYMENT_FAILED: "bg-danger",
                 InvoiceStatus.VOID: "bg-dark"}
PAYER = {Payer.AGENCY: _l("the agency accepting each case"), Payer.LENDER: _l("the lender placing each case")}


def last_day(period_end: date) -> date:
    """A period's end is the day the next one starts; people read the last day of the period."""
    return period_end - timedelta(days=1)


@bp.app_context_processor  # app-wide: the platform's billing console shows the same invoices and periods
def _billing_labels():
    return {"invoice_status": lambda status: INVOICE_STATUS.get(status, status),
            "invoice_badge": lambda status: INVOICE_BADGE.get(status, "bg-secondary"),
            "payer_label": lambda payer: PAYER.get(payer, payer), "period_last_day": last_day}


@bp.route("/billing")
@require_capability(Capability.BILLING_READ)
def billing():
    return render_template("tenant/billing/overview.html", billing=reports.overview(g.tenant), rules=RULES)


def period_arg(value: str | None) -> date | None:
    """`?period=YYYY-MM-DD`, the first day of a billing period; none means every period."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(_("The period is the first day of a billing period, as YYYY-MM-DD."),
                               code="billing.bad_period",
                               details={"fields": {"period": [_("A date, YYYY-MM-DD.")]}}) from None


def cases_csv_response(period_start: date | None) -> Response:
    suffix = period_start.isoformat() if period_start else "all"
    return csv_attachment(reports.csv_text(reports.case_rows(g.tenant, period_start)),
                          f"cases-{g.tenant.slug}-{suffix}.csv")


@bp.route("/billing/cases.csv")
@require_capability(Capability.BILLING_READ)
def billing_cases_csv():
    return cases_csv_response(period_arg(request.args.get("period")))
