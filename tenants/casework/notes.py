"""Notes on a case and callbacks promised to the debtor.

A callback is asked for in the debtor's own time ("call me at 3 pm") and stored in UTC with that zone, so the
collector's queue raises it when it falls due wherever the collector sits. Both are the agency's own records,
written by supervisors or the collector the case is assigned to, and audited (the audit holds ids and times, never
the note's words: they often repeat what the debtor said).
"""
import uuid
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from tenants import audit, clock
from tenants.capabilities import Capability, can
from tenants.casework import assignment
from tenants.casework.desk_models import Callback, CallbackStatus, CaseNote
from tenants.conduct import calendar as cal
from tenants.db import db, get_visible
from tenants.errors import Conflict, ValidationFailed
from tenants.portfolios.accounts import get_account

NOTE_MAX = 4000
CALLBACK_NOTE_MAX = 500


# ---- notes --------------------------------------------------------------------------------------------------------

def add_note(account_id: uuid.UUID, body: str, *, user_id: uuid.UUID | None, role: str | None) -> CaseNote:
    placement = assignment.held_placement(account_id)
    assignment.require_may_work(account_id, user_id=user_id, role=role)
    body = (body or "").strip()
    if not 0 < len(body) <= NOTE_MAX:
        raise ValidationFailed(f"A note has 1 to {NOTE_MAX} characters.", code="note.length",
                               details={"fields": {"body": [f"1 to {NOTE_MAX} characters."]}})
    note = CaseNote(account_id=account_id, placement_id=placement.id, author_user_id=user_id, body=body,
                    created_at=clock.now())
    db.session.add(note)
    db.session.flush()
    audit.record("case.note_added", object_type="account", object_id=account_id,
                 after={"note_id": note.id, "characters": len(body)})
    return note


def notes_of(account_id: uuid.UUID, limit: int = 200) -> list[CaseNote]:
    return list(db.session.scalars(select(CaseNote).where(CaseNote.account_id == account_id)
                                   .order_by(CaseNote.created_at.desc(), CaseNote.id.desc()).limit(limit)))


# ---- callbacks ----------------------------------------------------------------------------------------------------

def debtor_zone(account, fallback: str) -> str:
    """The zone a debtor's times are given in: the account's first candidate zone, else the agency's."""
    return (account.time_zones or [None])[0] or fallback


def schedule_callback(account_id: uuid.UUID, *, on: date, at: time, zone: str | None, note: str | None,
                      collector_user_id: uuid.UUID | None, user_id: uuid.UUID | None, role: str | None,
                      fallback_zone: str) -> Callback:
    """A callback at the debtor's local `on` `at` (in `zone`, default the debtor's). It goes to the collector
    named, else to the case's collector, else to whoever schedules it."""
    placement = assignment.held_placement(account_id)
    assignment.require_may_work(account_id, user_id=user_id, role=role)
    account = get_account(account_id)
    zone_name = (zone or "").strip() or debtor_zone(account, fallback_zone)
    try:
        due_at = cal.at_local(on, at, ZoneInfo(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(details={"fields": {"zone": ["Not a time zone (e.g. Asia/Shanghai)."]}}) from None
    if due_at <= clock.now():
        raise ValidationFailed("A callback is scheduled for a time still to come.", code="callback.in_past",
                               details={"fields": {"on": ["Must be in the future."]}})
    note = (note or "").strip() or None
    if note and len(note) > CALLBACK_NOTE_MAX:
        raise ValidationFailed(details={"fields": {"note": [f"At most {CALLBACK_NOTE_MAX} characters."]}})
    if collector_user_id is not None and collector_user_id != user_id:
        assignment.require_supervisor(role)
        collector = assignment.check_assignee(collector_user_id)
    else:
        collector = collector_user_id or assignment.collector_of(account_id) or user_id
    callback = Callback(account_id=account_id, placement_id=placement.id, collector_user_id=collector,
                        due_at=due_at, local_zone=zone_name, note=note, status=CallbackStatus.SCHEDULED,
                        created_by_user_id=user_id, created_at=clock.now())
    db.session.add(callback)
    db.session.flush()
    audit.record("callback.scheduled", object_type="callback", object_id=callback.id,
                 after={"account_id": account_id, "due_at": due_at.isoformat(), "zone": zone_name,
                        "collector_user_id": collector})
    return callback


def get_callback(callback_id: uuid.UUID) -> Callback:
    return get_visible(Callback, callback_id, "callback.not_found")


def close_callback(callback_id: uuid.UUID, *, done: bool, user_id: uuid.UUID | None, role: str | None) -> Callback:
    """Mark a scheduled callback made (done) or no longer wanted (cancelled)."""
    callback = get_callback(callback_id)
    if not (can(role, Capability.CASES_ANY) or (user_id is not None and user_id == callback.collector_user_id)):
        assignment.require_may_work(callback.account_id, user_id=user_id, role=role)
    if callback.status != CallbackStatus.SCHEDULED:
        raise Conflict("This callback is already closed.", code="callback.closed")
    callback.status = CallbackStatus.DONE if done else CallbackStatus.CANCELLED
    callback.closed_at, callback.closed_by_user_id = clock.now(), user_id
    audit.record(f"callback.{callback.status}", object_type="callback", object_id=callback.id,
                 before={"status": CallbackStatus.SCHEDULED}, after={"status": callback.status})
    return callback


def callbacks_of(account_id: uuid.UUID, limit: int = 100) -> list[Callback]:
    return list(db.session.scalars(select(Callback).where(Callback.account_id == account_id)
                                   .order_by(Callback.due_at.desc()).limit(limit)))


def open_callbacks(account_id: uuid.UUID) -> list[Callback]:
    """The case's scheduled callbacks, soonest first."""
    return list(db.session.scalars(select(Callback).where(Callback.account_id == account_id,
                                                          Callback.status == CallbackStatus.SCHEDULED)
                                   .order_by(Callback.due_at)))
