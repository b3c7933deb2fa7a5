"""Sending a message from an approved template: the conduct engine decides first, then the rendered message is
stored and its delivery scheduled through the outbox (a Redis outage delays it, never loses it).

`send_template` refuses before asking the engine when the template, recipient or text cannot work, so a refused
or impossible message never leaves a contact attempt behind it. `deliver` is the job's body: it sends a message
at most once (the row is locked and its status checked before the gateway is called), records the contact's
outcome on success, and on a transient gateway error marks the message failed and raises so rq retries it.
"""
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from tenants import audit, clock, outbox
from tenants.conduct import engine
from tenants.conduct import service as conduct
from tenants.conduct.models import AttemptStatus, ContactAttempt
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict, NotFound, ValidationFailed
from tenants.messaging import gateways, rendering
from tenants.messaging.models import MessageStatus, MessageTemplate, OutboundMessage, TemplateStatus
from tenants.portal import links as portal_links
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

JOB = "workers.jobs.send_message"


class ApprovalRequired(ValidationFailed):
    """The engine sent the contact for the lender's approval: nothing is queued until it is approved."""

    code = "conduct.needs_approval"


@dataclass(frozen=True)
class Recipient:
    target: str = "debtor"
    phone_position: int = 0  # SMS to the debtor: which of the account's phones
    third_party_id: uuid.UUID | None = None


def get_message(message_id: uuid.UUID) -> OutboundMessage:
    return get_visible(OutboundMessage, message_id, "message.not_found")


def send_template(account_id: uuid.UUID, template_id: uuid.UUID, *, recipient: Recipient = Recipient(),
                  collector_user_id: uuid.UUID | None = None, idempotency_key: str | None = None,
                  approval_id: uuid.UUID | None = None) -> OutboundMessage:
    """Decide, render, store and schedule one message. Commits the contact attempt (the engine records every
    decision); the caller commits the message. Raises ConductBlocked (nothing queued) when the rules refuse."""
    if idempotency_key:
        earlier = db.session.scalar(select(OutboundMessage).where(OutboundMessage.idempotency_key == idempotency_key))
        if earlier is not None:
            if earlier.account_id != account_id:
                raise Conflict("This Idempotency-Key was already used for another account.",
                               code="idempotency.key_reused")
            return earlier
    account = get_account(account_id)
    template = _usable_template(template_id, account, recipient)
    address = _address(account, template.channel, recipient)
    message_id = uuid.uuid4()
    portal = None
    if recipient.target == "debtor" and portal_links.wanted(template.subject, template.body):
        portal = portal_links.prepare(account, message_id=message_id, template_id=template.id,
                                      channel=template.channel, phone_position=recipient.phone_position)
    subject, body = _render(template, account, portal_link=portal.url if portal else "")
    ask = conduct.AttemptRequest(channel=template.channel, target=recipient.target,
                                 phone_position=recipient.phone_position, third_party_id=recipient.third_party_id,
                                 purpose="locate" if recipient.target == "third_party" else "collect",
                                 message_kind=template.message_kind, approval_id=approval_id)
    # The attempt's key is our key in its own namespace: the same client key may also name a call.
    record, _ = conduct.attempt(account_id, ask, collector_user_id=collector_user_id,
                                idempotency_key=f"message:{idempotency_key}" if idempotency_key else None)
    _require_go_ahead(record)
    message = OutboundMessage(
        id=message_id, tenant_id=current_tenant_id(), account_id=account_id, attempt_id=record.id,
        template_id=template.id, template_version=template.version, channel=template.channel,
        target=recipient.target, recipient=address,
        subject=subject, body=body, status=MessageStatus.QUEUED, idempotency_key=idempotency_key,
        created_by_user_id=collector_user_id)
    db.session.add(message)
    db.session.flush()
    if portal is not None:
        portal_links.save(portal)  # bound to this message: its row exists now
    outbox.schedule(JOB, message_id=str(message.id))
    audit.record("message.queued", object_type="outbound_message", object_id=message.id,
                 after={"account_id": str(account_id), "channel": message.channel, "target": message.target,
                        "template_id": str(template.id), "template_version": template.version,
                        "attempt_id": str(record.id)})
    return message


