"""What the analytics modules share: whose placements a reader sees, months as integers, days-past-due buckets, and
the few SQL pieces written once per dialect (SQLite for the demo, PostgreSQL in production)."""
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import Integer, case, cast, func, literal, literal_column

from tenants.db import on_postgres
from tenants.errors import NotFound, ValidationFailed
from tenants.placements.allocation import DEFAULT_DPD_BUCKETS
from tenants.placements.models import Placement, PlacementStatus
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

MAX_MONTHS = 36


@dataclass(frozen=True)
class Viewer:
    """Whose figures: a lender's placements with all its agencies, or an agency's own placements."""

    tenant_id: uuid.UUID
    is_lender: bool
    currency: str

    @classmethod
    def of(cls, tenant: Tenant) -> "Viewer":
        if tenant.kind not in (TenantKind.LENDER, TenantKind.AGENCY):
            raise NotFound(code="analytics.not_found")
        return cls(tenant.id, tenant.kind == TenantKind.LENDER, tenant.currency)

    def placements(self):
        """The reader's placements: the lender's own, or those the agency holds or held."""
        return Placement.tenant_id == self.tenant_id if self.is_lender else \
            Placement.agency_tenant_id == self.tenant_id

    @property
    def counterpart(self):
        """The other side of a placement: the agency for a lender, the lender for an agency."""
        return Placement.agency_tenant_id if self.is_lender else Placement.tenant_id


def accepted():
    """Placements an agency took on: neither still offered nor declined."""
    return Placement.status.not_in((PlacementStatus.OFFERED, PlacementStatus.DECLINED))


def summarised() -> bool:
    """Whether the running totals (tenants.analytics.models, kept by PostgreSQL triggers) answer, rather than the
    placements and payments themselves (SQLite, the demo's database: small, and without the triggers)."""
    return on_postgres()


# ---- months as integers: year × 12 + month − 1 -------------------------------------------------------------------

def month_index(value: date | datetime) -> int:
    return value.year * 12 + value.month - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def month_instant(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)


def parse_month(text: str | None, field: str = "month") -> int | None:
    if not text:
        return None
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        return month_index(date(year, month, 1))
    except ValueError:
        raise ValidationFailed("A month is written YYYY-MM, e.g. 2026-11.", code="analytics.bad_month",
                               details={"fields": {field: ["YYYY-MM, e.g. 2026-11."]}}) from None


def check_months(months: int) -> int:
    if not 1 <= months <= MAX_MONTHS:
        raise ValidationFailed(f"Ask for 1 to {MAX_MONTHS} months.", code="analytics.bad_months",
                               details={"fields": {"months": [f"1–{MAX_MONTHS}."]}})
    return months


def sql_month(column, *, timestamp: bool):
    """The UTC calendar month of a date or timestamp column as year × 12 + month − 1."""
    if on_postgres():
        value = func.timezone(literal_column("'UTC'"), column) if timestamp else column
        return cast(func.extract("year", value) * 12 + func.extract("month", value) - 1, Integer)
    # SQLite keeps dates and UTC timestamps as ISO text: YYYY-MM-DD…
    return cast(func.substr(column, 1, 4), Integer) * 12 + cast(func.substr(column, 6, 2), Integer) - 1


def sql_days_until(day: date, column):
    """Whole days from the date column to `day` (negative when the column is later)."""
    if on_postgres():
        return literal(day) - column
    return cast(func.julianday(literal(day.isoformat())) - func.julianday(column), Integer)


# ---- days-past-due buckets -----------------------------------------------------------------------------------------

def bucket_labels(bounds=DEFAULT_DPD_BUCKETS) -> list[str]:
    labels, low = [], 0
    for bound in bounds:
        labels.append(f"{low}-{bound}")
        low = bound + 1
    return [*labels, f"{low}+"]


def bounds_of(labels) -> tuple[int, ...]:
    """The upper bounds behind labels such as "0-30", …, "361+" (an allocation's record), else the default."""
    try:
        return tuple(int(label.split("-")[1]) for label in labels[:-1]) or DEFAULT_DPD_BUCKETS
    except (AttributeError, IndexError, TypeError, ValueError):
        return DEFAULT_DPD_BUCKETS


def sql_bucket(dpd, bounds=DEFAULT_DPD_BUCKETS):
    """The bucket index (0 = the first) of a days-past-due expression, upper bounds inclusive."""
    return case(*((dpd <= bound, index) for index, bound in enumerate(bounds)), else_=len(bounds))


def rate(numerator: int | float, denominator: int | float) -> float | None:
    return numerator / denominator if denominator else None
