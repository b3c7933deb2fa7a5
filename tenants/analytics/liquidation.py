"""Liquidation curves: for placements grouped by placement month (vintage), agency, lender or allocation arm, the
money recovered by each month on book as a share of the balance placed (FORMULAS defines each term).

Two queries, both grouped in the database: the balance placed per (group, vintage), and the net recovered per
(group, vintage, month on book) — payments confirmed, less confirmed payments reversed, each in its own month. Python
accumulates those rows month by month; it never reads a placement or a payment one by one.
"""
import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, func, select

from tenants.analytics.common import (
    MAX_MONTHS,
    Viewer,
    accepted,
    check_months,
    month_index,
    month_label,
    month_start,
    rate,
    sql_month,
    summarised,
)
from tenants.analytics.models import PlacedTotal, RecoveredTotal
from tenants.casework.money_models import Payment
from tenants.compliance.reports import names
from tenants.db import db, get_visible
from tenants.errors import NotFound, ValidationFailed
from tenants.placements.models import AgencyRelationship, Placement, PlacementBatch

VINTAGE, AGENCY, LENDER, ARM = "vintage", "agency", "lender", "arm"
GROUPS_FOR_LENDER = (VINTAGE, AGENCY, ARM)
GROUPS_FOR_AGENCY = (VINTAGE, LENDER)
DEFAULT_MONTHS = 12

FORMULAS = {
    "vintage": ("Vintage: the UTC calendar month a placement started (its placement month). Month on book 0 is that "
                "month, month on book 1 the next, and so on.",
                "账龄批次（vintage）：委案开始的 UTC 自然月。该月为在账第 0 月，下一个月为第 1 月，依此类推。"),
    "placed": ("Balance placed: the outstanding balance at placement of the placements the agency accepted (offers "
               "still open or declined are left out), per currency.",
               "委案金额：机构已接受的委案在委案时的未偿余额（未答复或已拒绝的委案不计），按币种分列。"),
    "recovered": ("Recovered by month on book m: payments under those placements confirmed in months on book 0 to m, "
                  "less payments reversed (after being confirmed) in those months.",
                  "第 m 月累计回收：这些委案下在第 0 至 m 个在账月"
                  "内确认的还款，减去在这些月份内冲正的（曾确认的）还款。"),
    "curve": ("Liquidation rate at month on book m = recovered by month on book m ÷ balance placed. A curve of several "
              "vintages (an agency, an arm) counts at month m only the vintages at least m months old, so a young "
              "vintage never pulls the older months down.",
              "第 m 月回收率 = 第 m 月累计回收 ÷ 委案金额。"
              "包含多个批次的曲线（某机构、某分组）在第 m 月只计入账龄已满 m "
              "个月的批次，避免新批次拉低较早月份的数值。"),
}


@dataclass(frozen=True)
class Curve:
    key: str  # the vintage ("2026-07"), or the agency's, lender's or arm's tenant id
    label: str
    placements: int
    balance_placed_minor: int
    points: list[float | None]  # liquidation rate at month on book 0, 1, …
    recovered_minor: list[int]  # cumulative, at the same months
    champion: bool = False


@dataclass(frozen=True)
class Curves:
    group: str
    currency: str
    first_month: str
    last_month: str
    months_on_book: int  # the longest curve's length
    curves: list[Curve] = field(default_factory=list)
    batch_id: uuid.UUID | None = None
    agency_id: uuid.UUID | None = None


def groups_for(viewer: Viewer) -> tuple[str, ...]:
    return GROUPS_FOR_LENDER if viewer.is_lender else GROUPS_FOR_AGENCY


def check_agency(viewer: Viewer, agency_id: uuid.UUID) -> None:
    """An agency filter must name an agency on the lender's panel: any other id is not found."""
    if not viewer.is_lender or db.session.scalar(select(AgencyRelationship.id).where(
            AgencyRelationship.tenant_id == viewer.tenant_id,
            AgencyRelationship.agency_tenant_id == agency_id)) is None:
        raise NotFound(code="agency.not_found")


