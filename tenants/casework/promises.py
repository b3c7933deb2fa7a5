"""Promises to pay: taken by the agency holding the account (usually on a call that ended `promise_to_pay`), kept
when confirmed payments received since the promise reach its amount by the due date plus grace days, broken
otherwise. The daily review (`review`) decides; a broken promise brings the case back to the collector's queue
(`promises_due`, `broken_since` are what the work queue asks).

A debtor has one open promise per agency and account: a new promise replaces the open one (cancelled, audited),
so one payment never keeps two promises. Payments still awaiting the lender's confirmation keep a promise open past
its deadline until the lender confirms (kept) or reverses them (broken).
"""
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from tenants import audit, clock, references, webhooks
from tenants.casework.debtor_dates import debtor_zone, grace_days, last_day_to_pay, today_in
from tenants.casework.money_models import Payment, PaymentStatus, Promise, PromiseStatus
from tenants.conduct.models import ContactAttempt
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, required_text
from tenants.money import Money
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account, AccountStatus
from tenants.tenancy.models import Tenant

REVIEW_BATCH = 500


def held_case(account_id: uuid.UUID) -> tuple[Account, Placement]:
    """The account and the current agency's active placement of it; anything else is not found."""
    account = get_account(account_id)
    placement = db.session.scalar(select(Placement).where(
        Placement.account_id == account.id, Placement.agency_tenant_id == current_tenant_id(),
        Placement.status == PlacementStatus.ACTIVE))
    if placement is None:
        raise NotFound(code="account.not_found")
    if account.status != AccountStatus.OPEN:
        raise Conflict("This account is closed.", code="account.closed")
    return account, placement


def positive_amount(text: str, account: Account, field: str = "amount") -> Money:
    money = Money.parse(text, account.currency)
    if money.minor <= 0:
        raise ValidationFailed("The amount must be more than zero.", code="money.not_positive",
                               details={"fields": {field: ["Must be more than zero."]}})
    if money.minor > account.outstanding_minor:
        raise ValidationFailed("The amount is larger than the outstanding balance.", code="money.over_balance",
                               details={"fields": {field: ["Larger than the outstanding balance."]}})
    return money


def own_attempt(attempt_id: uuid.UUID | None, account: Account) -> uuid.UUID | None:
    """The contact this was agreed on: one of the current tenant's attempts on the same account."""
    if attempt_id is None:
        return None
    message = "Not one of your contacts on this account."
    found = references.of_account(ContactAttempt, attempt_id, account.id, code="contact_attempt.not_found",
                                  field="attempt_id", message=message)
    if found.tenant_id != current_tenant_id():  # the lender reads its agencies' attempts
        raise ValidationFailed(details={"fields": {"attempt_id": [message]}})
    return found.id


def by_idempotency_key(key: str) -> Promise | None:
    return db.session.scalar(select(Promise).where(Promise.tenant_id == current_tenant_id(),
                                                   Promise.idempotency_key == key))


def take(account_id: uuid.UUID, *, amount: str, due_on: date, user_id: uuid.UUID | None,
         attempt_id: uuid.UUID | None = None, note: str | None = None, idempotency_key: str | None = None) -> Promise:
    if idempotency_key:
        earlier = by_idempotency_key(idempotency_key)
        if earlier is not None:
            if earlier.account_id != account_id:
                raise Conflict("This Idempotency-Key was already used for another account.",
                               code="idempotency.key_reused")
            return earlier
    account, placement = held_case(account_id)
    money = positive_amount(amount, account)
    zone = debtor_zone(account)
    today = today_in(zone)
    if due_on < today:
        raise ValidationFailed("The promised date is in the past.", code="promise.due_in_past",
                               details={"fields": {"due_on": [f"On or after {today.isoformat()} (debtor's date)."]}})
    attempt = own_attempt(attempt_id, account)
    for earlier in db.session.scalars(select(Promise).where(
            Promise.account_id == account.id, Promise.tenant_id == current_tenant_id(),
            Promise.status == PromiseStatus.OPEN)):
        _resolve(earlier, PromiseStatus.CANCELLED, "replaced by a new promise")
    agency = db.session.get(Tenant, current_tenant_id())
    promise = Promise(tenant_id=agency.id, lender_tenant_id=account.tenant_id, account_id=account.id,
                      placement_id=placement.id, amount_minor=money.minor, currency=money.currency, taken_on=today,
                      due_on=due_on, grace_days=grace_days(agency), zone=zone, status=PromiseStatus.OPEN,
                      paid_minor=0, note=(note or "").strip() or None, taken_by_user_id=user_id, attempt_id=attempt,
                      idempotency_key=idempotency_key)
    db.session.add(promise)
    db.session.flush()
    audit.record("promise.taken", object_type="promise", object_id=promise.id,
                 after={"account_id": account.id, "amount_minor": promise.amount_minor, "currency": promise.currency,
                        "due_on": due_on.isoformat(), "grace_days": promise.grace_days, "attempt_id": attempt})
    webhooks.emit_for("promise.made", promise, amount_minor=promise.amount_minor, currency=promise.currency,
                      due_on=due_on)
    return promise


def get_promise(promise_id: uuid.UUID) -> Promise:
    return get_visible(Promise, promise_id, "promise.not_found")


