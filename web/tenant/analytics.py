"""Recovery analytics (tenants.analytics) at /t/<slug>/analytics/…: liquidation curves, the champion/challenger
comparison of an allocation's arms (lenders), roll rates between DPD buckets and the cost of collection. Each page
shows its chart (its own SVG document, drawn by pygal on the server, no script), the numbers as a table, a CSV of
them and the formulas. A lender reads its portfolios with every agency; an agency reads only its own placements.
Ids in the query string (an agency, an allocation) that the reader may not see answer 404.
"""
import csv
import io
import uuid
from datetime import date

import pygal
from flask import Response, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pygal.style import Style
from sqlalchemy import select

from tenants.analytics import comparison, cost, liquidation, roll_rates, self_service
from tenants.analytics.common import MAX_MONTHS, Viewer, month_label, parse_month
from tenants.capabilities import Capability
from tenants.compliance.reports import names
from tenants.db import db
from tenants.errors import NotFound, ValidationFailed
from tenants.money import Money
from tenants.placements.models import AgencyRelationship
from tenants.spreadsheet import safe_cell
from web.access import require_capability
from web.compliance_pages import is_zh, utc_today
from web.downloads import csv_attachment
from web.tenant import bp

COLORS = ("#0d6efd", "#dc3545", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#6c757d", "#d63384", "#0dcaf0",
          "#ffc107", "#343a40", "#6610f2")
GROUP_LABELS = {liquidation.VINTAGE: _l("Placement month"), liquidation.AGENCY: _l("Agency"),
                liquidation.ARM: _l("Allocation arm"), liquidation.LENDER: _l("Lender")}
METRIC_LABELS = {"recovery": _l("Recovery rate"), "contact": _l("Contact rate"), "promise": _l("Promise rate"),
                 "paying": _l("Paying rate")}
COLUMN_LABELS = {roll_rates.CLOSED: _l("Closed"), roll_rates.RETURNED: _l("Returned")}


def formula(formulas: dict, key: str) -> str:
    en, zh = formulas[key]
    return zh if is_zh() else en


def _viewer() -> Viewer:
    return Viewer.of(g.tenant)


def _today() -> date:
    return utc_today()


def _uuid_arg(name: str) -> uuid.UUID | None:
    """An id in the query string: absent is None, a malformed one names nothing the reader sees (404)."""
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound() from None


