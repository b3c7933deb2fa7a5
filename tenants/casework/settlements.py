"""Settlements: the agency offers the debtor a discounted payoff of the balance by a deadline.

A discount up to the placement's `max_discount_bps` is the agency's call and goes straight to the debtor;
beyond it the lender approves or declines first. The agency records the debtor's acceptance (directly, or by the
signed repayment agreement) and, once confirmed payments cover it, its payment; a deadline passing first lapses
the offer. Deadlines are days of the debtor's calendar. A settlement belongs to the agency that proposed it; the
account's lender reads it and decides the ones beyond the limit.
"""
import math
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, Uuid, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from tenants import audit, clock, webhooks
from tenants.capabilities import Capability, can
from tenants.casework.debtor_dates import debtor_zone, today_in
from tenants.casework.money_models import Payment, PaymentStatus
from tenants.context import TenantScoped, current_tenant_id
from tenants.db import UtcDateTime, UuidPrimaryKey, db, get_visible
from tenants.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tenants.money import Money
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import AccountStatus


class SettlementStatus:
    PROPOSED = "proposed"  # within the agency's limit: offered to the debtor
    AWAITING_LENDER = "awaiting_lender"  # beyond the limit: the lender decides first
    APPROVED = "approved"  # beyond the limit, approved: offered to the debtor
    DECLINED = "declined"
    ACCEPTED = "accepted"  # the debtor agreed; payment due by the deadline
    PAID = "paid"
    LAPSED = "lapsed"  # the deadline passed first
    OFFERED = (PROPOSED, APPROVED)
    LIVE = (PROPOSED, AWAITING_LENDER, APPROVED, ACCEPTED)


class Settlement(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "settlements"
    __table_args__ = (Index("ix_settlements_lender_status", "lender_tenant_id", "status"),)

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    placement_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("placements.id"))
    currency: Mapped[str] = mapped_column(String(3))
    outstanding_minor: Mapped[int] = mapped_column(BigInteger)  # the balance when the offer was made
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    discount_bps: Mapped[int] = mapped_column(Integer)
    max_discount_bps: Mapped[int] = mapped_column(Integer)  # the placement's limit when the offer was made
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    proposed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def within_limit(self) -> bool:
        return self.discount_bps <= self.max_discount_bps


def discount_bps(outstanding_minor: int, amount_minor: int) -> int:
    """Rounded up, so a discount a fraction of a basis point over the limit never reads as within it."""
    return math.ceil((outstanding_minor - amount_minor) * 10_000 / outstanding_minor)


def held_placement(account_id: uuid.UUID) -> Placement:
    """The current agency's active placement of the account (others have no business here: 404)."""
    placement = db.session.scalar(select(Placement).where(
        Placement.account_id == account_id, Placement.agency_tenant_id == current_tenant_id(),
        Placement.status == PlacementStatus.ACTIVE))
    if placement is None:
        raise NotFound(code="account.not_found")
    return placement


def propose(account_id: uuid.UUID, *, amount: str, deadline: date, note: str | None,
            user_id: uuid.UUID | None) -> Settlement:
    account = get_account(account_id)
    placement = held_placement(account.id)
    if account.status != AccountStatus.OPEN or account.outstanding_minor <= 0:
        raise Conflict("Only an open account with a balance can be settled.", code="settlement.account_closed")
    money = Money.parse(amount, account.currency)
    if not 0 < money.minor <= account.outstanding_minor:
        raise ValidationFailed(details={"fields": {"amount": ["More than zero and at most the outstanding "
                                                              "balance."]}})
    today = today_in(debtor_zone(account))
    if not today <= deadline <= placement.ends_on:
        raise ValidationFailed(details={"fields": {"deadline": [f"From today until the placement ends "
                                                                f"({placement.ends_on.isoformat()})."]}})
    if db.session.scalar(select(Settlement.id).where(Settlement.account_id == account.id,
                                                     Settlement.tenant_id == current_tenant_id(),
                                                     Settlement.status.in_(SettlementStatus.LIVE),
                                                     Settlement.deadline >= today).limit(1)):
        raise Conflict("A settlement offer on this account is still open.", code="settlement.already_open")
    settlement = Settlement(
        tenant_id=current_tenant_id(), lender_tenant_id=account.tenant_id, account_id=account.id,
        placement_id=placement.id, currency=account.currency, outstanding_minor=account.outstanding_minor,
        amount_minor=money.minor, discount_bps=discount_bps(account.outstanding_minor, money.minor),
        max_discount_bps=placement.max_discount_bps or 0, deadline=deadline, note=note,
        proposed_by_user_id=user_id, proposed_at=clock.now())
    settlement.status = SettlementStatus.PROPOSED if settlement.within_limit else SettlementStatus.AWAITING_LENDER
    db.session.add(settlement)
    db.session.flush()
    audit.record("settlement.proposed", object_type="settlement", object_id=settlement.id,
                 after=_state(settlement) | {"account_id": str(account.id)})
    webhooks.emit_for("settlement.proposed", settlement, **_state(settlement))
    return settlement


def get_settlement(settlement_id: uuid.UUID) -> Settlement:
    return get_visible(Settlement, settlement_id, "settlement.not_found")


