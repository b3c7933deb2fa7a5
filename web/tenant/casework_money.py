"""Promises, payments and payment plans on the agency's case page, and payments on the lender's account page.

The agency holding an account takes promises, records payments the debtor made (pending until the lender
confirms) and proposes, signs or cancels plans; the lender confirms or reverses the agency's payments and reports
payments made to it on a placed account (confirmed at once, credited to the agency). The pages embed
`tenant/_promises.html`, `tenant/_payments.html` and `tenant/_plans.html` with the context of `money_panel` (case
page) or `lender_money_panel` (account page, through `tenant/_lender_money.html`). Every form posts here and comes
back to its page; a refusal is a flash message, a foreign id a 404.
"""
import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, Optional

from tenants import clock
from tenants.capabilities import Capability
from tenants.casework import payments as payment_service
from tenants.casework import plans as plan_service
from tenants.casework import promises as promise_service
from tenants.casework.debtor_dates import debtor_zone, last_day_to_pay, today_in
from tenants.casework.money_models import (
    InstalmentStatus,
    Payment,
    PaymentPlan,
    PaymentStatus,
    PlanStatus,
    Promise,
    PromiseStatus,
)
from tenants.db import db, get_visible
from tenants.errors import NotFound, ValidationFailed
from tenants.money import Money
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.models import Account, AccountStatus
from tenants.tenancy.models import Membership, Tenant, User
from tenants.tenancy.roles import TenantKind
from web.access import allowed, require_capability
from web.forms import ActionForm, run_and_flash
from web.tenant import bp
from web.tenant.portfolios import agency_page, lender_page, parse_uuid
from web.tenant.worklist import back_to_case

PROMISE_DAYS_AHEAD = 3
METHOD_CHOICES = [("bank_transfer", _l("Bank transfer")), ("alipay", _l("Alipay")), ("wechat_pay", _l("WeChat Pay")),
                  ("card", _l("Card")), ("cash", _l("Cash")), ("other", _l("Other"))]
FREQUENCY_CHOICES = [("weekly", _l("Weekly")), ("fortnightly", _l("Every two weeks")), ("monthly", _l("Monthly"))]
LABELS = {
    "promise": {PromiseStatus.OPEN: _l("open"), PromiseStatus.KEPT: _l("kept"), PromiseStatus.BROKEN: _l("broken"),
                PromiseStatus.CANCELLED: _l("cancelled")},
    "payment": {PaymentStatus.PENDING: _l("awaiting the lender's confirmation"),
                PaymentStatus.CONFIRMED: _l("confirmed"), PaymentStatus.REVERSED: _l("reversed")},
    "plan": {PlanStatus.PROPOSED: _l("proposed, not signed"), PlanStatus.ACTIVE: _l("signed, collection paused"),
             PlanStatus.COMPLETED: _l("completed"), PlanStatus.BROKEN: _l("broken"),
             PlanStatus.CANCELLED: _l("cancelled")},
    "instalment": {InstalmentStatus.DUE: _l("due"), InstalmentStatus.KEPT: _l("kept"),
                   InstalmentStatus.MISSED: _l("missed")},
    "method": dict(METHOD_CHOICES),
    "frequency": {**dict(FREQUENCY_CHOICES), "custom": _l("Own schedule")},
}
BADGES = {
    "promise": {"open": "bg-primary", "kept": "bg-success", "broken": "bg-danger", "cancelled": "bg-secondary"},
    "payment": {"pending": "bg-warning text-dark", "confirmed": "bg-success", "reversed": "bg-secondary"},
    "plan": {"proposed": "bg-warning text-dark", "active": "bg-primary", "completed": "bg-success",
             "broken": "bg-danger", "cancelled": "bg-secondary"},
    "instalment": {"due": "bg-light text-dark", "kept": "bg-success", "missed": "bg-danger"},
}


