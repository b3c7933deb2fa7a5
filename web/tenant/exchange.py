"""Files: a tenant's data as files for its own systems — ask for one now, schedule them daily or weekly at a local
hour, download within the window (every download audited). A lender also gets a daily "what changed" file per
agency; an agency the same per lender, for its own work."""
import uuid
from datetime import date

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from tenants.capabilities import Capability
from tenants.db import db
from tenants.errors import DomainError, ValidationFailed
from tenants.exchange import files, kinds, service
from tenants.exchange.models import Frequency
from web.access import require_capability
from web.domain_messages import describe_error
from web.exchange_files import download
from web.forms import ActionForm
from web.tenant import bp

KIND_LABELS = {
    "accounts": _l("Accounts: status and balances"),
    "contacts": _l("Contact summary per account and day"),
    "promises": _l("Promises to pay"),
    "payments": _l("Payments"),
    "closures": _l("Closures"),
    "changes": _l("What changed (one day)"),
}
STATUS_LABELS = {"queued": _l("Being made"), "ready": _l("Ready"), "failed": _l("Failed"),
                 "expired": _l("Expired")}
FREQUENCY_LABELS = {Frequency.DAILY: _l("Daily"), Frequency.WEEKLY: _l("Weekly")}
WEEKDAYS = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"),
            _l("Sunday"))


def _page(status: int = 200, values: dict | None = None):
    others = {t.id: t for t in service.counterparties(g.tenant)}
    exports = service.recent()
    names = dict(others)
    return render_template("exchange/files.html", exports=exports, schedules=service.schedules(),
                           counterparties=list(others.values()), names=names, kinds=kinds.KINDS,
                           kind_labels=KIND_LABELS, status_labels=STATUS_LABELS, frequency_labels=FREQUENCY_LABELS,
                           weekdays=WEEKDAYS, action=ActionForm(), values=values or {},
                           download_days=files.DOWNLOAD_DAYS, expired=service.expired), status


def _day(name: str) -> date | None:
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("Not a date.", code="exchange.period_invalid",
                               details={"variant": "format", "fields": {name: ["Not a date."]}}) from None


def _uuid(name: str) -> uuid.UUID | None:
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)  # found nowhere: refused like any foreign id


@bp.route("/exchange")
@require_capability(Capability.EXCHANGE_FILES)
def exchange_files():
    return _page()


@bp.route("/exchange/exports", methods=["POST"])
@require_capability(Capability.EXCHANGE_FILES)
def exchange_export_create():
    values = dict(request.form)
    if not ActionForm().validate_on_submit():
        return _page(400, values)
    try:
        service.request_export(kind=request.form.get("kind", ""), file_format=request.form.get("format", "csv"),
                               role=g.role, user_id=current_user.id, period_start=_day("period_start"),
                               period_end=_day("period_end"), counterparty_id=_uuid("counterparty_id"))
    except DomainError as exc:
        db.session.rollback()
        flash(describe_error(exc), "danger")
        return _page(exc.status, values)
    db.session.commit()
    flash(_("The file is being made; it appears below in a moment."), "success")
    return redirect(url_for("tenant.exchange_files"))


@bp.route("/exchange/exports/<uuid:export_id>/download")
@require_capability(Capability.EXCHANGE_FILES)
def exchange_export_download(export_id: uuid.UUID):
    return download(service.get(export_id), via="page")


@bp.route("/exchange/exports/<uuid:export_id>/retry", methods=["POST"])
@require_capability(Capability.EXCHANGE_FILES)
def exchange_export_retry(export_id: uuid.UUID):
    export = service.get(export_id)
    if ActionForm().validate_on_submit():
        try:
            service.retry(export)
            db.session.commit()
            flash(_("The file will be made again in a moment."), "success")
        except DomainError as exc:
            db.session.rollback()
            flash(describe_error(exc), "danger")
    return redirect(url_for("tenant.exchange_files"))


@bp.route("/exchange/schedules", methods=["POST"])
@require_capability(Capability.EXCHANGE_FILES)
def exchange_schedule_create():
    values = dict(request.form)
    if not ActionForm().validate_on_submit():
        return _page(400, values)
    try:
        hour = int(request.form.get("local_hour", ""))
    except ValueError:
        hour = -1
    weekday = request.form.get("weekday", "")
    try:
        service.create_schedule(kind=request.form.get("kind", ""), file_format=request.form.get("format", "csv"),
                                frequency=request.form.get("frequency", ""), local_hour=hour,
                                weekday=int(weekday) if weekday.isdigit() else None, role=g.role,
                                user_id=current_user.id)
    except DomainError as exc:
        db.session.rollback()
        flash(describe_error(exc), "danger")
        return _page(exc.status, values)
    db.session.commit()
    flash(_("Schedule added."), "success")
    return redirect(url_for("tenant.exchange_files"))


@bp.route("/exchange/schedules/<uuid:schedule_id>/stop", methods=["POST"])
@require_capability(Capability.EXCHANGE_FILES)
def exchange_schedule_stop(schedule_id: uuid.UUID):
    schedule = service.get_schedule(schedule_id)
    if ActionForm().validate_on_submit():
        service.stop_schedule(schedule)
        db.session.commit()
        flash(_("Schedule stopped."), "success")
    return redirect(url_for("tenant.exchange_files"))