def _int_arg(name: str, default: int) -> int:
    value = (request.args.get(name) or "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed(details={"fields": {name: ["A whole number."]}}) from None


def _svg(chart) -> Response:
    """A chart as its own SVG document (an <img>): our page policy refuses inline styles, an image runs no
    script, so the chart carries none."""
    response = Response(chart.render(is_unicode=True), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _csv(rows, filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(v) if isinstance(v, str) else v for v in row])
    return csv_attachment(buffer.getvalue(), filename)


def _style() -> Style:
    return Style(colors=COLORS, font_family="sans-serif")


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


# ---- liquidation curves ------------------------------------------------------------------------------------------

def _curves_args() -> dict:
    viewer = _viewer()
    group = request.args.get("group") or liquidation.VINTAGE
    if group not in liquidation.groups_for(viewer):
        group = liquidation.VINTAGE
    batch_id = _uuid_arg("batch_id")
    if group == liquidation.ARM and batch_id is None:
        chosen = comparison.default_allocation(comparison.allocations(viewer), today=_today())
        batch_id = chosen.id if chosen else None
        if batch_id is None:
            group = liquidation.VINTAGE
    return {"group": group, "months": _int_arg("months", liquidation.DEFAULT_MONTHS),
            "agency_id": _uuid_arg("agency_id"), "batch_id": batch_id,
            "currency": (request.args.get("currency") or viewer.currency).upper()[:3]}


def _curves():
    args = _curves_args()
    return args, liquidation.curves(_viewer(), today=_today(), **args)


def _query(args: dict) -> dict:
    return {k: str(v) for k, v in args.items() if v is not None}


def _agencies() -> list:
    if not _viewer().is_lender:
        return []
    ids = db.session.scalars(select(AgencyRelationship.agency_tenant_id)
                             .where(AgencyRelationship.tenant_id == g.tenant.id))
    return sorted(names(set(ids)).values(), key=lambda t: t.name)


@bp.route("/analytics")
@require_capability(Capability.ANALYTICS_READ)
def analytics_liquidation():
    args, found = _curves()
    return render_template("tenant/analytics/liquidation.html", args=args, query=_query(args), found=found,
                           groups=[(key, GROUP_LABELS[key]) for key in liquidation.groups_for(_viewer())],
                           agencies=_agencies(), allocations=comparison.allocations(_viewer()),
                           max_months=MAX_MONTHS, formula=lambda key: formula(liquidation.FORMULAS, key))


@bp.route("/analytics/liquidation.svg")
@require_capability(Capability.ANALYTICS_READ)
def analytics_liquidation_chart():
    _args, found = _curves()
    chart = pygal.XY(js=[], width=960, height=380, style=_style(), legend_at_bottom=True, show_dots=False,
                     stroke_style={"width": 2}, title=_("Cumulative recovered ÷ placed, by month on book"),
                     x_title=_("Month on book"), y_title="%", value_formatter=lambda v: f"{v:.1f}%",
                     x_value_formatter=lambda v: f"{v:.0f}", range=(0, None), truncate_legend=40)
    top = 0.0
    for curve in found.curves[:len(COLORS)]:
        steps = []
        for m, point in enumerate(curve.points):  # a stair: flat through each month, up at the next
            if point is None:
                continue
            steps += [(m, _percent(point)), (m + 1, _percent(point))]
            top = max(top, _percent(point))
        chart.add(curve.label + (" ★" if curve.champion else ""), steps)
    chart.range = (0, max(top * 1.1, 1.0))
    chart.x_labels = list(range(0, max(found.months_on_book, 1) + 1))
    return _svg(chart)


@bp.route("/analytics/liquidation.csv")
@require_capability(Capability.ANALYTICS_READ)
def analytics_liquidation_csv():
    _args, found = _curves()
    return _csv(liquidation.csv_rows(found), f"liquidation-{found.group}-{found.last_month}.csv")


# ---- champion/challenger -----------------------------------------------------------------------------------------

def _lender_only() -> Viewer:
    viewer = _viewer()
    if not viewer.is_lender:
        raise NotFound()
    return viewer


@bp.route("/analytics/comparison")
@require_capability(Capability.ANALYTICS_READ)
def analytics_comparisons():
    viewer = _lender_only()
    found = comparison.allocations(viewer)
    chosen = comparison.default_allocation(found, today=_today())
    if chosen:
        return _comparison_page(chosen.id, found, chosen_for_reader=True)
    return render_template("tenant/analytics/comparison.html", found=None, allocations=found,
                           formula=lambda key: formula(comparison.FORMULAS, key))


def _compare(batch_id: uuid.UUID):
    viewer = _lender_only()
    currency = (request.args.get("currency") or viewer.currency).upper()[:3]
    return comparison.compare(viewer, batch_id, today=_today(), currency=currency)


def _comparison_page(batch_id: uuid.UUID, allocations: list, *, chosen_for_reader: bool):
    """`chosen_for_reader`: the page was opened without naming an allocation, and says which it chose and why."""
    found = _compare(batch_id)
    young = {a.id for a in allocations if not comparison.has_a_month_on_book(a.created_at, _today())}
    return render_template("tenant/analytics/comparison.html", found=found, metrics=METRIC_LABELS,
                           allocations=allocations, young=young, chosen_for_reader=chosen_for_reader,
                           min_accounts=comparison.MIN_ACCOUNTS,
                           formula=lambda key: formula(comparison.FORMULAS, key))


@bp.route("/analytics/comparison/<uuid:batch_id>")
@require_capability(Capability.ANALYTICS_READ)
def analytics_comparison(batch_id: uuid.UUID):
    return _comparison_page(batch_id, comparison.allocations(_viewer()), chosen_for_reader=False)


@bp.route("/analytics/comparison/<uuid:batch_id>/chart.svg")
@require_capability(Capability.ANALYTICS_READ)
def analytics_comparison_chart(batch_id: uuid.UUID):
    found = _compare(batch_id)
    chart = pygal.Bar(js=[], width=960, height=360, style=_style(), legend_at_bottom=True,
                      title=_("Rates per arm, with %(level)s intervals", level="95%"),
                      value_formatter=lambda v: f"{v:.1f}%", range=(0, 100))
    chart.x_labels = [str(label) for label in METRIC_LABELS.values()]
    top = 0.0
    for arm in found.arms:
        values = []
        for interval in (arm.recovery, arm.contact, arm.promise, arm.paying_rate):
            if interval is None:
                values.append(None)
                continue
            low, high = max(0.0, _percent(interval.low)), _percent(interval.high)
            top = max(top, high)
            values.append({"value": _percent(interval.estimate), "ci": {"low": low, "high": high}})
        chart.add(arm.name + (" ★" if arm.champion else ""), values)
    chart.range = (0, min(100.0, max(top * 1.1, 1.0)))
    return _svg(chart)


@bp.route("/analytics/comparison/<uuid:batch_id>/comparison.csv")
@require_capability(Capability.ANALYTICS_READ)
def analytics_comparison_csv(batch_id: uuid.UUID):
    found = _compare(batch_id)
    return _csv(comparison.csv_rows(found), f"champion-challenger-{found.batch_id}.csv")


# ---- roll rates --------------------------------------------------------------------------------------------------

def _roll():
    month = parse_month(request.args.get("month")) or roll_rates.default_month(_today())
    return roll_rates.roll_rates(_viewer(), month=month, today=_today())


def column_label(column: str) -> str:
    return str(COLUMN_LABELS.get(column, column))


@bp.route("/analytics/roll-rates")
@require_capability(Capability.ANALYTICS_READ)
def analytics_roll_rates():
    found = _roll()
    return render_template("tenant/analytics/roll_rates.html", found=found, column_label=column_label,
                           last_month=month_label(roll_rates.default_month(_today())),
                           formula=lambda key: formula(roll_rates.FORMULAS, key))


@bp.route("/analytics/roll-rates.svg")
@require_capability(Capability.ANALYTICS_READ)
def analytics_roll_rates_chart():
    found = _roll()
    chart = pygal.StackedBar(js=[], width=960, height=360, style=_style(), legend_at_bottom=True,
                             title=_("Where each bucket's accounts were at the end of %(month)s", month=found.month),
                             x_title=_("Days past due at the month's start"), value_formatter=lambda v: f"{v:.1f}%",
                             range=(0, 100))
    chart.x_labels = found.buckets
    for j, column in enumerate(found.columns):
        chart.add(column_label(column), [_percent(found.share(i, j)) or None for i in range(len(found.buckets))])
    return _svg(chart)


@bp.route("/analytics/roll-rates.csv")
@require_capability(Capability.ANALYTICS_READ)
def analytics_roll_rates_csv():
    found = _roll()
    return _csv(roll_rates.csv_rows(found), f"roll-rates-{found.month}.csv")


# ---- cost of collection ------------------------------------------------------------------------------------------

def _cost():
    return cost.cost(_viewer(), today=_today(), months=_int_arg("months", cost.DEFAULT_MONTHS))


@bp.route("/analytics/cost")
@require_capability(Capability.ANALYTICS_READ)
def analytics_cost():
    found = _cost()
    return render_template("tenant/analytics/cost.html", found=found, months=_int_arg("months", cost.DEFAULT_MONTHS),
                           max_months=MAX_MONTHS, formula=lambda key: formula(cost.FORMULAS, key))


@bp.route("/analytics/cost.svg")
@require_capability(Capability.ANALYTICS_READ)
def analytics_cost_chart():
    found = _cost()
    currency = _viewer().currency
    chart = pygal.Bar(js=[], width=960, height=340, style=_style(), legend_at_bottom=True,
                      title=_("Recovered and commission per month (%(currency)s)", currency=currency),
                      x_label_rotation=30, value_formatter=lambda v: f"{v:,.2f}")
    chart.x_labels = found.months
    for name, attribute in ((_("Recovered"), "recovered_minor"), (_("Commission"), "commission_minor")):
        per_month = {m: 0 for m in found.months}
        for row in found.rows:
            if row.currency == currency:
                per_month[row.month] += getattr(row, attribute)
        chart.add(name, [float(Money(v, currency).decimal()) for v in per_month.values()])
    return _svg(chart)


@bp.route("/analytics/cost.csv")
@require_capability(Capability.ANALYTICS_READ)
def analytics_cost_csv():
    found = _cost()
    return _csv(cost.csv_rows(found), f"cost-of-collection-{found.first_month}-{found.last_month}.csv")


# ---- self-service through the debtor's portal --------------------------------------------------------------------

def _self_service():
    return self_service.self_service(_viewer(), today=_today(),
                                     months=_int_arg("months", self_service.DEFAULT_MONTHS),
                                     agency_id=_uuid_arg("agency_id"), template_id=_uuid_arg("template_id"))


@bp.route("/analytics/self-service")
@require_capability(Capability.ANALYTICS_READ)
def analytics_self_service():
    found = _self_service()
    months = _int_arg("months", self_service.DEFAULT_MONTHS)
    query = {k: str(v) for k, v in (("months", months), ("agency_id", found.agency_id),
                                    ("template_id", found.template_id)) if v is not None}
    return render_template("tenant/analytics/self_service.html", found=found, months=months, query=query,
                           max_months=MAX_MONTHS, senders=self_service.senders(_viewer()),
                           templates=self_service.templates(_viewer()),
                           formula=lambda key: formula(self_service.FORMULAS, key))


@bp.route("/analytics/self-service.csv")
@require_capability(Capability.ANALYTICS_READ)
def analytics_self_service_csv():
    found = _self_service()
    return _csv(self_service.csv_rows(found), f"self-service-{found.first_month}-{found.last_month}.csv")
