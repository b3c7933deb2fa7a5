"""The tenant's own audit trail and its chain check."""
import uuid

from flask import g, render_template, url_for
from sqlalchemy import select

from tenants.audit import AuditEvent, get_event, verify_chain
from tenants.db import db
from tenants.tenancy.roles import ADMIN_ROLES
from web.access import require_role
from web.tenant import bp

PAGE = 100


@bp.route("/audit")
@require_role(*ADMIN_ROLES)
def audit_log():
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(PAGE)).all()
    return render_template("audit.html", events=events, report=verify_chain(g.tenant.id), event_url=_event_url)


@bp.route("/audit/<uuid:event_id>")
@require_role(*ADMIN_ROLES)
def audit_event(event_id: uuid.UUID):
    return render_template("audit_event.html", event=get_event(event_id))


def _event_url(event):
    return url_for("tenant.audit_event", event_id=event.id)
