"""Message templates and the outbox.

A lender writes templates (SMS, email, letter), sees the content rules' findings, submits a version for approval
and has it approved (lender admin or manager); editing an approved version makes the next one. An agency reads
the approved templates of the lenders whose accounts it holds and sends them from a case
(`tenant/_send_message.html`, fed by `templates_for_case`); the conduct engine decides first, and a refusal is
shown on the case page like the contact panel's. Every tenant's outbox lists the messages it sent, recipients
masked.
"""
import uuid

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from tenants.capabilities import Capability
from tenants.conduct.service import ConductBlocked
from tenants.db import db
from tenants.errors import Conflict, ValidationFailed
from tenants.messaging import sending
from tenants.messaging import templates as template_service
from tenants.messaging.models import MessageStatus, MessageTemplate, OutboundMessage, TemplateStatus
from tenants.messaging.schemas import NewTemplateSchema, TemplateTextSchema
from tenants.pii import MASKERS
from tenants.placements.models import Placement
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from web.access import allowed, require_capability
from web.domain_messages import describe_error
from web.forms import MESSAGE_STATUS_LABELS, NOT_SUBMITTED, ActionForm, submit
from web.tenant import bp
from web.tenant.accounts import list_args, paginate
from web.tenant.portfolios import agency_page, lender_page, parse_uuid

MESSAGE_CHANNELS = [("sms", _l("SMS")), ("email", _l("Email")), ("letter", _l("Letter"))]
LOCALE_CHOICES = [("zh-CN", "简体中文"), ("en", "English")]
TARGET_CHOICES = [("debtor", _l("The debtor")), ("third_party", _l("A third party (contact)"))]
TEMPLATE_STATUS = {TemplateStatus.DRAFT: (_l("draft"), "bg-secondary"),
                   TemplateStatus.PENDING: (_l("pending approval"), "bg-warning text-dark"),
                   TemplateStatus.APPROVED: (_l("approved"), "bg-success"),
                   TemplateStatus.RETIRED: (_l("retired"), "bg-light text-dark")}
MESSAGE_STATUS = {status: (MESSAGE_STATUS_LABELS[status], badge) for status, badge in (
    (MessageStatus.QUEUED, "bg-secondary"), (MessageStatus.SENT, "bg-success"), (MessageStatus.FAILED, "bg-danger"))}
SEVERITY = {"block": (_l("blocks approval"), "bg-danger"), "warn": (_l("warning"), "bg-warning text-dark")}
RECIPIENT_KIND = {"sms": "phone", "email": "email", "letter": "address"}


class TemplateTextForm(FlaskForm):
    name = StringField(_l("Name"))
    subject = StringField(_l("Subject (email and letter)"))
    body = TextAreaField(_l("Text"), render_kw={"rows": 8})
    message_kind = StringField(_l("Message kind (optional, e.g. notice_collection_stops)"))


class TemplateForm(TemplateTextForm):
    channel = SelectField(_l("Channel"), choices=MESSAGE_CHANNELS)
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES)
    target = SelectField(_l("Written for"), choices=TARGET_CHOICES)


class RejectForm(FlaskForm):
    note = TextAreaField(_l("Why (the author sees this)"), render_kw={"rows": 2})


class SendMessageForm(FlaskForm):
    template_id = StringField(_l("Template"))
    phone_position = IntegerField(_l("Phone"), default=0, validators=[Optional()])
    idempotency_key = HiddenField()


def _zh() -> bool:
    locale = get_locale()
    return bool(locale) and str(locale).startswith("zh")


@bp.context_processor
def _messaging_helpers():
    return {"template_status": lambda s: TEMPLATE_STATUS.get(s, (s, "bg-secondary")),
            "message_status": lambda s: MESSAGE_STATUS.get(s, (s, "bg-secondary")),
            "finding_severity": lambda s: SEVERITY.get(s, (s, "bg-secondary")),
            "finding_text": lambda f: f["message_zh"] if _zh() else f["message_en"],
            "new_idempotency_key": lambda: uuid.uuid4().hex}


def templates_for_case(account: Account, placement: Placement) -> list[MessageTemplate]:
    """The templates the agency may send on this case: its lender's approved ones, in the placement's channels.
    The case view passes them to `tenant/_send_message.html` as `templates`."""
    return template_service.approved_for(account.tenant_id, list(placement.allowed_channels or []))


# ---- templates -------------------------------------------------------------------------------------------------

@bp.route("/templates")
def templates():
    rows = template_service.latest_versions()
    lenders = dict(db.session.execute(select(Tenant.id, Tenant.name).where(
        Tenant.id.in_({t.tenant_id for t in rows}))).all()) if rows else {}
    return render_template("tenant/messaging/templates.html", templates=rows, lenders=lenders,
                           writer=allowed(Capability.TEMPLATE_WRITE))


@bp.route("/templates/new", methods=["GET", "POST"])
@lender_page
@require_capability(Capability.TEMPLATE_WRITE)
def template_new():
    form = TemplateForm()
    created, status = submit(form, NewTemplateSchema(),
                             lambda data: template_service.create_template(data, created_by=current_user.id))
    if created is NOT_SUBMITTED:
        return render_template("tenant/messaging/template_form.html", form=form, template=None), status
    flash(_("Template saved as a draft. Check the findings, then submit it for approval."), "success")
    return redirect(url_for("tenant.template_detail", template_id=created.id))


