"""Message templates and messages.

A lender writes templates (each version checked against its rulebook's content rules: `findings`), submits a
version and approves it (lender admin or manager); a version with a blocking finding can be neither. An agency
reads the approved templates of the lenders whose accounts it holds. Sending a message from an approved template
asks the conduct engine first: refused, it answers 422 `conduct.<rule>` and nothing is queued; allowed, the
message is queued (202) and delivered by a worker. Messages belong to the tenant that sent them; recipients are
masked. Foreign ids are 404.
"""
import uuid

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenants.capabilities import Capability
from tenants.db import db
from tenants.messaging import sending
from tenants.messaging import templates as template_service
from tenants.messaging.models import CHANNELS, MessageStatus, MessageTemplate, OutboundMessage, TemplateStatus
from tenants.messaging.schemas import NewTemplateSchema, TemplateTextSchema
from tenants.pii import mask
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account
from web.access import require_capability
from web.api.idempotency import idempotency_key
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.portfolio_schemas import extend, lenders_and_agencies, lenders_only, loads

blp = Blueprint("api_messaging", __name__, url_prefix="/api/v1",
                description="Message templates approved by lenders, and messages sent from them")

RECIPIENT_KIND = {"sms": "phone", "email": "email", "letter": "address"}


def _template(template_id: uuid.UUID) -> MessageTemplate:
    return template_service.get_template(template_id)


def _message(message_id: uuid.UUID) -> OutboundMessage:
    return sending.get_message(message_id)


# ---- schemas ------------------------------------------------------------------------------------------------

class FindingOut(Schema):
    rule_id = fields.String()
    severity = fields.String(metadata={"description": "block (cannot be approved) or warn"})
    message_en = fields.String()
    message_zh = fields.String()
    phrase = fields.String(allow_none=True)


class TemplateOut(Schema):
    id = fields.UUID()
    template_family_id = fields.UUID(attribute="family_id",
                                     metadata={"description": "Shared by every version of the template."})
    lender_id = fields.UUID(attribute="tenant_id")
    version = fields.Integer()
    name = fields.String()
    channel = fields.String()
    locale = fields.String()
    target = fields.String()
    message_kind = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    body = fields.String()
    status = fields.String(metadata={"description": "draft, pending_approval, approved or retired"})
    findings = fields.List(fields.Nested(FindingOut))
    rulebook_version = fields.String()
    review_note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    retired_at = fields.DateTime(allow_none=True)


class TemplateListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(
        (TemplateStatus.DRAFT, TemplateStatus.PENDING, TemplateStatus.APPROVED, TemplateStatus.RETIRED)))
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    template_family_id = fields.UUID(load_default=None)


class RejectIn(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class SendIn(Schema):
    template_id = fields.UUID(required=True, metadata={"description": "An approved version of the account's "
                                                                      "lender."})
    target = fields.String(load_default="debtor", validate=validate.OneOf(("debtor", "third_party")),
                           metadata={"description": "Must match the template's target."})
    phone_position = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100),
                                    metadata={"description": "SMS to the debtor: which phone (0 = first)."})
    third_party_id = fields.UUID(load_default=None, allow_none=True,
                                 metadata={"description": "Required when target is third_party (SMS only)."})
    approval_id = fields.UUID(load_default=None, allow_none=True,
                              metadata={"description": "An approved request covering this contact, when the "
                                                       "conduct rules asked for one."})

    @validates_schema
    def _third_party(self, data, **_):
        if data.get("target") == "third_party" and not data.get("third_party_id"):
            raise ValidationError({"third_party_id": ["Required when target is third_party."]})


class MessageOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    attempt_id = fields.UUID(metadata={"description": "The contact attempt the conduct engine decided."})
    template_id = fields.UUID()
    template_version = fields.Integer()
    channel = fields.String()
    target = fields.String()
    recipient = fields.Function(lambda m: mask(RECIPIENT_KIND[m.channel], m.recipient, g.role),
                                metadata={"description": "Masked unless the role may see it in full."})
    status = fields.String(metadata={"description": "queued, sent or failed (a transient failure is retried)"})
    gateway = fields.String(allow_none=True)
    attempts = fields.Integer(metadata={"description": "Delivery tries so far."})
    error = fields.String(allow_none=True)
    gateway_message_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    last_tried_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)


class MessageDetailOut(MessageOut):
    subject = fields.String(allow_none=True, metadata={"description": "Null once the account is no longer yours."})
    body = fields.String(allow_none=True, metadata={"description": "Null once the account is no longer yours."})


class MessageListArgs(PageArgs):
    account_id = fields.UUID(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(
        (MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.FAILED)))


# ---- templates ----------------------------------------------------------------------------------------------

@blp.route("/templates")
@lenders_and_agencies
@blp.arguments(TemplateListArgs, location="query")
@blp.response(200, page_schema(TemplateOut, "TemplatePage"))
def list_templates(args):
    """A lender's templates, every version (filter by status, channel or template_family_id); for an agency, the
    approved versions of the lenders whose accounts it holds. Newest first."""
    query = select(MessageTemplate)
    for column, value in ((MessageTemplate.status, args.pop("status")), (MessageTemplate.channel,
                          args.pop("channel")), (MessageTemplate.family_id, args.pop("template_family_id"))):
        if value is not None:
            query = query.where(column == value)
    return paginate(query, MessageTemplate.created_at, MessageTemplate.id, newest_first=True, **args)


@blp.route("/templates", methods=["POST"])
@lenders_only
@require_capability(Capability.TEMPLATE_WRITE)
@blp.arguments(NewTemplateSchema)
@blp.response(201, TemplateOut)
def create_template(data):
    """A new template, as version 1, a draft, with its content findings. Placeholders: {{ debtor_name }},
    {{ amount_due }}, {{ currency }}, {{ reference }}, {{ agency_name }}, {{ lender_name }}, {{ due_date }};
    anything else is 422."""
    template = template_service.create_template(data, created_by=None)
    db.session.commit()
    return template


@blp.route("/templates/<uuid:template_id>")
@lenders_and_agencies
@loads(_template, "template_id", "found")
@blp.response(200, TemplateOut)
def template_detail(found: MessageTemplate):
    return found


@blp.route("/templates/<uuid:template_id>", methods=["PUT"])
@lenders_only
@require_capability(Capability.TEMPLATE_WRITE)
@loads(_template, "template_id", "found")
@blp.arguments(TemplateTextSchema)
@blp.response(200, TemplateOut)
def edit_template(data, found: MessageTemplate):
    """Change a draft or pending version in place (a pending one goes back to draft). An approved or retired
    version never changes: 409, make a new version."""
    template = template_service.edit_draft(found.id, data)
    db.session.commit()
    return template


@blp.route("/templates/<uuid:template_id>/versions", methods=["POST"])
@lenders_only
@require_capability(Capability.TEMPLATE_WRITE)
@loads(_template, "template_id", "found")
@blp.arguments(TemplateTextSchema)
@blp.response(201, TemplateOut)
def new_version(data, found: MessageTemplate):
    """The next version of an approved or retired template, as a draft; the approved one stays in use until the
    new one is approved. 409 while the template has an open (draft or pending) version."""
    template = template_service.new_version(found.id, data, created_by=None)
    db.session.commit()
    return template


def _step(step, found: MessageTemplate, *args, **kwargs) -> MessageTemplate:
    template = step(found.id, *args, **kwargs)
    db.session.commit()
    return template


@blp.route("/templates/<uuid:template_id>/submit", methods=["POST"])
@lenders_only
@require_capability(Capability.TEMPLATE_WRITE)
@loads(_template, "template_id", "found")
@blp.response(200, TemplateOut)
@blp.alt_response(422, description="Blocking content findings (template.blocking_findings)")
def submit_template(found: MessageTemplate):
    """Submit a draft for approval."""
    return _step(template_service.submit, found)


