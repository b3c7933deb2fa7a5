"""Accounts as lenders and agencies read them, and the lender's real-time updates (payments made to the lender
directly, balance adjustments, closures)."""
import uuid
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from tenants import audit, clock, webhooks
from tenants.db import db, get_visible
from tenants.errors import Conflict, ValidationFailed
from tenants.identifiers import normalize_phone
from tenants.money import Money
from tenants.pii import blind_index
from tenants.portfolios.models import Account, AccountPhone, AccountStatus, AccountUpdate, UpdateKind
from tenants.tenancy.models import Tenant

# A payment (to the lender directly, or collected by an agency and confirmed by the lender: tenants.casework.
# payments) pays off fees first, then penalty, then interest, then principal: the order most
# Chinese consumer-loan contracts state, and the one that keeps principal (and so future interest) highest the
# longest is the lender's contractual choice — make it data when a lender's contract says otherwise.
PAYMENT_ORDER = ("fees", "penalty", "interest", "principal")
COMPONENTS = PAYMENT_ORDER


@dataclass(frozen=True)
class AccountFilter:
    portfolio_id: uuid.UUID | None = None
    status: str | None = None
    dpd_min: int | None = None
    dpd_max: int | None = None
    region: str | None = None
    external_ref: str | None = None
    phone: str | None = None


def accounts_query(filters: AccountFilter, default_region: str = "CN"):
    from tenants.casework import own_cases  # imported here: casework builds on this module

    query = select(Account)
    fence = own_cases.case_clause(Account.id)
    if fence is not None:
        query = query.where(fence)
    if filters.portfolio_id:
        query = query.where(Account.portfolio_id == filters.portfolio_id)
    if filters.status:
        query = query.where(Account.status == filters.status)
    if filters.dpd_min is not None:
        query = query.where(Account.days_past_due >= filters.dpd_min)
    if filters.dpd_max is not None:
        query = query.where(Account.days_past_due <= filters.dpd_max)
    if filters.region:
        query = query.where(Account.region == filters.region)
    if filters.external_ref:
        query = query.where(Account.external_ref == filters.external_ref.strip())
    if filters.phone:
        index = blind_index("phone", normalize_phone(filters.phone, default_region))
        query = query.where(Account.id.in_(select(AccountPhone.account_id).where(AccountPhone.phone_index == index)))
    return query


# ---- sorting ----------------------------------------------------------------------------------------------------

# The list's sort keys. Balance, DPD and status read an index (ix_accounts_outstanding_minor, ix_accounts_tenant_dpd,
# ix_accounts_status); the id breaks ties, so a page boundary never shows an account twice or skips one. The last
# contact is computed (the lender's made attempts, grouped per account): it costs a pass over those attempts.
SORT_KEYS = ("ref", "balance", "dpd", "last_contact", "status")
DEFAULT_SORT = "ref"


def parse_sort(text: str | None) -> tuple[str, bool]:
    """"-balance" → ("balance", descending); anything unknown → the default order (a list never fails on it)."""
    text = (text or "").strip()
    descending = text.startswith("-")
    key = text.lstrip("-")
    return (key, descending) if key in SORT_KEYS else (DEFAULT_SORT, False)


def last_contacts():
    """Per account, when the lender's or its agencies' last attempt that reached the debtor's side was made."""
    from tenants.casework.worklist import MADE  # imported here: casework builds on this module
    from tenants.conduct.models import ContactAttempt

    return (select(ContactAttempt.account_id.label("account_id"),
                   func.max(ContactAttempt.decided_at).label("last_contact_at"))
            .where(ContactAttempt.status.in_(MADE)).group_by(ContactAttempt.account_id)
            .subquery("last_contacts"))


def sort_column(key: str, contacts=None):
    if key == "last_contact":
        return contacts.c.last_contact_at
    return {"ref": Account.external_ref, "balance": Account.outstanding_minor, "dpd": Account.days_past_due,
            "status": Account.status}[key]


def sorted_accounts(query, sort: str | None, contacts=None, after: tuple | None = None):
    """`query` (of accounts) in the order `sort` names, with the id as tiebreak. For the last contact the query is
    joined to `last_contacts()` — unless it already is, to `contacts` — never-contacted accounts last.

    `after` (the sort value and the id of the last row read) continues the order past that row: a keyset, so a
    long read in pages costs the same per page however far it has gone."""
    key, descending = parse_sort(sort)
    if key == "last_contact" and contacts is None:
        contacts = last_contacts()
        query = query.outerjoin(contacts, contacts.c.account_id == Account.id)
    column = sort_column(key, contacts)
    if key == "last_contact":  # nullable: the contacted first, in either direction; the others by id
        if after is not None:
            value, last_id = after
            query = query.where(
                or_(column.is_(None), column < value if descending else column > value,
                    and_(column == value, Account.id > last_id)) if value is not None
                else and_(column.is_(None), Account.id > last_id))
        return query.order_by(column.is_(None), column.desc() if descending else column.asc(), Account.id)
    if after is not None:
        value, last_id = after
        query = query.where(or_(column < value, and_(column == value, Account.id < last_id)) if descending
                            else or_(column > value, and_(column == value, Account.id > last_id)))
    return query.order_by(column.desc() if descending else column.asc(),
                          Account.id.desc() if descending else Account.id.asc())


def get_account(account_id: uuid.UUID) -> Account:
    account = get_visible(Account, account_id, "account.not_found")
    return account


def updates_of(account: Account) -> list[AccountUpdate]:
    return list(db.session.scalars(select(AccountUpdate).where(AccountUpdate.account_id == account.id)
                                   .order_by(AccountUpdate.created_at.desc())))