@bp.route("/templates/<uuid:template_id>")
def template_detail(template_id: uuid.UUID):
    template = template_service.get_template(template_id)
    own = template.tenant_id == g.tenant.id
    return render_template("tenant/messaging/template.html", template=template,
                           versions=template_service.versions(template), own=own,
                           writer=own and allowed(Capability.TEMPLATE_WRITE),
                           approver=own and allowed(Capability.TEMPLATE_APPROVE),
                           action=ActionForm(), reject_form=RejectForm())


@bp.route("/templates/<uuid:template_id>/edit", methods=["GET", "POST"])
@lender_page
@require_capability(Capability.TEMPLATE_WRITE)
def template_edit(template_id: uuid.UUID):
    template = template_service.get_template(template_id)
    form = TemplateTextForm(obj=template)
    revised, status = submit(form, TemplateTextSchema(),
                             lambda data: template_service.revise(template.id, data, created_by=current_user.id))
    if revised is NOT_SUBMITTED:
        return render_template("tenant/messaging/template_form.html", form=form,
                               template=template_service.get_template(template_id)), status
    if revised.id != template_id:
        flash(_("Saved as version %(version)s, a draft: version %(old)s stays as it was until this one is "
                "approved.", version=revised.version, old=template.version), "success")
    else:
        flash(_("Draft saved."), "success")
    return redirect(url_for("tenant.template_detail", template_id=revised.id))


def _step(template_id: uuid.UUID, action, done: str):
    """A button on the template page: run the step, commit, and come back with what happened."""
    if not ActionForm().validate_on_submit():
        return redirect(url_for("tenant.template_detail", template_id=template_id))
    try:
        action()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        flash(describe_error(exc), "danger")
        return redirect(url_for("tenant.template_detail", template_id=template_id))
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("tenant.template_detail", template_id=template_id))


@bp.route("/templates/<uuid:template_id>/submit", methods=["POST"])
@lender_page
@require_capability(Capability.TEMPLATE_WRITE)
def template_submit(template_id: uuid.UUID):
    template_service.get_template(template_id)
    return _step(template_id, lambda: template_service.submit(template_id),
                 _("Submitted: a lender admin or manager approves it before anyone may send it."))


@bp.route("/templates/<uuid:template_id>/approve", methods=["POST"])
@lender_page
@require_capability(Capability.TEMPLATE_APPROVE)
def template_approve(template_id: uuid.UUID):
    template_service.get_template(template_id)
    return _step(template_id, lambda: template_service.approve(template_id, approved_by=current_user.id),
                 _("Approved: this version can now be sent, and replaces any version approved before."))


@bp.route("/templates/<uuid:template_id>/reject", methods=["POST"])
@lender_page
@require_capability(Capability.TEMPLATE_APPROVE)
def template_reject(template_id: uuid.UUID):
    template_service.get_template(template_id)
    note = (RejectForm().note.data or "").strip() or _("No reason given.")
    return _step(template_id, lambda: template_service.reject(template_id, note),
                 _("Sent back to its author as a draft."))


@bp.route("/templates/<uuid:template_id>/retire", methods=["POST"])
@lender_page
@require_capability(Capability.TEMPLATE_WRITE)
def template_retire(template_id: uuid.UUID):
    template_service.get_template(template_id)
    return _step(template_id, lambda: template_service.retire(template_id),
                 _("Retired: nobody can send this template any more."))


# ---- sending from a case, and the outbox -------------------------------------------------------------------------

@bp.route("/cases/<uuid:account_id>/messages", methods=["POST"])
@agency_page
def case_send_message(account_id: uuid.UUID):
    # Imported here: the case page (agency_views) imports `templates_for_case` from this module.
    from web.tenant.agency_views import _case, _refusal, _render_case

    account, placement = _case(account_id)
    back = redirect(url_for("tenant.case_detail", account_id=account.id, _anchor="send-message"))
    form = SendMessageForm()
    template_id = parse_uuid(form.template_id.data)
    if not form.validate_on_submit() or template_id is None:
        flash(_("Choose a template to send."), "danger")
        return back
    recipient = sending.Recipient(phone_position=form.phone_position.data or 0)
    try:
        sending.send_template(account.id, template_id, recipient=recipient, collector_user_id=current_user.id,
                              idempotency_key=(form.idempotency_key.data or "")[:100] or None)
    except ConductBlocked as exc:
        db.session.rollback()  # the refused attempt is already committed by the conduct service
        account, placement = _case(account_id)
        return _render_case(account, placement, refusal=_refusal(exc), status=422)
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        problems = [m for messages in (exc.details.get("fields") or {}).values() for m in messages]
        flash(" ".join([describe_error(exc), *problems]), "warning")
        return back
    db.session.commit()
    flash(_("Message queued: it goes out shortly and appears in your outbox."), "success")
    return back


@bp.route("/outbox")
def outbox():
    query = select(OutboundMessage).order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc())
    status = request.args.get("status", "")
    if status in MESSAGE_STATUS:
        query = query.where(OutboundMessage.status == status)
    rows, page, pages, total = paginate(query, request.args.get("page", 1, type=int))
    # An agency keeps its messages after a recall, but no longer sees the account they were about.
    references = dict(db.session.execute(select(Account.id, Account.external_ref).where(
        Account.id.in_({m.account_id for m in rows}))).all()) if rows else {}
    from tenants.portal.requests import sent_by_portal  # the debtor portal's codes and notices

    return render_template("tenant/messaging/outbox.html", messages=rows, references=references, page=page,
                           pages=pages, total=total, args=list_args(), status=status,
                           recipient=lambda m: MASKERS[RECIPIENT_KIND[m.channel]](m.recipient),
                           portal_messages=sent_by_portal(50))
