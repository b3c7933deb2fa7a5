"""Conduct: contact attempts decided by the conduct engine before they happen, their outcomes, the next permitted
time per channel, and holds that stop collection on an account.

An agency contacts the accounts it holds (within its placement's channels); a lender may contact its own. A
blocked attempt is recorded for compliance and answered with 422 (`conduct.<rule>`, details: attempt_id,
earliest_allowed_at, hits). Attempts belong to the tenant that made them: nobody else sees them. Holds belong to
the account's lender and are seen by the agency holding the account; the lender or the tenant that opened a hold
may resolve it. Foreign ids are 404.
"""
import uuid

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenants import clock
from tenants.capabilities import Capability
from tenants.conduct import engine, replay
from tenants.conduct import service as conduct
from tenants.conduct.models import ApprovalRequest, AttemptStatus, ConductHold, ContactAttempt
from tenants.db import commit_keeping_state, db, get_visible
from tenants.errors import Conflict
from tenants.portfolios.models import Account
from web.access import require_capability
from web.api.idempotency import idempotency_key
from web.api.pagination import PageArgs, paginate
from web.api.portfolio_schemas import lenders_and_agencies, loads

blp = Blueprint("api_conduct", __name__, url_prefix="/api/v1",
                description="Contact attempts checked against the conduct rules, their outcomes, and holds")

PURPOSES = ("collect", "locate", "pass_message")


# ---- loaders (the tenant lock decides what a tenant sees; a row it cannot see is a 404) ---------------------

def _account(account_id: uuid.UUID) -> Account:
    return get_visible(Account, account_id, "account.not_found")


def _attempt(attempt_id: uuid.UUID) -> ContactAttempt:
    return get_visible(ContactAttempt, attempt_id, "contact_attempt.not_found")


def _hold(hold_id: uuid.UUID) -> ConductHold:
    return get_visible(ConductHold, hold_id, "hold.not_found")


# ---- schemas ------------------------------------------------------------------------------------------------

class AttemptIn(Schema):
    channel = fields.String(required=True, validate=validate.OneOf(engine.CHANNELS))
    target = fields.String(load_default="debtor", validate=validate.OneOf(engine.TARGETS))
    phone_position = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100),
                                    metadata={"description": "Which of the account's phones (0 = first)."})
    third_party_id = fields.UUID(load_default=None, allow_none=True,
                                 metadata={"description": "Required when target is third_party."})
    approval_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "An approved request (GET /api/v1/approvals) for this account, channel and target: lets a "
                       "contact that needed approval go ahead, once, before the approval's valid_until."})
    staff_count = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100),
                                 metadata={"description": "Visits: how many staff go."})
    purpose = fields.String(load_default="collect", validate=validate.OneOf(PURPOSES))
    message_kind = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    debtor_unreachable = fields.Boolean(load_default=False, metadata={
        "deprecated": True,
        "description": "Ignored, kept so older clients are not refused: whether the debtor is unreachable (for "
                       "third-party contact) is derived from the ledger — consecutive calls that reached no one — "
                       "never taken from the request."})
    collector_user_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "The member of this tenant making the contact (recorded on the attempt and in reports)."})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000), metadata={
        "description": "Why the contact is needed: shown to the approver when the decision needs approval."})

    @validates_schema
    def _third_party(self, data, **_):
        if data.get("target") == "third_party" and not data.get("third_party_id"):
            raise ValidationError({"third_party_id": ["Required when target is third_party."]})


class HitOut(Schema):
    rule_id = fields.String()
    action = fields.String(metadata={"description": "BLOCK, PAUSE, APPROVE, CONTENT, TIMER or WARN"})
    message_en = fields.String()
    message_zh = fields.String()
    earliest_allowed_at = fields.String(allow_none=True, metadata={"description": "ISO 8601, or null"})
    citation = fields.String(allow_none=True)


class AttemptOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    placement_id = fields.UUID(allow_none=True)
    channel = fields.String()
    target = fields.String()
    third_party_id = fields.UUID(allow_none=True)
    status = fields.String(metadata={"description": "blocked, needs_approval, pending or completed"})
    decision = fields.String(metadata={"description": "allow, allow_with_warnings, needs_approval or block"})
    rulebook_version = fields.String()
    earliest_allowed_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime()
    outcome_code = fields.String(allow_none=True)
    connected = fields.Boolean(allow_none=True)
    conversation = fields.Boolean(allow_none=True)
    outcome_at = fields.DateTime(allow_none=True)
    collector_user_id = fields.UUID(allow_none=True)
    hits = fields.List(fields.Nested(HitOut))


