"""The audit trail: append-only and hash-chained per tenant.

Each event's hash covers its content and the previous event's hash, so editing, deleting or reordering any
event breaks every link after it. Triggers refuse UPDATE and DELETE; the chain catches whoever gets past them.
"""
import hashlib
import json
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, Uuid, select, text
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped, current_tenant_id
from tenants.db import UtcDateTime, UuidPrimaryKey, db, get_visible

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    label: str
    user_id: uuid.UUID | None = None


SYSTEM = Actor(label="system")
_actor: ContextVar[Actor] = ContextVar("recoverly_actor", default=SYSTEM)


@contextmanager
def acting_as(actor: Actor):
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def set_actor(actor: Actor):
    return _actor.set(actor)


def reset_actor(token) -> None:
    _actor.reset(token)


class AuditEvent(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("tenant_id", "seq", name="uq_audit_events_tenant_seq"),)

    seq: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def content(self) -> dict:
        return {
            "tenant_id": str(self.tenant_id),
            "seq": self.seq,
            "occurred_at": self.occurred_at.isoformat(timespec="microseconds"),
            "actor_user_id": str(self.actor_user_id) if self.actor_user_id else None,
            "actor_label": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "before": self.before,
            "after": self.after,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(action: str, *, object_type: str, object_id=None, before: dict | None = None,
           after: dict | None = None) -> AuditEvent:
    """Append one event to the current tenant's chain, in the caller's transaction."""
    tenant_id = current_tenant_id()
    _lock_chain(tenant_id)
    last = db.session.execute(
        select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    actor = _actor.get()
    event = AuditEvent(
        tenant_id=tenant_id,
        seq=(last.seq + 1) if last else 1,
        occurred_at=clock.now(),
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = event.compute_hash()
    db.session.add(event)
    db.session.flush()
    return event


def get_event(event_id: uuid.UUID) -> AuditEvent:
    event = get_visible(AuditEvent, event_id, "audit_event.not_found")
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str | None = None


def verify_chain(tenant_id: uuid.UUID, batch: int = 1000) -> ChainReport:
    """Walk the tenant's chain in order; report the first event whose link or content does not hold."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    while True:
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.seq >= expected_seq)
            .order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not events:
            return ChainReport(ok=True, checked=checked)
        for event in events:
            if event.seq != expected_seq:
                return ChainReport(False, checked, expected_seq, f"event {expected_seq} is missing")
            if event.prev_hash != expected_prev:
                return ChainReport(False, checked, event.seq, "link to the previous event is broken")
            if event.compute_hash() != event.hash:
                return ChainReport(False, checked, event.seq, "content does not match its hash")
            expected_prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1


def _lock_chain(tenant_id: uuid.UUID) -> None:
    """Serialise appends per tenant on PostgreSQL so two writers cannot fork the chain."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        key = int.from_bytes(tenant_id.bytes[:8], "big", signed=True)
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _jsonable(value):
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, sort_keys=True))