def _usable_template(template_id: uuid.UUID, account: Account, recipient: Recipient) -> MessageTemplate:
    template = get_visible(MessageTemplate, template_id, "template.not_found")
    if template.status != TemplateStatus.APPROVED:
        raise ValidationFailed("Only an approved template can be sent.", code="template.not_approved",
                               details={"fields": {"template_id": ["This version is not approved."]}})
    if template.tenant_id != account.tenant_id:
        raise ValidationFailed("This template belongs to another lender than the account.",
                               code="template.other_lender",
                               details={"fields": {"template_id": ["Not a template of this account's lender."]}})
    if template.target != recipient.target:
        raise ValidationFailed(f"This template is written for the {template.target.replace('_', ' ')}.",
                               code="template.wrong_target",
                               details={"fields": {"target": [f"Must be {template.target}."]}})
    return template


def _address(account: Account, channel: str, recipient: Recipient) -> str:
    if recipient.target == "third_party":
        contact = conduct.third_party_of(account, recipient.third_party_id)
        if channel != "sms" or not contact.phone:
            raise ValidationFailed("A third party can only be sent a text message, to a phone on file.",
                                   code="message.no_address", details={"fields": {"third_party_id": [
                                       "No phone on file for this contact."]}})
        return contact.phone
    if channel == "sms":
        phones = account.phones
        if not 0 <= recipient.phone_position < len(phones):
            raise ValidationFailed(details={"fields": {"phone_position": ["The account has no such phone."]}})
        return phones[recipient.phone_position].phone
    address = account.email if channel == "email" else account.address
    if not address:
        raise ValidationFailed(f"The account has no {'email address' if channel == 'email' else 'postal address'}.",
                               code="message.no_address")
    return address


def _render(template: MessageTemplate, account: Account, portal_link: str = "") -> tuple[str | None, str]:
    lender = db.session.get(Tenant, account.tenant_id)
    sender = db.session.get(Tenant, current_tenant_id())
    values = rendering.values_for(
        debtor_name=account.debtor_name, outstanding_minor=account.outstanding_minor, currency=account.currency,
        reference=account.external_ref, lender_name=lender.name, due_date=account.due_date, locale=template.locale,
        agency_name=sender.name if sender.kind == TenantKind.AGENCY else "", portal_link=portal_link)
    return rendering.render(template.subject, values), rendering.render(template.body, values)


def _require_go_ahead(record: ContactAttempt) -> None:
    """A replayed attempt comes back without raising: refuse it as the engine did the first time."""
    details = conduct.decision_view(record, None)
    if record.status == AttemptStatus.BLOCKED:
        first = next((h for h in record.hits if h["action"] in engine.BLOCKING), None)
        raise conduct.ConductBlocked(first["message_en"] if first else "Refused by the conduct rules.",
                                     code=f"conduct.{first['rule_id'].lower()}" if first else "conduct.blocked",
                                     details=details)
    if record.status == AttemptStatus.NEEDS_APPROVAL:
        raise ApprovalRequired("This message needs the lender's approval first; it was not sent.", details=details)


# ---- the job -------------------------------------------------------------------------------------------------

def deliver(message_id: uuid.UUID, config: Mapping) -> OutboundMessage:
    message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.id == message_id).with_for_update())
    if message is None:
        raise NotFound(code="message.not_found")
    if message.status == MessageStatus.SENT:
        return message
    gateway = gateways.for_channel(message.channel, config)
    sender = db.session.get(Tenant, message.tenant_id)
    message.attempts += 1
    message.gateway, message.last_tried_at = gateway.name, clock.now()
    try:
        message.gateway_message_id = gateway.send(gateways.Envelope(
            message_id=str(message.id), channel=message.channel, recipient=message.recipient,
            subject=message.subject, body=message.body, sender_name=sender.name))
    except gateways.GatewayError as exc:
        message.status, message.error = MessageStatus.FAILED, str(exc)[:2000]
        audit.record("message.failed", object_type="outbound_message", object_id=message.id,
                     after={"gateway": gateway.name, "attempts": message.attempts, "permanent": exc.permanent})
        if exc.permanent:
            _settle(message, "bounced")
        db.session.commit()
        if not exc.permanent:
            raise
        return message
    message.status, message.sent_at, message.error = MessageStatus.SENT, clock.now(), None
    _settle(message, "delivered")
    audit.record("message.sent", object_type="outbound_message", object_id=message.id,
                 after={"gateway": gateway.name, "attempts": message.attempts,
                        "gateway_message_id": message.gateway_message_id})
    db.session.commit()
    return message


def _settle(message: OutboundMessage, outcome: str) -> None:
    """The contact attempt's outcome, unless someone recorded one by hand already."""
    attempt = db.session.get(ContactAttempt, message.attempt_id)
    if attempt is not None and attempt.status == AttemptStatus.PENDING:
        conduct.record_outcome(attempt.id, outcome)
