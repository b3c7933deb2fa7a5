"""Compliance: the conduct engine's recorded decisions counted by agency, rule and day, per-agency conduct
scorecards, one decision replayed, and debtor complaints.

Platform-admin tokens read across tenants (in an explicit platform context); lender tokens read the attempts made
on their own accounts, by their agencies or themselves, and their own complaints. Agency tokens read the complaints
about them (the debtor's words only while they hold the account) and nothing else here. Days are UTC calendar days.
Foreign ids are 404.
"""
import uuid
from datetime import timedelta
from functools import wraps

from flask import g
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from webargs.fields import DelimitedList

from tenants.capabilities import Capability
from tenants.compliance import complaints, drilldown, reports
from tenants.compliance.models import CATEGORIES, Complaint, ComplaintStatus
from tenants.compliance.schemas import ComplaintIn, ComplaintStatusIn
from tenants.conduct.models import ContactAttempt
from tenants.db import db
from tenants.portfolios.models import Account
from tenants.tenancy.roles import TenantKind
from web.access import require_capability
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.portfolio_schemas import extend, loads, only_for
from web.compliance_pages import report_scope, utc_today

blp = Blueprint("api_compliance", __name__, url_prefix="/api/v1",
                description="Conduct decisions by agency, rule and day; agency scorecards; decisions replayed; "
                            "complaints")

platform_and_lenders = only_for(TenantKind.PLATFORM, TenantKind.LENDER)
everyone = only_for(TenantKind.PLATFORM, TenantKind.LENDER, TenantKind.AGENCY)


