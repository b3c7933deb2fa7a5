"""What the debtor told us about contacting them: opted-out channels, inconvenient times, agreed hours, and a
prior consent to calls inside the US 7-day quiet period. Captured by the lender or the agency holding the account,
read by every decision on the account, audited on each change."""
import uuid
from datetime import datetime, time

from sqlalchemy import select

from tenants import audit, clock
from tenants.conduct import engine, ledger, windows
from tenants.conduct.models import AccountConsent
from tenants.context import current_tenant_id
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account

# Reg F lets a consumer's consent override the quiet period for at most 7 days (12 CFR 1006.14(b)(2)(ii)).
MAX_CONSENT_DAYS = 7


def of(account: Account) -> tuple[engine.Consent, datetime | None]:
    """The engine's view of the consent, and the prior-consent deadline (a request field, not a Consent one)."""
    row = db.session.scalar(select(AccountConsent).where(AccountConsent.account_id == account.id))
    if row is None:
        return engine.Consent(), None
    return engine_view(row), row.consent_until


def engine_view(row) -> engine.Consent:
    """A consent row (or a row of its columns) as the engine reads it."""
    return engine.Consent(
        opted_out_channels=frozenset(row.opted_out_channels or ()),
        inconvenient_windows=tuple((_time(a), _time(b)) for a, b in row.inconvenient_windows or ()),
        agreed_hours=(_time(row.agreed_hours[0]), _time(row.agreed_hours[1])) if row.agreed_hours else None,
    )


def record(account_id: uuid.UUID, *, opted_out_channels: list[str], inconvenient_windows: list[tuple[str, str]],
           agreed_hours: tuple[str, str] | None, consent_until: datetime | None,
           user_id: uuid.UUID | None) -> AccountConsent:
    """Replace the account's consent record with what the debtor said now."""
    account = get_account(account_id)
    _validate(opted_out_channels, inconvenient_windows, agreed_hours, consent_until)
    # Under the person's lock: an attempt being decided either sees this consent or was decided before it.
    ledger.lock_person(ledger.person_key(account))
    row = db.session.scalar(select(AccountConsent).where(AccountConsent.account_id == account.id))
    before = _view(row) if row else None
    if row is None:
        row = AccountConsent(tenant_id=account.tenant_id, account_id=account.id)
        db.session.add(row)
    row.opted_out_channels = sorted(set(opted_out_channels))
    row.inconvenient_windows = [list(w) for w in inconvenient_windows]
    row.agreed_hours = list(agreed_hours) if agreed_hours else None
    row.consent_until = consent_until
    row.updated_at, row.updated_by_tenant_id, row.updated_by_user_id = clock.now(), current_tenant_id(), user_id
    db.session.flush()
    audit.record("consent.recorded", object_type="account", object_id=account.id, before=before, after=_view(row))
    windows.invalidate_account(account.id)
    return row


def _validate(channels, inconvenient, agreed, consent_until) -> None:
    errors = {}
    unknown = sorted(set(channels) - set(engine.CHANNELS))
    if unknown:
        errors["opted_out_channels"] = [f"Unknown channel(s): {', '.join(unknown)}."]
    try:
        for start, end in inconvenient:
            if _time(start) == _time(end):
                raise ValueError
    except (ValueError, TypeError):
        errors["inconvenient_windows"] = ["Each window is two different times HH:MM (it may cross midnight)."]
    if agreed:
        try:
            if _time(agreed[0]) >= _time(agreed[1]):
                raise ValueError
        except (ValueError, TypeError, IndexError):
            errors["agreed_hours"] = ["Two times HH:MM, the first earlier than the second."]
    if consent_until is not None:
        days = (consent_until - clock.now()).total_seconds() / 86400
        if not 0 < days <= MAX_CONSENT_DAYS:
            errors["consent_until"] = [f"A prior consent lasts at most {MAX_CONSENT_DAYS} days from now."]
    if errors:
        raise ValidationFailed(details={"fields": errors})


def _time(value: str) -> time:
    return time.fromisoformat(value) if isinstance(value, str) and len(value) == 5 else _bad(value)


def _bad(value):
    raise ValueError(f"not a time HH:MM: {value!r}")


def _view(row: AccountConsent) -> dict:
    return {"opted_out_channels": row.opted_out_channels, "inconvenient_windows": row.inconvenient_windows,
            "agreed_hours": row.agreed_hours,
            "consent_until": row.consent_until.isoformat() if row.consent_until else None}
