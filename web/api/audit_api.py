import uuid

from flask_smorest import Blueprint
from sqlalchemy import select

from tenants.audit import AuditEvent, get_event
from tenants.capabilities import Capability
from web.access import require_capability
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.schemas import AuditEventOut

blp = Blueprint("api_audit", __name__, url_prefix="/api/v1", description="The tenant's audit trail")


@blp.route("/audit-events")
@require_capability(Capability.AUDIT_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(AuditEventOut, "AuditEventPage"))
def list_events(args):
    return paginate(select(AuditEvent), AuditEvent.occurred_at, AuditEvent.id, **args)


@blp.route("/audit-events/<uuid:event_id>")
@require_capability(Capability.AUDIT_READ)
@blp.response(200, AuditEventOut)
def event(event_id: uuid.UUID):
    return get_event(event_id)
