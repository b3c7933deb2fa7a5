"""The lender's agency panel and placements. A placement row is visible to both its lender and its agency."""
import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tenants import clock
from tenants.context import TenantScoped
from tenants.db import UtcDateTime, UuidPrimaryKey, db
from tenants.tenancy.models import Tenant


class RelationshipStatus:
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class AgencyRelationship(UuidPrimaryKey, TenantScoped, db.Model):
    """An agency on a lender's approved panel, with contract dates and default terms."""

    __tablename__ = "agency_relationships"
    __table_args__ = (UniqueConstraint("tenant_id", "agency_tenant_id", name="uq_agency_relationships_pair"),)

    agency_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=RelationshipStatus.ACTIVE)
    contract_start: Mapped[date] = mapped_column(Date)
    contract_end: Mapped[date | None] = mapped_column(Date)
    next_review_on: Mapped[date] = mapped_column(Date)
    default_commission_bps: Mapped[int] = mapped_column(Integer)
    default_period_days: Mapped[int] = mapped_column(Integer)
    default_channels: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)

    agency: Mapped[Tenant] = relationship(foreign_keys=[agency_tenant_id], lazy="joined")
    lender: Mapped[Tenant] = relationship(foreign_keys="AgencyRelationship.tenant_id", lazy="joined")

    def review_due(self, today: date) -> bool:
        return self.next_review_on <= today


class PlacementStatus:
    OFFERED = "offered"
    ACTIVE = "active"
    DECLINED = "declined"
    RECALLED = "recalled"
    EXPIRED = "expired"
    CLOSED = "closed"
    OPEN = (OFFERED, ACTIVE)


class PlacementBatch(UuidPrimaryKey, TenantScoped, db.Model):
    """One act of placing: the selection, the terms, and how accounts were allocated (with its seed)."""

    __tablename__ = "placement_batches"

    criteria: Mapped[dict] = mapped_column(JSON)
    terms: Mapped[dict] = mapped_column(JSON)
    allocation: Mapped[dict] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)


class Placement(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "placements"
    __table_args__ = (
        # At most one open (offered or active) placement per account, enforced by the database.
        Index("uq_placements_open_account", "account_id", unique=True,
              sqlite_where=text("status IN ('offered', 'active')"),
              postgresql_where=text("status IN ('offered', 'active')")),
        Index("ix_placements_agency_status", "agency_tenant_id", "status"),
        # Is there a placement between these two tenants? (the access policy's placement_between and the tenants'
        # read rule ask it of every shared row): one probe, whatever the statistics say of either tenant's size.
        Index("ix_placements_tenant_agency", "tenant_id", "agency_tenant_id"),
    )
    tenant_id_index = False

    agency_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("placement_batches.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PlacementStatus.OFFERED)
    commission_bps: Mapped[int] = mapped_column(Integer)
    commission_tiers: Mapped[list] = mapped_column(JSON, default=list)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    allowed_channels: Mapped[list] = mapped_column(JSON)
    conduct_overrides: Mapped[dict] = mapped_column(JSON, default=dict)
    currency: Mapped[str] = mapped_column(String(3))
    balance_at_placement_minor: Mapped[int] = mapped_column(BigInteger)
    dpd_at_placement: Mapped[int] = mapped_column(Integer)
    recovered_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(Text)
    recall_forced: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the lender told the debtor that collection was handed to this agency (CN.OUTSOURCE.NOTICE).
    debtor_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The largest settlement discount the agency may agree on its own; beyond it the lender decides. Null on
    # placements made before settlements existed: read as 0 (tenants.casework.settlements).
    max_discount_bps: Mapped[int | None] = mapped_column(Integer)
    # The stratum the allocation put the account in (tenants.placements.allocation): DPD bucket and balance band,
    # both from 0, read back by the champion/challenger comparison (tenants.analytics.comparison).
    stratum_bucket: Mapped[int | None] = mapped_column(SmallInteger)
    stratum_band: Mapped[int | None] = mapped_column(SmallInteger)
    # Kept by PostgreSQL triggers on contact_attempts and promises (migration 0026), never set by the code: its
    # conversations with the debtor and its promises not cancelled, for the comparison. 0 on SQLite (the demo).
    debtor_conversations: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    uncancelled_promises: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    agency: Mapped[Tenant] = relationship(foreign_keys=[agency_tenant_id], lazy="joined")


    def commission_bps_for(self, days_past_due: int) -> int:
        for tier in self.commission_tiers or []:
            if tier["min_dpd"] <= days_past_due <= tier.get("max_dpd", 10**6):
                return tier["bps"]
        return self.commission_bps
