"""The agency's desk over the API: a collector's work queue, assigning cases, notes and callbacks.

Agencies only (anyone else gets 404). A token acts for the member who created it: a collector's token reads that
collector's queue and works his cases; a supervisor's (agency admin or supervisor) token picks any collector's
queue (`collector_user_id`), the team's or the unassigned cases (`scope`), and assigns. Foreign ids are 404.
"""
import uuid

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from tenants.capabilities import Capability
from tenants.casework import assignment, notes, worklist
from tenants.casework.desk_models import AssignmentMethod
from tenants.conduct import engine
from tenants.db import db
from tenants.errors import PermissionDenied
from tenants.money import Money
from tenants.pii import mask
from tenants.portfolios.imports import COUNTRY_BY_CURRENCY
from web.access import allowed
from web.api.portfolio_schemas import DPD, agencies_only, loads, sane_amount

blp = Blueprint("api_worklist", __name__, url_prefix="/api/v1",
                description="Work queues, case assignment, notes and callbacks (agencies)")

RELEASE = "release"


def _token_user() -> uuid.UUID | None:
    return g.api_token.created_by_user_id


# ---- schemas ------------------------------------------------------------------------------------------------------

class QueueArgs(Schema):
    scope = fields.String(load_default=None, validate=validate.OneOf(worklist.Scope.ALL), metadata={
        "description": "Supervisors: collector (with collector_user_id), team (default) or unassigned."})
    collector_user_id = fields.UUID(load_default=None, metadata={
        "description": "Supervisors: whose queue. Collectors always get their own."})
    channel = fields.String(load_default=None, validate=validate.OneOf(engine.CHANNELS),
                            metadata={"description": "Judge this channel only (default: the desk channels)."})
    lender_id = fields.UUID(load_default=None)
    dpd_min = fields.Integer(load_default=None, validate=DPD)
    dpd_max = fields.Integer(load_default=None, validate=DPD)
    balance_min = fields.String(load_default=None, validate=sane_amount,
                                metadata={"description": "Decimal, in the agency's currency."})
    balance_max = fields.String(load_default=None, validate=sane_amount)
    q = fields.String(load_default=None, validate=validate.Length(max=100),
                      metadata={"description": "An external reference, or a phone number in any written form."})


class ChannelOut(Schema):
    outcome = fields.String(metadata={"description": "allow, allow_with_warnings, needs_approval, block or "
                                                     "unavailable"})
    next_permitted_at = fields.DateTime(attribute="at", allow_none=True,
                                        metadata={"description": "Now when allowed; null: not by waiting."})
    rules = fields.List(fields.String())
    message_en = fields.String()
    message_zh = fields.String()


class QueueItemOut(Schema):
    account_id = fields.UUID()
    external_ref = fields.String()
    debtor_name = fields.Function(lambda i: mask("name", i.debtor_name, g.role))
    lender_id = fields.UUID()
    currency = fields.String()
    outstanding_minor = fields.Integer()
    days_past_due = fields.Integer()
    region = fields.String(allow_none=True)
    collector_user_id = fields.UUID(allow_none=True)
    last_contact_at = fields.DateTime(allow_none=True)
    callback_at = fields.DateTime(allow_none=True, metadata={"description": "The next scheduled callback."})
    callback_due = fields.Boolean()
    promise = fields.String(allow_none=True, metadata={"description": "due (today or in grace), broken (last 7 "
                                                                      "days) or null"})
    status = fields.String(metadata={"description": "ready, approval, waiting or stopped"})
    ready_channels = fields.List(fields.String())
    next_permitted_at = fields.DateTime(attribute="next_at", allow_none=True)
    reason = fields.Nested(ChannelOut, allow_none=True, metadata={"description": "Why not now (waiting cases)."})
    channels = fields.Dict(keys=fields.String(), values=fields.Nested(ChannelOut), attribute="states")


class QueueOut(Schema):
    generated_at = fields.DateTime(attribute="now")
    truncated = fields.Boolean(metadata={"description": f"More than {worklist.LIMIT} cases matched."})
    ready = fields.List(fields.Nested(QueueItemOut), metadata={"description": "In priority order."})
    waiting = fields.List(fields.Nested(QueueItemOut), metadata={"description": "Soonest permitted first."})