class PromiseForm(FlaskForm):
    amount = StringField(_l("Amount promised"))
    due_on = DateField(_l("Promised for (the debtor's date)"))
    note = StringField(_l("Note"), validators=[Optional()])
    attempt_id = HiddenField()


class PaymentForm(FlaskForm):
    amount = StringField(_l("Amount paid"))
    received_on = DateField(_l("Paid on"))
    method = SelectField(_l("How"), choices=METHOD_CHOICES)
    reference = StringField(_l("Reference (transaction number)"), validators=[Optional()])


class PlanForm(FlaskForm):
    total = StringField(_l("Total to pay"))
    instalment_count = IntegerField(_l("Instalments"), validators=[Optional(), NumberRange(min=1, max=260)])
    frequency = SelectField(_l("Every"), choices=FREQUENCY_CHOICES)
    first_due_on = DateField(_l("First instalment due (the debtor's date)"), validators=[Optional()])
    schedule = TextAreaField(_l("Or your own schedule: one instalment per line, date and amount "
                                "(e.g. 2026-12-15 300.00)"), validators=[Optional()], render_kw={"rows": 3})
    note = StringField(_l("Note"), validators=[Optional()])


class SignPlanForm(FlaskForm):
    acknowledgement = StringField(_l("How the debtor agreed (e.g. verbal on the recorded call of 1 Dec)"))


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"))


# ---- what the pages show -------------------------------------------------------------------------------------------

def _people(user_ids) -> dict:
    """Names of the current tenant's members among `user_ids` (another tenant's staff stay unnamed)."""
    ids = {u for u in user_ids if u}
    if not ids:
        return {}
    members = set(db.session.scalars(select(Membership.user_id).where(Membership.user_id.in_(ids))))
    return {u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_(members)))} if members else {}


def _tenant_names(tenant_ids) -> dict:
    ids = {t for t in tenant_ids if t}
    return dict(db.session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(ids))).all()) if ids else {}


def _panel(account: Account, **flags) -> dict:
    promises = promise_service.of_account(account.id)
    payments = payment_service.of_account(account.id)
    plans = plan_service.of_account(account.id)
    zone = debtor_zone(account)
    debtor_today = today_in(zone)
    amount, due_on = suggested_promise(account, promises, debtor_today)
    promise_form = PromiseForm(formdata=None, prefix="promise", due_on=due_on, amount=amount)
    payment_form = PaymentForm(formdata=None, prefix="payment",
                               received_on=clock.now().astimezone(ZoneInfo(g.tenant.time_zone)).date())
    return {"money": {
        "account": account, "zone": zone, "debtor_today": debtor_today,
        "promises": promises, "payments": payments, "plans": plans,
        "open_plan": next((p for p in plans if p.status in PlanStatus.OPEN and p.tenant_id == g.tenant.id), None),
        "people": _people([p.taken_by_user_id for p in promises] + [p.recorded_by_user_id for p in payments]
                          + [p.created_by_user_id for p in plans]),
        "tenants": _tenant_names([p.recorded_by_tenant_id for p in payments] + [p.agency_tenant_id for p in payments]
                                 + [p.tenant_id for p in promises] + [p.tenant_id for p in plans]),
        "promise_form": promise_form, "payment_form": payment_form,
        "plan_form": PlanForm(formdata=None, prefix="plan"), "sign_form": SignPlanForm(formdata=None, prefix="sign"),
        "reason_form": ReasonForm(formdata=None),
        "action_form": ActionForm(formdata=None), "labels": LABELS, "badges": BADGES,
        "last_day": last_day_to_pay, "statuses": {"promise": PromiseStatus, "payment": PaymentStatus,
                                                  "plan": PlanStatus},
        "may_supervise": allowed(Capability.PLAN_CANCEL_ACTIVE), **flags}}


