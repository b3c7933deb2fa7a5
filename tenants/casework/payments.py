"""Payments collected on an account: recorded by the agency holding it (pending until the lender confirms) or
reported by the lender (confirmed at once, credited to the agency holding the account, if any).

Confirming pays the balances off in the documented order (fees → penalty → interest → principal, through
`tenants.portfolios.accounts.apply_payment`), sets the last payment, adds the amount to the placement's recovered
amount, and — when nothing is left outstanding — closes the account and its placement. Reversing undoes exactly
what confirming stored: each component back, the recovered amount back, the last payment back (unless a later one
replaced it), and the account reopened if this payment closed it. A placement closed by the payment stays closed:
the lender may place the reopened account again. Reversing a pending payment only rejects it.

A payment awaiting confirmation blocks a recall (registered in RECALL_BLOCKERS).
"""
import uuid
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tenants import audit, clock, webhooks
from tenants.casework.money_models import Payment, PaymentMethod, PaymentStatus
from tenants.context import current_tenant_id
from tenants.db import db
from tenants.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, required_text
from tenants.money import Money
from tenants.placements.models import Placement, PlacementStatus
from tenants.placements.services import RECALL_BLOCKERS
from tenants.portfolios.accounts import apply_payment, balance_snapshot, close_account, get_account, unapply_payment
from tenants.portfolios.models import Account, AccountStatus
from tenants.tenancy.models import Tenant

MAX_REFERENCE = 100


def by_idempotency_key(key: str) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.recorded_by_tenant_id == current_tenant_id(),
                                                   Payment.idempotency_key == key))


def record(account_id: uuid.UUID, *, amount: str, received_on: date, method: str, reference: str | None = None,
           currency: str | None = None, user_id: uuid.UUID | None = None,
           idempotency_key: str | None = None, source: str = "staff") -> Payment:
    """The agency holding the account records a payment (pending); the account's lender reports one (confirmed
    at once). A retried request with the same idempotency key returns the first payment. `source`: who took it
    ("staff", or "portal" for the debtor's own payment), told in the webhook event."""
    if idempotency_key:
        earlier = by_idempotency_key(idempotency_key)
        if earlier is not None:
            if earlier.account_id != account_id:
                raise Conflict("This Idempotency-Key was already used for another account.",
                               code="idempotency.key_reused")
            return earlier
    tenant_id = current_tenant_id()
    account = get_account(account_id)
    placement = db.session.scalar(select(Placement).where(Placement.account_id == account.id,
                                                          Placement.status == PlacementStatus.ACTIVE))
    as_lender = tenant_id == account.tenant_id
    if not as_lender and (placement is None or placement.agency_tenant_id != tenant_id):
        raise NotFound(code="account.not_found")
    if account.status != AccountStatus.OPEN:
        raise Conflict("This account is closed.", code="account.closed")
    money = _amount(amount, currency, account)
    _check_fields(received_on, method, reference, tenant_id)
    payment = Payment(
        tenant_id=account.tenant_id, account_id=account.id, placement_id=placement.id if placement else None,
        agency_tenant_id=placement.agency_tenant_id if placement else None, recorded_by_tenant_id=tenant_id,
        recorded_by_user_id=user_id, amount_minor=money.minor, currency=money.currency, received_on=received_on,
        method=method, reference=(reference or "").strip() or None, status=PaymentStatus.PENDING,
        closed_account=False, idempotency_key=idempotency_key)
    db.session.add(payment)
    db.session.flush()
    audit.record("payment.recorded", object_type="payment", object_id=payment.id,
                 after={"account_id": account.id, "amount_minor": money.minor, "currency": money.currency,
                        "received_on": received_on.isoformat(), "method": method, "reference": payment.reference,
                        "placement_id": payment.placement_id, "by": "lender" if as_lender else "agency"})
    webhooks.emit_for("payment.recorded", payment, amount_minor=money.minor, currency=money.currency,
                      received_on=received_on, method=method, source=source)
    if as_lender:
        _confirm(payment, _locked_account(account.id), user_id)
    return payment


def _amount(text: str, currency: str | None, account: Account) -> Money:
    if currency and currency.strip().upper() != account.currency:
        raise ValidationFailed(f"This account is in {account.currency}.", code="payment.currency_mismatch",
                               details={"fields": {"currency": [f"Must be {account.currency}."]}})
    money = Money.parse(text, account.currency)
    if money.minor <= 0:
        raise ValidationFailed("A payment must be more than zero.", code="payment.amount_not_positive",
                               details={"fields": {"amount": ["Must be more than zero."]}})
    if money.minor > account.outstanding_minor:
        raise ValidationFailed("The payment is larger than the outstanding balance.", code="payment.overpayment",
                               details={"fields": {"amount": ["Larger than the outstanding balance."]}})
    return money


def _check_fields(received_on: date, method: str, reference: str | None, tenant_id: uuid.UUID) -> None:
    problems = {}
    if method not in PaymentMethod.ALL:
        problems["method"] = [f"One of {', '.join(PaymentMethod.ALL)}."]
    if reference and len(reference.strip()) > MAX_REFERENCE:
        problems["reference"] = [f"At most {MAX_REFERENCE} characters."]
    recorder_zone = ZoneInfo(db.session.get(Tenant, tenant_id).time_zone)
    if received_on > clock.now().astimezone(recorder_zone).date():
        problems["received_on"] = ["Cannot be in the future."]
    if problems:
        raise ValidationFailed(details={"fields": problems})


def get_payment(payment_id: uuid.UUID) -> Payment:
    found = db.session.scalar(select(Payment).where(Payment.id == payment_id)
                              .with_for_update().execution_options(populate_existing=True))
    if found is None:
        raise NotFound(code="payment.not_found")
    return found


