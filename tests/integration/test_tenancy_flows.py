"""A platform admin onboards a tenant; its admin accepts the one-time link and invites a collector."""
import re
from datetime import timedelta

from sqlalchemy import select

from tenants.audit import AuditEvent
from tenants.context import platform_scope, tenant_scope
from tests.factories import login


def _link(page: str) -> str:
    return re.search(r'id="invitation-link">http://localhost(/invite/[^<]+)<', page).group(1)


def test_onboarding_from_new_tenant_to_a_working_collector(client, factory, db_session):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="root@example.test")
    login(client, "root@example.test")
    created = client.post("/admin/tenants/new", data={
        "kind": "agency", "name": "华夏催收", "slug": "huaxia-x", "time_zone": "Asia/Shanghai",
        "locale": "zh_CN", "currency": "CNY", "first_admin_email": "boss@huaxia.test"})
    assert created.status_code == 200
    admin_link = _link(created.get_data(as_text=True))
    client.post("/logout")

    accepted = client.post(admin_link, data={"name": "张伟", "password": "a-long-password"})
    assert accepted.status_code == 302
    dashboard = client.get("/t/huaxia-x/")
    assert dashboard.status_code == 200
    assert client.get(admin_link).status_code == 404, "the link works once"

    invited = client.post("/t/huaxia-x/members/invite", data={"email": "c@huaxia.test", "role": "agency_collector"})
    collector_link = _link(invited.get_data(as_text=True))
    client.post("/logout")
    client.post(collector_link, data={"name": "赵强", "password": "another-long-one"})
    assert 'id="work-queue-card"' in client.get("/t/huaxia-x/").get_data(as_text=True)

    from tenants.tenancy.models import Tenant
    with platform_scope("test: the tenant by its address"):
        tenant = db_session.scalar(select(Tenant).where(Tenant.slug == "huaxia-x"))
    with tenant_scope(tenant.id):
        actions = [e.action for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions == ["tenant.created", "invitation.created", "invitation.accepted", "invitation.created",
                       "invitation.accepted"]


def test_invalid_form_input_comes_back_with_field_errors_not_a_500(client, factory):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="root@example.test")
    login(client, "root@example.test")
    response = client.post("/admin/tenants/new", data={"kind": "lender", "name": "x", "slug": "NO SPACES",
                                                       "time_zone": "Nowhere/City", "currency": "CNY",
                                                       "locale": "en", "first_admin_email": "bad"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Use 3–63 lowercase letters" in page and "Not an IANA time zone" in page


def test_a_short_password_is_refused_and_the_link_still_works(client, factory):
    tenant = factory.tenant()
    factory.user(tenant, email="admin@example.test")
    login(client, "admin@example.test")
    page = client.post(f"/t/{tenant.slug}/members/invite", data={"email": "new@example.test",
                                                                 "role": "lender_analyst"})
    link = _link(page.get_data(as_text=True))
    client.post("/logout")
    assert client.post(link, data={"name": "New", "password": "short"}).status_code == 422
    assert client.post(link, data={"name": "New", "password": "long-enough-now"}).status_code == 302


def test_expired_invitations_are_refused(client, factory, frozen_clock):
    tenant = factory.tenant()
    factory.user(tenant, email="admin@example.test")
    login(client, "admin@example.test")
    link = _link(client.post(f"/t/{tenant.slug}/members/invite",
                             data={"email": "late@example.test", "role": "lender_analyst"}).get_data(as_text=True))
    frozen_clock.advance(timedelta(days=8))
    response = client.get(link)
    assert response.status_code == 404 and "expired" in response.get_data(as_text=True)


def test_admins_deactivate_members_who_then_lose_access(client, factory):
    tenant = factory.tenant()
    factory.user(tenant, email="admin@example.test")
    _, analyst = factory.user(tenant, "lender_analyst", email="analyst@example.test")
    login(client, "admin@example.test")
    client.post(f"/t/{tenant.slug}/members/{analyst.id}/active", data={"active": "0"})
    client.post("/logout")
    login(client, "analyst@example.test")
    assert client.get(f"/t/{tenant.slug}/").status_code == 404


def test_suspending_from_the_console_blocks_the_tenant(client, factory):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="root@example.test")
    tenant = factory.tenant()
    factory.user(tenant, email="admin@example.test")
    login(client, "root@example.test")
    client.post(f"/admin/tenants/{tenant.id}/status", data={"status": "suspended", "reason": "contract ended"})
    assert "suspended" in client.get(f"/admin/tenants/{tenant.id}").get_data(as_text=True)
    login(client, "admin@example.test")
    assert client.get(f"/t/{tenant.slug}/").status_code == 403
