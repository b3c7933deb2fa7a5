"""A lender's accounts: the filtered list, one account in full (PII masked by role), and the lender's own updates
(a payment made to the lender directly, a balance adjustment, a closure)."""
import math
import uuid
from zoneinfo import ZoneInfo

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, fields
from sqlalchemy import func, select

from tenants import clock
from tenants.capabilities import Capability
from tenants.db import db
from tenants.errors import NotFound, ValidationFailed
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios import accounts as account_service
from tenants.portfolios import export
from tenants.portfolios.imports import COUNTRY_BY_CURRENCY, list_portfolios
from tenants.portfolios.models import Account
from web.access import allowed, require_capability
from web.exports import stream_export
from web.forms import (
    NOT_SUBMITTED,
    AccountFilterForm,
    AdjustmentForm,
    ClosureForm,
    DirectPaymentForm,
    submit,
)
from web.tenant import bp
from web.tenant.casework_legal import lender_legal_panel
from web.tenant.casework_money import lender_money_panel
from web.tenant.conduct_views import conduct_panel
from web.tenant.portfolios import lender_page, parse_uuid

PAGE_SIZE = 50


def lender_account(account_id: uuid.UUID) -> Account:
    account = account_service.get_account(account_id)
    if account.tenant_id != g.tenant.id:
        raise NotFound(code="account.not_found")
    return account


def tenant_today():
    return clock.now().astimezone(ZoneInfo(g.tenant.time_zone)).date()


