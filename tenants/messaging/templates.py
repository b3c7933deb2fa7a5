"""Message templates: written and versioned by a lender, checked against the content rules of its rulebook, and
approved by the lender before anyone may send them.

draft → (submit) → pending_approval → (approve) → approved → (retire) → retired; a rejection sends a pending
version back to draft with a note. A draft or pending version is edited in place; editing an approved or retired
one makes the next version (a draft) and leaves it as it was. Approving a version retires the one approved
before it. A version with a blocking finding can be neither submitted nor approved; findings are recomputed at
each step, against the rulebook as it is then.
"""
import uuid

from sqlalchemy import func, select

from tenants import audit, clock
from tenants.conduct.presets import preset
from tenants.conduct.rulebook import Rulebook
from tenants.conduct.service import jurisdiction
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict, PermissionDenied, ValidationFailed
from tenants.messaging import content_rules, rendering
from tenants.messaging.models import WITH_SUBJECT, MessageTemplate, TemplateStatus
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

EDITABLE = ("name", "subject", "body", "message_kind")


def rulebook_of(lender: Tenant) -> Rulebook:
    return preset(jurisdiction(lender))


def get_template(template_id: uuid.UUID) -> MessageTemplate:
    return get_visible(MessageTemplate, template_id, "template.not_found")


def _own(template_id: uuid.UUID) -> MessageTemplate:
    template = get_template(template_id)
    if template.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the lender that owns this template may change it.", code="template.not_owner")
    return template


def _lender() -> Tenant:
    tenant = db.session.get(Tenant, current_tenant_id())
    if tenant.kind != TenantKind.LENDER:
        raise PermissionDenied("Only a lender writes message templates.", code="template.lender_only")
    return tenant


def _set_text(template: MessageTemplate, data: dict) -> None:
    for key in EDITABLE:
        if key in data:
            setattr(template, key, data[key])
    if template.channel not in WITH_SUBJECT:
        template.subject = None
    elif not (template.subject or "").strip():
        raise ValidationFailed(details={"fields": {"subject": ["An email or letter needs a subject."]}})
    rendering.check_fields({"subject": template.subject, "body": template.body})


def _check(template: MessageTemplate) -> list[dict]:
    """Recompute the findings against the lender's rulebook as it is now; returns the blocking ones."""
    book = rulebook_of(db.session.get(Tenant, template.tenant_id))
    template.findings = [f.as_dict() for f in content_rules.check(template.channel, template.locale, template.subject,
                                                                  template.body, template.target, book)]
    template.rulebook_version = book.version
    return content_rules.blocking(template.findings)


def _summary(template: MessageTemplate) -> dict:
    return {"name": template.name, "channel": template.channel, "locale": template.locale, "target": template.target,
            "version": template.version, "status": template.status,
            "findings": sorted({f["rule_id"] for f in template.findings or []})}


def create_template(data: dict, *, created_by: uuid.UUID | None) -> MessageTemplate:
    lender = _lender()
    template_id = uuid.uuid4()
    template = MessageTemplate(id=template_id, family_id=template_id, version=1, tenant_id=lender.id,
                               channel=data["channel"], locale=data["locale"], target=data.get("target", "debtor"),
                               status=TemplateStatus.DRAFT, created_by_user_id=created_by)
    _set_text(template, data)
    _check(template)
    db.session.add(template)
    db.session.flush()
    audit.record("template.created", object_type="message_template", object_id=template.id,
                 after=_summary(template))
    return template


def open_version(family_id: uuid.UUID) -> MessageTemplate | None:
    return db.session.scalar(select(MessageTemplate).where(MessageTemplate.family_id == family_id,
                                                           MessageTemplate.status.in_(TemplateStatus.OPEN)))


def edit_draft(template_id: uuid.UUID, data: dict) -> MessageTemplate:
    """Change a draft or pending version in place; a pending one goes back to draft."""
    template = _own(template_id)
    if template.status not in TemplateStatus.OPEN:
        raise Conflict("An approved or retired version is never changed: make a new version.",
                       code="template.not_editable")
    before = _summary(template)
    _set_text(template, data)
    template.status, template.submitted_at = TemplateStatus.DRAFT, None
    _check(template)
    audit.record("template.edited", object_type="message_template", object_id=template.id, before=before,
                 after=_summary(template))
    return template


def new_version(template_id: uuid.UUID, data: dict, *, created_by: uuid.UUID | None) -> MessageTemplate:
    """The next version of a template, as a draft, from an approved or retired one."""
    base = _own(template_id)
    open_ = open_version(base.family_id)
    if open_ is not None:
        raise Conflict(f"Version {open_.version} of this template is still open: edit it instead.",
                       code="template.open_version_exists", details={"template_id": str(open_.id)})
    latest = db.session.scalar(select(func.max(MessageTemplate.version))
                               .where(MessageTemplate.family_id == base.family_id))
    template = MessageTemplate(family_id=base.family_id, version=latest + 1, tenant_id=base.tenant_id,
                               channel=base.channel, locale=base.locale, target=base.target, name=base.name,
                               message_kind=base.message_kind, subject=base.subject, body=base.body,
                               status=TemplateStatus.DRAFT, created_by_user_id=created_by)
    _set_text(template, data)
    _check(template)
    db.session.add(template)
    db.session.flush()
    audit.record("template.versioned", object_type="message_template", object_id=template.id,
                 before={"template_id": str(base.id), "version": base.version}, after=_summary(template))
    return template


