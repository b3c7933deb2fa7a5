"""Cost of collection: per UTC month and counterpart (a lender's agencies, an agency's lenders), the money recovered
under placements and the commission it earned, and their ratio.

Commission is computed in the database exactly as the monthly statements compute each line
(tenants.billing.commission): the placement's tier for its DPD at placement, else its flat rate; amount × bps ÷
10 000 rounded half-up to the minor unit per payment; a reversal takes back exactly what its payment earned. One
query per kind of line (confirmations, reversals), grouped by month and counterpart.
"""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, func, literal_column, select

from tenants.analytics.common import (
    Viewer,
    check_months,
    month_index,
    month_instant,
    month_label,
    rate,
    sql_month,
    summarised,
)
from tenants.analytics.models import RecoveredTotal
from tenants.casework.money_models import Payment
from tenants.compliance.reports import names
from tenants.db import db, on_postgres
from tenants.placements.models import Placement

DEFAULT_MONTHS = 12

FORMULAS = {
    "recovered": ("Recovered in a month = payments under placements confirmed in that UTC month − those reversed in "
                  "it (after being confirmed), per currency.",
                  "当月回收 = 该 UTC 自然月内确认的委案项下还款 − 当月冲正的（曾确认的）还款，按币种分列。"),
    "commission": ("Commission = Σ amount × rate ÷ 10 000, rounded half-up per payment, the rate being the "
                   "placement's tier for its days past due at placement, else its flat rate (as on the commission "
                   "statements, whose months are cut in the lender's time zone rather than UTC).",
                   "佣金 = Σ 金额 × 费率 ÷ 10 000，逐笔四舍五入；"
                   "费率取委案时逾期天数所对应的阶梯费率，否则为委案的统一费率"
                   "（与佣金对账单一致，但对账单按出借方时区划分月份，而非 UTC）。"),
    "cost": ("Cost of collection = commission ÷ recovered.", "催收成本率 = 佣金 ÷ 回收金额。"),
}


def _bps():
    """The commission rate of the payment's placement, in basis points, as Placement.commission_bps_for."""
    if on_postgres():
        return literal_column(
            "COALESCE((SELECT (t.value ->> 'bps')::int FROM json_array_elements(placements.commission_tiers) "
            "WITH ORDINALITY AS t(value, ord) WHERE (t.value ->> 'min_dpd')::int <= placements.dpd_at_placement "
            "AND placements.dpd_at_placement <= COALESCE((t.value ->> 'max_dpd')::int, 1000000) "
            "ORDER BY t.ord LIMIT 1), placements.commission_bps)")
    return literal_column(
        "COALESCE((SELECT json_extract(t.value, '$.bps') FROM json_each(placements.commission_tiers) AS t "
        "WHERE json_extract(t.value, '$.min_dpd') <= placements.dpd_at_placement "
        "AND placements.dpd_at_placement <= COALESCE(json_extract(t.value, '$.max_dpd'), 1000000) "
        "ORDER BY t.key LIMIT 1), placements.commission_bps)")


@dataclass(frozen=True)
class Row:
    month: str
    counterpart_id: object
    counterpart: str
    currency: str
    recovered_minor: int
    commission_minor: int

    @property
    def cost_rate(self) -> float | None:
        return rate(self.commission_minor, self.recovered_minor)


@dataclass(frozen=True)
class Cost:
    first_month: str
    last_month: str
    months: list[str]
    rows: list[Row]  # by month, then counterpart

    def totals(self) -> list[Row]:
        """Per counterpart and currency over the whole range."""
        found: dict = {}
        for row in self.rows:
            key = (row.counterpart_id, row.currency)
            before = found.get(key)
            found[key] = Row("", row.counterpart_id, row.counterpart, row.currency,
                             row.recovered_minor + (before.recovered_minor if before else 0),
                             row.commission_minor + (before.commission_minor if before else 0))
        return sorted(found.values(), key=lambda r: (r.counterpart, r.currency))


def cost(viewer: Viewer, *, today: date, months: int = DEFAULT_MONTHS) -> Cost:
    check_months(months)
    last = month_index(today)
    first = last - months + 1
    totals = _from_totals(viewer, first) if summarised() else _from_payments(viewer, first)
    labels = {k: t.name for k, t in names({k[1] for k in totals}).items()}
    rows = [Row(month_label(m), c, labels.get(c, str(c)), currency, recovered, earned)
            for (m, c, currency), (recovered, earned) in totals.items()]
    rows.sort(key=lambda r: (r.month, r.counterpart, r.currency))
    return Cost(first_month=month_label(first), last_month=month_label(last),
                months=[month_label(m) for m in range(first, last + 1)], rows=rows)


def _from_payments(viewer: Viewer, first: int) -> dict:
    """{(month, counterpart, currency): [recovered, commission]} from the payments and placements themselves."""
    start = month_instant(first)
    mine = Payment.tenant_id == viewer.tenant_id if viewer.is_lender else Payment.agency_tenant_id == viewer.tenant_id
    commission = (Payment.amount_minor * _bps() + 5000) // 10000
    totals: dict = {}
    for at, condition, sign in ((Payment.confirmed_at, Payment.confirmed_at.is_not(None), 1),
                                (Payment.reversed_at, and_(Payment.confirmed_at.is_not(None),
                                                           Payment.reversed_at.is_not(None)), -1)):
        month = sql_month(at, timestamp=True)
        for m, counterpart, currency, amount, earned in db.session.execute(
                select(month, viewer.counterpart, Payment.currency, func.sum(Payment.amount_minor),
                       func.sum(commission))
                .select_from(Payment)
                .join(Placement, and_(Placement.id == Payment.placement_id,
                                      Placement.agency_tenant_id == Payment.agency_tenant_id))
                .where(mine, viewer.placements(), condition, at >= start)
                .group_by(month, viewer.counterpart, Payment.currency)):
            key = (int(m), counterpart, currency)
            amounts = totals.setdefault(key, [0, 0])
            amounts[0] += sign * int(amount)
            amounts[1] += sign * int(earned)
    return totals


def _from_totals(viewer: Viewer, first: int) -> dict:
    """The same from the running totals (analytics_recovered), whose commission was computed per payment by the
    same rule when the payment was confirmed or reversed (or its placement's terms changed)."""
    t = RecoveredTotal
    if viewer.is_lender:
        mine, counterpart = and_(t.tenant_id == viewer.tenant_id, t.same_lender), t.agency_tenant_id
    else:
        mine, counterpart = t.agency_tenant_id == viewer.tenant_id, t.tenant_id
    rows = db.session.execute(
        select(t.month, counterpart, t.payment_currency, func.sum(t.amount_minor * t.kind),
               func.sum(t.commission_minor * t.kind))
        .where(mine, t.same_agency, t.month >= first)
        .group_by(t.month, counterpart, t.payment_currency).having(func.sum(t.payments) > 0))
    return {(int(m), c, currency): [int(amount), int(earned)] for m, c, currency, amount, earned in rows}


def csv_rows(found: Cost):
    yield ("month", "counterpart_id", "counterpart", "currency", "recovered", "commission", "cost_rate")
    for row in found.rows:
        yield (row.month, row.counterpart_id, row.counterpart, row.currency, row.recovered_minor,
               row.commission_minor, "" if row.cost_rate is None else f"{row.cost_rate:.6f}")
