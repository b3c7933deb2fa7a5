"""Billing periods: a payer's period starts on its plan's billing day and runs one month, in the payer's zone."""
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive

    @property
    def key(self) -> str:
        return self.start.isoformat()


def _add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    return date(month_index // 12, month_index % 12 + 1, day.day)


def period_containing(day: date, billing_day: int) -> Period:
    """billing_day is 1–28, so every month has it."""
    start = day.replace(day=billing_day) if day.day >= billing_day else _add_months(day.replace(day=billing_day), -1)
    return Period(start, _add_months(start, 1))


def local_day(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()