def revise(template_id: uuid.UUID, data: dict, *, created_by: uuid.UUID | None) -> MessageTemplate:
    """Edit: in place while the version is open, else as the next version."""
    if _own(template_id).status in TemplateStatus.OPEN:
        return edit_draft(template_id, data)
    return new_version(template_id, data, created_by=created_by)


def _refuse_blocking(blocking: list[dict], doing: str) -> None:
    if blocking:
        raise ValidationFailed(f"This template breaks the conduct rules and cannot be {doing}: "
                               + "; ".join(f"{f['rule_id']}: {f['message_en']}" for f in blocking),
                               code="template.blocking_findings", details={"findings": blocking})


def _expect(template: MessageTemplate, status: str, message: str) -> None:
    if template.status != status:
        raise Conflict(message, code="template.wrong_status", details={"status": template.status})


def submit(template_id: uuid.UUID) -> MessageTemplate:
    template = _own(template_id)
    _expect(template, TemplateStatus.DRAFT, "Only a draft can be submitted for approval.")
    _refuse_blocking(_check(template), "submitted")
    template.status, template.submitted_at = TemplateStatus.PENDING, clock.now()
    audit.record("template.submitted", object_type="message_template", object_id=template.id,
                 after=_summary(template))
    return template


def approve(template_id: uuid.UUID, *, approved_by: uuid.UUID | None) -> MessageTemplate:
    template = _own(template_id)
    _expect(template, TemplateStatus.PENDING, "Only a version pending approval can be approved.")
    _refuse_blocking(_check(template), "approved")
    previous = db.session.scalar(select(MessageTemplate).where(MessageTemplate.family_id == template.family_id,
                                                               MessageTemplate.status == TemplateStatus.APPROVED))
    if previous is not None:
        _retire(previous, reason="superseded")
        db.session.flush()  # one approved version per template: the old one steps down first
    template.status, template.approved_by_user_id, template.approved_at = (TemplateStatus.APPROVED, approved_by,
                                                                           clock.now())
    template.review_note = None
    audit.record("template.approved", object_type="message_template", object_id=template.id,
                 after=_summary(template))
    return template


def reject(template_id: uuid.UUID, note: str) -> MessageTemplate:
    template = _own(template_id)
    _expect(template, TemplateStatus.PENDING, "Only a version pending approval can be rejected.")
    template.status, template.submitted_at, template.review_note = TemplateStatus.DRAFT, None, note
    audit.record("template.rejected", object_type="message_template", object_id=template.id,
                 after={**_summary(template), "note": note})
    return template


def retire(template_id: uuid.UUID) -> MessageTemplate:
    template = _own(template_id)
    _expect(template, TemplateStatus.APPROVED, "Only an approved version can be retired.")
    _retire(template, reason="retired")
    return template


def _retire(template: MessageTemplate, *, reason: str) -> None:
    template.status, template.retired_at = TemplateStatus.RETIRED, clock.now()
    audit.record("template.retired", object_type="message_template", object_id=template.id,
                 after={**_summary(template), "reason": reason})


def versions(template: MessageTemplate) -> list[MessageTemplate]:
    """The versions of a template this tenant sees, newest first."""
    return list(db.session.scalars(select(MessageTemplate).where(MessageTemplate.family_id == template.family_id)
                                   .order_by(MessageTemplate.version.desc())))


def latest_versions() -> list[MessageTemplate]:
    """One row per template this tenant sees: its newest visible version, by name."""
    newest = (select(MessageTemplate.family_id, func.max(MessageTemplate.version).label("version"))
              .group_by(MessageTemplate.family_id).subquery())
    return list(db.session.scalars(
        select(MessageTemplate).join(newest, (newest.c.family_id == MessageTemplate.family_id)
                                     & (newest.c.version == MessageTemplate.version))
        .order_by(MessageTemplate.name, MessageTemplate.family_id)))


def approved_for(lender_id: uuid.UUID, channels: list[str] | None = None) -> list[MessageTemplate]:
    """The templates a sender may use on an account of this lender (in these channels)."""
    query = select(MessageTemplate).where(MessageTemplate.tenant_id == lender_id,
                                          MessageTemplate.status == TemplateStatus.APPROVED)
    if channels is not None:
        query = query.where(MessageTemplate.channel.in_(channels))
    return list(db.session.scalars(query.order_by(MessageTemplate.name)))
