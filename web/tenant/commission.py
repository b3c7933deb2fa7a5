"""Commission statements (tenants.billing.commission) for a lender and for an agency, at the same addresses:
/t/<slug>/billing/commission lists the months with commission per counterpart (a month picker narrows it),
/t/<slug>/billing/commission/<counterparty_id>/<YYYY-MM> is the printable statement and …/csv its CSV.
Lender admins and managers and agency admins read them. The page embeds no style (the page policy refuses inline
styles): its print stylesheet is web/static/print.css.
"""
import uuid

from flask import g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import MonthField
from wtforms.validators import Optional

from tenants.billing import commission
from tenants.capabilities import Capability
from tenants.spreadsheet import decimal_text
from tenants.tenancy.roles import TenantKind
from web.access import require_capability
from web.downloads import csv_attachment
from web.tenant import bp

KIND_LABELS = {commission.PAYMENT: _l("Payment"), commission.REVERSAL: _l("Reversal")}

# Printed, a statement is the document alone: no navigation or controls, black on white, rows kept whole.


class MonthForm(FlaskForm):
    """Read from the query string: no CSRF token."""

    class Meta:
        csrf = False

    month = MonthField(_l("Month"), validators=[Optional()])


def counterpart_label() -> str:
    return _l("Agency") if g.tenant.kind == TenantKind.LENDER else _l("Lender")


@bp.route("/billing/commission")
@require_capability(Capability.COMMISSION_READ)
def commission_list():
    form = MonthForm(request.args)
    form.validate()
    picked = form.month.data if not form.month.errors else None
    month = commission.Month(picked.year, picked.month) if picked else None
    return render_template("tenant/billing/commission.html", form=form, month=month,
                           statements=commission.statements(month), counterpart=counterpart_label())


@bp.route("/billing/commission/<uuid:counterparty_id>/<month>")
@require_capability(Capability.COMMISSION_READ)
def commission_statement(counterparty_id: uuid.UUID, month: str):
    found = commission.statement(counterparty_id, commission.Month.parse(month))
    return render_template("tenant/billing/commission_statement.html", statement=found, kinds=KIND_LABELS,
                           decimal_text=decimal_text)


@bp.route("/billing/commission/<uuid:counterparty_id>/<month>/csv")
@require_capability(Capability.COMMISSION_READ)
def commission_csv(counterparty_id: uuid.UUID, month: str):
    found = commission.statement(counterparty_id, commission.Month.parse(month))
    return csv_attachment(commission.csv_text(found), f"commission-{found.month}-{found.counterparty_name}.csv")
