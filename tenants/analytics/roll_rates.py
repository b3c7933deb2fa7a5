"""Roll rates between days-past-due buckets over one UTC month: where the accounts an agency held at the start of
the month (by bucket) were at its end — in which bucket, closed (paid, settled or written off) or returned to the lender
(recalled or expired).

The platform hears of an account's days past due when it is placed; afterwards they advance with the calendar while
the account stays open (the days past due of charged-off debt count from a fixed date), so an account's bucket on a
day is its DPD at placement plus the days since. One query counts the placements on book at the month's start by
(bucket then, state at the month's end).
"""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, or_, select

from tenants.analytics.common import (
    Viewer,
    bucket_labels,
    month_index,
    month_instant,
    month_label,
    month_start,
    rate,
    sql_bucket,
    sql_days_until,
    summarised,
)
from tenants.analytics.models import OnBookTotal
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.placements.models import Placement, PlacementStatus

CLOSED, RETURNED = "closed", "returned"

FORMULAS = {
    "on_book": ("On book at an instant: a placement accepted by then and not yet ended. The month runs from its first "
                "instant (00:00 UTC on the 1st) to the next month's.",
                "某时点在账：此前已被接受且尚未结束的委案。月份从该月 1 日 00:00 UTC 起，到下月 1 日止。"),
    "dpd": ("Days past due on a day = days past due at placement + days since the placement started: the platform "
            "learns an account's days past due when it is placed, and they advance with the calendar while the "
            "account stays open.",
            "某日逾期天数 = 委案时逾期天数 + 委案开始至该日的天数：平台"
            "在委案时获知账户的逾期天数，账户未结清期间逾期天数随日历递增。"),
    "roll_rate": ("Roll rate from bucket i to j = accounts in bucket i at the month's start that are in bucket j at "
                  "its end ÷ accounts in bucket i at the start. Closed: the account was paid, settled or written off "
                  "during the month; returned: the placement was recalled or expired.",
                  "由区间 i 到 j 的迁移率 = 月初位于区间 i、月末位于区间 j 的账户数 ÷ 月初位于区间 i 的账户数。"
                  "结清：账户在当月还清、和解或核销；退回：委案在当月被撤回或到期。"),
}


@dataclass(frozen=True)
class RollRates:
    month: str
    buckets: list[str]
    columns: list[str]  # the buckets, then closed and returned
    counts: list[list[int]]  # [from bucket][column]
    totals: list[int]  # accounts per bucket at the month's start

    def share(self, row: int, column: int) -> float | None:
        return rate(self.counts[row][column], self.totals[row])

    def roll_forward(self, row: int) -> float | None:
        """The share that moved to a later bucket."""
        return rate(sum(self.counts[row][row + 1:len(self.buckets)]), self.totals[row])


def default_month(today: date) -> int:
    """The last whole month."""
    return month_index(today) - 1


def roll_rates(viewer: Viewer, *, month: int, today: date) -> RollRates:
    if month >= month_index(today):
        raise ValidationFailed("Choose a month that has ended.", code="analytics.month_not_over",
                               details={"fields": {"month": ["A month that has ended."]}})
    start_day, end_day = month_start(month), month_start(month + 1)
    start, end = month_instant(month), month_instant(month + 1)
    labels = bucket_labels()
    counts = [[0] * (len(labels) + 2) for _ in labels]
    if summarised():
        rows = _from_totals(viewer, month, start_day, end_day, len(labels))
    else:
        rows = _from_placements(viewer, start_day, end_day, start, end, len(labels))
    for row, column, n in rows:
        counts[int(row)][int(column)] += int(n)
    return RollRates(month=month_label(month), buckets=labels, columns=[*labels, CLOSED, RETURNED], counts=counts,
                     totals=[sum(r) for r in counts])


def _from_placements(viewer: Viewer, start_day: date, end_day: date, start, end, buckets: int):
    """(bucket at the start, column at the end, placements) read from the placements themselves."""
    on_book_at_start = and_(Placement.responded_at < start, Placement.starts_on < start_day,
                            or_(Placement.ended_at.is_(None), Placement.ended_at >= start))
    ended_in_month = and_(Placement.ended_at.is_not(None), Placement.ended_at < end)
    before = sql_bucket(Placement.dpd_at_placement + sql_days_until(start_day, Placement.starts_on))
    after = case((and_(ended_in_month, Placement.status == PlacementStatus.CLOSED), buckets),
                 (ended_in_month, buckets + 1),
                 else_=sql_bucket(Placement.dpd_at_placement + sql_days_until(end_day, Placement.starts_on)))
    return db.session.execute(
        select(before, after, func.count(Placement.id))
        .where(viewer.placements(), on_book_at_start, Placement.status != PlacementStatus.DECLINED)
        .group_by(before, after)).all()


def _from_totals(viewer: Viewer, month: int, start_day: date, end_day: date, buckets: int):
    """The same from the running totals (analytics_on_book): a placement's days past due on a day are that day
    less the date they count from (its start less its DPD at placement); it is on book at the month's start from its
    first month on and until the month it ended, in which it is closed or returned."""
    t = OnBookTotal
    before = sql_bucket(sql_days_until(start_day, t.dpd_origin))
    after = case((and_(t.end_month == month, t.closed), buckets), (t.end_month == month, buckets + 1),
                 else_=sql_bucket(sql_days_until(end_day, t.dpd_origin)))
    mine = t.tenant_id == viewer.tenant_id if viewer.is_lender else t.agency_tenant_id == viewer.tenant_id
    return db.session.execute(
        select(before, after, func.sum(t.placements))
        .where(mine, t.first_month <= month, t.end_month >= month, t.placements > 0)
        .group_by(before, after)).all()


def csv_rows(found: RollRates):
    yield ("month", "from_bucket", "to", "accounts", "of_bucket", "roll_rate")
    for i, bucket in enumerate(found.buckets):
        for j, column in enumerate(found.columns):
            share = found.share(i, j)
            yield (found.month, bucket, column, found.counts[i][j], found.totals[i],
                   "" if share is None else f"{share:.6f}")
