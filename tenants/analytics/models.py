"""Running totals behind the recovery analytics pages, so that a page reads a few hundred summary rows instead of a
lender's every placement and payment.

On PostgreSQL, triggers on `placements` and `payments` (migration 0023) keep these tables in step in the same
transaction as the change: a row's old contribution is taken away and its new one added (INSERT … ON CONFLICT … DO
UPDATE), so the totals are always exactly what the base tables would give. On SQLite (the demo) nothing fills them and
the pages compute from the base tables (tenants.analytics.common.summarised).

Each row carries the placement's lender (`tenant_id`) and agency (`agency_tenant_id`): the lender reads its rows and
the agency its own (tenants/access_policy.py). The triggers run as whoever changed the placement or payment — its
lender or its agency, or platform work — which the same rule lets write.

- analytics_placed: per (lender, agency, allocation, currency, start date), the accepted placements and the balance
  placed (liquidation curves' denominators);
- analytics_recovered: per (the placement's lender, agency, allocation, currency, start date, accepted, whether the
  payment names the same lender and the same agency, the payment's currency, UTC month, confirmed or reversed), the
  payments, their amounts and the commission each earned as the statements compute it (curves' numerators, cost);
- analytics_on_book: per (lender, agency, the date the account's days past due count from, first month on book at its
  start, month ended, closed), the placements not declined (roll rates).

The champion/challenger comparison ranks an allocation's accounts one by one (its strata are balance quartiles), so
it reads them from two indexes declared here rather than from the tables: every column it reads of an allocation's
placements (an index-only scan of ~100,000 entries instead of as many heap pages spread over the table; the price is
that a payment's update of `recovered_minor` is no longer a HOT update), and the debtor conversations by placement
(a partial index: only conversations).
"""
import uuid
from datetime import date

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, SmallInteger, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from tenants.conduct.models import ContactAttempt
from tenants.db import db
from tenants.placements.models import Placement

NEVER = 2_147_483_647  # analytics_on_book.end_month of a placement not ended


class PlacedTotal(db.Model):
    __tablename__ = "analytics_placed"
    __table_args__ = (Index("ix_analytics_placed_agency", "agency_tenant_id", "starts_on"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    agency_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    starts_on: Mapped[date] = mapped_column(Date, primary_key=True)
    placements: Mapped[int] = mapped_column(BigInteger, default=0)
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class RecoveredTotal(db.Model):
    __tablename__ = "analytics_recovered"
    __table_args__ = (Index("ix_analytics_recovered_agency", "agency_tenant_id", "month"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    agency_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    starts_on: Mapped[date] = mapped_column(Date, primary_key=True)
    accepted: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    same_lender: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    same_agency: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    payment_currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)  # UTC year × 12 + month − 1
    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 1 confirmed in the month, −1 reversed
    payments: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class OnBookTotal(db.Model):
    __tablename__ = "analytics_on_book"
    __table_args__ = (Index("ix_analytics_on_book_agency", "agency_tenant_id", "first_month"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    agency_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    dpd_origin: Mapped[date] = mapped_column(Date, primary_key=True)  # starts_on − dpd_at_placement
    first_month: Mapped[int] = mapped_column(Integer, primary_key=True)  # on book at the start of this month on
    end_month: Mapped[int] = mapped_column(Integer, primary_key=True)  # the UTC month it ended, else NEVER
    closed: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    placements: Mapped[int] = mapped_column(BigInteger, default=0)


# The comparison's reads (tenants.analytics.comparison._strata_rows); created by migration 0023, its columns those
# of migration 0026.
Index("ix_placements_batch_strata", Placement.batch_id, Placement.currency,
      postgresql_include=["agency_tenant_id", "tenant_id", "stratum_bucket", "stratum_band",
                          "balance_at_placement_minor", "recovered_minor", "debtor_conversations",
                          "uncancelled_promises"])
Index("ix_contact_attempts_conversations", ContactAttempt.placement_id,
      postgresql_include=["account_id", "tenant_id", "lender_tenant_id"],
      postgresql_where=text("target = 'debtor' AND conversation IS TRUE"),
      sqlite_where=text("target = 'debtor' AND conversation IS 1"))
