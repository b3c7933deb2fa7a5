"""Recovery analytics (tenants.analytics) for a lender's or an agency's systems: liquidation curves, the
champion/challenger comparison of an allocation's arms (lenders), roll rates between DPD buckets and the cost of
collection. The same figures as the pages, with their formulas (English and Chinese). Amounts are integer minor
units; rates are fractions (0.125 = 12.5%). An id in the query or the path that the caller may not see answers 404.
"""
from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from tenants.analytics import comparison, cost, liquidation, roll_rates, self_service
from tenants.analytics.common import MAX_MONTHS, Viewer, parse_month
from tenants.capabilities import Capability
from tenants.errors import NotFound
from web.access import require_capability
from web.api.portfolio_schemas import lenders_and_agencies
from web.compliance_pages import utc_today

blp = Blueprint("api_analytics", __name__, url_prefix="/api/v1",
                description="Recovery analytics: liquidation curves, champion/challenger, roll rates, cost of "
                            "collection, with their formulas")

Formula = Schema.from_dict({"en": fields.String(), "zh": fields.String()}, name="AnalyticsFormula")


def _formulas(table: dict) -> dict:
    return {key: {"en": en, "zh": zh} for key, (en, zh) in table.items()}


class CurvesArgs(Schema):
    group = fields.String(load_default=liquidation.VINTAGE,
                          validate=validate.OneOf((liquidation.VINTAGE, liquidation.AGENCY, liquidation.ARM,
                                                   liquidation.LENDER)),
                          metadata={"description": "vintage; a lender also agency or arm (with batch_id); an agency "
                                                   "also lender."})
    months = fields.Integer(load_default=liquidation.DEFAULT_MONTHS, validate=validate.Range(1, MAX_MONTHS))
    currency = fields.String(load_default=None, validate=validate.Length(equal=3))
    agency_id = fields.UUID(load_default=None, metadata={"description": "A lender's: one agency on its panel."})
    batch_id = fields.UUID(load_default=None, metadata={"description": "A lender's: one allocation (placement "
                                                                        "batch)."})


class CurveOut(Schema):
    key = fields.String()
    label = fields.String()
    champion = fields.Boolean()
    placements = fields.Integer()
    balance_placed_minor = fields.Integer()
    points = fields.List(fields.Float(allow_none=True), metadata={"description": "Liquidation rate at month on "
                                                                                 "book 0, 1, …"})
    recovered_minor = fields.List(fields.Integer(), metadata={"description": "Cumulative, at the same months."})


class CurvesOut(Schema):
    group = fields.String()
    currency = fields.String()
    first_month = fields.String()
    last_month = fields.String()
    months_on_book = fields.Integer()
    batch_id = fields.UUID(allow_none=True)
    agency_id = fields.UUID(allow_none=True)
    curves = fields.List(fields.Nested(CurveOut))
    formulas = fields.Dict(keys=fields.String(), values=fields.Nested(Formula))


@blp.route("/analytics/liquidation")
@lenders_and_agencies
@require_capability(Capability.ANALYTICS_READ)
@blp.arguments(CurvesArgs, location="query")
@blp.response(200, CurvesOut)
def liquidation_curves(args):
    """Cumulative recovered ÷ balance placed by month on book, one curve per placement month, agency, lender or
    allocation arm."""
    found = liquidation.curves(Viewer.of(g.tenant), today=utc_today(), **args)
    return {**found.__dict__, "formulas": _formulas(liquidation.FORMULAS)}


class AllocationOut(Schema):
    id = fields.UUID()
    created_at = fields.DateTime()
    accounts = fields.Integer()
    arms = fields.Integer()


AllocationsOut = Schema.from_dict({"items": fields.List(fields.Nested(AllocationOut))}, name="AnalyticsAllocations")


def _lender() -> Viewer:
    viewer = Viewer.of(g.tenant)
    if not viewer.is_lender:
        raise NotFound(code="placement_batch.not_found")
    return viewer


