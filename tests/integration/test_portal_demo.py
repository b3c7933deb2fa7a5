"""The demo's portal: 华夏's outbox holds a message with a portal link for one of its debtors; asking for a code puts
the code in the outbox's portal list, and the code opens the debtor's page."""
import re

from sqlalchemy import select

from tenants import demo_data
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.messaging.models import OutboundMessage
from tenants.tenancy.models import Tenant
from tests.factories import login
from tests.integration.test_portal import csrf_of, last_code


def test_the_demo_outbox_has_a_portal_link_and_the_code_arrives_there(client, db_session):
    demo_data.seed()
    with platform_scope("test: the demo's agency"):
        huaxia = db.session.scalar(select(Tenant).where(Tenant.slug == "huaxia-collect"))
    with tenant_scope(huaxia.id):
        bodies = [(m.account_id, m.body) for m in db.session.scalars(select(OutboundMessage))]
    [(account_id, body)] = [(a, b) for a, b in bodies if "/p/" in b]
    token = re.search(r"/p/(\S+)", body).group(1)

    page = client.get(f"/p/{token}")
    client.post(f"/p/{token}/code", data={"csrf": csrf_of(page)})
    account = type("A", (), {"id": account_id})
    code = last_code(huaxia, account)
    login(client, "agency.admin@huaxia.test", demo_data.DEMO_PASSWORD)
    outbox = client.get("/t/huaxia-collect/outbox").get_data(as_text=True)
    assert "portal-outbox" in outbox and code in outbox
    page = client.get(f"/p/{token}")
    opened = client.post(f"/p/{token}/verify", data={"csrf": csrf_of(page), "code": code})
    assert opened.status_code == 302
    assert "金信" in client.get("/p/home").get_data(as_text=True)
