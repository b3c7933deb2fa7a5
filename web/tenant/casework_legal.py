"""Settlements, repayment agreements, evidence, disputes and legal escalation on the agency's case page and the
lender's account page, and the lender's page of settlements and legal steps waiting for its decision.

The case and account pages include the partials `tenant/_settlements.html`, `_evidence.html`, `_disputes.html` and
`_legal.html` with `legal_panel(account, placement)` (agency) or `lender_legal_panel(account)` (lender) in their
context. Every form posts here and comes back to the page it was sent from.
"""
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Response, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional

from tenants import clock
from tenants.capabilities import Capability
from tenants.casework import agreements, disputes, evidence, legal, plans, settlements
from tenants.casework.agreements import AgreementStatus
from tenants.casework.disputes import DisputeStatus
from tenants.casework.legal import LegalStatus
from tenants.casework.money_models import PlanStatus
from tenants.casework.settlements import SettlementStatus
from tenants.conduct.models import ContactAttempt
from tenants.db import db
from tenants.pii import mask
from tenants.placements.models import Placement
from tenants.portal import requests as portal_requests
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind
from web.access import allowed, require_capability
from web.forms import run_and_flash
from web.tenant import bp
from web.tenant.portfolios import agency_page, label, lender_page, parse_uuid
from web.tenant.worklist import back_to_case

# A file that is ours and holds no script: shown in the browser, sandboxed all the same.
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
DOWNLOAD_CSP = "default-src 'none'; sandbox"
OFFER_DAYS = timedelta(days=14)  # the deadline a new settlement form suggests

LABELS = {
    "settlement": {SettlementStatus.PROPOSED: _l("offered to the debtor"),
                   SettlementStatus.AWAITING_LENDER: _l("waiting for the lender"),
                   SettlementStatus.APPROVED: _l("approved by the lender"), SettlementStatus.DECLINED: _l("declined"),
                   SettlementStatus.ACCEPTED: _l("accepted by the debtor"), SettlementStatus.PAID: _l("paid"),
                   SettlementStatus.LAPSED: _l("lapsed")},
    "evidence": {"call_recording": _l("Call recording"), "signed_agreement": _l("Signed agreement"),
                 "agreement": _l("Repayment agreement (unsigned)"), "letter": _l("Letter"),
                 "court_paper": _l("Court paper"), "id_document": _l("ID document"), "other": _l("Other")},
    "category": {"not_my_debt": _l("Not my debt"), "wrong_amount": _l("Wrong amount"),
                 "already_paid": _l("Already paid"), "identity_theft": _l("Identity theft"),
                 "collection_conduct": _l("How we collected"), "other": _l("Other")},
    "outcome": {"upheld": _l("upheld"), "rejected": _l("rejected"), "withdrawn": _l("withdrawn")},
    "dispute": {DisputeStatus.OPEN: _l("open"), DisputeStatus.RESOLVED: _l("resolved")},
    "legal_kind": {"lawyer_letter": _l("Lawyer's letter"), "filing": _l("Court filing")},
    "legal": {LegalStatus.REQUESTED: _l("waiting for the lender"), LegalStatus.APPROVED: _l("approved"),
              LegalStatus.DECLINED: _l("declined"), LegalStatus.FILED: _l("filed")},
    "method": {"upload": _l("Signed copy uploaded"), "verbal": _l("Verbal, on a recorded call"),
               "e_signature": _l("E-signature")},
}


def legal_label(group: str, value):
    return LABELS.get(group, {}).get(value, value)


def _choices(group: str) -> list:
    return list(LABELS[group].items())


# ---- forms ----------------------------------------------------------------------------------------------------

class SettlementForm(FlaskForm):
    amount = StringField(_l("Settle for (amount the debtor pays)"), validators=[DataRequired()])
    deadline = DateField(_l("Pay by"), validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional()])


class DecisionForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Optional()])


class ActionForm(FlaskForm):
    """Carries the CSRF token of a button."""


class SignForm(FlaskForm):
    method = SelectField(_l("How the debtor signed"), choices=_choices("method"))
    signatory = StringField(_l("Signed or acknowledged by"), validators=[DataRequired()])
    attempt_id = SelectField(_l("Recorded call (verbal acknowledgement)"), validate_choice=False)
    file = FileField(_l("Signed copy (upload)"))