@blp.route("/analytics/allocations")
@lenders_and_agencies
@require_capability(Capability.ANALYTICS_READ)
@blp.response(200, AllocationsOut)
def list_allocations():
    """A lender's allocations split between two or more agencies, newest first (an agency has none)."""
    return {"items": comparison.allocations(Viewer.of(g.tenant))}


class IntervalOut(Schema):
    estimate = fields.Float()
    low = fields.Float()
    high = fields.Float()
    std_error = fields.Float()


class TestOut(Schema):
    kind = fields.String(metadata={"description": "z (two-sided) or chi2 (1 degree of freedom)."})
    statistic = fields.Float()
    p_value = fields.Float()


class ArmOut(Schema):
    agency_id = fields.UUID()
    name = fields.String()
    weight = fields.Integer(allow_none=True)
    champion = fields.Boolean()
    accounts = fields.Integer()
    balance_minor = fields.Integer()
    recovered_minor = fields.Integer()
    contacted = fields.Integer()
    promised = fields.Integer()
    paying = fields.Integer()
    recovery = fields.Nested(IntervalOut, allow_none=True)
    contact = fields.Nested(IntervalOut, allow_none=True)
    promise = fields.Nested(IntervalOut, allow_none=True)
    paying_rate = fields.Nested(IntervalOut, allow_none=True)


class ContrastOut(Schema):
    metric = fields.String()
    challenger_id = fields.UUID()
    difference = fields.Nested(IntervalOut, allow_none=True)
    test = fields.Nested(TestOut, allow_none=True)


class ComparisonOut(Schema):
    batch_id = fields.UUID()
    created_at = fields.DateTime()
    summary = fields.String(allow_none=True)
    currency = fields.String()
    months_on_book = fields.Integer()
    strata = fields.Integer()
    left_out = fields.Integer()
    arms = fields.List(fields.Nested(ArmOut))
    contrasts = fields.List(fields.Nested(ContrastOut))
    formulas = fields.Dict(keys=fields.String(), values=fields.Nested(Formula))


CurrencyArgs = Schema.from_dict({"currency": fields.String(load_default=None, validate=validate.Length(equal=3))},
                                name="AnalyticsCurrencyArgs")


@blp.route("/analytics/allocations/<uuid:batch_id>/comparison")
@lenders_and_agencies
@require_capability(Capability.ANALYTICS_READ)
@blp.arguments(CurrencyArgs, location="query")
@blp.response(200, ComparisonOut)
def allocation_comparison(args, batch_id):
    """Each arm's recovery, contact, promise and paying rates with 95% intervals, and each challenger against the
    champion (the heaviest weight), adjusted for the allocation's strata."""
    found = comparison.compare(_lender(), batch_id, today=utc_today(), currency=args["currency"])
    return {**found.__dict__, "formulas": _formulas(comparison.FORMULAS)}


RollArgs = Schema.from_dict(
    {"month": fields.String(load_default=None, metadata={"description": "YYYY-MM (UTC), default last month."})},
    name="AnalyticsRollArgs")


class RollOut(Schema):
    month = fields.String()
    buckets = fields.List(fields.String())
    columns = fields.List(fields.String(), metadata={"description": "The buckets, then closed and returned."})
    counts = fields.List(fields.List(fields.Integer()), metadata={"description": "[from bucket][column]"})
    totals = fields.List(fields.Integer())
    formulas = fields.Dict(keys=fields.String(), values=fields.Nested(Formula))


@blp.route("/analytics/roll-rates")
@lenders_and_agencies
@require_capability(Capability.ANALYTICS_READ)
@blp.arguments(RollArgs, location="query")
@blp.response(200, RollOut)
def roll_rate_matrix(args):
    """Accounts on book at a month's start by DPD bucket, and where they were at its end."""
    today = utc_today()
    month = parse_month(args["month"]) or roll_rates.default_month(today)
    found = roll_rates.roll_rates(Viewer.of(g.tenant), month=month, today=today)
    return {**found.__dict__, "formulas": _formulas(roll_rates.FORMULAS)}


