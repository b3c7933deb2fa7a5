"""Performance figures (tenants.casework.performance): an agency's collectors and its team total at
/t/<slug>/performance, a lender's agencies as its league table at the same address and on its dashboard, each with
its formulas and a chart served as its own SVG document.

Supervisors and agency admins see every collector; a collector sees his own figures beside the team's. A lender
sees agencies, never their staff.
"""
from dataclasses import replace
from datetime import timedelta

import pygal
from flask import Response, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from pygal.style import Style
from wtforms import DateField
from wtforms.validators import Optional

from tenants.capabilities import Capability
from tenants.casework import performance
from tenants.errors import NotFound, ValidationFailed
from tenants.tenancy.roles import TenantKind
from web.access import allowed
from web.compliance_pages import is_zh, utc_today
from web.tenant import bp

RATES = (("rpc_rate", _l("Right-party-contact rate")), ("promise_rate", _l("Promise rate")),
         ("kept_rate", _l("Promise-kept rate")))


def formula(key: str) -> str:
    en, zh = performance.FORMULAS[key]
    return zh if is_zh() else en


class PeriodForm(FlaskForm):
    """Read from the query string: no CSRF token."""

    class Meta:
        csrf = False

    date_from = DateField(_l("From (UTC day)"), validators=[Optional()])
    date_to = DateField(_l("To (UTC day)"), validators=[Optional()])


def read_period() -> tuple[PeriodForm, performance.Period]:
    """The period in the query string; a bad value is shown on its field and the last 30 days used instead."""
    form = PeriodForm(request.args)
    form.validate()
    last = (form.date_to.data if not form.date_to.errors else None) or utc_today()
    first = (form.date_from.data if not form.date_from.errors else None) or \
        last - timedelta(days=performance.DEFAULT_DAYS - 1)
    try:
        period = performance.Period(first, last)
    except ValidationFailed as exc:
        for name, messages in exc.details.get("fields", {}).items():
            form[name].errors = list(messages)
        period = performance.Period.last_days(utc_today())
    form.date_from.data, form.date_to.data = period.date_from, period.date_to
    return form, period


def period_args(period: performance.Period) -> dict:
    return {"date_from": period.date_from.isoformat(), "date_to": period.date_to.isoformat()}


def collector_rows(period: performance.Period) -> list[performance.Figures]:
    """The agency's collectors as the viewer may see them: a collector only himself."""
    rows = performance.figures(period, performance.Scope(agency_id=g.tenant.id), "collector")
    if allowed(Capability.CASES_ANY):
        return rows
    return [r for r in rows if r.id == current_user.id]


def _league_rows(period: performance.Period) -> list[performance.Figures]:
    return performance.league(period, g.tenant.id, g.tenant.currency)


def dashboard_league() -> dict:
    """The lender dashboard's league table: its agencies over the last 30 days."""
    period = performance.Period.last_days(utc_today())
    return {"period": period, "league": _league_rows(period)}


@bp.context_processor
def _performance_helpers():
    if g.get("tenant") is None or g.tenant.kind != TenantKind.LENDER:
        return {}
    return {"performance_league": dashboard_league, "performance_formula": formula}


@bp.route("/performance")
def performance_page():
    form, period = read_period()
    context = {"form": form, "period": period, "args": period_args(period), "formula": formula}
    if g.tenant.kind == TenantKind.LENDER:
        return render_template("tenant/performance/lender.html", league=_league_rows(period), **context)
    if g.tenant.kind != TenantKind.AGENCY:
        raise NotFound()
    return render_template("tenant/performance/agency.html", rows=collector_rows(period),
                           team=performance.team(period, g.tenant.id), everyone=allowed(Capability.CASES_ANY),
                           **context)


@bp.route("/performance/chart.svg")
def performance_chart():
    _form, period = read_period()
    if g.tenant.kind == TenantKind.LENDER:
        rows = _league_rows(period)
    elif g.tenant.kind == TenantKind.AGENCY:
        rows = [*collector_rows(period), replace(performance.team(period, g.tenant.id), name=_("Team"))]
    else:
        raise NotFound()
    return rates_chart(rows, _("Performance, %(first)s to %(last)s (UTC)", first=period.date_from.isoformat(),
                                last=period.date_to.isoformat()))


def rates_chart(rows: list[performance.Figures], title: str) -> Response:
    """The rates of each row as grouped bars, liquidation one series per currency (rates of different currencies
    side by side, never combined). Served as its own SVG document (an <img>), whose styles our page policy would
    refuse inline; an image runs no script, so the chart carries none."""
    series = [(str(name), [_percent(getattr(r, key)) for r in rows]) for key, name in RATES]
    for currency in sorted({m.currency for r in rows for m in r.money}):
        series.append((_("Liquidation rate (%(currency)s)", currency=currency),
                       [_percent(m.liquidation_rate) if (m := r.in_currency(currency)) else None for r in rows]))
    # Rates on a 0–100% axis, stretched when a promise rate passes 100% (promises taken on inbound calls).
    top = max([100.0, *(v for _name, values in series for v in values if v is not None)])
    chart = pygal.Bar(js=[], width=960, height=360, x_label_rotation=30 if len(rows) > 6 else 0,
                      legend_at_bottom=True, range=(0, top), title=title,
                      value_formatter=lambda v: f"{v:.1f}%", style=Style(
                          colors=("#0d6efd", "#6f42c1", "#198754", "#fd7e14", "#dc3545", "#20c997")))
    chart.x_labels = [r.name or _("No collector") for r in rows]
    for name, values in series:
        chart.add(name, values)
    response = Response(chart.render(is_unicode=True), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)