@blp.route("/templates/<uuid:template_id>/approve", methods=["POST"])
@lenders_only
@require_capability(Capability.TEMPLATE_APPROVE)
@loads(_template, "template_id", "found")
@blp.response(200, TemplateOut)
@blp.alt_response(422, description="Blocking content findings (template.blocking_findings)")
def approve_template(found: MessageTemplate):
    """Approve a pending version (lender admin or manager): it can be sent from now on, and the version approved
    before it is retired."""
    return _step(template_service.approve, found, approved_by=None)


@blp.route("/templates/<uuid:template_id>/reject", methods=["POST"])
@lenders_only
@require_capability(Capability.TEMPLATE_APPROVE)
@loads(_template, "template_id", "found")
@blp.arguments(RejectIn)
@blp.response(200, TemplateOut)
def reject_template(data, found: MessageTemplate):
    """Send a pending version back to draft, with a note for its author."""
    return _step(template_service.reject, found, data["note"])


@blp.route("/templates/<uuid:template_id>/retire", methods=["POST"])
@lenders_only
@require_capability(Capability.TEMPLATE_WRITE)
@loads(_template, "template_id", "found")
@blp.response(200, TemplateOut)
def retire_template(found: MessageTemplate):
    """Stop an approved version from being sent."""
    return _step(template_service.retire, found)


# ---- messages -----------------------------------------------------------------------------------------------

@blp.route("/accounts/<uuid:account_id>/messages", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.MESSAGE_SEND)
@loads(get_account, "account_id", "found")
@blp.arguments(SendIn)
@blp.response(202, MessageOut)
@blp.alt_response(422, description="Refused by the conduct rules (conduct.<rule>; details: attempt_id, "
                                   "earliest_allowed_at, hits), needing approval (conduct.needs_approval), or "
                                   "an unusable template or recipient")
def send_message(data, found: Account):
    """Send a message from an approved template. The conduct engine decides first (the attempt is recorded
    either way); allowed, the message is queued and a worker delivers it. Send an `Idempotency-Key` header (up
    to 100 characters) and a retried request answers with the first message instead of sending twice."""
    key = idempotency_key()
    recipient = sending.Recipient(target=data["target"], phone_position=data["phone_position"],
                                  third_party_id=data["third_party_id"])
    try:
        message = sending.send_template(found.id, data["template_id"], recipient=recipient, collector_user_id=None,
                                        idempotency_key=key, approval_id=data["approval_id"])
        db.session.commit()
    except IntegrityError:  # the same key raced in from a parallel retry: answer with the winner
        db.session.rollback()
        if key is None:
            raise
        message = sending.send_template(found.id, data["template_id"], recipient=recipient, idempotency_key=key)
    return message


@blp.route("/messages")
@lenders_and_agencies
@blp.arguments(MessageListArgs, location="query")
@blp.response(200, page_schema(MessageOut, "MessagePage"))
def list_messages(args):
    """The messages this tenant sent, newest first (filter by account_id or status)."""
    query = select(OutboundMessage)
    for column, value in ((OutboundMessage.account_id, args.pop("account_id")),
                          (OutboundMessage.status, args.pop("status"))):
        if value is not None:
            query = query.where(column == value)
    return paginate(query, OutboundMessage.created_at, OutboundMessage.id, newest_first=True, **args)


@blp.route("/messages/<uuid:message_id>")
@lenders_and_agencies
@loads(_message, "message_id", "found")
@blp.response(200, MessageDetailOut)
def message_detail(found: OutboundMessage):
    """One message with its text, while the account is still this tenant's to see (after a recall an agency
    keeps the record, not the debtor's details)."""
    still_held = db.session.scalar(select(Account.id).where(Account.id == found.account_id)) is not None
    return extend(found, subject=found.subject if still_held else None, body=found.body if still_held else None)
