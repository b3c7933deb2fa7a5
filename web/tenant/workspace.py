"""The collector's workspace: the case page's top, laid out for one call after another on one screen.

A header (the case, the balance, holds, and per channel whether contact is allowed now or when next), the action
panel (tabs: contact, promise, payment, plan, note, callback, message) beside the timeline, and below them the
case's other sections one at a time (details, history, agreements, evidence, disputes, legal, conduct, lender
updates). Tabs and sections are plain links (`?tab=`, `?section=`), so every form works without JavaScript;
web/static/workspace.js switches them in place and adds the keyboard shortcuts.

Deciding and recording a contact is one flow on the contact tab: "Call" asks the conduct engine and dials
(web.tenant.telephony); the call's outcome, the promise it produced (filled in when the outcome is a promise to
pay) and a note are then saved together here ("wrap-up"), and "Save and next" opens the queue's next case with
the queue's filters, which ride along in every URL of the page (web.tenant.worklist.queue_args).
"""
import uuid

from flask import current_app, flash, g, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from tenants.capabilities import Capability
from tenants.casework import assignment, notes
from tenants.casework import promises as promise_service
from tenants.conduct import service as conduct
from tenants.conduct.models import AttemptStatus, ContactAttempt
from tenants.db import db, get_visible
from tenants.errors import DomainError, NotFound, ValidationFailed
from tenants.pii import FULL_VIEW, mask
from tenants.telephony import calls
from tenants.telephony.models import CallStatus
from web.access import allowed, require_capability
from web.domain_messages import describe_error
from web.forms import OUTCOME_CHOICES
from web.tenant import bp
from web.tenant.casework_money import suggested_promise
from web.tenant.portfolios import agency_page
from web.tenant.telephony import CallForm, take_dial_url
from web.tenant.worklist import back_to_case, queue_args

TABS = ("contact", "promise", "payment", "plan", "note", "callback", "message")
TAB_LABELS = {"contact": _l("Contact and outcome"), "promise": _l("Promise"), "payment": _l("Payment"),
              "plan": _l("Plan"), "note": _l("Note"), "callback": _l("Callback"), "message": _l("Message")}
SECTIONS = ("details", "history", "agreements", "evidence", "disputes", "legal", "conduct", "updates")
SECTION_LABELS = {"details": _l("Debtor and terms"), "history": _l("Contacts and money"),
                  "agreements": _l("Settlements and agreements"), "evidence": _l("Evidence"),
                  "disputes": _l("Disputes"), "legal": _l("Legal steps"), "conduct": _l("Holds and preferences"),
                  "updates": _l("Lender updates")}
MESSAGE_OUTCOMES = ("delivered", "bounced")
CALL_LABELS = {CallStatus.DIALLING: _l("ringing"), CallStatus.ANSWERED: _l("answered"),
               CallStatus.NO_ANSWER: _l("no answer"), CallStatus.BUSY: _l("busy"),
               CallStatus.FAILED: _l("not placed")}
PROMISE = "promise_to_pay"
WRAP = "wrap"  # the wrap-up form's field prefix: the page holds other amount, date and note fields


class WrapUpForm(FlaskForm):
    """What came of a contact: its outcome, the promise it produced and a note, saved together."""

    outcome_code = SelectField(_l("Outcome"), choices=OUTCOME_CHOICES)
    amount = StringField(_l("Amount promised"), validators=[Optional()])
    due_on = DateField(_l("Promised for (the debtor's date)"), validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=notes.NOTE_MAX)])


def _outcome_choices(channel: str) -> list:
    if channel in ("call", "visit"):
        return [c for c in OUTCOME_CHOICES if c[0] not in MESSAGE_OUTCOMES]
    return OUTCOME_CHOICES