class AttemptDetailOut(AttemptOut):
    inputs = fields.Function(lambda a: replay.redacted(a.inputs), metadata={
        "description": "What the decision saw (request, the person's recent contacts, holds, consent, rulebook; "
                       "opaque keys, no PII). Contacts about other debts show only time, channel and outcome."})


class DecisionOut(Schema):
    outcome = fields.String(attribute="decision",
                            metadata={"description": "allow, allow_with_warnings, needs_approval or block"})
    rulebook_version = fields.String()
    earliest_allowed_at = fields.DateTime(allow_none=True)
    hits = fields.List(fields.Nested(HitOut))


class AttemptCreatedOut(Schema):
    attempt = fields.Nested(AttemptOut)
    decision = fields.Nested(DecisionOut)
    approval_id = fields.UUID(allow_none=True, metadata={
        "description": "needs_approval: the approval request opened for the lender (GET /api/v1/approvals/{id})."})


class AttemptPage(Schema):
    items = fields.List(fields.Nested(AttemptOut))
    next_cursor = fields.String(allow_none=True)


class OutcomeIn(Schema):
    outcome_code = fields.String(required=True, validate=validate.OneOf(tuple(conduct.OUTCOMES)))
    connected = fields.Boolean(load_default=None, allow_none=True,
                               metadata={"description": "Defaults from the outcome code."})
    conversation = fields.Boolean(load_default=None, allow_none=True,
                                  metadata={"description": "Defaults from the outcome code."})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


NextPermittedOut = Schema.from_dict(
    {channel: fields.DateTime(allow_none=True, metadata={
        "description": "When next permitted (now or later), or null: not by waiting. Absent: not a channel of "
                       "this tenant's placement."}) for channel in engine.CHANNELS},
    name="NextPermittedOut")


class HoldIn(Schema):
    type = fields.String(required=True, validate=validate.OneOf(engine.HOLD_TYPES))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                   metadata={"description": "Open-ended when absent."})
    allow = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=list,
                        metadata={"description": "Message kinds still allowed during the hold."})

    @validates_schema
    def _ends_later(self, data, **_):
        if data.get("ends_at") is not None and data["ends_at"] <= clock.now():
            raise ValidationError({"ends_at": ["Must be in the future."]})


class HoldOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    type = fields.String()
    reason = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    allow = fields.List(fields.String())
    source = fields.String()
    lender_id = fields.UUID(attribute="tenant_id")
    created_by_tenant_id = fields.UUID()
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)
    active = fields.Function(lambda h: h.resolved_at is None and (h.ends_at is None or h.ends_at > clock.now()))


class HoldList(Schema):
    items = fields.List(fields.Nested(HoldOut))


class ResolveIn(Schema):
    resolution = fields.String(required=True, validate=validate.Length(min=1, max=2000))


# ---- contact attempts ---------------------------------------------------------------------------------------

@blp.route("/accounts/<uuid:account_id>/contact-attempts", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.CONTACT_ATTEMPT)
@loads(conduct.case_of, "account_id", "found")  # the account read with what the decision reads of it
@blp.arguments(AttemptIn)
@blp.response(201, AttemptCreatedOut)
@blp.alt_response(422, description="Refused by the conduct rules (code conduct.<rule>; details: attempt_id, "
                                   "earliest_allowed_at, hits), or invalid fields")
def create_attempt(data, found: conduct.Case):
    """Decide an outbound contact before making it, and record it.

    Allowed (with warnings) or needing approval: 201 with the attempt and the decision. Refused: the attempt is
    recorded as blocked and the answer is 422 with the first blocking rule's code. Send an `Idempotency-Key`
    header (up to 100 characters) and a retried request returns the first answer instead of recording twice."""
    key = idempotency_key()
    if key:
        earlier = _by_idempotency_key(key)
        if earlier is not None:
            return _replay(earlier, found.account)
    try:
        collector = data.pop("collector_user_id")
        note = data.pop("note")
        data.pop("debtor_unreachable")
        record, _ = conduct.attempt(found, conduct.AttemptRequest(**data), collector_user_id=collector,
                                    idempotency_key=key, note=note)
    except IntegrityError:  # the same key raced in from a parallel retry: answer with the winner
        db.session.rollback()
        earlier = _by_idempotency_key(key) if key else None
        if earlier is None:
            raise
        return _replay(earlier, _account(found.account.id))
    return _created(record)