def update_by_idempotency_key(key: str) -> AccountUpdate | None:
    return db.session.scalar(select(AccountUpdate).where(AccountUpdate.idempotency_key == key))


def apply_payment(account: Account, amount_minor: int) -> dict[str, int]:
    """Pay `amount_minor` off the balances in PAYMENT_ORDER; returns what each component took (components that
    took nothing are left out). The caller has checked the amount against the outstanding balance."""
    if not 0 < amount_minor <= account.outstanding_minor:
        raise ValueError("a payment must be positive and at most the outstanding balance")
    remaining, allocation = amount_minor, {}
    for component in PAYMENT_ORDER:
        take = min(remaining, getattr(account, f"{component}_minor"))
        if take:
            setattr(account, f"{component}_minor", getattr(account, f"{component}_minor") - take)
            allocation[component] = take
            remaining -= take
    account.recompute_outstanding()
    return allocation


def unapply_payment(account: Account, allocation: dict[str, int]) -> None:
    """Put back exactly what `apply_payment` took: a reversal restores each component, whatever came after."""
    for component, amount in allocation.items():
        if component not in COMPONENTS:
            raise ValueError(f"unknown balance component {component!r}")
        setattr(account, f"{component}_minor", getattr(account, f"{component}_minor") + amount)
    account.recompute_outstanding()


def balance_snapshot(account: Account) -> dict:
    return {f"{c}_minor": getattr(account, f"{c}_minor") for c in COMPONENTS} | {
        "outstanding_minor": account.outstanding_minor, "status": account.status}


def record_direct_payment(account: Account, amount: str, occurred_on: date, note: str | None,
                          by_user: uuid.UUID | None) -> AccountUpdate:
    _require_open(account)
    money = Money.parse(amount, account.currency)
    if money.minor <= 0:
        raise ValidationFailed("A payment must be more than zero.", code="update.amount_not_positive",
                               details={"fields": {"amount": ["Must be more than zero."]}})
    if money.minor > account.outstanding_minor:
        raise ValidationFailed("The payment is larger than the outstanding balance.", code="update.overpayment",
                               details={"fields": {"amount": ["Larger than the outstanding balance."]}})
    before = balance_snapshot(account)
    allocation = apply_payment(account, money.minor)
    account.last_payment_date, account.last_payment_minor = occurred_on, money.minor
    update = _update(account, UpdateKind.DIRECT_PAYMENT, money.minor, occurred_on, note, by_user,
                     allocation=allocation)
    if account.outstanding_minor == 0:
        close_account(account, AccountStatus.PAID, "paid in full to the lender")
    audit.record("account.direct_payment", object_type="account", object_id=account.id, before=before,
                 after=balance_snapshot(account) | {"allocation": allocation})
    return update


def record_adjustment(account: Account, component: str, amount: str, occurred_on: date, note: str | None,
                      by_user: uuid.UUID | None) -> AccountUpdate:
    """A signed correction of one balance component (a waived fee is negative)."""
    _require_open(account)
    if component not in COMPONENTS:
        raise ValidationFailed(details={"fields": {"component": [f"One of {', '.join(COMPONENTS)}."]}})
    money = Money.parse(amount, account.currency)
    new_value = getattr(account, f"{component}_minor") + money.minor
    if new_value < 0:
        raise ValidationFailed("The adjustment would make the balance negative.", code="update.negative_balance",
                               details={"fields": {"amount": ["Would make the balance negative."]}})
    before = balance_snapshot(account)
    setattr(account, f"{component}_minor", new_value)
    account.recompute_outstanding()
    update = _update(account, UpdateKind.BALANCE_ADJUSTMENT, money.minor, occurred_on, note, by_user,
                     component=component)
    audit.record("account.adjusted", object_type="account", object_id=account.id, before=before,
                 after=balance_snapshot(account))
    return update


def record_closure(account: Account, closure_status: str, occurred_on: date, note: str | None,
                   by_user: uuid.UUID | None) -> AccountUpdate:
    _require_open(account)
    if closure_status not in AccountStatus.CLOSED:
        raise ValidationFailed(details={"fields": {"closure_status": ["paid, settled or written_off."]}})
    before = balance_snapshot(account)
    update = _update(account, UpdateKind.CLOSURE, 0, occurred_on, note, by_user, closure_status=closure_status)
    close_account(account, closure_status, f"account {closure_status.replace('_', ' ')} by the lender")
    audit.record("account.closed", object_type="account", object_id=account.id, before=before,
                 after=balance_snapshot(account))
    webhooks.emit("account.closed", account=account, data={"status": closure_status, "occurred_on": occurred_on})
    return update


def _require_open(account: Account) -> None:
    if account.status != AccountStatus.OPEN:
        raise Conflict("This account is closed.", code="account.closed")


def close_account(account: Account, status: str, reason: str) -> None:
    """Close the account (paid, settled or written off) and end its open placement."""
    from tenants.placements.services import close_for_account

    account.status = status
    close_for_account(account.id, reason)


def _update(account, kind, amount_minor, occurred_on, note, by_user, **extra) -> AccountUpdate:
    lender_zone = ZoneInfo(db.session.get(Tenant, account.tenant_id).time_zone)
    if occurred_on > clock.now().astimezone(lender_zone).date():
        raise ValidationFailed("The date is in the future.", code="update.future_date",
                               details={"fields": {"occurred_on": ["Cannot be in the future."]}})
    update = AccountUpdate(tenant_id=account.tenant_id, account_id=account.id, kind=kind, amount_minor=amount_minor,
                           currency=account.currency, occurred_on=occurred_on, note=note or None,
                           created_by_user_id=by_user, **extra)
    db.session.add(update)
    db.session.flush()
    return update
