"""Complaints. A complaint belongs to the lender whose account it is about (`tenant_id`); the agency it concerns
reads it too, and platform admins reach it in a platform context. Only the lender (or the platform) changes it."""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.pii import EncryptedString


class ComplaintStatus:
    OPEN = "open"
    INVESTIGATING = "investigating"
    UPHELD = "upheld"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    ALL = (OPEN, INVESTIGATING, UPHELD, REJECTED, WITHDRAWN)
    UNRESOLVED = (OPEN, INVESTIGATING)
    FINAL = (UPHELD, REJECTED, WITHDRAWN)


CATEGORIES = ("harassment", "time_of_day", "third_party", "misrepresentation", "privacy", "other")
RECEIVED_VIA = ("phone", "email", "letter", "web", "in_person", "regulator", "other")


class Complaint(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_agency_received", "agency_tenant_id", "received_at"),
                      Index("ix_complaints_tenant_received", "tenant_id", "received_at"))

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    agency_tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tenants.id"))
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact_attempts.id"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_via: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(EncryptedString)  # the debtor's own words: may name people
    status: Mapped[str] = mapped_column(String(16), default=ComplaintStatus.OPEN, index=True)
    resolution: Mapped[str | None] = mapped_column(EncryptedString)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now, onupdate=clock.now)