def _created(record: ContactAttempt) -> dict:
    approval_id = (db.session.scalar(select(ApprovalRequest.id).where(ApprovalRequest.attempt_id == record.id))
                   if record.status == AttemptStatus.NEEDS_APPROVAL else None)
    return {"attempt": record, "decision": record, "approval_id": approval_id}


def _by_idempotency_key(key: str) -> ContactAttempt | None:
    return db.session.scalar(select(ContactAttempt).where(ContactAttempt.idempotency_key == key))


def _replay(earlier: ContactAttempt, found: Account):
    if earlier.account_id != found.id:
        raise Conflict("This Idempotency-Key was already used for another account.", code="idempotency.key_reused")
    if earlier.status == AttemptStatus.BLOCKED:
        first = next((h for h in earlier.hits if h["action"] in engine.BLOCKING), None)
        raise conduct.ConductBlocked(first["message_en"] if first else "Refused by the conduct rules.",
                                     code=f"conduct.{first['rule_id'].lower()}" if first else "conduct.blocked",
                                     details=conduct.decision_view(earlier, None))
    return _created(earlier)


@blp.route("/accounts/<uuid:account_id>/contact-attempts")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.arguments(PageArgs, location="query")
@blp.response(200, AttemptPage)
def list_attempts(args, found: Account):
    """This tenant's attempts on the account (blocked ones too), newest first (cursor pagination on decided_at,
    id). Other tenants' attempts on the same person are never shown."""
    query = select(ContactAttempt).where(ContactAttempt.account_id == found.id)
    return paginate(query, ContactAttempt.decided_at, ContactAttempt.id, newest_first=True, **args)


@blp.route("/contact-attempts/<uuid:attempt_id>")
@lenders_and_agencies
@loads(_attempt, "attempt_id", "found")
@blp.response(200, AttemptDetailOut)
def attempt_detail(found: ContactAttempt):
    """One attempt with what the decision saw (`inputs`) and the rules it hit (`hits`): enough to replay it."""
    return found


@blp.route("/contact-attempts/<uuid:attempt_id>/outcome", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.CONTACT_ATTEMPT)
@loads(_attempt, "attempt_id", "found")
@blp.arguments(OutcomeIn)
@blp.response(200, AttemptOut)
def record_outcome(data, found: ContactAttempt):
    """Record how an allowed attempt went. `dispute_raised` and `cease_requested` open a hold on the account.
    Only a pending attempt takes an outcome (else 409)."""
    record = conduct.record_outcome(found.id, data["outcome_code"], connected=data["connected"],
                                    conversation=data["conversation"], note=data["note"])
    commit_keeping_state()
    return record


@blp.route("/accounts/<uuid:account_id>/next-permitted")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, NextPermittedOut)
def next_permitted(found: Account):
    """Per channel this tenant may use, when it may next contact the debtor: now, a later time, or null (not by
    waiting: a hold, a barred debt...)."""
    return conduct.next_permitted(found.id)


# ---- holds --------------------------------------------------------------------------------------------------

@blp.route("/accounts/<uuid:account_id>/holds")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, HoldList)
def list_holds(found: Account):
    """The account's holds (resolved ones too), newest first."""
    holds = db.session.scalars(select(ConductHold).where(ConductHold.account_id == found.id)
                               .order_by(ConductHold.starts_at.desc(), ConductHold.id.desc())).all()
    return {"items": holds}


@blp.route("/accounts/<uuid:account_id>/holds", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.HOLD_MANAGE)
@loads(_account, "account_id", "found")
@blp.arguments(HoldIn)
@blp.response(201, HoldOut)
def open_hold(data, found: Account):
    """Open a hold: collection contacts stop until it ends or is resolved (message kinds in `allow` excepted)."""
    hold = conduct.open_hold(found.id, data["type"], reason=data["reason"], source="api", ends_at=data["ends_at"],
                             allow=data["allow"], created_by_user_id=None)
    db.session.commit()
    return hold


@blp.route("/holds/<uuid:hold_id>/resolve", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.HOLD_MANAGE)
@loads(_hold, "hold_id", "found")
@blp.arguments(ResolveIn)
@blp.response(200, HoldOut)
def resolve_hold(data, found: ConductHold):
    """Resolve a hold (the lender, or the tenant that opened it; else 403). Already resolved: 409."""
    hold = conduct.resolve_hold(found.id, data["resolution"])
    db.session.commit()
    return hold

