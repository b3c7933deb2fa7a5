"""The accounts export as an HTTP response, for the lender's page and the API alike (tenants/portfolios/export.py
makes the file)."""
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from flask import Response, current_app, g
from flask_babel import lazy_gettext as _l

from tenants import clock
from tenants.context import tenant_scope
from tenants.portfolios import export
from web.forms import ACCOUNT_STATUS_CHOICES

HEADERS = {
    "external_ref": _l("External reference"), "portfolio": _l("Portfolio"), "debtor_name": _l("Debtor"),
    "id_number": _l("ID number"), "phone": _l("Phone"), "region": _l("Region"), "currency": _l("Currency"),
    "outstanding": _l("Outstanding"), "principal": _l("Principal"), "interest": _l("Interest"), "fees": _l("Fees"),
    "penalty": _l("Penalty"), "days_past_due": _l("DPD"), "due_date": _l("Due date"), "status": _l("Status"),
    "agency": _l("Placed with"), "last_contact": _l("Last contact"),
}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def stream_export(query, sort: str | None, file_format: str) -> Response:
    """The body reads the rows while it streams out, after the request's contexts are gone: each page of rows in
    contexts of its own. Headers and status names are in the reader's language, settled before the request ends."""
    headers = [str(HEADERS[c]) for c in export.COLUMNS]
    labels = {k: str(v) for k, v in ACCOUNT_STATUS_CHOICES}
    app, tenant_id, role, zone = current_app._get_current_object(), g.tenant.id, g.role, g.tenant.time_zone

    @contextmanager
    def scope():
        with app.app_context(), tenant_scope(tenant_id):
            yield

    write = export.csv_chunks if file_format == "csv" else export.xlsx_chunks
    body = write(export.rows(query, sort, role=role, time_zone=zone, scope=scope, status_labels=labels), headers)
    response = Response(body, content_type=CONTENT_TYPES[file_format])
    stamp = clock.now().astimezone(ZoneInfo(zone)).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="accounts-{stamp}.{file_format}"'
    return response
