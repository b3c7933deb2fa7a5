"""Monthly commission statements between a lender and an agency (tenants.billing.commission), read by either side
with the same numbers. A payment confirmed in the month is a `payment` line; a confirmed payment reversed in the
month is a `reversal` line with the negative amount and commission, whatever month it was confirmed in. Months are
calendar months in the lender's time zone, written YYYY-MM. Amounts are integer minor units with their currency;
totals are per currency. A counterpart this tenant has no panel relationship with is a 404.
"""
import uuid

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from tenants.billing import commission
from tenants.capabilities import Capability
from web.access import require_capability
from web.api.portfolio_schemas import lenders_and_agencies
from web.downloads import csv_attachment

blp = Blueprint("api_commission", __name__, url_prefix="/api/v1",
                description="Monthly commission statements per lender and agency, as JSON or CSV")

CSV_DOC = {"200": {
    "description": "UTF-8 CSV (with BOM): one row per line (payment_id, account_external_ref, placement_id, at, "
                   "kind, currency, amount, bps, commission; amounts as decimal strings), an empty row, then one "
                   "total row per currency (total, currency, payments, reversals, collected, commission).",
    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}}


class StatementListArgs(Schema):
    month = fields.String(load_default=None, metadata={"description": "YYYY-MM: only this month."})


class AvailableOut(Schema):
    month = fields.Function(lambda a: str(a.month), metadata={"description": "YYYY-MM, in the lender's zone."})
    counterparty_id = fields.UUID(metadata={"description": "The agency (for a lender) or the lender (for an "
                                                           "agency): the id in the statement's address."})
    counterparty_name = fields.String()
    lender_id = fields.UUID()
    agency_id = fields.UUID()


class StatementListOut(Schema):
    items = fields.List(fields.Nested(AvailableOut))


class LineOut(Schema):
    payment_id = fields.UUID()
    account_external_ref = fields.String(attribute="external_ref", allow_none=True, metadata={
        "description": "null when the account is no longer this tenant's to see (an agency after a recall)."})
    placement_id = fields.UUID()
    kind = fields.String(metadata={"description": "payment or reversal"})
    at = fields.DateTime(metadata={"description": "Confirmed at (payment) or reversed at (reversal), UTC."})
    currency = fields.Function(lambda line: line.amount.currency)
    amount_minor = fields.Function(lambda line: line.amount.minor, metadata={"description": "Negative on a "
                                                                                            "reversal."})
    bps = fields.Integer(metadata={"description": "The placement's rate for the days past due at placement."})
    commission_minor = fields.Function(lambda line: line.commission.minor)


class TotalOut(Schema):
    currency = fields.String()
    payments = fields.Integer(metadata={"description": "Payment lines."})
    reversals = fields.Integer(metadata={"description": "Reversal lines."})
    collected_minor = fields.Function(lambda total: total.collected.minor,
                                      metadata={"description": "Net of reversals."})
    commission_minor = fields.Function(lambda total: total.commission.minor)


class StatementOut(Schema):
    month = fields.Function(lambda s: str(s.month))
    time_zone = fields.String(attribute="zone", metadata={"description": "The lender's, which cuts the month."})
    lender_id = fields.UUID()
    lender_name = fields.String()
    agency_id = fields.UUID()
    agency_name = fields.String()
    counterparty_id = fields.UUID()
    counterparty_name = fields.String()
    lines = fields.List(fields.Nested(LineOut))
    totals = fields.List(fields.Nested(TotalOut))


def _csv(found: commission.Statement):
    return csv_attachment(commission.csv_text(found), f"commission-{found.month}-{found.counterparty_id}.csv")


@blp.route("/commission-statements")
@lenders_and_agencies
@require_capability(Capability.COMMISSION_READ)
@blp.arguments(StatementListArgs, location="query")
@blp.response(200, StatementListOut)
def list_commission_statements(args):
    """The months with commission, per counterpart (for a lender its agencies, for an agency its lenders), newest
    month first."""
    month = commission.Month.parse(args["month"]) if args["month"] else None
    return {"items": commission.statements(month)}


@blp.route("/commission-statements/<uuid:counterparty_id>/<month>")
@lenders_and_agencies
@require_capability(Capability.COMMISSION_READ)
@blp.response(200, StatementOut)
def commission_statement(counterparty_id: uuid.UUID, month: str):
    """The statement with `counterparty_id` for `month` (YYYY-MM): its lines, oldest first, and totals per
    currency. With `Accept: text/csv`, the CSV of the `/csv` address."""
    found = commission.statement(counterparty_id, commission.Month.parse(month))
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
        return _csv(found)
    return found


@blp.route("/commission-statements/<uuid:counterparty_id>/<month>/csv")
@lenders_and_agencies
@require_capability(Capability.COMMISSION_READ)
@blp.doc(responses=CSV_DOC)
def commission_statement_csv(counterparty_id: uuid.UUID, month: str):
    """The statement as CSV."""
    return _csv(commission.statement(counterparty_id, commission.Month.parse(month)))
