"""An agency's side: the placements offered to it (accept or decline a batch), its cases (accounts it holds an
active placement of; the tenant lock shows it no other), one case with its contact panel (when each channel is next
permitted, logging a contact through the conduct engine, outcomes, history), and its dashboard counts."""
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from tenants import clock
from tenants.capabilities import Capability
from tenants.casework import own_cases
from tenants.conduct import service as conduct
from tenants.conduct.models import AttemptStatus
from tenants.conduct.service import AttemptRequest, ConductBlocked
from tenants.db import db
from tenants.errors import Conflict, DomainError, NotFound
from tenants.pii import mask
from tenants.placements import services as placement_service
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios import accounts as account_service
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind
from web.access import allowed, require_capability
from web.domain_messages import describe_error
from web.forms import ActionForm, ContactForm, attach_errors, switch_setting
from web.tenant import bp
from web.tenant.accounts import list_args, paginate
from web.tenant.casework_legal import legal_panel
from web.tenant.casework_money import money_panel
from web.tenant.conduct_views import conduct_panel
from web.tenant.messaging import templates_for_case
from web.tenant.portfolios import agency_page, label, parse_uuid
from web.tenant.worklist import back_to_case, queue_context


def _active_placements():
    return select(Placement).where(Placement.agency_tenant_id == g.tenant.id,
                                   Placement.status == PlacementStatus.ACTIVE)


# ---- offers --------------------------------------------------------------------------------------------------------

@bp.route("/offers")
@agency_page
def offers():
    return render_template("tenant/offers.html", offers=placement_service.offers_for_agency(), form=ActionForm())


@bp.route("/offers/auto-accept", methods=["POST"])
@agency_page
@require_capability(Capability.SETTINGS_MANAGE)
def offers_auto_accept():
    switch_setting(g.tenant, "auto_accept_placements", on=_("New placements are accepted automatically."),
                   off=_("New placements wait for your answer."))
    return redirect(url_for("tenant.offers"))


def _answer(batch_id: uuid.UUID, accept: bool):
    form = ActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("tenant.offers"))
    try:
        count = placement_service.respond(batch_id, accept=accept)
    except Conflict as exc:
        db.session.rollback()
        flash(describe_error(exc), "warning")
        return redirect(url_for("tenant.offers"))
    db.session.commit()
    if accept:
        flash(ngettext("%(num)d account accepted: it is now among your cases.",
                       "%(num)d accounts accepted: they are now among your cases.", count), "success")
    else:
        flash(ngettext("%(num)d account declined.", "%(num)d accounts declined.", count), "success")
    return redirect(url_for("tenant.offers"))


@bp.route("/placement-batches/<uuid:batch_id>/accept", methods=["POST"])
@agency_page
@require_capability(Capability.PLACEMENT_RESPOND)
def offer_accept(batch_id: uuid.UUID):
    return _answer(batch_id, accept=True)


@bp.route("/placement-batches/<uuid:batch_id>/decline", methods=["POST"])
@agency_page
@require_capability(Capability.PLACEMENT_RESPOND)
def offer_decline(batch_id: uuid.UUID):
    return _answer(batch_id, accept=False)


# ---- cases ---------------------------------------------------------------------------------------------------------

@bp.route("/cases")
@agency_page
def cases():
    held = _active_placements().subquery()
    query = (select(Account).join(held, held.c.account_id == Account.id)
             .order_by(Account.days_past_due.desc(), Account.external_ref))
    fence = own_cases.case_clause(Account.id)
    if fence is not None:
        query = query.where(fence)
    external_ref = request.args.get("external_ref", "").strip()
    if external_ref:
        query = query.where(Account.external_ref == external_ref)
    rows, page, pages, total = paginate(query, request.args.get("page", 1, type=int))
    placements = {p.account_id: p for p in db.session.scalars(
        _active_placements().where(Placement.account_id.in_([a.id for a in rows])))} if rows else {}
    lenders = dict(db.session.execute(select(Tenant.id, Tenant.name).where(
        Tenant.id.in_({a.tenant_id for a in rows}))).all()) if rows else {}
    return render_template("tenant/cases.html", accounts=rows, placements=placements, lenders=lenders, page=page,
                           pages=pages, total=total, args=list_args(), external_ref=external_ref)


def _case(account_id: uuid.UUID) -> tuple[Account, Placement]:
    account = account_service.get_account(account_id)
    placement = db.session.scalar(_active_placements().where(Placement.account_id == account.id))
    if placement is None:
        raise NotFound(code="account.not_found")
    return account, placement


# How a contact reads in "Go ahead: call allowed" (lower case, a noun of the sentence).
CONTACT_NOUNS = {"call": _l("call"), "sms": _l("text message"), "email": _l("email"), "letter": _l("letter"),
                 "visit": _l("home visit"), "legal": _l("legal action")}
HOLD_REASONS = {"dispute": _l("a dispute is open"), "cease": _l("the debtor asked us to stop contact"),
                "attorney": _l("the debtor is represented by a lawyer"), "bankruptcy": _l("the debtor is bankrupt"),
                "deceased": _l("the debtor has died"), "breathing_space": _l("breathing space"),
                "hardship": _l("financial hardship"), "plan": _l("a repayment plan is in place")}
