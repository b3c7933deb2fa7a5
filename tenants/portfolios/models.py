"""Portfolio tables. Accounts belong to their lender; an agency sees an account (and its phones, contacts and
lender updates) only while it holds the account's active placement."""
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.pii import EncryptedBytes, EncryptedString


class Portfolio(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "portfolios"

    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)


class ColumnMapping(UuidPrimaryKey, TenantScoped, db.Model):
    """A lender's own headers mapped to the canonical fields, saved once and reused."""

    __tablename__ = "column_mappings"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_column_mappings_tenant_name"),)

    name: Mapped[str] = mapped_column(String(100))
    mapping: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now, onupdate=clock.now)


class ImportStatus:
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    # Stopped for good: error_code and error_message say why (a whole-file problem the worker found, before any
    # row landed, or an error in the job after its last committed batch).
    FAILED = "failed"


class ImportJob(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "import_jobs"

    portfolio_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("portfolios.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(10))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mapping: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.QUEUED, index=True)
    encoding: Mapped[str | None] = mapped_column(String(20))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    headers: Mapped[list | None] = mapped_column(JSON)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_processed: Mapped[int] = mapped_column(Integer, default=0)
    rows_created: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint_line: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    uploaded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    portfolio: Mapped[Portfolio] = relationship(lazy="joined")

    @property
    def rows_imported(self) -> int:
        return self.rows_created + self.rows_updated


class ImportRange(UuidPrimaryKey, TenantScoped, db.Model):
    """A slice of a large import's rows, lines `first_line` to `last_line`, run as a job of its own by any worker
    on any machine, with its own checkpoint. The import's counters are the sum of its ranges' work, and it ends
    `completed` when every range has (`failed` as soon as one fails)."""

    __tablename__ = "import_ranges"
    __table_args__ = (UniqueConstraint("import_id", "first_line", name="uq_import_ranges_import_first_line"),)

    import_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("import_jobs.id"), index=True)
    first_line: Mapped[int] = mapped_column(Integer)
    last_line: Mapped[int] = mapped_column(Integer)
    checkpoint_line: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.QUEUED)


class ImportFileChunk(TenantScoped, db.Model):
    """The uploaded file, in chunks: any worker on any machine can stream it back in bounded memory. Encrypted
    with the PII key ring: a portfolio file is nothing but personal data."""

    __tablename__ = "import_file_chunks"

    import_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("import_jobs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(EncryptedBytes)


class ImportRowError(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "import_row_errors"
    __table_args__ = (UniqueConstraint("import_id", "line", name="uq_import_row_errors_import_line"),)

    import_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("import_jobs.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    errors: Mapped[list] = mapped_column(JSON)
    raw: Mapped[str] = mapped_column(EncryptedString)  # the row as uploaded (JSON): it holds PII


class AccountStatus:
    OPEN = "open"
    PAID = "paid"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"
    CLOSED = (PAID, SETTLED, WRITTEN_OFF)


class Account(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "accounts"
    tenant_id_index = False
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_ref", name="uq_accounts_tenant_external_ref"),
        Index("ix_accounts_tenant_dpd", "tenant_id", "days_past_due"),
    )

    portfolio_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("portfolios.id"), index=True)
    external_ref: Mapped[str] = mapped_column(String(100))
    subject_key: Mapped[str | None] = mapped_column(String(64), index=True)
    debtor_name: Mapped[str] = mapped_column(EncryptedString)
    id_type: Mapped[str] = mapped_column(String(20))
    id_number: Mapped[str | None] = mapped_column(EncryptedString)
    id_number_index: Mapped[str | None] = mapped_column(String(64), index=True)
    email: Mapped[str | None] = mapped_column(EncryptedString)
    address: Mapped[str | None] = mapped_column(EncryptedString)
    region: Mapped[str | None] = mapped_column(String(100))
    time_zones: Mapped[list] = mapped_column(JSON)
    time_zone_source: Mapped[str] = mapped_column(String(10))
    product: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    original_minor: Mapped[int] = mapped_column(BigInteger)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    fees_minor: Mapped[int] = mapped_column(BigInteger)
    penalty_minor: Mapped[int] = mapped_column(BigInteger)
    outstanding_minor: Mapped[int] = mapped_column(BigInteger, index=True)
    loan_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    days_past_due: Mapped[int] = mapped_column(Integer)
    last_payment_date: Mapped[date | None] = mapped_column(Date)
    last_payment_minor: Mapped[int | None] = mapped_column(BigInteger)
    charge_off_date: Mapped[date | None] = mapped_column(Date)
    limitation_date: Mapped[date | None] = mapped_column(Date)
    deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    bankrupt: Mapped[bool] = mapped_column(Boolean, default=False)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    attorney: Mapped[bool] = mapped_column(Boolean, default=False)
    cease_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now, onupdate=clock.now)
    last_import_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("import_jobs.id"))

    phones: Mapped[list["AccountPhone"]] = relationship(order_by="AccountPhone.position",
                                                        cascade="all, delete-orphan")
    # Current contacts only: a retired one (see ThirdPartyContact.RETIRED) stays for the attempts that name it.
    third_parties: Mapped[list["ThirdPartyContact"]] = relationship(
        primaryjoin="and_(Account.id == ThirdPartyContact.account_id, ThirdPartyContact.position >= 0)",
        order_by="ThirdPartyContact.position", cascade="all, delete-orphan")

    @property
    def on_hold(self) -> bool:
        return self.deceased or self.bankrupt or self.disputed or self.attorney or self.cease_requested

    def recompute_outstanding(self) -> None:
        self.outstanding_minor = self.principal_minor + self.interest_minor + self.fees_minor + self.penalty_minor


class AccountPhone(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "account_phones"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    phone: Mapped[str] = mapped_column(EncryptedString)
    phone_index: Mapped[str] = mapped_column(String(64), index=True)


class ThirdPartyContact(UuidPrimaryKey, TenantScoped, db.Model):
    """A person the lender's file names as a contact for the debtor. A re-import that drops a contact some attempt
    already names keeps the row, retired (position RETIRED): the attempt's history still says whom it reached, but
    nobody can pick the contact again."""

    __tablename__ = "third_party_contacts"
    RETIRED = -1

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(EncryptedString)
    phone: Mapped[str | None] = mapped_column(EncryptedString)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    relationship_label: Mapped[str | None] = mapped_column(String(50))

    @property
    def is_current(self) -> bool:
        return self.position != self.RETIRED


class UpdateKind:
    DIRECT_PAYMENT = "direct_payment"
    BALANCE_ADJUSTMENT = "balance_adjustment"
    CLOSURE = "closure"


class AccountUpdate(UuidPrimaryKey, TenantScoped, db.Model):
    """A lender's change to an account: a payment made to the lender directly, an adjustment, a closure."""

    __tablename__ = "account_updates"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key", name="uq_account_updates_idempotency"),)

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    component: Mapped[str | None] = mapped_column(String(10))
    allocation: Mapped[dict | None] = mapped_column(JSON)
    closure_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    occurred_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
