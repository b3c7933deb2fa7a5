"""SQL pieces the compliance reports share, written once per dialect (SQLite for the demo, PostgreSQL in
production): UTC calendar days, and an attempt's `hits` JSON list read as rows so rules can be grouped and
tested inside the database rather than in Python."""
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Date, cast, exists, func, literal, literal_column, select

from tenants.db import on_postgres


def day_range(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive UTC days as a half-open instant range [first 00:00Z, day after last 00:00Z)."""
    start = datetime.combine(first, time(), timezone.utc) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), timezone.utc) if last else None
    return start, end


def utc_day(column):
    """The UTC calendar day of a timestamp column (PostgreSQL would otherwise use the session's zone)."""
    if on_postgres():
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    return func.date(column)


def as_date(value) -> date | None:
    """SQLite hands `utc_day` back as text, PostgreSQL as a date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


class Hits:
    """One attempt's hits as a table of rows (`rule_id`, `action`), for a join or a correlated EXISTS."""

    def __init__(self, json_column, *, lateral: bool = False, name: str = "hit"):
        if on_postgres():
            table = func.json_array_elements(json_column).table_valued("value", name=name)
            self.table = table.lateral(name) if lateral else table
            self.rule_id = self.table.c.value.op("->>")(literal_column("'rule_id'"))
            self.action = self.table.c.value.op("->>")(literal_column("'action'"))
        else:
            self.table = func.json_each(json_column).table_valued("value", name=name)
            self.rule_id = func.json_extract(self.table.c.value, "$.rule_id")
            self.action = func.json_extract(self.table.c.value, "$.action")

    def any(self, condition):
        """True when some hit meets the condition (correlated to the outer row's JSON column)."""
        return exists(select(literal(1)).select_from(self.table).where(condition))