class AssignIn(Schema):
    method = fields.String(required=True, validate=validate.OneOf((*AssignmentMethod.ALL, RELEASE)))
    account_ids = fields.List(fields.UUID(), load_default=None,
                              validate=validate.Length(min=1, max=assignment.MAX_BULK))
    unassigned = fields.Boolean(load_default=False, metadata={
        "description": f"Instead of account_ids: every unassigned case (at most {assignment.MAX_BULK})."})
    collector_user_id = fields.UUID(load_default=None, metadata={"description": "hand: who gets the cases."})
    collector_user_ids = fields.List(fields.UUID(), load_default=list,
                                     metadata={"description": "round_robin: who shares them."})
    regions = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=100)), values=fields.UUID(),
                          load_default=dict, metadata={"description": "region: region → collector user id."})

    @validates_schema
    def _which(self, data, **_):
        if not data.get("account_ids") and not data.get("unassigned"):
            raise ValidationError({"account_ids": ["Give account_ids, or unassigned: true."]})
        if data["method"] == AssignmentMethod.HAND and not data.get("collector_user_id"):
            raise ValidationError({"collector_user_id": ["Required for method hand."]})


class AssignOut(Schema):
    assigned = fields.Dict(keys=fields.UUID(), values=fields.UUID(),
                           metadata={"description": "account id → collector user id"})
    unchanged = fields.List(fields.UUID())
    skipped = fields.Dict(keys=fields.UUID(), values=fields.String())
    released = fields.List(fields.UUID())


class NoteIn(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=notes.NOTE_MAX))


class NoteOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    author_user_id = fields.UUID(allow_none=True)
    body = fields.String()
    created_at = fields.DateTime()


class CallbackIn(Schema):
    on = fields.Date(required=True, metadata={"description": "The debtor's local date."})
    at = fields.Time(required=True, metadata={"description": "The debtor's local time, HH:MM."})
    zone = fields.String(load_default=None, metadata={"description": "IANA zone (default: the debtor's)."})
    note = fields.String(load_default=None, validate=validate.Length(max=notes.CALLBACK_NOTE_MAX))
    collector_user_id = fields.UUID(load_default=None,
                                    metadata={"description": "Supervisors: whose callback (default: the case's)."})


class CallbackOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    collector_user_id = fields.UUID(allow_none=True)
    due_at = fields.DateTime()
    local_zone = fields.String()
    note = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "scheduled, done or cancelled"})
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class NoteList(Schema):
    items = fields.List(fields.Nested(NoteOut))


class CallbackList(Schema):
    items = fields.List(fields.Nested(CallbackOut))


# ---- the queue -----------------------------------------------------------------------------------------------------

@blp.route("/queue")
@agencies_only
@blp.arguments(QueueArgs, location="query")
@blp.response(200, QueueOut)
def queue(args):
    """A work queue: the cases that may be contacted now (priority order: promises due, callbacks due, balance,
    days past due, oldest last contact) and the rest with the rule and the next permitted time."""
    scope, collector = _scope(args["scope"], args["collector_user_id"])
    currency = g.tenant.currency
    filters = worklist.QueueFilter(
        channel=args["channel"], lender_id=args["lender_id"], dpd_min=args["dpd_min"], dpd_max=args["dpd_max"],
        balance_min_minor=Money.parse(args["balance_min"], currency).minor if args["balance_min"] else None,
        balance_max_minor=Money.parse(args["balance_max"], currency).minor if args["balance_max"] else None,
        search=args["q"])
    region = (g.tenant.settings or {}).get("country") or COUNTRY_BY_CURRENCY.get(currency, "CN")
    return worklist.build(scope=scope, collector_user_id=collector, filters=filters, default_region=region,
                          default_zone=g.tenant.time_zone)


def _scope(scope: str | None, collector: uuid.UUID | None) -> tuple[str, uuid.UUID | None]:
    if not allowed(Capability.CASES_ANY):
        me = _token_user()
        if me is None or (collector is not None and collector != me) or scope not in (None, worklist.Scope.COLLECTOR):
            raise PermissionDenied("A collector's token reads its own collector's queue.", code="queue.own_only")
        return worklist.Scope.COLLECTOR, me
    if collector is not None:
        return worklist.Scope.COLLECTOR, assignment.check_assignee(collector)
    return scope if scope not in (None, worklist.Scope.COLLECTOR) else worklist.Scope.TEAM, None