class EvidenceForm(FlaskForm):
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file to upload."))])
    kind = SelectField(_l("Kind"), choices=[(k, v) for k, v in _choices("evidence") if k in evidence.UPLOADABLE])
    description = StringField(_l("Description"), validators=[Optional()])
    attempt_id = SelectField(_l("About the contact"), validate_choice=False)
    dispute_id = SelectField(_l("A document of the dispute"), validate_choice=False)


class DisputeForm(FlaskForm):
    category = SelectField(_l("What is disputed"), choices=_choices("category"))
    reason = TextAreaField(_l("What the debtor says"), validators=[DataRequired()])
    file = FileField(_l("Document (optional)"))


class ResolveDisputeForm(FlaskForm):
    outcome = SelectField(_l("Outcome"), choices=_choices("outcome"))
    resolution = StringField(_l("Resolution"), validators=[DataRequired()])


class LegalForm(FlaskForm):
    kind = SelectField(_l("Legal step"), choices=_choices("legal_kind"))
    reason = TextAreaField(_l("Why legal steps are needed"), validators=[DataRequired()])


class FiledForm(FlaskForm):
    reference = StringField(_l("Reference (letter or court case number)"), validators=[DataRequired()])


# ---- the panels ------------------------------------------------------------------------------------------------

def legal_panel(account: Account, placement: Placement) -> dict:
    """The agency case page's settlements, agreements, evidence, disputes and legal escalations."""
    return {"legal_panel": _panel(account, placement)}


def lender_legal_panel(account: Account) -> dict:
    """The same on the lender's account page: it reads them all and decides what waits for it."""
    return {"legal_panel": _panel(account, None)}


def _panel(account: Account, placement: Placement | None) -> dict:
    items = evidence.for_account(account.id)
    open_disputes = [d for d in disputes.for_account(account.id) if d.status == DisputeStatus.OPEN]
    calls = db.session.scalars(select(ContactAttempt).where(
        ContactAttempt.account_id == account.id, ContactAttempt.channel == "call",
        ContactAttempt.conversation.is_(True)).order_by(ContactAttempt.decided_at.desc()).limit(50)).all()
    attempts = db.session.scalars(select(ContactAttempt).where(ContactAttempt.account_id == account.id)
                                  .order_by(ContactAttempt.decided_at.desc()).limit(50)).all()
    evidence_form = EvidenceForm(formdata=None)
    evidence_form.attempt_id.choices = [("", "—")] + [
        (str(a.id), f"{label('channel', a.channel)} · {_local(a.decided_at)}") for a in attempts]
    evidence_form.dispute_id.choices = [("", "—")] + [
        (str(d.id), f"{legal_label('category', d.category)} · {_local(d.opened_at)}") for d in open_disputes]
    role = g.get("role")
    sign_form = SignForm(formdata=None)
    sign_form.signatory.data = mask("name", account.debtor_name, role)
    sign_form.attempt_id.choices = [("", "—")] + [(str(a.id), _local(a.decided_at)) for a in calls]
    settlement_form = SettlementForm(formdata=None)
    if placement is not None:
        settlement_form.deadline.data = min(placement.ends_on, clock.now().date() + OFFER_DAYS)
    rows = settlements.for_account(account.id)
    made = agreements.for_account(account.id)
    makers = {t.id: t.name for t in db.session.scalars(select(Tenant).where(
        Tenant.id.in_({e.tenant_id for e in items} | {s.tenant_id for s in rows})))}
    return {
        "account": account, "placement": placement, "is_agency": placement is not None,
        "settlements": rows,
        "agreements": {a.settlement_id: a for a in made if a.settlement_id},
        "plans": [p for p in plans.of_account(account.id) if p.status in PlanStatus.OPEN],
        "plan_agreements": {a.plan_id: a for a in made if a.plan_id},
        "evidence": items, "makers": makers,
        "disputes": disputes.for_account(account.id), "escalations": legal.for_account(account.id),
        "label": legal_label, "statuses": {"settlement": SettlementStatus, "dispute": DisputeStatus,
                                           "legal": LegalStatus, "agreement": AgreementStatus},
        "max_discount_bps": (placement.max_discount_bps or 0) if placement is not None else None,
        "may_write": allowed(Capability.EVIDENCE_WRITE),
        "may_decide": placement is None and allowed(Capability.SETTLEMENT_DECIDE),
        "may_request_legal": placement is not None and allowed(Capability.LEGAL_REQUEST),
        "may_read_evidence": allowed(Capability.EVIDENCE_READ), "tenant_id": g.tenant.id,
        "forms": {"settlement": settlement_form, "decision": DecisionForm(formdata=None),
                  "action": ActionForm(formdata=None), "sign": sign_form, "evidence": evidence_form,
                  "dispute": DisputeForm(formdata=None), "resolve": ResolveDisputeForm(formdata=None),
                  "legal": LegalForm(formdata=None), "filed": FiledForm(formdata=None)},
    }


