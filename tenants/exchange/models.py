"""Exported files, their encrypted content and the schedules that ask for them.

An export row is the outbox of this capability: it says a file must exist; the worker's job (workers.jobs.
generate_export) makes it, in one transaction, so a file is either wholly there (`ready`) or not at all. The
content lives in chunks encrypted with the PII key ring (tenants.pii.EncryptedBytes, as uploads and evidence since
migration 0013): an accounts file is personal data.
"""
import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.pii import EncryptedBytes


class ExportStatus:
    QUEUED = "queued"
    READY = "ready"
    FAILED = "failed"  # the last run failed; rq and the outbox sweeper run it again
    EXPIRED = "expired"  # past its download window: the content is purged
    FINISHED = (READY, EXPIRED)  # a re-run of the export changes nothing


class ExchangeExport(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "exchange_exports"
    __table_args__ = (
        # A schedule's run for one period (and one counterparty) is asked for once, however often it is run.
        UniqueConstraint("tenant_id", "run_key", name="uq_exchange_exports_tenant_run_key"),
        Index("ix_exchange_exports_tenant_created", "tenant_id", "created_at"),
        Index("ix_exchange_exports_expires", "status", "expires_at"),
        # An API request's Idempotency-Key, once per tenant: a retry (or a racing twin) finds the first export.
        Index("uq_exchange_exports_tenant_idempotency_key", "tenant_id", "idempotency_key", unique=True),
    )

    kind: Mapped[str] = mapped_column(String(20))
    file_format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default=ExportStatus.QUEUED)
    # The other party of a "what changed" file: the agency (for a lender) or the lender (for an agency).
    counterparty_tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tenants.id"))
    # The tenant-local days the file covers (both included); None: no bound.
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    # Personal data in the file is masked as for this role (the requester's, or the schedule creator's).
    mask_role: Mapped[str] = mapped_column(String(32))
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("exchange_schedules.id"))
    run_key: Mapped[str | None] = mapped_column(String(120))
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    filename: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    row_count: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    # The API request's Idempotency-Key and the SHA-256 of its fields (the same key with another body is refused).
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))


class ExchangeExportChunk(TenantScoped, db.Model):
    __tablename__ = "exchange_export_chunks"

    export_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("exchange_exports.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(EncryptedBytes)


class Frequency:
    DAILY = "daily"
    WEEKLY = "weekly"
    ALL = (DAILY, WEEKLY)


class ExchangeSchedule(UuidPrimaryKey, TenantScoped, db.Model):
    """A file (or, for "changes", one file per counterparty) made every day or week at a local hour in the
    tenant's time zone, covering the days since the last run's period."""

    __tablename__ = "exchange_schedules"
    __table_args__ = (Index("ix_exchange_schedules_due", "active", "next_run_at"),)

    kind: Mapped[str] = mapped_column(String(20))
    file_format: Mapped[str] = mapped_column(String(8))
    frequency: Mapped[str] = mapped_column(String(8))
    weekday: Mapped[int | None] = mapped_column(Integer)  # 0 = Monday; weekly schedules only
    local_hour: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    mask_role: Mapped[str] = mapped_column(String(32))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
