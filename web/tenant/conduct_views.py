"""Holds, debtor consent and approval requests, for the lender's account page and the agency's case page.

A hold or a consent record is opened by the lender or by the agency holding the account; a hold is resolved by the
lender or the tenant that opened it. Approval requests are decided by the lender's named role on its Approvals page;
the agency sees its own requests there and on the case page, and uses an approved one from the case page.
"""
import uuid
from datetime import datetime, time
from functools import wraps

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from tenants import clock
from tenants.capabilities import Capability
from tenants.conduct import approvals, consent
from tenants.conduct import service as conduct
from tenants.conduct.models import AccountConsent, ApprovalRequest, ApprovalStatus, ConductHold, ContactAttempt
from tenants.context import may_write
from tenants.db import db, get_visible
from tenants.errors import NotFound
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind
from web.access import allowed, require_capability
from web.forms import OUTCOME_CHOICES, ApprovalDecisionForm, ConsentForm, HoldForm, ResolveHoldForm, run_and_flash
from web.tenant import bp
from web.tenant.portfolios import lender_page

DECISION_LABELS = {"allow": _l("allowed"), "allow_with_warnings": _l("allowed with warnings"),
                   "block": _l("refused"), "needs_approval": _l("needs approval")}


def conduct_panel(account: Account) -> dict:
    """What the account and case pages show about holds, consent and approvals."""
    holds = db.session.scalars(select(ConductHold).where(ConductHold.account_id == account.id)
                               .order_by(ConductHold.starts_at.desc())).all()
    row = db.session.scalar(select(AccountConsent).where(AccountConsent.account_id == account.id))
    consent_form = ConsentForm(formdata=None)
    if row is not None:
        consent_form.opted_out_channels.data = row.opted_out_channels
        if row.inconvenient_windows:
            consent_form.inconvenient_from.data, consent_form.inconvenient_to.data = row.inconvenient_windows[0]
        if row.agreed_hours:
            consent_form.agreed_from.data, consent_form.agreed_to.data = row.agreed_hours
    now = clock.now()
    attempts = db.session.scalars(select(ContactAttempt).where(ContactAttempt.account_id == account.id)
                                  .order_by(ContactAttempt.decided_at.desc()).limit(200)).all()
    makers = {t.id: t.name for t in db.session.scalars(select(Tenant).where(
        Tenant.id.in_({a.tenant_id for a in attempts})))}
    return {"holds": holds, "now": now, "consent": row, "consent_form": consent_form, "attempts": attempts,
            "attempt_makers": makers, "decision_labels": DECISION_LABELS, "outcome_labels": dict(OUTCOME_CHOICES),
            "hold_form": HoldForm(formdata=None), "resolve_form": ResolveHoldForm(formdata=None),
            "approval_requests": approvals.for_account(account.id), "approval_statuses": ApprovalStatus,
            "decision_form": ApprovalDecisionForm(formdata=None),
            "may_resolve": may_write}


def _back(account_id: uuid.UUID):
    if g.tenant.kind == TenantKind.LENDER:
        return redirect(url_for("tenant.account_detail", account_id=account_id, _anchor="conduct"))
    from web.tenant.worklist import back_to_case  # worklist reads this module's labels

    return back_to_case(account_id, anchor="conduct", section="conduct", keep_going=False)


def _kinds_with_accounts(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.tenant.kind not in (TenantKind.LENDER, TenantKind.AGENCY):
            raise NotFound()
        return view(*args, **kwargs)
    return wrapped


@bp.route("/accounts/<uuid:account_id>/holds", methods=["POST"])
@_kinds_with_accounts
@require_capability(Capability.HOLD_MANAGE)
def hold_open(account_id: uuid.UUID):
    account = get_visible(Account, account_id, "account.not_found")
    form = HoldForm()
    if not form.validate_on_submit():
        flash(_("Give the hold a reason."), "danger")
        return _back(account.id)
    ends_at = datetime.combine(form.ends_on.data, time(0), tzinfo=clock.now().tzinfo) if form.ends_on.data else None
    run_and_flash(lambda: conduct.open_hold(account.id, form.type.data, reason=form.reason.data, source="user",
                                       ends_at=ends_at, created_by_user_id=current_user.id),
             _("Hold opened: collection contacts stop until it ends or is resolved."))
    return _back(account.id)


@bp.route("/holds/<uuid:hold_id>/resolve", methods=["POST"])
@_kinds_with_accounts
@require_capability(Capability.HOLD_MANAGE)
def hold_resolve(hold_id: uuid.UUID):
    hold = get_visible(ConductHold, hold_id, "hold.not_found")
    account_id = hold.account_id
    form = ResolveHoldForm()
    if not form.validate_on_submit():
        flash(_("Say how the hold was resolved."), "danger")
        return _back(account_id)
    run_and_flash(lambda: conduct.resolve_hold(hold.id, form.resolution.data), _("Hold resolved."))
    return _back(account_id)


@bp.route("/accounts/<uuid:account_id>/consent", methods=["POST"])
@_kinds_with_accounts
@require_capability(Capability.HOLD_MANAGE)
def consent_record(account_id: uuid.UUID):
    account = get_visible(Account, account_id, "account.not_found")
    form = ConsentForm()
    form.validate_on_submit()
    inconvenient = [(form.inconvenient_from.data.strip(), form.inconvenient_to.data.strip())] \
        if (form.inconvenient_from.data or form.inconvenient_to.data) else []
    agreed = (form.agreed_from.data.strip(), form.agreed_to.data.strip()) \
        if (form.agreed_from.data or form.agreed_to.data) else None
    run_and_flash(lambda: consent.record(account.id, opted_out_channels=form.opted_out_channels.data or [],
                                    inconvenient_windows=inconvenient, agreed_hours=agreed, consent_until=None,
                                    user_id=current_user.id),
             _("The debtor's contact preferences are saved; every decision on this account now reads them."))
    return _back(account.id)


@bp.route("/approvals")
@_kinds_with_accounts
def approvals_page():
    """A lender: requests on its accounts (pending first); an agency: the requests it made."""
    requests = db.session.scalars(select(ApprovalRequest).order_by(
        (ApprovalRequest.status != ApprovalStatus.PENDING), ApprovalRequest.requested_at.desc()).limit(200)).all()
    tenants = {t.id: t for t in db.session.scalars(select(Tenant).where(
        Tenant.id.in_({r.requested_by_tenant_id for r in requests} | {r.tenant_id for r in requests})))}
    return render_template("tenant/approvals.html", requests=requests, tenants=tenants,
                           form=ApprovalDecisionForm(formdata=None), statuses=ApprovalStatus,
                           may_decide=g.tenant.kind == TenantKind.LENDER and allowed(Capability.APPROVAL_DECIDE))


@bp.route("/approvals/<uuid:approval_id>/decision", methods=["POST"])
@lender_page
@require_capability(Capability.APPROVAL_DECIDE)
def approval_decide(approval_id: uuid.UUID):
    found = get_visible(ApprovalRequest, approval_id, "approval.not_found")
    form = ApprovalDecisionForm()
    approve = request.form.get("decision") == "approve"
    if form.validate_on_submit():
        run_and_flash(lambda: approvals.decide(found.id, approve=approve, role=g.role, user_id=current_user.id,
                                          note=form.note.data or None),
                 _("Approved: the agency may go ahead once within three days.") if approve else _("Declined."))
    return redirect(url_for("tenant.approvals_page"))
