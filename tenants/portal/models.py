"""The portal's rows. Each belongs to the account's lender or to the agency holding the account (who sees what is
declared in tenants/access_policy.py), and every row names its account: the portal's session guard
(tenants/portal/scope.py) refuses to load a row of any other account.

- PortalLink: a signed, single-purpose token bound to one account and the message that carried it; expiring and
  revocable. Only its keyed hash is stored.
- PortalCode: a one-time code (or a notice that a request was answered) sent to a phone or email already on the
  account, through the message gateway; only the code's keyed hash is kept beside the encrypted message.
- PortalSession: a short session opened by a right code (its own cookie, never the staff session).
- PortalAttempt: the counters behind the rate limits (per link, account and client address), in PostgreSQL, so a
  Redis outage never opens the door to guessing. Platform-only: they hold keyed hashes, no tenant data.
- PortalRequest: what the debtor did or asked for (a plan, a settlement, more time, a dispute, preferences, a
  signature, a proof of payment); `source` is always "portal", so reports can count self-service.
- PortalPayment: one Stripe PaymentIntent per payment, to the lender's connected account; idempotent by intent id.
"""
import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.pii import EncryptedString
from tenants.portal import scope  # noqa: F401  (the session fence's listeners)

SOURCE = "portal"


class PortalLink(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "portal_links"

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("outbound_messages.id"), index=True)
    template_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("message_templates.id"))
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(10))  # how the message went: where the code goes back
    phone_position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    first_opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PortalCode(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "portal_codes"
    __table_args__ = (Index("ix_portal_codes_link_created", "link_id", "created_at"),)

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    link_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("portal_links.id"))
    kind: Mapped[str] = mapped_column(String(10), default="code")  # code, or notice (an answer to a request)
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(EncryptedString)
    body: Mapped[str] = mapped_column(EncryptedString)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    gateway: Mapped[str | None] = mapped_column(String(20))
    gateway_message_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10))  # sent, failed


class PortalSession(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "portal_sessions"

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    link_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("portal_links.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    locale: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(40))


class PortalAttempt(UuidPrimaryKey, db.Model):
    """One counted event (a code sent, a wrong code) under a keyed hash of what it counts against."""

    __tablename__ = "portal_attempts"
    __table_args__ = (Index("ix_portal_attempts_key_at", "key", "at"),)

    key: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)


class RequestKind:
    PLAN = "plan"
    SETTLEMENT = "settlement"
    EXTENSION = "extension"
    DISPUTE = "dispute"
    PREFERENCES = "preferences"
    AGREEMENT_SIGNED = "agreement_signed"
    PROOF = "proof_of_payment"
    PAYMENT = "payment"
    ALL = (PLAN, SETTLEMENT, EXTENSION, DISPUTE, PREFERENCES, AGREEMENT_SIGNED, PROOF, PAYMENT)


class RequestStatus:
    DONE = "done"  # applied at once within the rules
    AWAITING_COLLECTOR = "awaiting_collector"  # beyond the agency's rules: a collector decides
    AWAITING_LENDER = "awaiting_lender"  # beyond the agency's limit: the lender decides
    ACCEPTED = "accepted"
    DECLINED = "declined"
    OPEN = (AWAITING_COLLECTOR, AWAITING_LENDER)


class PortalRequest(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "portal_requests"
    __table_args__ = (Index("ix_portal_requests_account_status", "account_id", "status"),
                      Index("ix_portal_requests_tenant_status", "tenant_id", "status"))

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("portal_sessions.id"))
    link_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("portal_links.id"))
    template_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the message template that brought the debtor
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(10), default=SOURCE)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    object_type: Mapped[str | None] = mapped_column(String(30))
    object_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    answer: Mapped[str | None] = mapped_column(Text)


class PortalPaymentStatus:
    CREATED = "created"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    CANCELED = "canceled"


class PortalPayment(UuidPrimaryKey, TenantScoped, db.Model):
    """The lender's row (the creditor is paid); the agency holding the account starts one for the debtor."""

    __tablename__ = "portal_payments"

    agency_tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("portal_sessions.id"))
    intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    connected_account: Mapped[str | None] = mapped_column(String(255))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    failure_code: Mapped[str | None] = mapped_column(String(100))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payments.id"))
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
