"""The tenant's own audit trail and its chain check."""
import uuid

from flask import g, render_template, url_for
from sqlalchemy import select

from tenants.audit import AuditEvent, get_event, verify_chain
from tenants.capabilities import Capability
from tenants.db import db
from web.access import require_capability
from web.tenant import bp

PAGE = 100


@bp.route("/audit")
@require_capability(Capability.AUDIT_READ)
def audit_log():
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(PAGE)).all()
    return render_template("audit.html", events=events, report=verify_chain(g.tenant.id), event_url=_event_url)


@bp.route("/audit/<uuid:event_id>")
@require_capability(Capability.AUDIT_READ)
def audit_event(event_id: uuid.UUID):
    return render_template("audit_event.html", event=get_event(event_id))


def _event_url(event):
    return url_for("tenant.audit_event", event_id=event.id)