def _as_lender(payment: Payment) -> None:
    if payment.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the account's lender confirms or reverses a payment.",
                               code="payment.lender_only")


def _locked_account(account_id: uuid.UUID) -> Account:
    """Two payments confirmed at once must not both start from the same balances (a row lock on PostgreSQL)."""
    get_account(account_id)  # a foreign id is a 404 before anything is locked
    return db.session.scalar(select(Account).where(Account.id == account_id)
                             .with_for_update(of=Account).execution_options(populate_existing=True))


def confirm(payment_id: uuid.UUID, user_id: uuid.UUID | None) -> Payment:
    payment = get_payment(payment_id)
    _as_lender(payment)
    if payment.status != PaymentStatus.PENDING:
        raise Conflict("Only a payment awaiting confirmation can be confirmed.", code="payment.not_pending")
    _confirm(payment, _locked_account(payment.account_id), user_id)
    return payment


def _confirm(payment: Payment, account: Account, user_id: uuid.UUID | None) -> None:
    if account.status != AccountStatus.OPEN:
        raise Conflict("This account is closed; reverse the payment instead.", code="account.closed")
    if payment.amount_minor > account.outstanding_minor:
        raise Conflict("The payment is now larger than the outstanding balance; reverse it or adjust the balance "
                       "first.", code="payment.exceeds_balance")
    before = balance_snapshot(account)
    payment.allocation = apply_payment(account, payment.amount_minor)
    payment.prior_last_payment_date, payment.prior_last_payment_minor = (account.last_payment_date,
                                                                         account.last_payment_minor)
    if account.last_payment_date is None or payment.received_on >= account.last_payment_date:
        account.last_payment_date, account.last_payment_minor = payment.received_on, payment.amount_minor
    placement = db.session.get(Placement, payment.placement_id) if payment.placement_id else None
    if placement is not None:
        placement.recovered_minor = (placement.recovered_minor or 0) + payment.amount_minor
    if account.outstanding_minor == 0:
        close_account(account, AccountStatus.PAID, "paid in full (payment confirmed)")
        payment.closed_account = True
    payment.status, payment.confirmed_at, payment.confirmed_by_user_id = (PaymentStatus.CONFIRMED, clock.now(),
                                                                          user_id)
    db.session.flush()
    audit.record("payment.confirmed", object_type="payment", object_id=payment.id,
                 before={"status": PaymentStatus.PENDING, "account": before},
                 after={"status": payment.status, "allocation": payment.allocation,
                        "account": balance_snapshot(account), "closed_account": payment.closed_account,
                        "placement_recovered_minor": placement.recovered_minor if placement else None})
    webhooks.emit_for("payment.confirmed", payment, amount_minor=payment.amount_minor, currency=payment.currency,
                      closed_account=payment.closed_account)


def reverse(payment_id: uuid.UUID, reason: str, user_id: uuid.UUID | None) -> Payment:
    payment = get_payment(payment_id)
    _as_lender(payment)
    reason = required_text(reason, message="Say why the payment is reversed.", code="payment.reason_required")
    if payment.status == PaymentStatus.REVERSED:
        raise Conflict("This payment is already reversed.", code="payment.already_reversed")
    was = payment.status
    account_before = account_after = None
    if was == PaymentStatus.CONFIRMED:
        account = _locked_account(payment.account_id)
        account_before = balance_snapshot(account)
        _undo(payment, account)
        account_after = balance_snapshot(account)
    payment.status, payment.reversed_at, payment.reversed_by_user_id = PaymentStatus.REVERSED, clock.now(), user_id
    payment.reversal_reason = reason
    db.session.flush()
    audit.record("payment.reversed", object_type="payment", object_id=payment.id,
                 before={"status": was, "account": account_before},
                 after={"status": payment.status, "reason": payment.reversal_reason, "account": account_after,
                        "allocation_undone": payment.allocation if was == PaymentStatus.CONFIRMED else None})
    webhooks.emit_for("payment.reversed", payment, amount_minor=payment.amount_minor, currency=payment.currency,
                      was=was)
    return payment


def _undo(payment: Payment, account: Account) -> None:
    unapply_payment(account, payment.allocation or {})
    if account.last_payment_date == payment.received_on and account.last_payment_minor == payment.amount_minor:
        account.last_payment_date, account.last_payment_minor = (payment.prior_last_payment_date,
                                                                 payment.prior_last_payment_minor)
    placement = db.session.get(Placement, payment.placement_id) if payment.placement_id else None
    if placement is not None:
        placement.recovered_minor -= payment.amount_minor
    if payment.closed_account and account.status == AccountStatus.PAID:
        account.status = AccountStatus.OPEN


def of_account(account_id: uuid.UUID) -> list[Payment]:
    return list(db.session.scalars(select(Payment).where(Payment.account_id == account_id)
                                   .order_by(Payment.recorded_at.desc(), Payment.id)))


def pending_of_lender() -> list[Payment]:
    return list(db.session.scalars(select(Payment).where(Payment.tenant_id == current_tenant_id(),
                                                         Payment.status == PaymentStatus.PENDING)
                                   .order_by(Payment.recorded_at)))


def _unconfirmed(account_ids) -> dict:
    rows = db.session.scalars(select(Payment.account_id).where(Payment.account_id.in_(list(account_ids)),
                                                               Payment.status == PaymentStatus.PENDING))
    return {account_id: "a payment awaits the lender's confirmation" for account_id in rows}


RECALL_BLOCKERS.append(_unconfirmed)
