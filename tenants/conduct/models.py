"""Holds, contact attempts and the platform-wide conduct ledger.

Holds belong to the account's lender (`tenant_id`) and are visible to the agency holding the account; the agency
that created a hold may change it. Contact attempts belong to the tenant that made them. The ledger is the
platform's per-person record of what the rules count — time, channel, number hash, connected / conversation /
pending — with no tenant content; it is read and written only through `tenants.conduct.ledger` (on PostgreSQL
through SECURITY DEFINER functions: the application role cannot read the table itself).
"""
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, or_
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import SharedScoped, TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.portfolios.models import _held_by_agency


class ConductHold(UuidPrimaryKey, SharedScoped, db.Model):
    __tablename__ = "holds"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    allow: Mapped[list] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(20))
    created_by_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution: Mapped[str | None] = mapped_column(Text)

    @classmethod
    def visible_to(cls, tenant_id):
        return or_(cls.tenant_id == tenant_id, _held_by_agency(cls.account_id, tenant_id))

    def writable_by(self, tenant_id) -> bool:
        return tenant_id in (self.tenant_id, self.created_by_tenant_id)


class AttemptStatus:
    BLOCKED = "blocked"
    NEEDS_APPROVAL = "needs_approval"
    PENDING = "pending"  # allowed and under way: its outcome is not recorded yet
    COMPLETED = "completed"


class ContactAttempt(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "contact_attempts"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key", name="uq_contact_attempts_idempotency"),
                      Index("ix_contact_attempts_tenant_decided", "tenant_id", "decided_at"))

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    placement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("placements.id"))
    channel: Mapped[str] = mapped_column(String(10))
    direction: Mapped[str] = mapped_column(String(10), default="outbound")
    target: Mapped[str] = mapped_column(String(12))
    third_party_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("third_party_contacts.id"))
    number_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    decision: Mapped[str] = mapped_column(String(24))
    rulebook_version: Mapped[str] = mapped_column(String(100))
    hits: Mapped[list] = mapped_column(JSON)
    inputs: Mapped[dict] = mapped_column(JSON)
    earliest_allowed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome_code: Mapped[str | None] = mapped_column(String(30))
    connected: Mapped[bool | None] = mapped_column(Boolean)
    conversation: Mapped[bool | None] = mapped_column(Boolean)
    outcome_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    collector_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    ledger_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))


class LedgerEntry(UuidPrimaryKey, db.Model):
    """Platform-wide, per person; opaque keys only. Never query it directly: use tenants.conduct.ledger."""

    __tablename__ = "conduct_ledger"
    __table_args__ = (Index("ix_conduct_ledger_subject_at", "subject_key", "at"),)

    subject_key: Mapped[str] = mapped_column(String(64))
    debt_key: Mapped[str] = mapped_column(String(64))
    number_key: Mapped[str | None] = mapped_column(String(64))
    third_party_key: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    conversation: Mapped[bool] = mapped_column(Boolean, default=False)
    pending: Mapped[bool] = mapped_column(Boolean, default=True)