def check_batch(viewer: Viewer, batch_id: uuid.UUID) -> PlacementBatch:
    """The lender's own allocation (an agency compares no arms: the other arms are another agency's work)."""
    if not viewer.is_lender:
        raise NotFound(code="placement_batch.not_found")
    batch = get_visible(PlacementBatch, batch_id, "placement_batch.not_found")
    if batch.tenant_id != viewer.tenant_id:
        raise NotFound(code="placement_batch.not_found")
    return batch


def curves(viewer: Viewer, *, today: date, group: str = VINTAGE, currency: str | None = None,
           months: int = DEFAULT_MONTHS, agency_id: uuid.UUID | None = None,
           batch_id: uuid.UUID | None = None) -> Curves:
    """The curves of the placements started in the last `months` UTC months (this one included), or of one
    allocation's arms (`group="arm"`, `batch_id` required, whatever its month)."""
    if group not in groups_for(viewer):
        raise ValidationFailed(details={"fields": {"group": [f"One of {', '.join(groups_for(viewer))}."]}})
    check_months(months)
    currency = currency or viewer.currency
    this_month = month_index(today)
    first = this_month - months + 1
    batch = None
    if group == ARM:
        if batch_id is None:
            raise ValidationFailed("Choose the allocation whose arms to compare.", code="analytics.batch_required",
                                   details={"fields": {"batch_id": ["Required to group by arm."]}})
        batch = check_batch(viewer, batch_id)
        window = None
        in_batch = batch.id
    else:
        if batch_id is not None:
            check_batch(viewer, batch_id)
        window = (month_start(first), today)
        in_batch = batch_id
    if agency_id is not None:
        check_agency(viewer, agency_id)
    find = _from_totals if summarised() else _from_placements
    placed, recovered = find(viewer, group, currency=currency, batch_id=in_batch, window=window,
                             agency_id=agency_id)

    by_key: dict = {}
    for k, v, count, balance in placed:
        by_key.setdefault(k, []).append((int(v), count, int(balance or 0)))
    labels = _labels(group, by_key)
    champion = _champion(batch)
    found = []
    for k, vintages in by_key.items():
        length = min(MAX_MONTHS, max(this_month - v for v, _c, _b in vintages)) + 1
        points, cumulative = [], []
        for m in range(length):
            numerator = denominator = 0
            for v, _count, balance in vintages:
                if this_month - v < m:
                    continue  # not that old yet
                denominator += balance
                numerator += sum(a for mob, a in recovered.get((k, v), {}).items() if mob <= m)
            points.append(rate(numerator, denominator))
            cumulative.append(numerator)
        found.append(Curve(key=str(k) if group != VINTAGE else month_label(k), label=labels.get(k, str(k)),
                           placements=sum(c for _v, c, _b in vintages),
                           balance_placed_minor=sum(b for _v, _c, b in vintages), points=points,
                           recovered_minor=cumulative, champion=champion == str(k)))
    order = (lambda c: c.key) if group == VINTAGE else (lambda c: (not c.champion, c.label, c.key))
    found.sort(key=order)
    return Curves(group=group, currency=currency, first_month=month_label(first), last_month=month_label(this_month),
                  months_on_book=max((len(c.points) for c in found), default=0), curves=found,
                  batch_id=batch.id if batch else batch_id, agency_id=agency_id)