# ---- assignments ---------------------------------------------------------------------------------------------------

@blp.route("/assignments", methods=["POST"])
@agencies_only
@blp.arguments(AssignIn)
@blp.response(200, AssignOut)
def assign(data):
    """Assign cases by hand, round-robin or by region, or release them (supervisors). A case held by someone else
    is reassigned; every change is audited on the account."""
    assignment.require_supervisor(g.role)
    ids = data["account_ids"] or assignment.matching_ids(held=assignment.Held.UNASSIGNED)
    by = _token_user()
    method = data["method"]
    if method == RELEASE:
        released = assignment.release(ids, by_user_id=by)
        db.session.commit()
        return {"assigned": {}, "unchanged": [], "skipped": {}, "released": released}
    if method == AssignmentMethod.HAND:
        outcome = assignment.assign(ids, data["collector_user_id"], by_user_id=by)
    elif method == AssignmentMethod.ROUND_ROBIN:
        outcome = assignment.round_robin(ids, data["collector_user_ids"], by_user_id=by)
    else:
        outcome = assignment.by_region(ids, data["regions"], by_user_id=by)
    db.session.commit()
    return {"assigned": outcome.assigned, "unchanged": outcome.unchanged, "skipped": outcome.skipped, "released": []}


# ---- notes and callbacks ------------------------------------------------------------------------------------------

# A case the agency does not hold, or a callback it did not make, is a 404 before the body is read.

@blp.route("/accounts/<uuid:account_id>/notes")
@agencies_only
@loads(assignment.held_placement, "account_id", "placement")
@blp.response(200, NoteList)
def list_notes(placement):
    """The agency's notes on a case it holds, newest first."""
    return {"items": notes.notes_of(placement.account_id)}


@blp.route("/accounts/<uuid:account_id>/notes", methods=["POST"])
@agencies_only
@loads(assignment.held_placement, "account_id", "placement")
@blp.arguments(NoteIn)
@blp.response(201, NoteOut)
def add_note(data, placement):
    """Add a note (supervisors, or the case's collector)."""
    note = notes.add_note(placement.account_id, data["body"], user_id=_token_user(), role=g.role)
    db.session.commit()
    return note


@blp.route("/accounts/<uuid:account_id>/callbacks")
@agencies_only
@loads(assignment.held_placement, "account_id", "placement")
@blp.response(200, CallbackList)
def list_callbacks(placement):
    return {"items": notes.callbacks_of(placement.account_id)}


@blp.route("/accounts/<uuid:account_id>/callbacks", methods=["POST"])
@agencies_only
@loads(assignment.held_placement, "account_id", "placement")
@blp.arguments(CallbackIn)
@blp.response(201, CallbackOut)
def schedule_callback(data, placement):
    """Schedule a callback at the debtor's local date and time; it raises the case in the queue once due."""
    callback = notes.schedule_callback(placement.account_id, on=data["on"], at=data["at"], zone=data["zone"],
                                       note=data["note"], collector_user_id=data["collector_user_id"],
                                       user_id=_token_user(), role=g.role, fallback_zone=g.tenant.time_zone)
    db.session.commit()
    return callback


@blp.route("/callbacks/<uuid:callback_id>/done", methods=["POST"])
@agencies_only
@loads(notes.get_callback, "callback_id", "callback")
@blp.response(200, CallbackOut)
def callback_done(callback):
    closed = notes.close_callback(callback.id, done=True, user_id=_token_user(), role=g.role)
    db.session.commit()
    return closed


@blp.route("/callbacks/<uuid:callback_id>/cancel", methods=["POST"])
@agencies_only
@loads(notes.get_callback, "callback_id", "callback")
@blp.response(200, CallbackOut)
def callback_cancel(callback):
    closed = notes.close_callback(callback.id, done=False, user_id=_token_user(), role=g.role)
    db.session.commit()
    return closed
