"""Instalment schedules: amounts that add up exactly to the total, due dates by frequency, the maximum length.

Pure arithmetic on integer minor units and calendar dates; no database.
"""
import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from tenants.errors import ValidationFailed

FREQUENCIES = ("weekly", "fortnightly", "monthly")
CUSTOM = "custom"
_DAYS = {"weekly": 7, "fortnightly": 14}
MAX_INSTALMENTS = 260  # five years of weekly instalments


@dataclass(frozen=True)
class Instalment:
    number: int
    due_on: date
    amount_minor: int


def split(total_minor: int, count: int) -> list[int]:
    """`count` equal amounts in whole minor units; what does not divide goes on the last one."""
    if count < 1:
        raise _invalid("instalment_count", "At least one instalment.")
    base = total_minor // count
    if base <= 0:
        raise _invalid("instalment_count", "Too many instalments for this amount: each must be more than zero.")
    return [base] * (count - 1) + [total_minor - base * (count - 1)]


def add_months(start: date, months: int, anchor_day: int | None = None) -> date:
    """The same day of the month `months` later, or the month's last day when it has no such day (31 Jan →
    28/29 Feb → 31 Mar: the anchor day keeps later dates from drifting)."""
    anchor_day = anchor_day or start.day
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def due_dates(first: date, count: int, frequency: str) -> list[date]:
    if frequency == "monthly":
        return [add_months(first, n, first.day) for n in range(count)]
    if frequency in _DAYS:
        return [first + timedelta(days=_DAYS[frequency] * n) for n in range(count)]
    raise _invalid("frequency", f"One of {', '.join(FREQUENCIES)}.")


def regular(total_minor: int, count: int, frequency: str, first_due_on: date) -> list[Instalment]:
    if count > MAX_INSTALMENTS:
        raise _invalid("instalment_count", f"At most {MAX_INSTALMENTS} instalments.")
    amounts = split(total_minor, count)
    return [Instalment(n + 1, day, amount)
            for n, (day, amount) in enumerate(zip(due_dates(first_due_on, count, frequency), amounts))]


def explicit(rows: list[tuple[date, int]], total_minor: int | None = None) -> list[Instalment]:
    """A schedule given date by date: strictly later dates, positive amounts, adding up to the total if one is
    given."""
    if not rows:
        raise _invalid("schedule", "At least one instalment.")
    if len(rows) > MAX_INSTALMENTS:
        raise _invalid("schedule", f"At most {MAX_INSTALMENTS} instalments.")
    for n, (due_on, amount) in enumerate(rows):
        if amount <= 0:
            raise _invalid("schedule", f"Instalment {n + 1}: the amount must be more than zero.")
        if n and due_on <= rows[n - 1][0]:
            raise _invalid("schedule", f"Instalment {n + 1}: each due date must come after the one before.")
    if total_minor is not None and sum(amount for _, amount in rows) != total_minor:
        raise _invalid("schedule", "The instalments must add up exactly to the total.")
    return [Instalment(n + 1, due_on, amount) for n, (due_on, amount) in enumerate(rows)]


def check_within(instalments: list[Instalment], start: date, max_years: int) -> None:
    """No instalment before `start`, and the last one at most `max_years` after it."""
    if instalments[0].due_on < start:
        raise _invalid("first_due_on", "The first instalment cannot be due in the past.")
    limit = add_months(start, 12 * max_years)
    if instalments[-1].due_on > limit:
        raise ValidationFailed(f"A plan may run at most {max_years} years (until {limit.isoformat()}).",
                               code="plan.too_long",
                               details={"fields": {"schedule": [f"The last instalment is due after {limit}."]},
                                        "max_years": max_years})


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code="plan.invalid_schedule", details={"fields": {field: [message]}})