def decide(settlement_id: uuid.UUID, *, approve: bool, role: str, user_id: uuid.UUID | None,
           note: str | None = None) -> Settlement:
    """The lender's answer to a discount beyond the agency's limit."""
    settlement = get_settlement(settlement_id)
    if settlement.lender_tenant_id != current_tenant_id():
        raise PermissionDenied("Only the lender decides a settlement beyond the agency's limit.",
                               code="settlement.not_decider")
    if not can(role, Capability.SETTLEMENT_DECIDE):
        raise PermissionDenied("A lender manager decides settlements.", code="settlement.wrong_role")
    _expect(settlement, (SettlementStatus.AWAITING_LENDER,), "Only a settlement waiting for you can be decided.")
    before = _state(settlement)
    settlement.status = SettlementStatus.APPROVED if approve else SettlementStatus.DECLINED
    settlement.decided_by_user_id, settlement.decided_at, settlement.decision_note = user_id, clock.now(), note
    audit.record("settlement.approved" if approve else "settlement.declined", object_type="settlement",
                 object_id=settlement.id, before=before, after=_state(settlement) | {"note": note})
    webhooks.emit_for("settlement.decided", settlement, **_state(settlement))
    return settlement


def accept(settlement_id: uuid.UUID) -> Settlement:
    """The debtor took the offer (said so, or signed the repayment agreement)."""
    settlement = _own(settlement_id)
    _expect(settlement, SettlementStatus.OFFERED, "Only an offer the debtor may take can be accepted: a discount "
            "beyond your limit needs the lender's approval first.")
    before = _state(settlement)
    settlement.status, settlement.accepted_at = SettlementStatus.ACCEPTED, clock.now()
    audit.record("settlement.accepted", object_type="settlement", object_id=settlement.id, before=before,
                 after=_state(settlement))
    return settlement


def mark_paid(settlement_id: uuid.UUID) -> Settlement:
    """Once the confirmed payments since the offer cover the settled amount."""
    settlement = _own(settlement_id)
    _expect(settlement, (SettlementStatus.ACCEPTED,), "Only an accepted settlement can be paid.")
    paid = paid_since_offer(settlement)
    if paid < settlement.amount_minor:
        raise Conflict(f"Confirmed payments since the offer come to {Money(paid, settlement.currency)}, short of "
                       f"{settlement.amount}.", code="settlement.not_covered",
                       details={"paid_minor": paid, "amount_minor": settlement.amount_minor})
    before = _state(settlement)
    settlement.status, settlement.paid_at = SettlementStatus.PAID, clock.now()
    audit.record("settlement.paid", object_type="settlement", object_id=settlement.id, before=before,
                 after=_state(settlement))
    return settlement


def paid_since_offer(settlement: Settlement) -> int:
    account = get_account(settlement.account_id)
    offered_on = settlement.proposed_at.astimezone(ZoneInfo(debtor_zone(account))).date()
    return int(db.session.scalar(select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
        Payment.account_id == settlement.account_id, Payment.status == PaymentStatus.CONFIRMED,
        Payment.received_on >= offered_on)))  # PostgreSQL sums bigints as numeric


def past_deadline(settlement: Settlement) -> bool:
    return settlement.deadline < today_in(debtor_zone(get_account(settlement.account_id)))


def lapse_due() -> int:
    """Live offers whose deadline has passed in every time zone lapse. Run daily in a platform context (like
    placement expiry); until then an offer past the debtor's deadline is refused all the same."""
    result = db.session.execute(
        update(Settlement).where(Settlement.status.in_(SettlementStatus.LIVE),
                                 Settlement.deadline < clock.now().date() - timedelta(days=1))
        .values(status=SettlementStatus.LAPSED).execution_options(synchronize_session=False))
    return result.rowcount or 0


def for_account(account_id: uuid.UUID) -> list[Settlement]:
    return list(db.session.scalars(select(Settlement).where(Settlement.account_id == account_id)
                                   .order_by(Settlement.proposed_at.desc())))


def awaiting_lender() -> list[Settlement]:
    return list(db.session.scalars(select(Settlement).where(
        Settlement.lender_tenant_id == current_tenant_id(), Settlement.status == SettlementStatus.AWAITING_LENDER)
        .order_by(Settlement.deadline, Settlement.proposed_at)))


def _own(settlement_id: uuid.UUID) -> Settlement:
    settlement = get_settlement(settlement_id)
    if settlement.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the agency that made this offer records what happens to it.",
                               code="settlement.not_yours")
    held_placement(settlement.account_id)
    return settlement


def _expect(settlement: Settlement, statuses: tuple, message: str) -> None:
    if settlement.status in SettlementStatus.LIVE and past_deadline(settlement):
        raise Conflict("The deadline of this offer has passed.", code="settlement.lapsed")
    if settlement.status not in statuses:
        raise Conflict(message, code="settlement.wrong_status", details={"status": settlement.status})


def _state(settlement: Settlement) -> dict:
    return {"status": settlement.status, "amount_minor": settlement.amount_minor, "currency": settlement.currency,
            "outstanding_minor": settlement.outstanding_minor, "discount_bps": settlement.discount_bps,
            "max_discount_bps": settlement.max_discount_bps, "deadline": settlement.deadline.isoformat()}
