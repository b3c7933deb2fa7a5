"""Sessions end server-side (a copied cookie stops working), API tokens act with their own role, and nothing with
personal data is cached."""
import re

import pytest
from sqlalchemy import select

from tenants.audit import AuditEvent
from tenants.context import tenant_scope
from tenants.errors import ValidationFailed
from tenants.tenancy.models import TenantStatus
from tenants.tenancy.services import invite_user
from tenants.tenancy.tokens import create_token
from tests.factories import PASSWORD, login


@pytest.fixture
def copy_of(app):
    """Another browser holding a copy of `client`'s session cookie (as an attacker who captured it would)."""
    def copy(client):
        thief = client.__class__(app, app.response_class, use_cookies=True)
        thief.set_cookie("session", client.get_cookie("session").value)
        return thief

    return copy


def _signed_in(client, tenant) -> bool:
    response = client.get(f"/t/{tenant.slug}/")
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def test_a_cookie_captured_before_logout_no_longer_works(client, factory, copy_of):
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    login(client, "li@example.test")
    thief = copy_of(client)
    assert _signed_in(thief, tenant)
    client.post("/logout")
    assert not _signed_in(thief, tenant)
    assert thief.get("/choose").status_code == 302


def test_logging_out_on_one_device_ends_the_sessions_on_the_others(client, factory, app):
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    laptop, phone = client, client.__class__(app, app.response_class, use_cookies=True)
    login(laptop, "li@example.test")
    login(phone, "li@example.test")
    phone.post("/logout")
    assert not _signed_in(laptop, tenant)


def test_changing_the_password_keeps_this_session_and_ends_the_others(client, factory, copy_of):
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    login(client, "li@example.test")
    thief = copy_of(client)
    changed = client.post("/password", data={"current_password": PASSWORD, "new_password": "a-brand-new-secret"})
    assert changed.status_code == 302
    assert _signed_in(client, tenant)
    assert not _signed_in(thief, tenant)
    client.post("/logout")
    assert login(client, "li@example.test").status_code == 401
    assert login(client, "li@example.test", "a-brand-new-secret").status_code == 302


def test_a_wrong_current_password_changes_nothing(client, factory, copy_of):
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    login(client, "li@example.test")
    thief = copy_of(client)
    refused = client.post("/password", data={"current_password": "not-it-at-all", "new_password": "a-brand-new-secret"})
    assert refused.status_code == 401
    assert "Wrong password." in refused.get_data(as_text=True)
    assert _signed_in(thief, tenant)


def test_a_deactivated_members_sessions_stay_ended_after_reactivation(client, factory, copy_of, app):
    tenant = factory.tenant("agency")
    factory.user(tenant, email="boss@example.test")
    _, membership = factory.user(tenant, "agency_collector", email="c@example.test")
    collector = client.__class__(app, app.response_class, use_cookies=True)
    login(collector, "c@example.test")
    thief = copy_of(collector)
    login(client, "boss@example.test")
    for active in ("0", "1"):
        client.post(f"/t/{tenant.slug}/members/{membership.id}/active", data={"active": active})
    assert not _signed_in(thief, tenant)
    assert not _signed_in(collector, tenant)
    login(collector, "c@example.test")
    assert _signed_in(collector, tenant)


def test_a_suspended_tenants_sessions_stay_ended_after_reactivation(client, factory, copy_of, app):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="root@example.test")
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    member = client.__class__(app, app.response_class, use_cookies=True)
    login(member, "li@example.test")
    thief = copy_of(member)
    login(client, "root@example.test")
    for status in (TenantStatus.SUSPENDED, TenantStatus.ACTIVE):
        client.post(f"/admin/tenants/{tenant.id}/status", data={"status": status, "reason": "contract review"})
    assert not _signed_in(thief, tenant)
    assert not _signed_in(member, tenant)


def test_a_role_change_ends_the_members_sessions(client, factory, copy_of):
    tenant = factory.tenant()
    user, _ = factory.user(tenant, "lender_manager", email="li@example.test")
    login(client, "li@example.test")
    thief = copy_of(client)
    with tenant_scope(tenant.id):
        secret = invite_user(tenant=tenant, email="li@example.test", role="lender_analyst")
    other = client.__class__(client.application, client.application.response_class, use_cookies=True)
    assert other.post(f"/invite/{secret}", data={"name": "Li", "password": PASSWORD}).status_code == 302
    assert not _signed_in(thief, tenant)


# ---- API tokens: their own role, at most their creator's ---------------------------------------------------

def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def test_an_admin_gives_a_token_a_lower_role_and_it_acts_and_is_audited_as_that_token(client, factory, db_session):
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    login(client, "li@example.test")
    page = client.post(f"/t/{tenant.slug}/tokens", data={"name": "reports", "role": "lender_analyst"})
    assert page.status_code == 200
    headers = bearer(re.search(r'id="token-secret">([^<]+)<', page.get_data(as_text=True)).group(1))
    me = client.get("/api/v1/me", headers=headers)
    assert me.json["role"] == "lender_analyst"
    assert client.get("/api/v1/tokens", headers=headers).status_code == 403
    admin_token, admin_secret = factory.token(tenant)
    assert client.delete(f"/api/v1/tokens/{me.json['token_id']}", headers=bearer(admin_secret)).status_code == 200
    with tenant_scope(tenant.id):
        actors = db_session.scalars(select(AuditEvent.actor_label).where(AuditEvent.action == "api_token.revoked"))
        assert list(actors) == [f"token:{admin_token.id}"]
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_token_cannot_be_given_more_than_its_creators_role(factory, db_session):
    tenant = factory.tenant()
    with tenant_scope(tenant.id), pytest.raises(ValidationFailed) as refused:
        create_token(tenant=tenant, name="too much", role="lender_admin", created_by=None,
                     creator_role="lender_manager")
    assert refused.value.code == "token.role_above_creator"


def test_the_token_page_offers_only_roles_of_this_kind_of_tenant(client, factory):
    tenant = factory.tenant("agency")
    factory.user(tenant, email="boss@example.test")
    login(client, "boss@example.test")
    page = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    assert 'value="agency_collector"' in page and 'value="lender_admin"' not in page


def test_tokens_of_a_deactivated_creator_stop_working(client, factory, db_session):
    tenant = factory.tenant()
    creator, membership = factory.user(tenant, email="li@example.test")
    _, secret = factory.token(tenant, "lender_analyst", creator=creator)
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    with tenant_scope(tenant.id):
        membership.is_active = False
        db_session.flush()
    refused = client.get("/api/v1/me", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "auth.token_creator_inactive"


def test_a_demoted_creators_tokens_act_with_the_creators_new_role(client, factory, db_session):
    tenant = factory.tenant()
    creator, membership = factory.user(tenant, email="li@example.test")
    _, secret = factory.token(tenant, "lender_admin", creator=creator)
    with tenant_scope(tenant.id):
        membership.role = "lender_analyst"
        db_session.flush()
    assert client.get("/api/v1/me", headers=bearer(secret)).json["role"] == "lender_analyst"


# ---- nothing personal is cached --------------------------------------------------------------------------

def test_pages_and_api_answers_are_not_stored_but_static_assets_are_cacheable(client, factory):
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    _, secret = factory.token(tenant)
    login(client, "li@example.test")
    for response in (client.get(f"/t/{tenant.slug}/"), client.get("/api/v1/me", headers=bearer(secret))):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
    stylesheet = client.get("/static/print.css")
    assert stylesheet.status_code == 200
    assert "no-store" not in stylesheet.headers.get("Cache-Control", "")
