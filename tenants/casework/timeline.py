"""A case's story, newest first: contacts (refused ones too), messages sent, notes, callbacks, promises and
payments — each as the current tenant sees it (an agency sees its own contacts, never another agency's).

Promises and payments come from modules built beside this one; until they are installed the timeline simply has
none.
"""
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from tenants.casework import notes
from tenants.conduct.models import ContactAttempt
from tenants.db import db
from tenants.messaging.models import OutboundMessage

LIMIT = 200


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # contact, message, note, callback, promise, payment
    object_id: uuid.UUID
    user_id: uuid.UUID | None
    fields: dict = field(default_factory=dict)


def timeline(account_id: uuid.UUID, limit: int = LIMIT) -> list[Entry]:
    entries = [*_contacts(account_id, limit), *_messages(account_id, limit), *_notes(account_id, limit),
               *_callbacks(account_id, limit), *_promises(account_id), *_payments(account_id),
               *_portal(account_id)]
    entries.sort(key=lambda e: (e.at, str(e.object_id)), reverse=True)
    return entries[:limit]


def _contacts(account_id, limit):
    for a in db.session.scalars(select(ContactAttempt).where(ContactAttempt.account_id == account_id)
                                .order_by(ContactAttempt.decided_at.desc()).limit(limit)):
        yield Entry(a.decided_at, "contact", a.id, a.collector_user_id, {
            "channel": a.channel, "direction": a.direction, "target": a.target, "decision": a.decision,
            "status": a.status, "outcome_code": a.outcome_code, "rules": [h["rule_id"] for h in a.hits or []]})


def _messages(account_id, limit):
    for m in db.session.scalars(select(OutboundMessage).where(OutboundMessage.account_id == account_id)
                                .order_by(OutboundMessage.created_at.desc()).limit(limit)):
        yield Entry(m.created_at, "message", m.id, m.created_by_user_id,
                    {"channel": m.channel, "status": m.status, "template_version": m.template_version})


def _notes(account_id, limit):
    for n in notes.notes_of(account_id, limit):
        yield Entry(n.created_at, "note", n.id, n.author_user_id, {"body": n.body})


def _callbacks(account_id, limit):
    for c in notes.callbacks_of(account_id, limit):
        yield Entry(c.created_at, "callback", c.id, c.created_by_user_id, {
            "due_at": c.due_at, "zone": c.local_zone, "status": c.status, "note": c.note,
            "collector_user_id": c.collector_user_id})


def _promises(account_id):
    try:
        from tenants.casework import promises
    except ImportError:
        return
    for p in promises.of_account(account_id):
        yield Entry(p.created_at, "promise", p.id, p.taken_by_user_id, {
            "amount_minor": p.amount_minor, "currency": p.currency, "due_on": p.due_on, "status": p.status})


def _payments(account_id):
    try:
        from tenants.casework import payments
    except ImportError:
        return
    for p in payments.of_account(account_id):
        yield Entry(p.recorded_at, "payment", p.id, p.recorded_by_user_id, {
            "amount_minor": p.amount_minor, "currency": p.currency, "received_on": p.received_on,
            "status": p.status, "method": p.method})


def _portal(account_id):
    """What the debtor did in the self-service portal (tenants/portal): its requests, as this tenant sees them."""
    from tenants.portal import requests as portal_requests

    for r in portal_requests.for_account(account_id):
        yield Entry(r.created_at, "portal", r.id, r.decided_by_user_id, {
            "kind": r.kind, "status": r.status, "details": r.details or {}, "answer": r.answer, "source": r.source})
