"""Commission statements (tenants.billing.commission) for a lender and for an agency, at the same addresses:
/t/<slug>/billing/commission lists the months with commission per counterpart (a month picker narrows it),
/t/<slug>/billing/commission/<counterparty_id>/<YYYY-MM> is the printable statement and …/csv its CSV.

The page embeds no style (the page policy refuses inline styles): its print stylesheet is served at
/t/<slug>/billing/commission/print.css.
"""
import uuid

from flask import Response, g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import MonthField
from wtforms.validators import Optional

from tenants.billing import commission
from tenants.tenancy.roles import TenantKind
from web.tenant import bp

KIND_LABELS = {commission.PAYMENT: _l("Payment"), commission.REVERSAL: _l("Reversal")}

# Printed, a statement is the document alone: no navigation or controls, black on white, rows kept whole.
PRINT_CSS = """\
@page { size: A4; margin: 15mm; }
body { background: #fff !important; font-size: 10pt; }
nav.navbar, .statement-controls { display: none !important; }
main.container { max-width: none; padding: 0; }
.card { border: 0 !important; }
table { width: 100%; }
thead { display: table-header-group; }
tr, .statement-totals { break-inside: avoid; }
a { color: inherit; text-decoration: none; }
"""


class MonthForm(FlaskForm):
    """Read from the query string: no CSRF token."""

    class Meta:
        csrf = False

    month = MonthField(_l("Month"), validators=[Optional()])


def counterpart_label() -> str:
    return _l("Agency") if g.tenant.kind == TenantKind.LENDER else _l("Lender")


@bp.route("/billing/commission")
def commission_list():
    form = MonthForm(request.args)
    form.validate()
    picked = form.month.data if not form.month.errors else None
    month = commission.Month(picked.year, picked.month) if picked else None
    return render_template("tenant/billing/commission.html", form=form, month=month,
                           statements=commission.statements(month), counterpart=counterpart_label())


@bp.route("/billing/commission/<uuid:counterparty_id>/<month>")
def commission_statement(counterparty_id: uuid.UUID, month: str):
    found = commission.statement(counterparty_id, commission.Month.parse(month))
    return render_template("tenant/billing/commission_statement.html", statement=found, kinds=KIND_LABELS,
                           utc_iso=commission.utc_iso, decimal_text=commission.decimal_text)


@bp.route("/billing/commission/<uuid:counterparty_id>/<month>/csv")
def commission_csv(counterparty_id: uuid.UUID, month: str):
    found = commission.statement(counterparty_id, commission.Month.parse(month))
    response = Response(commission.csv_text(found).encode("utf-8-sig"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = (f'attachment; filename="commission-{found.month}-'
                                               f'{found.counterparty_id}.csv"')
    return response


@bp.route("/billing/commission/print.css")
def commission_print_css():
    return Response(PRINT_CSS, mimetype="text/css")
