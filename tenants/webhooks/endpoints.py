"""A tenant's webhook endpoints: register (the signing secret is shown once), rotate the secret with an overlap,
disable and enable, list deliveries and ask for one again."""
import uuid
from datetime import timedelta

from sqlalchemy import select

from tenants import audit, clock, outbox
from tenants.db import db
from tenants.errors import Conflict, NotFound, ValidationFailed
from tenants.webhooks import signing, urls
from tenants.webhooks.events import EVENT_TYPES
from tenants.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

MAX_OVERLAP_HOURS = 168
DEFAULT_OVERLAP_HOURS = 24
DELIVER_JOB = "workers.jobs.deliver_webhooks"


def allow_private(config) -> bool:
    """Loopback and private addresses only in development (the demo's receiver, tests) and only when asked for."""
    return config.get("ENV_NAME") == "development" and bool(config.get("WEBHOOKS_ALLOW_PRIVATE_URLS"))


def _event_types(chosen) -> list[str]:
    chosen = [c for c in (chosen or []) if c]
    unknown = [c for c in chosen if c != "*" and c not in EVENT_TYPES]
    if not chosen or unknown:
        message = "Choose at least one event type." if not chosen else f"Unknown event types: {', '.join(unknown)}."
        raise ValidationFailed(message, code="webhook.event_types_invalid",
                               details={"fields": {"event_types": [message]}, "unknown": ", ".join(unknown)})
    return ["*"] if "*" in chosen else sorted(set(chosen))


def create(*, url: str, event_types, description: str | None, created_by: uuid.UUID | None,
           allow_private: bool = False) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret, which is shown this once."""
    target = urls.check(url, allow_private=allow_private)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(url=target.url, event_types=_event_types(event_types),
                               description=(description or "").strip()[:200], secret=secret, active=True,
                               created_at=clock.now(), created_by_user_id=created_by)
    db.session.add(endpoint)
    db.session.flush()
    audit.record("webhook.endpoint_created", object_type="webhook_endpoint", object_id=endpoint.id,
                 after={"url": endpoint.url, "event_types": endpoint.event_types})
    return endpoint, secret


def get(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
    if endpoint is None:
        raise NotFound(code="webhook_endpoint.not_found")
    return endpoint


def list_all() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at,
                                                                    WebhookEndpoint.id)))


def secrets_in_force(endpoint: WebhookEndpoint, now=None) -> list[str]:
    now = now or clock.now()
    current = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        current.append(endpoint.previous_secret)
    return current


def rotate_secret(endpoint: WebhookEndpoint, *, overlap_hours: int = DEFAULT_OVERLAP_HOURS) -> str:
    """A new secret signs from now on; the old one signs too until the overlap ends (0: at once no more)."""
    if not isinstance(overlap_hours, int) or not 0 <= overlap_hours <= MAX_OVERLAP_HOURS:
        message = f"The overlap is 0 to {MAX_OVERLAP_HOURS} hours."
        raise ValidationFailed(message, code="webhook.overlap_invalid",
                               details={"fields": {"overlap_hours": [message]}, "max": MAX_OVERLAP_HOURS})
    now = clock.now()
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret if overlap_hours else None
    endpoint.previous_secret_until = now + timedelta(hours=overlap_hours) if overlap_hours else None
    endpoint.secret, endpoint.secret_rotated_at = secret, now
    audit.record("webhook.secret_rotated", object_type="webhook_endpoint", object_id=endpoint.id,
                 after={"overlap_hours": overlap_hours})
    return secret


def set_active(endpoint: WebhookEndpoint, active: bool) -> WebhookEndpoint:
    if endpoint.active == active:
        raise Conflict("The endpoint is already " + ("enabled." if active else "disabled."),
                       code="webhook.already_enabled" if active else "webhook.already_disabled")
    before = {"active": endpoint.active, "disabled_reason": endpoint.disabled_reason}
    endpoint.active = active
    if active:
        endpoint.disabled_at = endpoint.disabled_reason = None
        endpoint.consecutive_failures, endpoint.failing_since = 0, None
        outbox.schedule(DELIVER_JOB)  # what waited while it was off
    else:
        endpoint.disabled_at, endpoint.disabled_reason = clock.now(), "manual"
    audit.record("webhook.endpoint_enabled" if active else "webhook.endpoint_disabled",
                 object_type="webhook_endpoint", object_id=endpoint.id, before=before,
                 after={"active": endpoint.active, "disabled_reason": endpoint.disabled_reason})
    return endpoint


def deliveries(endpoint: WebhookEndpoint, *, limit: int = 100) -> list[WebhookDelivery]:
    return list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                                   .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.event_seq.desc())
                                   .limit(limit)))


def get_delivery(delivery_id: uuid.UUID) -> WebhookDelivery:
    delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id))
    if delivery is None:
        raise NotFound(code="webhook_delivery.not_found")
    return delivery


def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """The same event again (same event id: the receiver may de-duplicate), as a new delivery sent at once."""
    if not delivery.endpoint.active:
        raise Conflict("Enable the endpoint before asking for a delivery again.", code="webhook.endpoint_disabled")
    again = WebhookDelivery(tenant_id=delivery.tenant_id, endpoint_id=delivery.endpoint_id,
                            event_id=delivery.event_id, event_seq=delivery.event_seq, account_id=delivery.account_id,
                            redelivery=True, status=DeliveryStatus.PENDING, attempts=0,
                            next_attempt_at=clock.now(), created_at=clock.now())
    db.session.add(again)
    db.session.flush()
    audit.record("webhook.redelivery_requested", object_type="webhook_delivery", object_id=again.id,
                 after={"event_id": str(delivery.event_id), "of": str(delivery.id)})
    outbox.schedule(DELIVER_JOB)
    return again
