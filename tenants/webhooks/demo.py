"""The demo's webhook endpoint: 金信's loan system, stood in for by web/demo/webhook_receiver.py on loopback."""
from sqlalchemy import select

from tenants.context import tenant_scope
from tenants.db import db
from tenants.webhooks import endpoints
from tenants.webhooks.models import WebhookEndpoint

DEMO_RECEIVER_PORT = 8430
DEMO_URL = f"http://127.0.0.1:{DEMO_RECEIVER_PORT}/hooks/jinxin"


def register_endpoint(lender, created_by) -> None:
    """Once: the lender's system subscribed to every event (loopback is allowed: the demo runs in development)."""
    with tenant_scope(lender.id):
        if db.session.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.url == DEMO_URL)) is None:
            endpoints.create(url=DEMO_URL, event_types=["*"], description="金信贷后系统 (demo receiver)",
                             created_by=created_by, allow_private=True)
        db.session.commit()