def _from_placements(viewer: Viewer, group: str, *, currency: str, batch_id, window, agency_id):
    """(key, vintage, placements, balance) rows and {(key, vintage): {month on book: net recovered}}, read from the
    placements and payments themselves."""
    vintage = sql_month(Placement.starts_on, timestamp=False)
    where = [viewer.placements(), accepted(), Placement.currency == currency]
    if batch_id is not None:
        where.append(Placement.batch_id == batch_id)
    if window is not None:
        where += [Placement.starts_on >= window[0], Placement.starts_on <= window[1]]
    if agency_id is not None:
        where.append(Placement.agency_tenant_id == agency_id)
    key = {VINTAGE: vintage, AGENCY: Placement.agency_tenant_id, ARM: Placement.agency_tenant_id,
           LENDER: Placement.tenant_id}[group]

    placed = db.session.execute(
        select(key, vintage, func.count(Placement.id), func.sum(Placement.balance_at_placement_minor))
        .where(*where).group_by(key, vintage)).all()
    recovered: dict[tuple, dict[int, int]] = {}
    mine = Payment.tenant_id == viewer.tenant_id if viewer.is_lender else Payment.agency_tenant_id == viewer.tenant_id
    for at, condition, sign in ((Payment.confirmed_at, Payment.confirmed_at.is_not(None), 1),
                                (Payment.reversed_at, and_(Payment.confirmed_at.is_not(None),
                                                           Payment.reversed_at.is_not(None)), -1)):
        on_book = sql_month(at, timestamp=True) - vintage
        for k, v, mob, amount in db.session.execute(
                select(key, vintage, on_book, func.sum(Payment.amount_minor))
                .select_from(Payment).join(Placement, Placement.id == Payment.placement_id)
                .where(mine, condition, *where).group_by(key, vintage, on_book)):
            bucket = recovered.setdefault((k, v), {})
            bucket[max(int(mob), 0)] = bucket.get(max(int(mob), 0), 0) + sign * int(amount)
    return placed, recovered


def _from_totals(viewer: Viewer, group: str, *, currency: str, batch_id, window, agency_id):
    """The same, read from the running totals (analytics_placed, analytics_recovered): per start date and month,
    a few hundred rows however many placements there are."""
    placed_rows, recovered_rows = [], []
    for table in (PlacedTotal, RecoveredTotal):
        where = [table.tenant_id == viewer.tenant_id if viewer.is_lender
                 else table.agency_tenant_id == viewer.tenant_id, table.currency == currency]
        if batch_id is not None:
            where.append(table.batch_id == batch_id)
        if window is not None:
            where += [table.starts_on >= window[0], table.starts_on <= window[1]]
        if agency_id is not None:
            where.append(table.agency_tenant_id == agency_id)
        vintage = sql_month(table.starts_on, timestamp=False)
        key = {VINTAGE: vintage, AGENCY: table.agency_tenant_id, ARM: table.agency_tenant_id,
               LENDER: table.tenant_id}[group]
        if table is PlacedTotal:
            placed_rows = db.session.execute(
                select(key, vintage, func.sum(table.placements), func.sum(table.balance_minor))
                .where(*where, table.placements > 0).group_by(key, vintage)).all()
        else:
            same = table.same_lender if viewer.is_lender else table.same_agency
            recovered_rows = db.session.execute(
                select(key, vintage, table.month - vintage, func.sum(table.amount_minor * table.kind))
                .where(*where, table.accepted, same, table.payments > 0)
                .group_by(key, vintage, table.month - vintage)).all()
    recovered: dict[tuple, dict[int, int]] = {}
    for k, v, mob, amount in recovered_rows:
        bucket = recovered.setdefault((k, v), {})
        bucket[max(int(mob), 0)] = bucket.get(max(int(mob), 0), 0) + int(amount)
    return [(k, v, int(count), balance) for k, v, count, balance in placed_rows], recovered


def _labels(group: str, by_key: dict) -> dict:
    if group == VINTAGE:
        return {k: month_label(k) for k in by_key}
    return {k: t.name for k, t in names(set(by_key)).items()}


def _champion(batch: PlacementBatch | None) -> str | None:
    """The arm with the largest weight in the allocation's record (its first, heaviest first)."""
    weights = ((batch.allocation or {}).get("weights") or {}) if batch else {}
    return max(weights, key=lambda k: (weights[k], k)) if weights else None


def csv_rows(found: Curves):
    yield ("group", "key", "label", "currency", "placements", "balance_placed", "month_on_book", "recovered",
           "liquidation_rate")
    for curve in found.curves:
        for m, (point, recovered) in enumerate(zip(curve.points, curve.recovered_minor)):
            yield (found.group, curve.key, curve.label, found.currency, curve.placements, curve.balance_placed_minor,
                   m, recovered, "" if point is None else f"{point:.6f}")
