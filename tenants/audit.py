"""The audit trail: append-only and hash-chained per tenant.

Each event's hash covers its content and the previous event's hash, so editing, deleting or reordering any
event breaks every link after it. Triggers refuse UPDATE and DELETE; the chain catches whoever gets past them.

Two hash definitions, named by each event's `hash_version`:
1. SHA-256 of the canonical JSON of the whole event, the link (seq, previous hash) included — events written
   before migration 0014.
2. SHA-256 of "<previous hash>:<seq>:<body digest>", the body digest being SHA-256 of the canonical JSON of the
   event without its link. Python canonicalises the body; only the link is made under the chain's lock, and that
   step is plain enough for PostgreSQL to make it the same way (`audit_append`, migration 0014): one call takes the
   lock, reads the chain's head and inserts the event.
"""
import hashlib
import json
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, SmallInteger, String, UniqueConstraint, Uuid, select, text
from sqlalchemy.orm import Mapped, make_transient_to_detached, mapped_column

from tenants import clock
from tenants.context import TenantScoped, current_tenant_id
from tenants.db import UtcDateTime, UuidPrimaryKey, db, get_visible

GENESIS = "0" * 64
HASH_VERSION = 2  # what new events are hashed with (see the module's docstring)


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
    tenant_id_index = False
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
    hash_version: Mapped[int] = mapped_column(SmallInteger, default=HASH_VERSION, server_default="1")

    def content(self) -> dict:
        return {**self.body(), "seq": self.seq, "prev_hash": self.prev_hash}

    def body(self) -> dict:
        """The event without its link to the chain."""
        return {
            "tenant_id": str(self.tenant_id),
            "occurred_at": self.occurred_at.isoformat(timespec="microseconds"),
            "actor_user_id": str(self.actor_user_id) if self.actor_user_id else None,
            "actor_label": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "before": self.before,
            "after": self.after,
        }

    def body_digest(self) -> str:
        return _sha256(_canonical(self.body()))

    def compute_hash(self) -> str:
        if self.hash_version == 1:
            return _sha256(_canonical(self.content()))
        return link_hash(self.prev_hash, self.seq, self.body_digest())


def link_hash(prev_hash: str, seq: int, body_digest: str) -> str:
    """Version 2's link, as `audit_append` (migration 0014) computes it in PostgreSQL."""
    return _sha256(f"{prev_hash}:{seq}:{body_digest}")


def _canonical(value: dict) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sha256(text_: str) -> str:
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


def record(action: str, *, object_type: str, object_id=None, before: dict | None = None,
           after: dict | None = None) -> AuditEvent:
    """Append one event to the current tenant's chain, in the caller's transaction."""
    event = unlinked(action, object_type=object_type, object_id=object_id, before=before, after=after)
    append(event)
    return event


def append(event: AuditEvent) -> None:
    """Link an unlinked event into its tenant's chain and store it: on PostgreSQL in one call (`audit_append`)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.flush()  # what the event tells of is written first, as when the event was flushed with it
        linked(event, db.session.execute(APPEND_SQL, append_parameters(event)).one())
        return
    last = db.session.execute(
        select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.tenant_id == event.tenant_id)
        .order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    event.seq = (last.seq + 1) if last else 1
    event.prev_hash = last.hash if last else GENESIS
    event.hash = event.compute_hash()
    db.session.add(event)
    db.session.flush()


def unlinked(action: str, *, object_type: str, object_id=None, before: dict | None = None,
             after: dict | None = None) -> AuditEvent:
    """An event of the current tenant and actor, not yet linked into the chain (no seq, previous hash or hash)."""
    actor = _actor.get()
    return AuditEvent(
        id=uuid.uuid4(),
        tenant_id=current_tenant_id(),
        occurred_at=clock.now(),
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        before=_jsonable(before),
        after=_jsonable(after),
        hash_version=HASH_VERSION,
    )


# `audit_append` (migration 0014) takes the tenant's chain lock, reads the head and inserts the event as the
# calling role (row-level security applies), linking it as `link_hash` does.
APPEND_ARGUMENTS = ("CAST(:audit_id AS uuid), CAST(:audit_tenant AS uuid), :audit_occurred_at, "
                    "CAST(:audit_actor_user_id AS uuid), :audit_actor_label, :audit_action, :audit_object_type, "
                    ":audit_object_id, CAST(:audit_before AS json), CAST(:audit_after AS json), :audit_body_digest")
APPEND_SQL = text(f"SELECT * FROM audit_append({APPEND_ARGUMENTS})")


def append_parameters(event: AuditEvent) -> dict:
    """The bound values of APPEND_ARGUMENTS for an unlinked event."""
    return {"audit_id": event.id, "audit_tenant": event.tenant_id, "audit_occurred_at": event.occurred_at,
            "audit_actor_user_id": event.actor_user_id, "audit_actor_label": event.actor_label,
            "audit_action": event.action, "audit_object_type": event.object_type,
            "audit_object_id": event.object_id,
            "audit_before": None if event.before is None else json.dumps(event.before, ensure_ascii=False),
            "audit_after": None if event.after is None else json.dumps(event.after, ensure_ascii=False),
            "audit_body_digest": event.body_digest()}


def linked(event: AuditEvent, link) -> None:
    """The event as the database linked and stored it (`link`: audit_append's row), held by the session as a
    stored row: no second INSERT, nothing to read back."""
    event.seq, event.prev_hash, event.hash = link.appended_seq, link.appended_prev_hash, link.appended_hash
    make_transient_to_detached(event)
    db.session.add(event)


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


def _jsonable(value):
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, sort_keys=True))
