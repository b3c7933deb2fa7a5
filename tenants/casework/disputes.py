"""Disputes: the debtor contests the debt (not mine, wrong amount, already paid...). Opened by a collector, the
lender or the API, a dispute belongs to the account's lender and is seen by the agency holding the account. It holds
collection through a `dispute` hold of the conduct engine until it is resolved (upheld, rejected or withdrawn),
and blocks a recall meanwhile. Its documents are evidence files linked to it.
"""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, Uuid, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from tenants import audit, clock, webhooks
from tenants.conduct import service as conduct
from tenants.conduct.models import ConductHold
from tenants.context import TenantScoped, current_tenant_id, may_write
from tenants.db import UtcDateTime, UuidPrimaryKey, db, get_visible
from tenants.errors import Conflict, PermissionDenied, ValidationFailed
from tenants.placements.services import RECALL_BLOCKERS
from tenants.portfolios.accounts import get_account

CATEGORIES = ("not_my_debt", "wrong_amount", "already_paid", "identity_theft", "collection_conduct", "other")
OUTCOMES = ("upheld", "rejected", "withdrawn")


class DisputeStatus:
    OPEN = "open"
    RESOLVED = "resolved"


class Dispute(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "disputes"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    category: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), index=True)
    outcome: Mapped[str | None] = mapped_column(String(12))
    resolution: Mapped[str | None] = mapped_column(Text)
    hold_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("holds.id"))
    source: Mapped[str] = mapped_column(String(20))
    opened_by_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    opened_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tenants.id"))
    resolved_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


def open_dispute(account_id: uuid.UUID, *, category: str, reason: str, source: str,
                 user_id: uuid.UUID | None = None) -> Dispute:
    if category not in CATEGORIES:
        raise ValidationFailed(details={"fields": {"category": [f"One of {', '.join(CATEGORIES)}."]}})
    if not (reason or "").strip():
        raise ValidationFailed(details={"fields": {"reason": ["Say what the debtor disputes."]}})
    account = get_account(account_id)
    hold = conduct.open_hold(account.id, "dispute", reason=reason.strip(), source=source,
                             created_by_user_id=user_id)
    dispute = Dispute(tenant_id=account.tenant_id, account_id=account.id, category=category, reason=reason.strip(),
                      status=DisputeStatus.OPEN, hold_id=hold.id, source=source,
                      opened_by_tenant_id=current_tenant_id(), opened_by_user_id=user_id, opened_at=clock.now())
    db.session.add(dispute)
    db.session.flush()
    audit.record("dispute.opened", object_type="dispute", object_id=dispute.id,
                 after={"account_id": str(account.id), "category": category, "hold_id": str(hold.id),
                        "source": source})
    webhooks.emit_for("dispute.opened", dispute, category=category, source=source)
    return dispute


def resolve(dispute_id: uuid.UUID, *, outcome: str, resolution: str, user_id: uuid.UUID | None = None) -> Dispute:
    """Record how the dispute ended and release its hold (collection resumes unless another hold stays)."""
    dispute = get_dispute(dispute_id)
    if not may_write(dispute):
        raise PermissionDenied("Only the lender or the agency that opened this dispute may resolve it.",
                               code="dispute.not_writable")
    if outcome not in OUTCOMES:
        raise ValidationFailed(details={"fields": {"outcome": [f"One of {', '.join(OUTCOMES)}."]}})
    if not (resolution or "").strip():
        raise ValidationFailed(details={"fields": {"resolution": ["Say how the dispute was resolved."]}})
    if dispute.status != DisputeStatus.OPEN:
        raise Conflict("This dispute is already resolved.", code="dispute.already_resolved")
    dispute.status, dispute.outcome, dispute.resolution = DisputeStatus.RESOLVED, outcome, resolution.strip()
    dispute.resolved_at, dispute.resolved_by_tenant_id, dispute.resolved_by_user_id = (
        clock.now(), current_tenant_id(), user_id)
    hold = db.session.get(ConductHold, dispute.hold_id)
    if hold.resolved_at is None:  # someone may have ended the hold by hand already
        conduct.resolve_hold(hold.id, f"dispute {outcome}: {dispute.resolution}")
    audit.record("dispute.resolved", object_type="dispute", object_id=dispute.id,
                 before={"status": DisputeStatus.OPEN},
                 after={"status": dispute.status, "outcome": outcome, "resolution": dispute.resolution})
    webhooks.emit_for("dispute.resolved", dispute, category=dispute.category, outcome=outcome)
    return dispute


def get_dispute(dispute_id: uuid.UUID) -> Dispute:
    return get_visible(Dispute, dispute_id, "dispute.not_found")


def for_account(account_id: uuid.UUID) -> list[Dispute]:
    return list(db.session.scalars(select(Dispute).where(Dispute.account_id == account_id)
                                   .order_by(Dispute.opened_at.desc())))


def _open_disputes(account_ids) -> dict:
    """Recall blocker: an open dispute, or a dispute hold opened another way (a call's outcome) still running."""
    now = clock.now()
    rows = db.session.execute(
        select(Dispute.account_id).where(Dispute.account_id.in_(account_ids), Dispute.status == DisputeStatus.OPEN)
        .union(select(ConductHold.account_id).where(
            ConductHold.account_id.in_(account_ids), ConductHold.type == "dispute",
            ConductHold.resolved_at.is_(None), or_(ConductHold.ends_at.is_(None), ConductHold.ends_at > now))))
    return {row.account_id: "a dispute is open" for row in rows}


RECALL_BLOCKERS.append(_open_disputes)
