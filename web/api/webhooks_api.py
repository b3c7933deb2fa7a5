"""Outbound webhooks by API: endpoints (create — the secret is in the answer once —, rotate the secret, disable,
enable), their deliveries, and a delivery asked for again. Settings: tenant admins (settings.manage)."""
import uuid

from flask import current_app, g
from flask_smorest import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate
from sqlalchemy import select

from tenants.capabilities import Capability
from tenants.db import db
from tenants.webhooks import endpoints
from tenants.webhooks.events import EVENT_TYPES
from tenants.webhooks.models import WebhookDelivery, WebhookEndpoint
from web.access import require_capability
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.schemas import with_extra

blp = Blueprint("api_webhooks", __name__, url_prefix="/api/v1", description="Outbound webhooks")


class EndpointIn(Schema):
    url = fields.String(required=True, validate=validate.Length(max=2000))
    event_types = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                              validate=validate.Length(max=len(EVENT_TYPES) + 1),
                              metadata={"description": "Event types, or [\"*\"] for all of them."})
    description = fields.String(load_default="", validate=validate.Length(max=200))


class RotateIn(Schema):
    class Meta:
        unknown = EXCLUDE

    overlap_hours = fields.Integer(load_default=endpoints.DEFAULT_OVERLAP_HOURS,
                                   validate=validate.Range(min=0, max=endpoints.MAX_OVERLAP_HOURS),
                                   metadata={"description": "Hours the previous secret keeps signing too."})


class EndpointOut(Schema):
    id = fields.UUID()
    url = fields.String()
    description = fields.String()
    event_types = fields.List(fields.String())
    active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    disabled_at = fields.DateTime(allow_none=True)
    consecutive_failures = fields.Integer()
    last_success_at = fields.DateTime(allow_none=True)
    secret_rotated_at = fields.DateTime(allow_none=True)
    previous_secret_until = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class EndpointCreatedOut(EndpointOut):
    secret = fields.String(metadata={"description": "The signing secret: shown once; store it now."})


class EventTypeOut(Schema):
    type = fields.String()
    description = fields.String()


class EventTypesOut(Schema):
    event_types = fields.List(fields.Nested(EventTypeOut))


class DeliveryOut(Schema):
    id = fields.UUID()
    endpoint_id = fields.UUID()
    event_id = fields.UUID()
    event_type = fields.Function(lambda d: d.event.type)
    account_ref = fields.Function(lambda d: d.event.account_ref)
    redelivery = fields.Boolean()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    response_status = fields.Integer(allow_none=True)
    response_ms = fields.Integer(allow_none=True)
    response_excerpt = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)


def _allow_private() -> bool:
    return endpoints.allow_private(current_app.config)


@blp.route("/webhooks/event-types")
@require_capability(Capability.SETTINGS_MANAGE)
@blp.response(200, EventTypesOut)
def event_types():
    return {"event_types": [{"type": t, "description": d} for t, d in EVENT_TYPES.items()]}


@blp.route("/webhooks/endpoints")
@require_capability(Capability.SETTINGS_MANAGE)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(EndpointOut, "WebhookEndpointPage"))
def list_endpoints(args):
    return paginate(select(WebhookEndpoint), WebhookEndpoint.created_at, WebhookEndpoint.id, **args)


@blp.route("/webhooks/endpoints", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
@blp.arguments(EndpointIn)
@blp.response(201, EndpointCreatedOut)
def create_endpoint(data):
    endpoint, secret = endpoints.create(created_by=g.api_token.created_by_user_id, allow_private=_allow_private(),
                                        **data)
    db.session.commit()
    return with_extra(endpoint, EndpointOut, secret=secret)


@blp.route("/webhooks/endpoints/<uuid:endpoint_id>")
@require_capability(Capability.SETTINGS_MANAGE)
@blp.response(200, EndpointOut)
def endpoint(endpoint_id: uuid.UUID):
    return endpoints.get(endpoint_id)


@blp.route("/webhooks/endpoints/<uuid:endpoint_id>/rotate-secret", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
@blp.arguments(RotateIn)
@blp.response(200, EndpointCreatedOut)
def rotate_secret(data, endpoint_id: uuid.UUID):
    found = endpoints.get(endpoint_id)
    secret = endpoints.rotate_secret(found, overlap_hours=data["overlap_hours"])
    db.session.commit()
    return with_extra(found, EndpointOut, secret=secret)


@blp.route("/webhooks/endpoints/<uuid:endpoint_id>/disable", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
@blp.response(200, EndpointOut)
def disable(endpoint_id: uuid.UUID):
    found = endpoints.set_active(endpoints.get(endpoint_id), False)
    db.session.commit()
    return found


@blp.route("/webhooks/endpoints/<uuid:endpoint_id>/enable", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
@blp.response(200, EndpointOut)
def enable(endpoint_id: uuid.UUID):
    found = endpoints.set_active(endpoints.get(endpoint_id), True)
    db.session.commit()
    return found


@blp.route("/webhooks/endpoints/<uuid:endpoint_id>/deliveries")
@require_capability(Capability.SETTINGS_MANAGE)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(DeliveryOut, "WebhookDeliveryPage"))
def deliveries(args, endpoint_id: uuid.UUID):
    found = endpoints.get(endpoint_id)
    return paginate(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == found.id),
                    WebhookDelivery.created_at, WebhookDelivery.id, newest_first=True, **args)


@blp.route("/webhooks/deliveries/<uuid:delivery_id>/redeliver", methods=["POST"])
@require_capability(Capability.SETTINGS_MANAGE)
@blp.response(201, DeliveryOut)
def redeliver(delivery_id: uuid.UUID):
    again = endpoints.redeliver(endpoints.get_delivery(delivery_id))
    db.session.commit()
    return again
