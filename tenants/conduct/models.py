"""Holds, contact attempts and the platform-wide conduct ledger.

Holds, consent records and approval requests belong to the account's lender (`tenant_id`); holds and consent are
visible to the agency holding the account, approval requests to the tenant that asked. Contact attempts belong to
the tenant that made them and are readable by the account's lender (they were made on its customer). The ledger is the
platform's per-person record of what the rules count — time, channel, number hash, connected / conversation /
pending — with no tenant content; it is read and written only through `tenants.conduct.ledger` (on PostgreSQL
through SECURITY DEFINER functions: the application role cannot read the table itself).
"""
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db


class ConductHold(UuidPrimaryKey, TenantScoped, db.Model):
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

    EXPIRED = "expired"  # the resolution of a hold that ended when it said it would (service.end_lapsed_holds)

    @property
    def expired(self) -> bool:
        return self.resolution == self.EXPIRED


class AttemptStatus:
    BLOCKED = "blocked"
    NEEDS_APPROVAL = "needs_approval"
    PENDING = "pending"  # allowed and under way: its outcome is not recorded yet
    COMPLETED = "completed"


class ContactAttempt(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "contact_attempts"
    tenant_id_index = False
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key", name="uq_contact_attempts_idempotency"),
                      Index("ix_contact_attempts_tenant_decided", "tenant_id", "decided_at"),
                      Index("ix_contact_attempts_lender_decided", "lender_tenant_id", "decided_at"),
                      Index("ix_contact_attempts_decided", "decided_at"))  # platform-wide compliance reports

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
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


class ApprovalStatus:
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    USED = "used"  # approved, and the attempt it allowed has been made


class ApprovalRequest(UuidPrimaryKey, TenantScoped, db.Model):
    """A contact the engine sent for approval (a visit, a legal step, an agency's first contact without notice):
    owned by the account's lender, whose named role decides; the asking tenant sees its fate."""

    __tablename__ = "approval_requests"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    attempt_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact_attempts.id"), unique=True)
    requested_by_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(12))
    rule_ids: Mapped[list] = mapped_column(JSON)
    approver_role: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=ApprovalStatus.PENDING, index=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_by_attempt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact_attempts.id"))


class AccountConsent(UuidPrimaryKey, TenantScoped, db.Model):
    """What the debtor asked for: channels opted out of, times called inconvenient, hours agreed instead of the
    default window, and a prior consent to calls within the US 7-day quiet period. One row per account, owned by
    the lender, captured by it or by the agency holding the account."""

    __tablename__ = "account_consents"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), unique=True)
    opted_out_channels: Mapped[list] = mapped_column(JSON, default=list)
    inconvenient_windows: Mapped[list] = mapped_column(JSON, default=list)  # [["HH:MM", "HH:MM"], ...] local
    agreed_hours: Mapped[list | None] = mapped_column(JSON)  # ["HH:MM", "HH:MM"] local, or null
    consent_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    updated_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))


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
