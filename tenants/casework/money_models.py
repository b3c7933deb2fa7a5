"""Promises to pay, payments and payment plans.

A promise and a plan belong to the agency that took them and are readable by the account's lender
(`lender_tenant_id`); only the agency writes them. A payment belongs to the account's lender and is readable by the
agency that held the placement it was paid under (`agency_tenant_id`), after a recall too (commission is owed on
it); the tenant that recorded it and the lender write it. Amounts are integer minor units of the account's
currency. Due dates are calendar dates in the debtor's zone (`zone`, the candidate zone whose day ends last).
"""
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db


class PromiseStatus:
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class Promise(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "promises"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_promises_idempotency"),
        # The work queue asks, per account, for open promises due by a date and for recently broken ones.
        Index("ix_promises_account_status_due", "account_id", "status", "due_on"),
        Index("ix_promises_tenant_status_due", "tenant_id", "status", "due_on"),
    )

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    placement_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("placements.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    taken_on: Mapped[date] = mapped_column(Date)  # debtor-local: payments count from this day
    due_on: Mapped[date] = mapped_column(Date)
    grace_days: Mapped[int] = mapped_column(Integer)
    zone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=PromiseStatus.OPEN)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # confirmed in time, as last reviewed
    note: Mapped[str | None] = mapped_column(Text)
    taken_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"), index=True)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact_attempts.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))


class PaymentStatus:
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REVERSED = "reversed"


class PaymentMethod:
    ALL = ("bank_transfer", "alipay", "wechat_pay", "card", "cash", "other")


class Payment(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("recorded_by_tenant_id", "idempotency_key", name="uq_payments_idempotency"),
        Index("ix_payments_account_status", "account_id", "status"),
        Index("ix_payments_tenant_status", "tenant_id", "status"),
        Index("ix_payments_agency_status", "agency_tenant_id", "status"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    placement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("placements.id"), index=True)
    agency_tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tenants.id"))
    recorded_by_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    recorded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default=PaymentStatus.PENDING)
    # What confirming took from each balance component ({"fees": 1000, ...}); a reversal puts exactly this back.
    allocation: Mapped[dict | None] = mapped_column(JSON)
    closed_account: Mapped[bool] = mapped_column(Boolean, default=False)
    prior_last_payment_date: Mapped[date | None] = mapped_column(Date)
    prior_last_payment_minor: Mapped[int | None] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reversed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    reversal_reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))


class PlanStatus:
    PROPOSED = "proposed"
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    CANCELLED = "cancelled"
    OPEN = (PROPOSED, ACTIVE)


class InstalmentStatus:
    DUE = "due"
    KEPT = "kept"
    MISSED = "missed"


class PaymentPlan(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "payment_plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_payment_plans_idempotency"),
        Index("ix_payment_plans_account_status", "account_id", "status"),
        Index("ix_payment_plans_tenant_status", "tenant_id", "status"),
    )

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    placement_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("placements.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    instalment_count: Mapped[int] = mapped_column(Integer)
    frequency: Mapped[str] = mapped_column(String(12))  # weekly, fortnightly, monthly or custom
    agreed_on: Mapped[date] = mapped_column(Date)  # debtor-local: payments count from this day
    grace_days: Mapped[int] = mapped_column(Integer)
    zone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=PlanStatus.PROPOSED)
    note: Mapped[str | None] = mapped_column(Text)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"), index=True)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact_attempts.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    signed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    acknowledgement: Mapped[str | None] = mapped_column(Text)  # how the debtor agreed, e.g. "verbal on call …"
    evidence_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # a signed copy in the evidence store
    hold_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("holds.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))

    instalments: Mapped[list["PlanInstalment"]] = relationship(
        back_populates="plan", order_by="PlanInstalment.number", cascade="all, delete-orphan", lazy="selectin")


class PlanInstalment(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "plan_instalments"
    __table_args__ = (UniqueConstraint("plan_id", "number", name="uq_plan_instalments_plan_number"),)

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("payment_plans.id"))
    number: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8), default=InstalmentStatus.DUE)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    plan: Mapped[PaymentPlan] = relationship(back_populates="instalments")