def scoped(view):
    """Run the whole request — loading, the body, the response — in the reader's scope: a platform context for
    platform admins (so what they may read is still there when the answer is written), their own otherwise."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        with report_scope("compliance api"):
            return view(*args, **kwargs)

    return wrapped


def _lender_id():
    return g.tenant.id if g.tenant.kind == TenantKind.LENDER else None


# ---- reports ------------------------------------------------------------------------------------------------

class ReportArgs(Schema):
    date_from = fields.Date(load_default=None, metadata={"description": "First UTC day (default: 29 days before "
                                                                        "date_to)."})
    date_to = fields.Date(load_default=None, metadata={"description": "Last UTC day, inclusive (default: today)."})
    agency_id = fields.UUID(load_default=None, metadata={"description": "The tenant that made the attempts."})
    rule_id = fields.String(load_default=None, validate=validate.Length(min=1, max=50),
                            metadata={"description": "Decisions this rule decided (blocked, sent for approval, "
                                                     "warned)."})


class DecisionArgs(ReportArgs, PageArgs):
    outcome = fields.String(load_default=None, validate=validate.OneOf(reports.OUTCOMES))


class CountArgs(ReportArgs):
    by = DelimitedList(fields.String(validate=validate.OneOf(reports.DIMENSIONS)),
                              load_default=list(reports.DIMENSIONS),
                              metadata={"description": "Comma-separated: agency, rule, day."})


def _filter(args: dict) -> reports.ReportFilter:
    last = args["date_to"] or utc_today()
    first = args["date_from"] or last - timedelta(days=reports.DEFAULT_DAYS - 1)
    return reports.ReportFilter(date_from=first, date_to=last, agency_id=args["agency_id"],
                                rule_id=args["rule_id"], lender_id=_lender_id(), outcome=args.get("outcome"))


Formula = Schema.from_dict({"en": fields.String(), "zh": fields.String()}, name="Formula")
FORMULAS = {key: {"en": en, "zh": zh} for key, (en, zh) in reports.FORMULAS.items()}


class ComplianceHitOut(Schema):
    rule_id = fields.String()
    action = fields.String()
    message_en = fields.String()
    message_zh = fields.String()
    earliest_allowed_at = fields.String(allow_none=True)
    citation = fields.String(allow_none=True)


class ComplianceDecisionOut(Schema):
    id = fields.UUID()
    agency_id = fields.UUID(attribute="tenant_id", metadata={"description": "The tenant that made the attempt."})
    lender_id = fields.UUID(attribute="lender_tenant_id")
    account_id = fields.UUID()
    placement_id = fields.UUID(allow_none=True)
    channel = fields.String()
    target = fields.String()
    status = fields.String()
    decision = fields.String(metadata={"description": "allow, allow_with_warnings, needs_approval or block"})
    rulebook_version = fields.String()
    earliest_allowed_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime()
    hits = fields.List(fields.Nested(ComplianceHitOut))


class CountsOut(Schema):
    agency_id = fields.UUID(allow_none=True)
    agency_name = fields.String(allow_none=True)
    rule_id = fields.String(allow_none=True, metadata={"description": "null: no rule decided it (allowed)"})
    day = fields.Date(allow_none=True)
    decisions = fields.Integer()
    blocked = fields.Integer()
    approved = fields.Integer()
    allowed = fields.Integer()


class CountsPage(Schema):
    date_from = fields.Date()
    date_to = fields.Date()
    items = fields.List(fields.Nested(CountsOut))
    formulas = fields.Dict(keys=fields.String(), values=fields.Nested(Formula))


class ScorecardOut(Schema):
    agency_id = fields.UUID()
    agency_name = fields.String()
    agency_kind = fields.String()
    attempts = fields.Integer()
    blocked = fields.Integer()
    blocks_per_1000 = fields.Float(allow_none=True)
    after_hours = fields.Integer()
    during_holds = fields.Integer()
    awaiting_outcome = fields.Integer(metadata={"description": "Allowed attempts whose outcome is not recorded "
                                                               "yet (each counts as connected until it is)."})
    complaints_open = fields.Integer()
    complaints_upheld = fields.Integer()


class ScorecardPage(CountsPage):
    items = fields.List(fields.Nested(ScorecardOut))


class ReviewOut(Schema):
    attempt = fields.Nested(ComplianceDecisionOut)
    made_by = fields.Function(lambda r: {"id": str(r.made_by.id), "name": r.made_by.name, "kind": r.made_by.kind})
    inputs = fields.Dict(metadata={"description": "What the engine saw (opaque keys, no PII)."})
    stored = fields.Dict(metadata={"description": "The decision recorded when the attempt was made."})
    replayed = fields.Dict(allow_none=True, metadata={"description": "The same inputs decided again now; null when "
                                                                     "there is nothing to replay (inbound)."})
    matches = fields.Boolean(allow_none=True)
    rulebook_changed = fields.Boolean()


@blp.route("/compliance/decisions")
@platform_and_lenders
@scoped
@blp.arguments(DecisionArgs, location="query")
@blp.response(200, page_schema(ComplianceDecisionOut, "ComplianceDecisionPage"))
def list_decisions(args):
    """Outbound decisions, newest first (cursor pagination on decided_at, id), filtered by UTC days, agency, rule
    and outcome (blocked, approved or allowed)."""
    return paginate(reports.decisions_query(_filter(args)), ContactAttempt.decided_at, ContactAttempt.id,
                    newest_first=True, limit=args["limit"], cursor=args["cursor"])


@blp.route("/compliance/decision-counts")
@platform_and_lenders
@scoped
@blp.arguments(CountArgs, location="query")
@blp.response(200, CountsPage)
def decision_counts(args):
    """Counts of blocked, approved and allowed decisions grouped by agency, rule and/or UTC day (`by`)."""
    f = _filter(args)
    return {"date_from": f.date_from, "date_to": f.date_to, "items": reports.decision_counts(f, tuple(args["by"])),
            "formulas": FORMULAS}


@blp.route("/compliance/scorecards")
@platform_and_lenders
@scoped
@blp.arguments(ReportArgs, location="query")
@blp.response(200, ScorecardPage)
def scorecards(args):
    """Each agency's conduct over the period: attempts, blocks per 1,000 attempts, after-hours attempts, attempts
    during holds, complaints open and upheld. `formulas` defines each figure."""
    f = _filter(args)
    return {"date_from": f.date_from, "date_to": f.date_to, "items": reports.scorecards(f), "formulas": FORMULAS}


@blp.route("/compliance/decisions/<uuid:attempt_id>")
@platform_and_lenders
@scoped
@blp.response(200, ReviewOut)
def decision(attempt_id: uuid.UUID):
    """One decision: what was recorded, what the engine saw, and the same inputs decided again."""
    return drilldown.review(attempt_id, lender_id=_lender_id())


# ---- complaints ---------------------------------------------------------------------------------------------

class ComplaintOut(Schema):
    id = fields.UUID()
    lender_id = fields.UUID(attribute="tenant_id")
    account_id = fields.UUID()
    agency_id = fields.UUID(attribute="agency_tenant_id", allow_none=True)
    attempt_id = fields.UUID(allow_none=True)
    received_at = fields.DateTime()
    received_via = fields.String()
    category = fields.String()
    description = fields.String(allow_none=True, metadata={
        "description": "The debtor's words; null for an agency that no longer holds the account."})
    status = fields.String(metadata={"description": ", ".join(ComplaintStatus.ALL)})
    resolution = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class ComplaintArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf((*ComplaintStatus.ALL, "unresolved")))
    category = fields.String(load_default=None, validate=validate.OneOf(CATEGORIES))
    agency_id = fields.UUID(load_default=None)


def _shown(rows: list[Complaint]) -> list:
    """An agency reads the debtor's words only on accounts it still holds (the tenant lock decides which)."""
    if g.tenant.kind != TenantKind.AGENCY:
        return rows
    held = set(db.session.scalars(select(Account.id).where(Account.id.in_({c.account_id for c in rows}))))
    return [extend(c, description=c.description if c.account_id in held else None,
                   resolution=c.resolution if c.account_id in held else None) for c in rows]


