"""Days a calendar closes, from well-kept libraries rather than lists of our own: public holidays per jurisdiction
(and subdivision) from `holidays`; China's statutory holidays and adjusted working days (调休) from
`chinese-calendar`.

A rule names its calendar by a code:
- a country code with an optional subdivision, "IE" or "GB-SCT": that place's public holidays close the day;
- "CN-WORKDAYS": China's working days are open — a statutory holiday on a weekday is closed, a weekend day the
  State Council made a working day is open.

chinese-calendar knows a year once the State Council has published it (each December for the next). For a year it
does not know yet, Monday to Friday are open and a warning is logged once: the alternative, closing every day,
would stop all contact rather than be careful about it.
"""
import logging
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
import holidays

log = logging.getLogger(__name__)

CN_WORKDAYS = "CN-WORKDAYS"


def closes(calendar: str, day: date) -> bool:
    """Whether `calendar` closes `day` (raises ValueError for a code no library knows: see `check`)."""
    return day in _closed_days(calendar, day.year)


def check(calendar: str) -> str:
    """The code, if some library knows it; else ValueError naming it."""
    if calendar == CN_WORKDAYS:
        return calendar
    country, _, subdivision = calendar.partition("-")
    try:
        holidays.country_holidays(country, subdiv=subdivision or None)
    except (NotImplementedError, KeyError, AttributeError):
        raise ValueError(f"unknown holiday calendar {calendar!r}: a country code (IE), optionally with a "
                         f"subdivision (GB-SCT), or {CN_WORKDAYS}") from None
    return calendar


@lru_cache(maxsize=256)
def _closed_days(calendar: str, year: int) -> frozenset[date]:
    if calendar == CN_WORKDAYS:
        return _cn_non_working_days(year)
    country, _, subdivision = check(calendar).partition("-")
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def _cn_non_working_days(year: int) -> frozenset[date]:
    days = [date(year, 1, 1) + timedelta(days=n) for n in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)]
    try:
        return frozenset(d for d in days if not chinese_calendar.is_workday(d))
    except NotImplementedError:
        log.warning("chinese-calendar has no data for %s yet: judging Monday to Friday as working days", year)
        return frozenset(d for d in days if d.weekday() >= 5)
