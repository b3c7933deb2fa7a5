"""Performance figures: right-party-contact rate, promise rate, promise-kept rate, amount recovered and liquidation
rate over a period of UTC days, per collector or per agency. `formulas` defines each figure (English and Chinese).

An agency token reads its own figures: `by=agency` gives the team (the whole agency), `by=collector` each
collector (agency admins and supervisors only: a collector's token names no person). A lender token reads its
agencies' figures on its own accounts and placements, `by=agency` only: a lender sees agencies, never their staff.
Amounts are integer minor units, one entry per currency, never added across currencies.
"""
from datetime import timedelta

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from tenants.capabilities import Capability
from tenants.casework import performance
from tenants.errors import PermissionDenied, ValidationFailed
from tenants.tenancy.roles import TenantKind
from web.access import allowed
from web.api.portfolio_schemas import lenders_and_agencies
from web.compliance_pages import utc_today

blp = Blueprint("api_performance", __name__, url_prefix="/api/v1",
                description="Performance figures per collector and per agency, with their formulas")



class PerformanceArgs(Schema):
    by = fields.String(load_default="agency", validate=validate.OneOf(performance.BY),
                       metadata={"description": "collector (an agency's own) or agency."})
    date_from = fields.Date(data_key="from", load_default=None,
                            metadata={"description": "First UTC day (default: 29 days before `to`)."})
    date_to = fields.Date(data_key="to", load_default=None,
                          metadata={"description": "Last UTC day, inclusive (default: today)."})


class CurrencyFiguresOut(Schema):
    currency = fields.String()
    placements = fields.Integer(metadata={"description": "Placements accepted and active at some time in the "
                                                         "period (for a collector: assigned to him then)."})
    balance_placed_minor = fields.Integer()
    recovered_minor = fields.Integer()
    liquidation_rate = fields.Float(allow_none=True, metadata={"description": "null when nothing was placed."})


class FiguresOut(Schema):
    id = fields.UUID(allow_none=True, metadata={"description": "The agency's tenant id or the collector's user id; "
                                                               "null: work not attributed to a collector."})
    name = fields.String(allow_none=True)
    attempts = fields.Integer()
    right_party_contacts = fields.Integer()
    rpc_rate = fields.Float(allow_none=True)
    promises = fields.Integer()
    promise_rate = fields.Float(allow_none=True)
    promises_kept = fields.Integer()
    promises_broken = fields.Integer()
    kept_rate = fields.Float(allow_none=True)
    money = fields.List(fields.Nested(CurrencyFiguresOut))


Formula = Schema.from_dict({"en": fields.String(), "zh": fields.String()}, name="PerformanceFormula")


class PerformanceOut(Schema):
    by = fields.String()
    date_from = fields.Date()
    date_to = fields.Date()
    items = fields.List(fields.Nested(FiguresOut))
    team = fields.Nested(FiguresOut, allow_none=True,
                         metadata={"description": "With by=collector: the whole agency (every collector and work "
                                                  "attributed to none)."})
    formulas = fields.Dict(keys=fields.String(), values=fields.Nested(Formula))


FORMULAS = {key: {"en": en, "zh": zh} for key, (en, zh) in performance.FORMULAS.items()}


@blp.route("/performance")
@lenders_and_agencies
@blp.arguments(PerformanceArgs, location="query")
@blp.response(200, PerformanceOut)
def performance_figures(args):
    """Figures per collector or per agency over the period (default: the last 30 UTC days), best first for a
    lender's agencies (liquidation rate in its currency, then right-party-contact rate)."""
    last = args["date_to"] or utc_today()
    period = performance.Period(args["date_from"] or last - timedelta(days=performance.DEFAULT_DAYS - 1), last)
    answer = {"by": args["by"], "date_from": period.date_from, "date_to": period.date_to, "team": None,
              "formulas": FORMULAS}
    if g.tenant.kind == TenantKind.LENDER:
        if args["by"] != "agency":
            raise ValidationFailed("A lender reads figures per agency.", code="performance.agencies_only",
                                   details={"fields": {"by": ["Must be agency for a lender."]}})
        return {**answer, "items": performance.league(period, g.tenant.id, g.tenant.currency)}
    if args["by"] == "agency":
        return {**answer, "items": [performance.team(period, g.tenant.id)]}
    if not allowed(Capability.CASES_ANY):
        raise PermissionDenied("Figures per collector are for agency admins and supervisors.",
                               code="performance.supervisors_only")
    return {**answer, "items": performance.figures(period, performance.Scope(agency_id=g.tenant.id), "collector"),
            "team": performance.team(period, g.tenant.id)}
