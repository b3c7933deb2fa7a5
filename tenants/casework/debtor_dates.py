"""The debtor's calendar: in which zone a promise's or an instalment's due date is judged, and the grace days.

A debtor with several candidate zones (an ambiguous phone) gets the zone whose day ends last: a payment made late
on the due day anywhere the debtor may live is still on time, and nothing is judged broken early.
"""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tenants import clock
from tenants.db import db
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant

GRACE_SETTING = "payment_grace_days"
DEFAULT_GRACE_DAYS = 2
MAX_GRACE_DAYS = 30


def debtor_zone(account: Account, now: datetime | None = None) -> str:
    now = now or clock.now()
    zones = list(account.time_zones or ()) or [db.session.get(Tenant, account.tenant_id).time_zone]
    return min(zones, key=lambda key: (now.astimezone(ZoneInfo(key)).utcoffset(), key))


def today_in(zone: str, now: datetime | None = None) -> date:
    return (now or clock.now()).astimezone(ZoneInfo(zone)).date()


def grace_days(agency: Tenant) -> int:
    """The agency's setting, within 0–30 days; 2 when unset."""
    value = (agency.settings or {}).get(GRACE_SETTING)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_GRACE_DAYS:
        return value
    return DEFAULT_GRACE_DAYS


def last_day_to_pay(due_on: date, grace: int) -> date:
    return due_on + timedelta(days=grace)
