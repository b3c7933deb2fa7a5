"""What deciding a contact reads of a case: the account's conduct facts, its lender's jurisdiction, the active
placement, the debtor's consent, and (under the person's lock) its phones' keys and open holds.

Two Core statements built once, each table fenced by its declared read rule (`tenants.context.readable`) under
row-level security: the same visibility as the ORM's queries, without building and loading entities, which cost
the contact decision more than its statements (issue 12). No personal data is read: phones by their blind index.
"""
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from sqlalchemy import Uuid, and_, bindparam, select

from tenants.casework import own_cases
from tenants.conduct import ledger
from tenants.conduct.engine import Hold, PastAttempt
from tenants.conduct.models import AccountConsent, ConductHold
from tenants.context import readable, run_scoped
from tenants.db import on_postgres
from tenants.errors import NotFound
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.models import Account, AccountPhone
from tenants.tenancy.models import Tenant

FLAGS = ("deceased", "bankrupt", "disputed", "attorney", "cease_requested")


@dataclass
class CaseAccount:
    id: uuid.UUID
    tenant_id: uuid.UUID
    external_ref: str
    subject_key: str | None
    time_zones: list
    limitation_date: date | None
    created_at: datetime
    deceased: bool
    bankrupt: bool
    disputed: bool
    attorney: bool
    cease_requested: bool
    phones: list = field(default_factory=list)  # CasePhone, by position; read under the person's lock


@dataclass(frozen=True)
class CaseLender:
    id: uuid.UUID
    currency: str
    settings: dict | None


@dataclass(frozen=True)
class CasePlacement:
    id: uuid.UUID
    agency_tenant_id: uuid.UUID
    allowed_channels: list
    conduct_overrides: dict | None
    debtor_notified_at: datetime | None


@dataclass(frozen=True)
class CaseConsent:
    opted_out_channels: list
    inconvenient_windows: list
    agreed_hours: list | None
    consent_until: datetime | None


@dataclass(frozen=True)
class CasePhone:
    position: int
    phone_index: str


@dataclass(frozen=True)
class CaseHold:
    id: uuid.UUID
    type: str
    starts_at: datetime
    ends_at: datetime | None
    allow: tuple
    reason: str


@dataclass(frozen=True)
class Case:
    """An account as the viewer sees it, with what deciding a contact reads of it before the person's lock."""

    account: CaseAccount
    lender: CaseLender
    placement: CasePlacement | None  # the active one
    consent: CaseConsent | None


_ACCOUNT = ("id", "tenant_id", "external_ref", "subject_key", "time_zones", "limitation_date", "created_at", *FLAGS)
_PLACEMENT = ("id", "agency_tenant_id", "allowed_channels", "conduct_overrides", "debtor_notified_at")
_CONSENT = ("opted_out_channels", "inconvenient_windows", "agreed_hours", "consent_until")


@cache
def _case_statement():
    accounts, tenants, placements, consents = (Account.__table__, Tenant.__table__, Placement.__table__,
                                               AccountConsent.__table__)
    return (
        select(*(accounts.c[name] for name in _ACCOUNT), tenants.c.currency, tenants.c.settings,
               *(placements.c[name].label(f"placement_{name}") for name in _PLACEMENT),
               consents.c.id.label("consent_id"), *(consents.c[name] for name in _CONSENT))
        .select_from(
            accounts.join(tenants, and_(tenants.c.id == accounts.c.tenant_id, readable(tenants)))
            .outerjoin(placements, and_(placements.c.account_id == accounts.c.id,
                                        placements.c.status == PlacementStatus.ACTIVE, readable(placements)))
            .outerjoin(consents, and_(consents.c.account_id == accounts.c.id, readable(consents))))
        .where(accounts.c.id == bindparam("account_id", type_=Uuid), readable(accounts)))


def case_of(account_id: uuid.UUID) -> Case:
    """The account, its lender, its active placement and the debtor's consent in one statement. An account the
    viewer does not see is the same 404 as `get_account`'s."""
    row = run_scoped(_case_statement(), account_id=account_id).one_or_none()
    if row is None or own_cases.hides_account(row.id):
        raise NotFound(code="account.not_found")
    placement = (CasePlacement(*(getattr(row, f"placement_{name}") for name in _PLACEMENT))
                 if row.placement_id is not None else None)
    consent = CaseConsent(*(getattr(row, name) for name in _CONSENT)) if row.consent_id is not None else None
    return Case(CaseAccount(*(getattr(row, name) for name in _ACCOUNT)),
                CaseLender(row.tenant_id, row.currency, row.settings), placement, consent)


@cache
def _phones_and_holds_statement():
    phones, holds = AccountPhone.__table__, ConductHold.__table__
    the_account = select(bindparam("account_id", type_=Uuid).label("id")).subquery("the_account")
    return (
        select(phones.c.position, phones.c.phone_index, holds.c.id.label("hold_id"), holds.c.type,
               holds.c.starts_at, holds.c.ends_at, holds.c.allow, holds.c.reason)
        .select_from(
            the_account
            .outerjoin(phones, and_(phones.c.account_id == the_account.c.id, readable(phones)))
            .outerjoin(holds, and_(holds.c.account_id == the_account.c.id, holds.c.resolved_at.is_(None),
                                   readable(holds))))
        )


def read_with_person(account: CaseAccount, subject_key: str, now: datetime, *,
                     hold_types: frozenset[str]) -> tuple[list[PastAttempt], list[Hold], list[CaseHold]]:
    """Under the person's lock (see `service.attempt`): their history and person-wide holds (`ledger.person`), and
    read after the lock the account's phones (set as `account.phones`) and its unresolved holds. One statement on
    PostgreSQL; on SQLite (one writer, an in-process lock) the phones and holds are a second."""
    if on_postgres():
        history, person_holds, rows = ledger.person_and_account(subject_key, now, hold_types=hold_types,
                                                                account_id=account.id)
    else:
        history, person_holds = ledger.person(subject_key, now, hold_types=hold_types, account_id=account.id)
        rows = run_scoped(_phones_and_holds_statement(), account_id=account.id).all()
    phones = sorted({CasePhone(r.position, r.phone_index) for r in rows if r.position is not None},
                    key=lambda phone: phone.position)
    holds = sorted({CaseHold(r.hold_id, r.type, r.starts_at, r.ends_at, tuple(r.allow or ()), r.reason)
                    for r in rows if r.hold_id is not None}, key=lambda hold: (hold.starts_at, hold.id))
    account.phones = phones
    return history, person_holds, holds