def suggested_promise(account: Account, promises: list[Promise], debtor_today: date) -> tuple[str, date]:
    """What a new promise starts from: the amount of the agency's latest promise on the case (the debtor
    usually promises it again), else the whole balance; due a few days ahead in the debtor's calendar."""
    latest = next((p for p in promises if p.tenant_id == g.tenant.id), None)
    minor = min(latest.amount_minor, account.outstanding_minor) if latest else account.outstanding_minor
    return str(Money(minor, account.currency).decimal()), debtor_today + timedelta(days=PROMISE_DAYS_AHEAD)


def money_panel(account: Account, placement: Placement) -> dict:
    """The agency's case page: promises, payments and plans on the case, and the forms to add them."""
    may_act = allowed(Capability.CASE_WORK) and account.status == AccountStatus.OPEN and \
        placement.status == PlacementStatus.ACTIVE
    return _panel(account, is_lender=False, may_act=may_act, may_record=may_act, may_confirm=False)


def lender_money_panel(account: Account) -> dict:
    """The lender's account page: every payment on the account (confirm or reverse the agencies'), report a
    payment, and the agencies' promises and plans, read only."""
    writer = allowed(Capability.PAYMENT_CONFIRM)
    return _panel(account, is_lender=True, may_act=False, may_record=writer and account.status == AccountStatus.OPEN,
                  may_confirm=writer)


# ---- posting -------------------------------------------------------------------------------------------------------

# The case page's tab each list's form sits on (the lender's account page shows them all at once).
TABS = {"promises": "promise", "payments": "payment", "plans": "plan"}


def _back(account_id: uuid.UUID, anchor: str, *, keep_going: bool = False):
    if g.tenant.kind == TenantKind.LENDER:
        return redirect(url_for("tenant.account_detail", account_id=account_id, _anchor=anchor))
    return back_to_case(account_id, tab=TABS[anchor], keep_going=keep_going)


def _posted(form: FlaskForm) -> bool:
    """A valid post (its CSRF token included); otherwise each field's problem is flashed."""
    if form.validate_on_submit():
        return True
    problems = [f"{form[name].label.text if name in form._fields else name}: {' '.join(map(str, errors))}"
                for name, errors in form.errors.items()]
    flash("; ".join(problems) or _("The form could not be read; reload the page and try again."), "danger")
    return False


def _held_account(account_id: uuid.UUID) -> Account:
    """An account of an active placement the agency holds; any other id is not found."""
    account = get_visible(Account, account_id, "account.not_found")
    if db.session.scalar(select(Placement.id).where(Placement.account_id == account.id,
                                                    Placement.agency_tenant_id == g.tenant.id,
                                                    Placement.status == PlacementStatus.ACTIVE)) is None:
        raise NotFound(code="account.not_found")
    return account