def _local(value: datetime) -> str:
    return format_datetime(value.astimezone(ZoneInfo(g.tenant.time_zone)), "short", rebase=False)


# The case page's section each card sits in (the lender's account page shows them all at once).
SECTIONS = {"settlements": "agreements", "evidence": "evidence", "disputes": "disputes", "legal": "legal"}


def _back(account_id: uuid.UUID, anchor: str):
    if g.tenant.kind == TenantKind.LENDER:
        return redirect(url_for("tenant.account_detail", account_id=account_id, _anchor=anchor))
    return back_to_case(account_id, anchor=anchor, section=SECTIONS.get(anchor), keep_going=False)


def _posted(form: FlaskForm) -> bool:
    if form.validate_on_submit():
        return True
    flash("; ".join(f"{form[name].label.text}: {' '.join(map(str, errors))}" for name, errors in form.errors.items())
          or _("The form expired; reload the page and try again."), "danger")
    return False


def _upload(form_file) -> agreements.Upload | None:
    data = form_file.data
    if data is None or not getattr(data, "filename", ""):
        return None
    return agreements.Upload(filename=data.filename, content_type=data.mimetype, stream=data.stream)


# ---- settlements ------------------------------------------------------------------------------------------------

@bp.route("/cases/<uuid:account_id>/settlements", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def settlement_propose(account_id: uuid.UUID):
    get_account(account_id)
    form = SettlementForm()
    if _posted(form):
        run_and_flash(lambda: settlements.propose(account_id, amount=form.amount.data, deadline=form.deadline.data,
                                         note=form.note.data or None, user_id=current_user.id),
             _("Settlement recorded. Within your discount limit it is yours to offer; beyond it, it waits for the "
               "lender."))
    return _back(account_id, "settlements")


@bp.route("/settlements/<uuid:settlement_id>/decision", methods=["POST"])
@lender_page
@require_capability(Capability.SETTLEMENT_DECIDE)
def settlement_decide(settlement_id: uuid.UUID):
    found = settlements.get_settlement(settlement_id)
    approve = request.form.get("decision") == "approve"
    form = DecisionForm()
    def decide():
        settlements.decide(found.id, approve=approve, role=g.role, user_id=current_user.id,
                           note=form.note.data or None)
        # An offer the debtor made in the portal: the answer goes back to them.
        portal_requests.settlement_decided(found.id, user_id=current_user.id, config=current_app.config)

    if _posted(form):
        run_and_flash(decide,
             _("Settlement approved: the agency may offer it.") if approve else _("Settlement declined."))
    return _decided_redirect(found.account_id, "settlements")


@bp.route("/settlements/<uuid:settlement_id>/accept", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def settlement_accept(settlement_id: uuid.UUID):
    found = settlements.get_settlement(settlement_id)
    if _posted(ActionForm()):
        run_and_flash(lambda: settlements.accept(found.id), _("The debtor accepted the settlement."))
    return _back(found.account_id, "settlements")


@bp.route("/settlements/<uuid:settlement_id>/paid", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def settlement_paid(settlement_id: uuid.UUID):
    found = settlements.get_settlement(settlement_id)
    if _posted(ActionForm()):
        run_and_flash(lambda: settlements.mark_paid(found.id), _("Settlement paid."))
    return _back(found.account_id, "settlements")


@bp.route("/settlements/<uuid:settlement_id>/agreement", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def settlement_agreement(settlement_id: uuid.UUID):
    found = settlements.get_settlement(settlement_id)
    if _posted(ActionForm()):
        run_and_flash(lambda: agreements.for_settlement(found.id, user_id=current_user.id),
             _("Repayment agreement prepared: print it for the debtor, then record the signature."))
    return _back(found.account_id, "settlements")


@bp.route("/plans/<uuid:plan_id>/agreement", methods=["POST"])
@agency_page
@require_capability(Capability.CASE_WORK)
def plan_agreement(plan_id: uuid.UUID):
    plan = plans.get_plan(plan_id)
    if _posted(ActionForm()):
        run_and_flash(lambda: agreements.agreement_for_plan(plan, user_id=current_user.id),
             _("Repayment agreement prepared: print it for the debtor, then record the signature."))
    return _back(plan.account_id, "settlements")


# ---- agreements ------------------------------------------------------------------------------------------------

@bp.route("/agreements/<uuid:agreement_id>/document")
@require_capability(Capability.EVIDENCE_READ)
def agreement_document(agreement_id: uuid.UUID):
    """The printable agreement, in the browser."""
    found = agreements.get_agreement(agreement_id)
    copy = evidence.verified_copy(evidence.get_evidence(found.document_evidence_id))
    response = Response(copy.read(), mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCUMENT_CSP
    return response


@bp.route("/agreements/<uuid:agreement_id>/signature", methods=["POST"])
@require_capability(Capability.EVIDENCE_WRITE)
def agreement_sign(agreement_id: uuid.UUID):
    found = agreements.get_agreement(agreement_id)
    form = SignForm()
    form.attempt_id.choices = []
    if _posted(form):
        run_and_flash(lambda: agreements.sign(found.id, method=form.method.data, signatory=form.signatory.data,
                                     attempt_id=parse_uuid(form.attempt_id.data), upload=_upload(form.file),
                                     user_id=current_user.id),
             _("Signature recorded; the signed agreement is kept as evidence."))
    return _back(found.account_id, "settlements")


# ---- evidence ------------------------------------------------------------------------------------------------------

@bp.route("/accounts/<uuid:account_id>/evidence", methods=["POST"])
@require_capability(Capability.EVIDENCE_WRITE)
def evidence_upload(account_id: uuid.UUID):
    get_account(account_id)
    form = EvidenceForm()
    if _posted(form):
        upload = form.file.data
        links = evidence.Links(attempt_id=parse_uuid(form.attempt_id.data),
                               dispute_id=parse_uuid(form.dispute_id.data))
        run_and_flash(lambda: evidence.store(account_id, kind=form.kind.data, filename=upload.filename,
                                    content_type=upload.mimetype, stream=upload.stream, links=links,
                                    description=form.description.data or None, user_id=current_user.id),
             _("File kept as evidence; its digest is in the audit trail."))
    return _back(account_id, "evidence")


@bp.route("/evidence/<uuid:evidence_id>")
@require_capability(Capability.EVIDENCE_READ)
def evidence_download(evidence_id: uuid.UUID):
    """The file as uploaded, once its bytes match the recorded digest (409 `evidence.tampered` otherwise)."""
    found = evidence.get_evidence(evidence_id)
    response = send_file(evidence.verified_copy(found), mimetype=found.content_type, as_attachment=True,
                         download_name=found.filename)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response


@bp.route("/accounts/<uuid:account_id>/evidence-bundle.zip")
@require_capability(Capability.EVIDENCE_READ)
def evidence_bundle(account_id: uuid.UUID):
    """Every file of the case with manifest.json (file, kind, sha256, size, uploaded at and by, retention)."""
    account = get_account(account_id)
    spool = evidence.bundle(account.id)
    db.session.commit()  # the export is in the audit trail
    return send_file(spool, mimetype="application/zip", as_attachment=True,
                     download_name=f"evidence-{account.external_ref}.zip")


# ---- disputes ---------------------------------------------------------------------------------------------------

@bp.route("/accounts/<uuid:account_id>/disputes", methods=["POST"])
@require_capability(Capability.DISPUTE_MANAGE)
def dispute_open(account_id: uuid.UUID):
    get_account(account_id)
    form = DisputeForm()
    if _posted(form):
        def action():
            dispute = disputes.open_dispute(account_id, category=form.category.data, reason=form.reason.data,
                                            source="user", user_id=current_user.id)
            upload = _upload(form.file)
            if upload is not None:
                evidence.store(account_id, kind="other", filename=upload.filename, content_type=upload.content_type,
                               stream=upload.stream, links=evidence.Links(dispute_id=dispute.id),
                               description=_("Dispute document"), user_id=current_user.id)
        run_and_flash(action, _("Dispute opened: collection is on hold until it is resolved."))
    return _back(account_id, "disputes")


@bp.route("/disputes/<uuid:dispute_id>/resolve", methods=["POST"])
@require_capability(Capability.DISPUTE_MANAGE)
def dispute_resolve(dispute_id: uuid.UUID):
    found = disputes.get_dispute(dispute_id)
    form = ResolveDisputeForm()
    if _posted(form):
        run_and_flash(lambda: disputes.resolve(found.id, outcome=form.outcome.data, resolution=form.resolution.data,
                                      user_id=current_user.id),
             _("Dispute resolved; its hold is released."))
    return _back(found.account_id, "disputes")


# ---- legal escalation ------------------------------------------------------------------------------------------

@bp.route("/cases/<uuid:account_id>/legal", methods=["POST"])
@agency_page
@require_capability(Capability.LEGAL_REQUEST)
def legal_request(account_id: uuid.UUID):
    get_account(account_id)
    form = LegalForm()
    if _posted(form):
        run_and_flash(lambda: legal.request(account_id, kind=form.kind.data, reason=form.reason.data,
                                   user_id=current_user.id),
             _("The conduct rules allow legal steps on this debt; the request waits for the lender's approval."))
    return _back(account_id, "legal")


@bp.route("/legal-escalations/<uuid:escalation_id>/decision", methods=["POST"])
@lender_page
@require_capability(Capability.LEGAL_DECIDE)
def legal_decide(escalation_id: uuid.UUID):
    found = legal.get_escalation(escalation_id)
    approve = request.form.get("decision") == "approve"
    form = DecisionForm()
    if _posted(form):
        run_and_flash(lambda: legal.decide(found.id, approve=approve, role=g.role, user_id=current_user.id,
                                  note=form.note.data or None),
             _("Legal escalation approved.") if approve else _("Legal escalation declined."))
    return _decided_redirect(found.account_id, "legal")


@bp.route("/legal-escalations/<uuid:escalation_id>/filed", methods=["POST"])
@agency_page
@require_capability(Capability.LEGAL_REQUEST)
def legal_filed(escalation_id: uuid.UUID):
    found = legal.get_escalation(escalation_id)
    form = FiledForm()
    if _posted(form):
        run_and_flash(lambda: legal.mark_filed(found.id, reference=form.reference.data, user_id=current_user.id),
             _("Legal step recorded as filed."))
    return _back(found.account_id, "legal")


# ---- the lender's decisions -------------------------------------------------------------------------------------

@bp.route("/casework-decisions")
@lender_page
def casework_decisions():
    """Settlements beyond an agency's discount limit and legal escalations, waiting for the lender."""
    waiting_settlements, waiting_legal = settlements.awaiting_lender(), legal.awaiting_lender()
    account_ids = {s.account_id for s in waiting_settlements} | {e.account_id for e in waiting_legal}
    refs = dict(db.session.execute(select(Account.id, Account.external_ref).where(Account.id.in_(account_ids)))
                .all()) if account_ids else {}
    agency_ids = {s.tenant_id for s in waiting_settlements} | {e.tenant_id for e in waiting_legal}
    agencies = dict(db.session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(agency_ids))).all()) \
        if agency_ids else {}
    return render_template("tenant/casework_decisions.html", settlements=waiting_settlements,
                           escalations=waiting_legal, refs=refs, agencies=agencies, form=DecisionForm(formdata=None),
                           legal_label=legal_label, may_decide=allowed(Capability.LEGAL_DECIDE))


def _decided_redirect(account_id: uuid.UUID, anchor: str):
    if request.form.get("next") == "decisions":
        return redirect(url_for("tenant.casework_decisions"))
    return _back(account_id, anchor)