def workspace(account, attempts, money) -> dict:
    """What tenant/case.html reads to lay the workspace out (called from the template: the case view in
    agency_views renders it)."""
    tab = request.args.get("tab")
    section = request.args.get("section")
    args = queue_args()
    pending = next((a for a in attempts if a.status == AttemptStatus.PENDING and a.tenant_id == g.tenant.id), None)
    latest = next((a for a in attempts if a.tenant_id == g.tenant.id and a.status != AttemptStatus.BLOCKED), None)
    call = calls.call_of(latest.id) if latest is not None and latest.channel == "call" else None
    wrap_up = None
    if pending is not None:
        amount, due_on = suggested_promise(account, money["promises"], money["debtor_today"])
        answered = call is not None and call.attempt_id == pending.id and call.status == CallStatus.ANSWERED
        wrap_up = WrapUpForm(formdata=None, prefix=WRAP, amount=amount, due_on=due_on,
                             outcome_code="right_party_contact" if answered or pending.channel == "call"
                             else "delivered")
        wrap_up.outcome_code.choices = _outcome_choices(pending.channel)
    role = g.get("role") or ""
    gateway = current_app.config.get("TELEPHONY_GATEWAY", "tel")
    # A softphone dials the number itself: only for those who may see it or work the case (an audited reveal).
    may_dial = gateway != "tel" or role in FULL_VIEW["phone"] or assignment.may_work(
        account.id, user_id=current_user.id, role=role)
    return {
        "tab": tab if tab in TABS else "contact", "tabs": TABS, "tab_labels": TAB_LABELS,
        "section": section if section in SECTIONS else "details", "sections": SECTIONS,
        "section_labels": SECTION_LABELS, "queue_args": args,
        "pending": pending, "wrap_up": wrap_up, "call": call, "call_labels": CALL_LABELS,
        "phones": [(p.id, mask("phone", p.phone, role)) for p in account.phones],
        "call_form": CallForm(formdata=None), "dial_url": take_dial_url(account.id),
        "may_call": allowed(Capability.CONTACT_ATTEMPT), "may_dial": may_dial,
        "url": lambda **changes: url_for("tenant.case_detail", account_id=account.id,
                                         **{**args, **{k: v for k, v in changes.items() if v}}),
    }


@bp.context_processor
def _workspace():
    return {"workspace": workspace}


@bp.route("/contact-attempts/<uuid:attempt_id>/wrap-up", methods=["POST"])
@agency_page
@require_capability(Capability.CONTACT_ATTEMPT)
def contact_wrap_up(attempt_id: uuid.UUID):
    """The outcome of a contact, the promise it produced and a note, in one transaction: a refused piece (an
    amount over the balance, a date in the past) saves nothing and says why."""
    record = get_visible(ContactAttempt, attempt_id, "contact_attempt.not_found")
    if record.tenant_id != g.tenant.id:  # the lender reads its agencies' attempts; only the maker writes
        raise NotFound(code="contact_attempt.not_found")
    account_id = record.account_id
    form = WrapUpForm(prefix=WRAP)
    form.outcome_code.choices = _outcome_choices(record.channel)
    if not form.validate_on_submit():
        flash("; ".join(f"{form[name].label.text}: {' '.join(map(str, errors))}"
                        for name, errors in form.errors.items() if name in form._fields and name != "csrf_token")
              or _("The form has expired; try again."), "danger")
        return back_to_case(account_id, tab="contact", keep_going=False)
    outcome = form.outcome_code.data
    try:
        if record.status == AttemptStatus.PENDING:
            conduct.record_outcome(record.id, outcome)
        promised = outcome == PROMISE and record.outcome_code == PROMISE
        if promised:
            if form.due_on.data is None:
                raise ValidationFailed(_("Say by when the debtor will pay."), code="promise.due_required")
            promise_service.take(account_id, amount=form.amount.data or "", due_on=form.due_on.data,
                                 user_id=current_user.id, attempt_id=record.id)
        if (form.note.data or "").strip():
            notes.add_note(account_id, form.note.data, user_id=current_user.id, role=g.role)
    except DomainError as exc:
        db.session.rollback()
        problems = [m for messages in (exc.details.get("fields") or {}).values() for m in messages]
        flash(" ".join([describe_error(exc), *map(str, problems)]), "danger")
        return back_to_case(account_id, tab="contact", keep_going=False)
    db.session.commit()
    flash(_("Saved: the outcome and the promise.") if promised else _("Saved."), "success")
    return back_to_case(account_id, tab="contact")
