"""Settings › Webhooks and /api/v1/webhooks: register (secret once), refuse internal URLs with a code, rotate,
disable, list deliveries and ask for one again; admins only."""
from sqlalchemy import select

from tenants import clock
from tenants.context import tenant_scope
from tenants.db import db
from tenants.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import login


def _bearer(world):
    return {"Authorization": f"Bearer {world.token_secret}"}


def test_the_api_registers_an_endpoint_and_shows_its_secret_once(client, factory):
    world = factory.world("lender")
    answer = client.post("/api/v1/webhooks/endpoints", headers=_bearer(world),
                         json={"url": "http://93.184.216.34/hooks", "event_types": ["payment.confirmed"]})
    assert answer.status_code == 201, answer.get_json()
    created = answer.get_json()
    assert created["secret"].startswith("whsec_") and created["event_types"] == ["payment.confirmed"]
    shown = client.get(f"/api/v1/webhooks/endpoints/{created['id']}", headers=_bearer(world)).get_json()
    assert "secret" not in shown
    rotated = client.post(f"/api/v1/webhooks/endpoints/{created['id']}/rotate-secret", headers=_bearer(world),
                          json={"overlap_hours": 2}).get_json()
    assert rotated["secret"] != created["secret"] and rotated["previous_secret_until"]
    disabled = client.post(f"/api/v1/webhooks/endpoints/{created['id']}/disable", headers=_bearer(world))
    assert disabled.get_json()["active"] is False
    listed = client.get("/api/v1/webhooks/endpoints", headers=_bearer(world)).get_json()
    assert created["id"] in [e["id"] for e in listed["items"]]


def test_internal_urls_are_refused_with_a_machine_code(client, factory, app):
    world = factory.world("lender")
    app.config["WEBHOOKS_ALLOW_PRIVATE_URLS"] = False
    for url, code in (("http://169.254.169.254/latest/meta-data/", "webhook.url_blocked_address"),
                      ("http://[::1]:8080/", "webhook.url_blocked_address"),
                      ("http://0x7f.1/", "webhook.url_blocked_address"),
                      ("https://admin:pw@93.184.216.34/", "webhook.url_credentials"),
                      ("ftp://93.184.216.34/", "webhook.url_scheme")):
        answer = client.post("/api/v1/webhooks/endpoints", headers=_bearer(world),
                             json={"url": url, "event_types": ["*"]})
        assert answer.status_code == 422 and answer.get_json()["error"]["code"] == code, (url, answer.get_json())
    with tenant_scope(world.tenant.id):
        assert db.session.scalars(select(WebhookEndpoint.url)).all() == ["http://127.0.0.1:9/hooks"]


def test_the_page_lists_deliveries_sends_one_again_and_tells_when_failures_disabled_it(client, factory):
    world = factory.world("lender")
    endpoint_id, delivery_id = world.objects["endpoint_id"], world.objects["delivery_id"]
    with tenant_scope(world.tenant.id):
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        endpoint.active, endpoint.disabled_reason, endpoint.disabled_at = False, "failures", clock.now()
        endpoint.consecutive_failures = 12
        delivery = db.session.get(WebhookDelivery, delivery_id)
        delivery.attempts, delivery.response_status, delivery.response_excerpt = 3, 503, "maintenance window"
        db.session.flush()
    login(client, world.admin_email)
    slug = world.tenant.slug
    page = client.get(f"/t/{slug}/webhooks/{endpoint_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "webhook-disabled-notice" in text and "12" in text
    assert "import.completed" in text and "503" in text and "maintenance window" in text
    assert client.get(f"/t/{slug}/webhooks").status_code == 200
    client.post(f"/t/{slug}/webhooks/{endpoint_id}/enable")
    client.post(f"/t/{slug}/webhooks/deliveries/{delivery_id}/redeliver")
    db.session.expire_all()
    with tenant_scope(world.tenant.id):
        rows = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)).all()
        assert db.session.get(WebhookEndpoint, endpoint_id).active
    assert sorted(r.redelivery for r in rows) == [False, True]


def test_the_page_creates_an_endpoint_and_refuses_an_internal_one_in_the_readers_words(client, factory, app):
    world = factory.world("lender")
    login(client, world.admin_email)
    slug = world.tenant.slug
    created = client.post(f"/t/{slug}/webhooks", data={"url": "https://93.184.216.34/in", "event_types": ["*"],
                                                         "description": "core"})
    assert created.status_code == 200 and "whsec_" in created.get_data(as_text=True)
    app.config["WEBHOOKS_ALLOW_PRIVATE_URLS"] = False
    refused = client.post(f"/t/{slug}/webhooks", data={"url": "http://10.0.0.5/in", "event_types": ["*"]})
    assert refused.status_code == 422 and "internal address" in refused.get_data(as_text=True)


def test_a_collector_or_analyst_cannot_manage_webhooks(client, factory):
    world = factory.world("lender")
    analyst_email = "analyst-webhooks@example.test"
    factory.user(world.tenant, "lender_analyst", email=analyst_email)
    login(client, analyst_email)
    assert client.get(f"/t/{world.tenant.slug}/webhooks").status_code == 403