def _actor() -> complaints.Actor:
    return complaints.Actor(tenant=g.tenant, user_id=current_user.id if current_user.is_authenticated else None)


@blp.route("/complaints", methods=["POST"])
@platform_and_lenders
@require_capability(Capability.COMPLAINT_WRITE)
@scoped
@blp.arguments(ComplaintIn)
@blp.response(201, ComplaintOut)
def create_complaint(data):
    """Take in a complaint on one of the lender's accounts (by `account_id`, or `external_ref`; platform admins
    name the `lender_id` with a reference), optionally about an agency that held it and one contact attempt."""
    complaint = complaints.intake(_actor(), data)
    db.session.commit()
    return complaint


@blp.route("/complaints")
@everyone
@require_capability(Capability.COMPLAINT_READ)
@scoped
@blp.arguments(ComplaintArgs, location="query")
@blp.response(200, page_schema(ComplaintOut, "ComplaintPage"))
def list_complaints(args):
    """Newest first (cursor pagination on received_at, id). A lender's own, an agency's about it, or all."""
    f = complaints.ComplaintFilter(status=args["status"], category=args["category"],
                                   agency_id=g.tenant.id if g.tenant.kind == TenantKind.AGENCY else args["agency_id"],
                                   lender_id=_lender_id())
    page = paginate(complaints.complaints_query(f), Complaint.received_at, Complaint.id, newest_first=True,
                    limit=args["limit"], cursor=args["cursor"])
    return {**page, "items": _shown(page["items"])}


@blp.route("/complaints/<uuid:complaint_id>")
@everyone
@scoped
@loads(complaints.get_complaint, "complaint_id", "found")
@require_capability(Capability.COMPLAINT_READ)
@blp.response(200, ComplaintOut)
def complaint(found: Complaint):
    return _shown([found])[0]


@blp.route("/complaints/<uuid:complaint_id>", methods=["PATCH"])
@platform_and_lenders
@scoped
@loads(complaints.get_complaint, "complaint_id", "found")
@require_capability(Capability.COMPLAINT_WRITE)
@blp.arguments(ComplaintStatusIn)
@blp.response(200, ComplaintOut)
@blp.alt_response(409, description="The complaint cannot move to that status (complaint.bad_transition)")
def update_complaint(data, found: Complaint):
    """Move a complaint on: open → investigating → upheld, rejected or withdrawn (upholding or rejecting needs
    a `resolution`). A decided complaint stays decided (409)."""
    updated = complaints.change_status(_actor(), found.id, data["status"], data["resolution"])
    db.session.commit()
    return updated