def cancel(promise_id: uuid.UUID, reason: str) -> Promise:
    promise = get_promise(promise_id)
    if promise.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the agency that took this promise may cancel it.", code="promise.not_yours")
    if promise.status != PromiseStatus.OPEN:
        raise Conflict("Only an open promise can be cancelled.", code="promise.not_open")
    _resolve(promise, PromiseStatus.CANCELLED,
             required_text(reason, message="Say why the promise is cancelled.", code="promise.reason_required"))
    return promise


def of_account(account_id: uuid.UUID) -> list[Promise]:
    return list(db.session.scalars(select(Promise).where(Promise.account_id == account_id)
                                   .order_by(Promise.created_at.desc(), Promise.id)))


# ---- what the work queue asks ------------------------------------------------------------------------------------

def promises_due(account_ids, on_date: date) -> dict[uuid.UUID, Promise]:
    """The current agency's open promises due on or before `on_date` (the debtor's date; a promise in its grace
    days is still due), the earliest per account."""
    found = {}
    for promise in db.session.scalars(select(Promise).where(
            Promise.account_id.in_(list(account_ids)), Promise.tenant_id == current_tenant_id(),
            Promise.status == PromiseStatus.OPEN, Promise.due_on <= on_date).order_by(Promise.due_on)):
        found.setdefault(promise.account_id, promise)
    return found


def broken_since(account_ids, since: datetime) -> dict[uuid.UUID, Promise]:
    """The current agency's promises judged broken at or after `since`, the latest per account."""
    found = {}
    for promise in db.session.scalars(select(Promise).where(
            Promise.account_id.in_(list(account_ids)), Promise.tenant_id == current_tenant_id(),
            Promise.status == PromiseStatus.BROKEN, Promise.resolved_at >= since)
            .order_by(Promise.resolved_at.desc())):
        found.setdefault(promise.account_id, promise)
    return found


# ---- the daily review ----------------------------------------------------------------------------------------------

@dataclass
class Tally:
    confirmed: int = 0
    pending: int = 0


def review(now: datetime | None = None) -> dict:
    """Judge the current agency's open promises; running it again changes nothing."""
    now = now or clock.now()
    counts = {"kept": 0, "broken": 0, "cancelled": 0, "open": 0}
    promises = list(db.session.scalars(select(Promise).where(
        Promise.tenant_id == current_tenant_id(), Promise.status == PromiseStatus.OPEN)
        .order_by(Promise.due_on, Promise.id)))
    for start in range(0, len(promises), REVIEW_BATCH):
        batch = promises[start:start + REVIEW_BATCH]
        payments = payments_by_account({p.account_id for p in batch}, min(p.taken_on for p in batch))
        live = active_placements({p.placement_id for p in batch})
        for promise in batch:
            counts[_judge(promise, payments.get(promise.account_id, []), promise.placement_id in live, now)] += 1
    return counts


def payments_by_account(account_ids, since: date) -> dict[uuid.UUID, list[tuple[date, int, str]]]:
    """(received on, amount, status) of the confirmed and pending payments the current tenant sees."""
    rows = db.session.execute(select(Payment.account_id, Payment.received_on, Payment.amount_minor, Payment.status)
                              .where(Payment.account_id.in_(list(account_ids)), Payment.received_on >= since,
                                     Payment.status.in_((PaymentStatus.CONFIRMED, PaymentStatus.PENDING))))
    found: dict[uuid.UUID, list] = {}
    for account_id, received_on, amount, status in rows:
        found.setdefault(account_id, []).append((received_on, amount, status))
    return found


def active_placements(placement_ids) -> set[uuid.UUID]:
    return set(db.session.scalars(select(Placement.id).where(Placement.id.in_(list(placement_ids)),
                                                              Placement.status == PlacementStatus.ACTIVE)))


def tally(payments, first_day: date, last_day: date) -> Tally:
    total = Tally()
    for received_on, amount, status in payments:
        if first_day <= received_on <= last_day:
            if status == PaymentStatus.CONFIRMED:
                total.confirmed += amount
            else:
                total.pending += amount
    return total


def _judge(promise: Promise, payments, placement_active: bool, now: datetime) -> str:
    last_day = last_day_to_pay(promise.due_on, promise.grace_days)
    paid = tally(payments, promise.taken_on, last_day)
    if promise.paid_minor != min(paid.confirmed, promise.amount_minor):
        promise.paid_minor = min(paid.confirmed, promise.amount_minor)
    if paid.confirmed >= promise.amount_minor:
        _resolve(promise, PromiseStatus.KEPT, "paid")
        return "kept"
    if not placement_active:
        _resolve(promise, PromiseStatus.CANCELLED, "the placement ended")
        return "cancelled"
    if today_in(promise.zone, now) > last_day:
        if paid.confirmed + paid.pending >= promise.amount_minor:
            return "open"  # paid in time as far as the agency knows: the lender's confirmation decides
        _resolve(promise, PromiseStatus.BROKEN, f"not paid by {last_day.isoformat()}")
        return "broken"
    return "open"


def _resolve(promise: Promise, status: str, resolution: str) -> None:
    promise.status, promise.resolved_at, promise.resolution = status, clock.now(), resolution
    webhooks.emit_for(f"promise.{status}", promise, when=status in ("kept", "broken"), paid_minor=promise.paid_minor,
                      amount_minor=promise.amount_minor)
    audit.record(f"promise.{status}", object_type="promise", object_id=promise.id,
                 before={"status": PromiseStatus.OPEN},
                 after={"status": status, "resolution": resolution, "paid_minor": promise.paid_minor,
                        "amount_minor": promise.amount_minor})