@bp.route("/cases/<uuid:account_id>/promises", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def promise_take(account_id: uuid.UUID):
    account = _held_account(account_id)
    form = PromiseForm(prefix="promise")
    if _posted(form) and run_and_flash(
            lambda: promise_service.take(account.id, amount=form.amount.data or "", due_on=form.due_on.data,
                                         user_id=current_user.id, attempt_id=parse_uuid(form.attempt_id.data),
                                         note=form.note.data),
            _("Promise recorded: it is checked against confirmed payments every day.")):
        return _back(account.id, "promises", keep_going=True)
    return _back(account.id, "promises")


@bp.route("/promises/<uuid:promise_id>/cancel", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def promise_cancel(promise_id: uuid.UUID):
    promise = get_visible(Promise, promise_id, "promise.not_found")
    form = ReasonForm()
    if _posted(form):
        run_and_flash(lambda: promise_service.cancel(promise.id, form.reason.data or ""), _("Promise cancelled."))
    return _back(promise.account_id, "promises")


@bp.route("/accounts/<uuid:account_id>/payments", methods=["POST"])
@require_capability(Capability.PAYMENT_RECORD)
def payment_record(account_id: uuid.UUID):
    """The agency holding the account records a payment (pending); its lender reports one (confirmed)."""
    account = get_visible(Account, account_id, "account.not_found")
    as_lender = account.tenant_id == g.tenant.id
    if not as_lender:
        account = _held_account(account.id)
    form = PaymentForm(prefix="payment")
    if _posted(form) and run_and_flash(
            lambda: payment_service.record(account.id, amount=form.amount.data or "",
                                           received_on=form.received_on.data, method=form.method.data,
                                           reference=form.reference.data, user_id=current_user.id),
            _("Payment recorded and confirmed.") if as_lender
            else _("Payment recorded: it counts once the lender confirms it.")):
        return _back(account.id, "payments", keep_going=True)
    return _back(account.id, "payments")


@bp.route("/payments/<uuid:payment_id>/confirm", methods=["POST"])
@lender_page
@require_capability(Capability.PAYMENT_CONFIRM)
def payment_confirm(payment_id: uuid.UUID):
    payment = get_visible(Payment, payment_id, "payment.not_found")
    if _posted(ActionForm()):
        run_and_flash(lambda: payment_service.confirm(payment.id, current_user.id),
             _("Payment confirmed: the balances, the agency's recovered amount and the last payment are updated."))
    return _back(payment.account_id, "payments")


@bp.route("/payments/<uuid:payment_id>/reverse", methods=["POST"])
@lender_page
@require_capability(Capability.PAYMENT_CONFIRM)
def payment_reverse(payment_id: uuid.UUID):
    payment = get_visible(Payment, payment_id, "payment.not_found")
    form = ReasonForm()
    if _posted(form):
        run_and_flash(lambda: payment_service.reverse(payment.id, form.reason.data or "", current_user.id),
             _("Payment reversed."))
    return _back(payment.account_id, "payments")


@bp.route("/cases/<uuid:account_id>/plans", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def plan_propose(account_id: uuid.UUID):
    account = _held_account(account_id)
    form = PlanForm(prefix="plan")

    def propose():
        explicit = _schedule_lines(form.schedule.data)
        return plan_service.propose(
            account.id, user_id=current_user.id, total=(form.total.data or "").strip() or None,
            count=None if explicit else form.instalment_count.data,
            frequency=None if explicit else form.frequency.data,
            first_due_on=None if explicit else form.first_due_on.data, explicit=explicit, note=form.note.data)

    if _posted(form):
        run_and_flash(propose, _("Plan proposed. Once the debtor agrees, record it here to pause collection."))
    return _back(account.id, "plans")


def _schedule_lines(text: str | None) -> list[tuple[date, str]] | None:
    """"2026-12-15 300.00" per line → [(date, amount text)]."""
    rows = []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            rows.append((date.fromisoformat(parts[0]), parts[1]))
        except (IndexError, ValueError):
            raise ValidationFailed(_("Line %(n)s: write a date (YYYY-MM-DD) and an amount.", n=n),
                                   code="plan.invalid_schedule") from None
    return rows or None


@bp.route("/plans/<uuid:plan_id>/sign", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def plan_sign(plan_id: uuid.UUID):
    plan = get_visible(PaymentPlan, plan_id, "plan.not_found")
    form = SignPlanForm(prefix="sign")
    if _posted(form):
        run_and_flash(lambda: plan_service.sign(plan.id, user_id=current_user.id,
                                                acknowledgement=form.acknowledgement.data),
                      _("Plan signed: collection pauses while the instalments are paid."))
    return _back(plan.account_id, "plans")


@bp.route("/plans/<uuid:plan_id>/cancel", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def plan_cancel(plan_id: uuid.UUID):
    plan = get_visible(PaymentPlan, plan_id, "plan.not_found")
    form = ReasonForm()
    if _posted(form):
        run_and_flash(lambda: plan_service.cancel(plan.id, form.reason.data or "", role=g.get("role")),
             _("Plan cancelled."))
    return _back(plan.account_id, "plans")