ATTEMPT_STATUS_LABELS = {AttemptStatus.PENDING: _l("under way"), AttemptStatus.COMPLETED: _l("completed"),
                         AttemptStatus.BLOCKED: _l("blocked"), AttemptStatus.NEEDS_APPROVAL: _l("needs approval")}


def _debtor_time(account: Account):
    """Format a UTC time in the debtor's (first) zone, falling back to the agency's."""
    zone = ZoneInfo((account.time_zones or [None])[0] or g.tenant.time_zone or "UTC")

    def fmt(value: datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value.astimezone(zone), "medium", rebase=False) + " " + zone.key
    return fmt


def _is_zh() -> bool:
    locale = get_locale()
    return bool(locale) and str(locale).startswith("zh")


def _contact_form(account: Account, placement: Placement) -> ContactForm:
    form = ContactForm()
    form.channel.choices = [(c, label("channel", c)) for c in (placement.allowed_channels or [])]
    form.phone_position.choices = ([(p.position, mask("phone", p.phone, g.get("role"))) for p in account.phones]
                                   or [(0, "—")])
    return form


def _refusal(exc: ConductBlocked) -> dict:
    hits = exc.details.get("hits") or []
    blocking = [h for h in hits if h.get("action") == "block"] or hits
    zh = _is_zh()
    earliest = exc.details.get("earliest_allowed_at")
    return {"hits": [{"rule_id": h["rule_id"], "message": (h.get("message_zh") if zh else None) or h["message_en"],
                      "citation": h.get("citation")} for h in blocking],
            "earliest_allowed_at": datetime.fromisoformat(earliest) if earliest else None}


def _render_case(account: Account, placement: Placement, *, contact_form: ContactForm | None = None,
                 refusal: dict | None = None, status: int = 200):
    lender = db.session.get(Tenant, account.tenant_id)
    now = clock.now()
    next_times = conduct.next_permitted(account.id, now)
    holds = conduct.active_holds(account, now)
    hold_reason = ", ".join(str(HOLD_REASONS.get(h.type, h.type)) for h in holds)
    return render_template(
        "tenant/case.html", account=account, placement=placement, lender=lender,
        updates=account_service.updates_of(account), next_times=next_times, hold_reason=hold_reason,
        debtor_time=_debtor_time(account), contact_form=contact_form or _contact_form(account, placement),
        refusal=refusal, pending=AttemptStatus.PENDING,
        attempt_status_labels=ATTEMPT_STATUS_LABELS, may_manage_holds=allowed(Capability.HOLD_MANAGE),
        templates=templates_for_case(account, placement), **money_panel(account, placement),
        **legal_panel(account, placement), **queue_context(account, placement),
        **{**conduct_panel(account), "now": now}), status


@bp.route("/cases/<uuid:account_id>")
@agency_page
def case_detail(account_id: uuid.UUID):
    account, placement = _case(account_id)
    return _render_case(account, placement)


@bp.route("/cases/<uuid:account_id>/contact", methods=["POST"])
@agency_page
def case_contact(account_id: uuid.UUID):
    account, placement = _case(account_id)
    form = _contact_form(account, placement)
    if not form.validate_on_submit():
        return _render_case(account, placement, contact_form=form, status=400)
    ask = AttemptRequest(channel=form.channel.data, target=form.target.data, phone_position=form.phone_position.data,
                         staff_count=form.staff_count.data or 0, approval_id=parse_uuid(form.approval_id.data))
    try:
        record, _decision = conduct.attempt(account.id, ask, collector_user_id=current_user.id,
                                            note=form.note.data or None)
    except ConductBlocked as exc:
        db.session.rollback()  # the refused attempt is already committed by the service
        account, placement = _case(account_id)
        return _render_case(account, placement, contact_form=_contact_form(account, placement),
                            refusal=_refusal(exc), status=422)
    except DomainError as exc:  # invalid fields, or an approval that does not cover this contact
        db.session.rollback()
        account, placement = _case(account_id)
        form = _contact_form(account, placement)
        attach_errors(form, exc.details)
        if not exc.details.get("fields"):
            flash(describe_error(exc), "danger")
        return _render_case(account, placement, contact_form=form, status=exc.status)
    channel = CONTACT_NOUNS.get(record.channel, record.channel)
    if record.status == AttemptStatus.NEEDS_APPROVAL:
        flash(_("This %(channel)s needs the lender's approval first: the request is sent (rulebook %(version)s).",
                channel=channel, version=record.rulebook_version), "warning")
    else:
        flash(_("Go ahead: %(channel)s allowed (rulebook %(version)s)", channel=channel,
                version=record.rulebook_version), "success")
    return back_to_case(account.id, tab="contact", keep_going=False)


# ---- the agency dashboard's counts ---------------------------------------------------------------------------------

def agency_counts() -> dict:
    offered = db.session.execute(
        select(func.count(func.distinct(Placement.batch_id)), func.count())
        .where(Placement.agency_tenant_id == g.tenant.id, Placement.status == PlacementStatus.OFFERED)).one()
    active = db.session.scalar(select(func.count()).select_from(_active_placements().subquery()))
    return {"offers": offered[0], "offered_accounts": offered[1], "cases": active or 0}


@bp.context_processor
def _agency_dashboard():
    if g.get("tenant") is None or g.tenant.kind != TenantKind.AGENCY:
        return {}
    return {"agency_counts": agency_counts}