def paginate(query, page: int):
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = list(db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return rows, page, pages, total


def list_args() -> dict:
    """The list's query string without the page, for the pager's links."""
    return {k: v for k, v in request.args.items() if k != "page" and v != ""}


# ---- the list ------------------------------------------------------------------------------------------------

def _filters(form: AccountFilterForm) -> account_service.AccountFilter:
    form.validate()

    def value(name):
        field = form[name]
        return None if field.errors or field.data in (None, "") else field.data

    text = {name: (value(name) or "").strip() or None for name in ("region", "external_ref", "phone")}
    return account_service.AccountFilter(
        portfolio_id=parse_uuid(value("portfolio")) if value("portfolio") else None, status=value("status"),
        dpd_min=value("dpd_min"), dpd_max=value("dpd_max"), **text)


def _listed() -> tuple[AccountFilterForm, account_service.AccountFilter, object]:
    """The filter form, the filters it holds and the lender's accounts they select (unordered)."""
    form = AccountFilterForm(request.args)
    form.portfolio.choices = [("", _("Any"))] + [(str(p.id), p.name) for p in list_portfolios()]
    filters = _filters(form)
    country = (g.tenant.settings or {}).get("country") or COUNTRY_BY_CURRENCY.get(g.tenant.currency, "CN")
    try:
        query = account_service.accounts_query(filters, default_region=country)
    except ValidationFailed:  # a phone number that is no phone number
        form.phone.errors = [_("Not a phone number.")]
        filters = account_service.AccountFilter(**{**filters.__dict__, "phone": None})
        query = account_service.accounts_query(filters, default_region=country)
    return form, filters, query.where(Account.tenant_id == g.tenant.id)


@bp.route("/accounts")
@lender_page
def accounts():
    form, _chosen, query = _listed()
    sort = request.args.get("sort")
    rows, page, pages, total = paginate(account_service.sorted_accounts(query, sort),
                                        request.args.get("page", 1, type=int))
    placed = _open_placements([a.id for a in rows])
    contacted = _last_contacts([a.id for a in rows])
    key, descending = account_service.parse_sort(sort)
    return render_template("tenant/accounts.html", form=form, accounts=rows, placed=placed, contacted=contacted,
                           page=page, pages=pages, total=total, args=list_args(), sort_key=key,
                           sort_descending=descending, sort_link=_sort_link)


def _sort_link(key: str, current: str, descending: bool) -> str:
    """A column header's link: the same filters, sorted by this column (again: the other way), from page 1."""
    args = {k: v for k, v in list_args().items() if k != "sort"}
    flip = key == current and not descending
    if key != current and key in ("balance", "dpd", "last_contact"):
        flip = True  # the largest balance, the longest overdue, the latest contact first: what a lender looks for
    return url_for("tenant.accounts", **args, sort=("-" if flip else "") + key)


def _last_contacts(account_ids) -> dict:
    if not account_ids:
        return {}
    contacts = account_service.last_contacts()
    return dict(db.session.execute(select(contacts.c.account_id, contacts.c.last_contact_at)
                                   .where(contacts.c.account_id.in_(account_ids))).all())


@bp.route("/accounts/export")
@lender_page
def accounts_export():
    """Every account the list's filters select, in its order, as CSV or XLSX (`format`; streamed; PII masked by
    role)."""
    file_format = request.args.get("format", "csv")
    if file_format not in export.FORMATS:
        raise ValidationFailed(_("Export as CSV or Excel."), code="export.bad_format",
                               details={"formats": list(export.FORMATS)})
    _form, filters, query = _listed()
    sort = request.args.get("sort")
    export.record_export(filters, sort, file_format, export.count(query))
    db.session.commit()
    return stream_export(query, sort, file_format)


def _open_placements(account_ids) -> dict:
    if not account_ids:
        return {}
    return {p.account_id: p for p in db.session.scalars(select(Placement).where(
        Placement.account_id.in_(account_ids), Placement.status.in_(PlacementStatus.OPEN)))}


# ---- one account ---------------------------------------------------------------------------------------------

class PaymentSchema(Schema):
    amount = fields.String(required=True)
    occurred_on = fields.Date(required=True)
    note = fields.String(allow_none=True, load_default=None)


class AdjustmentSchema(PaymentSchema):
    component = fields.String(required=True)


class ClosureSchema(Schema):
    closure_status = fields.String(required=True)
    occurred_on = fields.Date(required=True)
    note = fields.String(allow_none=True, load_default=None)


UPDATES = {
    "direct_payment": (DirectPaymentForm, "payment", PaymentSchema,
                       lambda account, d, by: account_service.record_direct_payment(
                           account, d["amount"], d["occurred_on"], d["note"], by)),
    "balance_adjustment": (AdjustmentForm, "adjustment", AdjustmentSchema,
                           lambda account, d, by: account_service.record_adjustment(
                               account, d["component"], d["amount"], d["occurred_on"], d["note"], by)),
    "closure": (ClosureForm, "closure", ClosureSchema,
                lambda account, d, by: account_service.record_closure(
                    account, d["closure_status"], d["occurred_on"], d["note"], by)),
}


def _update_forms(posted: str | None = None) -> dict:
    today = tenant_today()
    forms = {}
    for kind, (form_class, prefix, _schema, _record) in UPDATES.items():
        # Only the posted form reads the request; the others start empty.
        form = form_class(prefix=prefix) if kind == posted else form_class(prefix=prefix, formdata=None)
        if form.occurred_on.data is None and kind != posted:
            form.occurred_on.data = today
        forms[kind] = form
    return forms


def _account_page(account: Account, forms: dict, status: int = 200):
    placements = list(db.session.scalars(select(Placement).where(Placement.account_id == account.id)
                                         .order_by(Placement.offered_at.desc())))
    return render_template("tenant/account.html", account=account, placements=placements,
                           updates=account_service.updates_of(account), forms=forms,
                           may_manage_holds=allowed(Capability.HOLD_MANAGE),
                           **conduct_panel(account), **lender_money_panel(account),
                           **lender_legal_panel(account)), status


@bp.route("/accounts/<uuid:account_id>")
@lender_page
def account_detail(account_id: uuid.UUID):
    return _account_page(lender_account(account_id), _update_forms())


@bp.route("/accounts/<uuid:account_id>/updates", methods=["POST"])
@lender_page
@require_capability(Capability.ACCOUNT_UPDATE)
def account_update(account_id: uuid.UUID):
    account = lender_account(account_id)
    kind = request.form.get("kind")
    if kind not in UPDATES:
        raise ValidationFailed(_("Choose a payment, an adjustment or a closure."), code="update.unknown_kind")
    forms = _update_forms(posted=kind)
    _form_class, _prefix, schema, record = UPDATES[kind]
    result, status = submit(forms[kind], schema(), lambda data: record(account, data, current_user.id))
    if result is NOT_SUBMITTED:
        return _account_page(account, forms, status)
    flash({"direct_payment": _("Payment recorded."), "balance_adjustment": _("Adjustment recorded."),
           "closure": _("Account closed.")}[kind], "success")
    return redirect(url_for("tenant.account_detail", account_id=account.id))