CostArgs = Schema.from_dict(
    {"months": fields.Integer(load_default=cost.DEFAULT_MONTHS, validate=validate.Range(1, MAX_MONTHS))},
    name="AnalyticsCostArgs")


class CostRowOut(Schema):
    month = fields.String()
    counterpart_id = fields.UUID()
    counterpart = fields.String()
    currency = fields.String()
    recovered_minor = fields.Integer()
    commission_minor = fields.Integer()
    cost_rate = fields.Float(allow_none=True)


class CostOut(Schema):
    first_month = fields.String()
    last_month = fields.String()
    rows = fields.List(fields.Nested(CostRowOut))
    formulas = fields.Dict(keys=fields.String(), values=fields.Nested(Formula))


@blp.route("/analytics/cost")
@lenders_and_agencies
@require_capability(Capability.ANALYTICS_READ)
@blp.arguments(CostArgs, location="query")
@blp.response(200, CostOut)
def cost_of_collection(args):
    """Recovered and commission per UTC month and counterpart, and their ratio."""
    found = cost.cost(Viewer.of(g.tenant), today=utc_today(), months=args["months"])
    return {**found.__dict__, "formulas": _formulas(cost.FORMULAS)}


class SelfServiceArgs(Schema):
    months = fields.Integer(load_default=self_service.DEFAULT_MONTHS, validate=validate.Range(1, MAX_MONTHS))
    agency_id = fields.UUID(load_default=None, metadata={"description": "A lender's: one sender (an agency on its "
                                                                        "panel, or itself)."})
    template_id = fields.UUID(load_default=None, metadata={"description": "One message template."})


class PaidAmountOut(Schema):
    currency = fields.String()
    amount_minor = fields.Integer()


class SelfServiceRowOut(Schema):
    sender_id = fields.UUID()
    sender = fields.String()
    template_id = fields.UUID(allow_none=True)
    template = fields.String(allow_none=True, metadata={"description": "None on a sender's total row."})
    sent = fields.Integer(metadata={"description": "Accounts sent a portal link."})
    opened = fields.Integer(metadata={"description": "Accounts whose debtor opened the portal (right code)."})
    acted = fields.Integer(metadata={"description": "Accounts with a self-service action through the portal."})
    paid = fields.Integer(metadata={"description": "Accounts that paid through the portal."})
    paid_amounts = fields.Method("_amounts", metadata={"description": "[{currency, amount_minor}], net of refunds."})
    cured = fields.Integer(metadata={"description": "Accounts that paid or agreed a plan or settlement there."})
    self_cure_rate = fields.Float(allow_none=True)

    def _amounts(self, row):
        return [{"currency": currency, "amount_minor": minor} for currency, minor in row.amounts]


class SelfServiceOut(Schema):
    first_month = fields.String()
    last_month = fields.String()
    agency_id = fields.UUID(allow_none=True)
    template_id = fields.UUID(allow_none=True)
    rows = fields.List(fields.Nested(SelfServiceRowOut), metadata={"description": "Per sender and template."})
    totals = fields.List(fields.Nested(SelfServiceRowOut), metadata={"description": "Per sender, all templates."})
    formulas = fields.Dict(keys=fields.String(), values=fields.Nested(Formula))


@blp.route("/analytics/self-service")
@lenders_and_agencies
@require_capability(Capability.ANALYTICS_READ)
@blp.arguments(SelfServiceArgs, location="query")
@blp.response(200, SelfServiceOut)
def self_service_rates(args):
    """Self-service through the debtor's portal per sender and message template: links sent, opened, self-service
    actions, payments through the portal and the self-cure rate. A foreign agency or template id answers 404."""
    found = self_service.self_service(Viewer.of(g.tenant), today=utc_today(), **args)
    return {**found.__dict__, "formulas": _formulas(self_service.FORMULAS)}
