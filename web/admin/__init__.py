"""The platform console under /admin/: platform admins only; everyone else gets 404."""
import uuid

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import and_, select

from tenants.audit import AuditEvent, get_event, verify_chain
from tenants.capabilities import Capability
from tenants.conduct import baseline
from tenants.conduct.presets import PRESETS
from tenants.context import platform_scope
from tenants.db import db
from tenants.errors import DomainError
from tenants.tenancy.models import Membership, Tenant, TenantStatus
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.schemas import NewTenantSchema
from tenants.tenancy.services import create_tenant, get_tenant, set_tenant_status
from web.access import open_tenant_for_member, require_capability
from web.auth import session_user_id
from web.domain_messages import describe_error
from web.forms import NOT_SUBMITTED, ActionForm, NewTenantForm, submit

bp = Blueprint("admin", __name__, url_prefix="/admin")


def platform_tenant() -> Tenant | None:
    """The platform tenant the signed-in person belongs to (a deployment has one; a staging copy or a test
    database may hold more, and the first found need not be theirs), else the first: the member check follows."""
    query = select(Tenant).where(Tenant.kind == TenantKind.PLATFORM).order_by(Tenant.created_at, Tenant.id)
    user_id = session_user_id(session.get("_user_id"))
    with platform_scope("the platform operator's own tenant"):
        if user_id:
            mine = db.session.scalar(query.join(Membership, and_(
                Membership.tenant_id == Tenant.id, Membership.user_id == user_id, Membership.is_active)))
            if mine is not None:
                return mine
        return db.session.scalar(query)


@bp.before_request
def _open():
    return open_tenant_for_member(platform_tenant())


@bp.route("/")
@require_capability(Capability.PLATFORM_CONSOLE)
def dashboard():
    with platform_scope("platform console: every tenant"):
        tenants = db.session.scalars(
            select(Tenant).where(Tenant.kind != TenantKind.PLATFORM).order_by(Tenant.kind, Tenant.name)
        ).all()
    return render_template("admin/dashboard.html", tenants=tenants)


@bp.route("/tenants/new", methods=["GET", "POST"])
@require_capability(Capability.PLATFORM_CONSOLE)
def tenant_new():
    form = NewTenantForm()
    created, status = submit(form, NewTenantSchema(),
                             lambda data: create_tenant(platform_tenant_id=g.tenant.id, **data))
    if created is NOT_SUBMITTED:
        return render_template("admin/tenant_new.html", form=form), status
    tenant, secret = created
    link = url_for("auth.accept", token=secret, _external=True)
    return render_template("admin/tenant_created.html", tenant=tenant, link=link)


@bp.route("/tenants/<uuid:tenant_id>")
@require_capability(Capability.PLATFORM_CONSOLE)
def tenant_detail(tenant_id: uuid.UUID):
    tenant = get_tenant(tenant_id)
    with platform_scope("admin console: tenant detail"):
        member_count = len(db.session.scalars(select(Membership.id).where(Membership.tenant_id == tenant.id)).all())
        report = verify_chain(tenant.id)
    return render_template("admin/tenant.html", tenant=tenant, member_count=member_count, report=report,
                           form=ActionForm(), baseline=baseline.baseline_of(tenant), presets=PRESETS)


@bp.route("/tenants/<uuid:tenant_id>/conduct-baseline", methods=["POST"])
@require_capability(Capability.PLATFORM_CONSOLE)
def tenant_baseline(tenant_id: uuid.UUID):
    tenant = get_tenant(tenant_id)
    try:
        baseline.assign(tenant, request.form.get("baseline", ""), platform_tenant_id=g.tenant.id)
    except DomainError as exc:
        db.session.rollback()
        flash(describe_error(exc), "danger")
    else:
        db.session.commit()
        flash(_("Conduct baseline assigned."), "success")
    return redirect(url_for("admin.tenant_detail", tenant_id=tenant.id))


@bp.route("/tenants/<uuid:tenant_id>/status", methods=["POST"])
@require_capability(Capability.PLATFORM_CONSOLE)
def tenant_status(tenant_id: uuid.UUID):
    tenant = get_tenant(tenant_id)
    status = request.form.get("status")
    if status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
        raise DomainError(_("Choose active or suspended."), code="tenant.bad_status")
    set_tenant_status(tenant, status, platform_tenant_id=g.tenant.id, reason=request.form.get("reason", ""))
    db.session.commit()
    flash(_("Suspended.") if status == TenantStatus.SUSPENDED else _("Reactivated."), "success")
    return redirect(url_for("admin.tenant_detail", tenant_id=tenant.id))


@bp.route("/audit")
@require_capability(Capability.PLATFORM_CONSOLE)
def audit_log():
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(100)).all()
    return render_template("audit.html", events=events, report=verify_chain(g.tenant.id),
                           event_url=lambda e: url_for("admin.audit_event", event_id=e.id))


@bp.route("/audit/<uuid:event_id>")
@require_capability(Capability.PLATFORM_CONSOLE)
def audit_event(event_id: uuid.UUID):
    return render_template("audit_event.html", event=get_event(event_id))


# The view modules register their routes on this blueprint when imported, so they come after it.
from web.admin import billing, compliance  # noqa: E402,F401
