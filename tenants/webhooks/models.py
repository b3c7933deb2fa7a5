"""Outbound webhooks: a tenant's endpoints, the events written for it, and each delivery of an event to an endpoint.

`webhook_events` is the outbox of this capability: a row says an event must reach the tenant's endpoints; the
delivery job fans it out to `webhook_deliveries` (one per subscribed endpoint) and posts them. An event is written
for the tenant that receives it (the lender of an account, an agency offered a placement), by whoever acted, in
the acting transaction (tenants.webhooks.events).
"""
import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.pii import EncryptedString


class DeliveryStatus:
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    GAVE_UP = "gave_up"  # the retry limit was reached, or the endpoint was deleted
    FINAL = (SUCCEEDED, GAVE_UP)


class WebhookEndpoint(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list] = mapped_column(JSON, default=list)  # ["*"]: every event type
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Signing secrets, encrypted at rest. During a rotation's overlap the previous secret signs too.
    secret: Mapped[str] = mapped_column(EncryptedString)
    previous_secret: Mapped[str | None] = mapped_column(EncryptedString)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    # Health: consecutive failed attempts since the last success; an endpoint failing long enough is disabled.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(16))  # "failures" | "manual"

    def subscribes(self, event_type: str) -> bool:
        return "*" in (self.event_types or []) or event_type in (self.event_types or [])


class WebhookEvent(UuidPrimaryKey, TenantScoped, db.Model):
    """One event for one receiving tenant (`tenant_id`). No personal data: references and figures only."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_undispatched", "tenant_id", "seq",
              postgresql_where=text("dispatched_at IS NULL"), sqlite_where=text("dispatched_at IS NULL")),
    )

    # Order of emission (microseconds since the epoch, strictly increasing per process): deliveries for one
    # account follow it.
    seq: Mapped[int] = mapped_column(BigInteger)
    source_tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # who acted (None: platform work)
    type: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    account_ref: Mapped[str | None] = mapped_column(String(100))  # the lender's external reference
    body: Mapped[str] = mapped_column(Text)  # JSON: {"refs": {...}, "data": {...}}
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # fanned out to the endpoints


class WebhookDelivery(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_pending", "endpoint_id", "event_seq",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_events.id"), index=True)
    event_seq: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    redelivery: Mapped[bool] = mapped_column(Boolean, default=False)  # asked for again: outside the account order
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_ms: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    endpoint = relationship(WebhookEndpoint, lazy="joined")
    event = relationship(WebhookEvent, lazy="joined")
