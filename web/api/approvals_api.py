"""Approval requests and debtor consent.

A contact the conduct engine answers with `needs_approval` (a visit, a legal step, an agency's first contact with a
debtor not yet told of the hand-over) opens an approval request for the account's lender; the rule names the
approving role (a lender manager; a lender admin may always decide). Once approved, the asking tenant repeats the
attempt with `approval_id` within `valid_until`, once. The lender sees every request on its accounts; the asking
tenant sees its own. Consent is what the debtor told the lender or the agency holding the account: channels opted
out of, inconvenient times, agreed hours; every decision on the account reads it.
"""
import uuid

from flask import g
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from tenants.capabilities import Capability
from tenants.conduct import approvals, consent, engine
from tenants.conduct.models import AccountConsent, ApprovalRequest, ApprovalStatus
from tenants.db import db, get_visible
from tenants.portfolios.models import Account
from web.access import require_capability
from web.api.pagination import PageArgs, paginate
from web.api.portfolio_schemas import lenders_and_agencies, lenders_only, loads

blp = Blueprint("api_approvals", __name__, url_prefix="/api/v1",
                description="Approval requests for contacts that need one, and what the debtor consented to")

STATUSES = (ApprovalStatus.PENDING, ApprovalStatus.APPROVED, ApprovalStatus.DECLINED, ApprovalStatus.USED)
TIME = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="A time HH:MM (24-hour).")


def _approval(approval_id: uuid.UUID) -> ApprovalRequest:
    return get_visible(ApprovalRequest, approval_id, "approval.not_found")


def _account(account_id: uuid.UUID) -> Account:
    return get_visible(Account, account_id, "account.not_found")


class ApprovalOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    attempt_id = fields.UUID(metadata={"description": "The attempt that needed approval."})
    lender_id = fields.UUID(attribute="tenant_id")
    requested_by_tenant_id = fields.UUID()
    requested_by_user_id = fields.UUID(allow_none=True)
    channel = fields.String()
    target = fields.String()
    rule_ids = fields.List(fields.String())
    approver_role = fields.String()
    note = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending, approved, declined or used"})
    requested_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decided_by_user_id = fields.UUID(allow_none=True)
    decision_note = fields.String(allow_none=True)
    valid_until = fields.DateTime(allow_none=True)
    used_by_attempt_id = fields.UUID(allow_none=True)


class ApprovalListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class ApprovalPage(Schema):
    items = fields.List(fields.Nested(ApprovalOut))
    next_cursor = fields.String(allow_none=True)


class DecisionIn(Schema):
    approve = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ConsentIn(Schema):
    opted_out_channels = fields.List(fields.String(validate=validate.OneOf(engine.CHANNELS)), load_default=list)
    inconvenient_windows = fields.List(fields.List(fields.String(validate=TIME), validate=validate.Length(equal=2)),
                                       load_default=list, metadata={
                                           "description": "Debtor-local [from, to) pairs; may cross midnight."})
    agreed_hours = fields.List(fields.String(validate=TIME), load_default=None, allow_none=True,
                               validate=validate.Length(equal=2),
                               metadata={"description": "Debtor-local hours replacing the default window."})
    consent_until = fields.AwareDateTime(load_default=None, allow_none=True, metadata={
        "description": "A prior consent to calls inside the US 7-day quiet period, at most 7 days."})

    @validates_schema
    def _windows(self, data, **_):
        if any(a == b for a, b in data.get("inconvenient_windows") or ()):
            raise ValidationError({"inconvenient_windows": ["A window needs two different times."]})


class ConsentOut(Schema):
    account_id = fields.UUID()
    opted_out_channels = fields.List(fields.String())
    inconvenient_windows = fields.List(fields.List(fields.String()))
    agreed_hours = fields.List(fields.String(), allow_none=True)
    consent_until = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)
    updated_by_tenant_id = fields.UUID(allow_none=True)


@blp.route("/approvals")
@lenders_and_agencies
@blp.arguments(ApprovalListArgs, location="query")
@blp.response(200, ApprovalPage)
def list_approvals(args):
    """A lender: the requests on its accounts; anyone else: the requests it made. Oldest first."""
    query = select(ApprovalRequest)
    status = args.pop("status")
    if status:
        query = query.where(ApprovalRequest.status == status)
    return paginate(query, ApprovalRequest.requested_at, ApprovalRequest.id, **args)


@blp.route("/approvals/<uuid:approval_id>")
@lenders_and_agencies
@loads(_approval, "approval_id", "found")
@blp.response(200, ApprovalOut)
def approval_detail(found: ApprovalRequest):
    return found


@blp.route("/approvals/<uuid:approval_id>/decision", methods=["POST"])
@lenders_only
@require_capability(Capability.APPROVAL_DECIDE)
@loads(_approval, "approval_id", "found")
@blp.arguments(DecisionIn)
@blp.response(200, ApprovalOut)
def decide(data, found: ApprovalRequest):
    """Approve or decline (the request's approver role or a lender admin; else 403). Decided already: 409.
    Approving a first contact without hand-over notice (CN.OUTSOURCE.NOTICE) records that the debtor was told."""
    user_id = current_user.id if current_user.is_authenticated else None
    approval = approvals.decide(found.id, approve=data["approve"], role=g.role, user_id=user_id, note=data["note"])
    db.session.commit()
    return approval


@blp.route("/accounts/<uuid:account_id>/consent")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, ConsentOut)
def get_consent(found: Account):
    """What the debtor consented to or refused (empty lists when nothing is recorded)."""
    row = db.session.scalar(select(AccountConsent).where(AccountConsent.account_id == found.id))
    return row or {"account_id": found.id, "opted_out_channels": [], "inconvenient_windows": []}


@blp.route("/accounts/<uuid:account_id>/consent", methods=["PUT"])
@lenders_and_agencies
@require_capability(Capability.HOLD_MANAGE)
@loads(_account, "account_id", "found")
@blp.arguments(ConsentIn)
@blp.response(200, ConsentOut)
def put_consent(data, found: Account):
    """Replace the consent record with what the debtor said now (audited)."""
    user_id = current_user.id if current_user.is_authenticated else None
    row = consent.record(found.id, opted_out_channels=data["opted_out_channels"],
                         inconvenient_windows=[tuple(w) for w in data["inconvenient_windows"]],
                         agreed_hours=tuple(data["agreed_hours"]) if data["agreed_hours"] else None,
                         consent_until=data["consent_until"], user_id=user_id)
    db.session.commit()
    return row
