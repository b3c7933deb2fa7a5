"""Message templates and outbound messages.

A template belongs to its lender. Each row is one version; the versions of one template share `family_id` (the
id of its first version). Editing an approved version makes a new draft version, so what was approved — and
every message sent from it — stays readable as it was. At most one version of a template is approved (the one in
use) and at most one is open (draft or pending approval), which the database enforces. An agency sees the
approved versions of the lenders whose accounts it holds, nothing else of theirs.

An outbound message belongs to the tenant that sent it. Its recipient and rendered text are PII: encrypted.
"""
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.pii import EncryptedString

CHANNELS = ("sms", "email", "letter")
LOCALES = ("en", "zh-CN")
TARGETS = ("debtor", "third_party")
WITH_SUBJECT = ("email", "letter")


class TemplateStatus:
    DRAFT = "draft"
    PENDING = "pending_approval"
    APPROVED = "approved"
    RETIRED = "retired"
    OPEN = (DRAFT, PENDING)


class MessageTemplate(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "message_templates"
    __table_args__ = (
        UniqueConstraint("family_id", "version", name="uq_message_templates_family_version"),
        Index("uq_message_templates_approved_family", "family_id", unique=True,
              sqlite_where=text("status = 'approved'"), postgresql_where=text("status = 'approved'")),
        Index("uq_message_templates_open_family", "family_id", unique=True,
              sqlite_where=text("status IN ('draft', 'pending_approval')"),
              postgresql_where=text("status IN ('draft', 'pending_approval')")),
    )

    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10))
    locale: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(12))
    message_kind: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=TemplateStatus.DRAFT, index=True)
    findings: Mapped[list] = mapped_column(JSON, default=list)
    rulebook_version: Mapped[str] = mapped_column(String(100))
    review_note: Mapped[str | None] = mapped_column(Text)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now, onupdate=clock.now)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    approved_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MessageStatus:
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # the last try failed; a transient failure is retried


class OutboundMessage(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "outbound_messages"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key", name="uq_outbound_messages_idempotency"),
                      Index("ix_outbound_messages_tenant_created", "tenant_id", "created_at"))

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    attempt_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact_attempts.id"), unique=True)
    template_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("message_templates.id"))
    template_version: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(12))
    recipient: Mapped[str] = mapped_column(EncryptedString)
    subject: Mapped[str | None] = mapped_column(EncryptedString)
    body: Mapped[str] = mapped_column(EncryptedString)
    gateway: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default=MessageStatus.QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    gateway_message_id: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    last_tried_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
