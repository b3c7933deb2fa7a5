"""What the platform bills and how it stands with each payer. Our usage ledger is the source of truth; Stripe holds
copies (invoice items, invoices) that the jobs reconcile by metadata."""
import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db


class Payer:
    AGENCY = "agency"
    LENDER = "lender"
    ALL = (AGENCY, LENDER)


class Standing:
    GOOD = "good"
    DELINQUENT = "delinquent"


class BillingPlan(UuidPrimaryKey, TenantScoped, db.Model):
    """One tenant's terms (set by platform admins), its Stripe customer and whether it is paying its invoices.

    The row is also the payer's billing lock: recording usage and every billing step take it FOR UPDATE, so usage
    numbers and free allowances are assigned in order and two workers never bill one payer at once."""

    __tablename__ = "billing_plans"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_billing_plans_tenant_id"),)

    # On a lender's plan, `lender` makes the lender pay for the cases it places; otherwise the accepting agency
    # pays under its own plan.
    payer: Mapped[str] = mapped_column(String(8), default=Payer.AGENCY)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    free_cases: Mapped[int] = mapped_column(Integer, default=0)  # per billing period
    billing_day: Mapped[int] = mapped_column(Integer, default=1)  # 1–28: the day each period starts
    stop_when_delinquent: Mapped[bool] = mapped_column(Boolean, default=True)
    next_usage_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64))
    standing: Mapped[str] = mapped_column(String(12), default=Standing.GOOD)
    delinquent_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)

    @property
    def suspends_placements(self) -> bool:
        return self.standing == Standing.DELINQUENT and self.stop_when_delinquent


class UsageRecord(UuidPrimaryKey, TenantScoped, db.Model):
    """One billed case: an account accepted by an agency in the payer's billing period (tenant_id = the payer)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq", name="uq_usage_records_seq"),
        # A case re-placed with the same agency within the period is not billed twice.
        UniqueConstraint("tenant_id", "period_start", "agency_tenant_id", "account_id",
                         name="uq_usage_records_case_period"),
        Index("ix_usage_records_unbilled", "tenant_id", "period_start", "billed_at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger)  # per payer, in acceptance order; Stripe metadata names ranges
    placement_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("placements.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    account_ref: Mapped[str] = mapped_column(String(100))
    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    agency_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    free: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # 0 within the free allowance
    billed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stripe_invoice_item_id: Mapped[str | None] = mapped_column(String(64))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("billing_invoices.id"), index=True)


class InvoiceStatus:
    NO_CHARGE = "no_charge"  # every case of the period was free: nothing sent to Stripe
    OPEN = "open"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    VOID = "void"
    UNPAID = (OPEN, PAYMENT_FAILED)


class BillingInvoice(UuidPrimaryKey, TenantScoped, db.Model):
    """A closed billing period of one payer and the Stripe invoice that charges it."""

    __tablename__ = "billing_invoices"
    __table_args__ = (UniqueConstraint("tenant_id", "period_start", name="uq_billing_invoices_period"),)

    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    cases: Mapped[int] = mapped_column(Integer)
    free_cases: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # What Stripe's invoice totals, as read when it was created: differs from amount_minor only if something
    # outside Recoverly added items to the customer (shown to platform admins).
    stripe_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    # The Stripe event time of the last status change: an older event delivered late changes nothing.
    status_event_at: Mapped[int | None] = mapped_column(BigInteger)
    hosted_invoice_url: Mapped[str | None] = mapped_column(String(500))
    collection_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class StripeEvent(db.Model):
    """Webhook events already processed (the same event twice changes nothing). Platform-only."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tenants.id"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
