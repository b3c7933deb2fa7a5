"""Logging in and out, throttling, CSRF, cookies, headers, tenant switching and who may see what."""
import re

from tenants.tenancy.models import TenantStatus
from tests.factories import PASSWORD, login


def test_login_lands_on_the_tenant_dashboard(client, factory):
    tenant = factory.tenant()
    user, _ = factory.user(tenant, email="li@example.test")
    response = login(client, "LI@example.test ")
    assert response.status_code == 302
    response = client.get(response.headers["Location"], follow_redirects=True)
    assert response.status_code == 200
    assert tenant.name in response.get_data(as_text=True)


def test_wrong_password_is_a_clear_401_and_unknown_email_looks_the_same(client, factory):
    factory.user(factory.tenant(), email="li@example.test")
    wrong = login(client, "li@example.test", "not-the-password")
    unknown = login(client, "nobody@example.test", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.get_data(as_text=True)
    assert "Wrong email or password." in unknown.get_data(as_text=True)


def test_failed_logins_are_throttled_per_account(client, factory):
    factory.user(factory.tenant(), email="li@example.test")
    for _ in range(5):
        assert login(client, "li@example.test", "wrong-password").status_code == 401
    throttled = login(client, "li@example.test")  # even the right password waits
    assert throttled.status_code == 429
    assert "Too many failed logins" in throttled.get_data(as_text=True)


def test_failed_logins_are_throttled_per_address_across_accounts(client, factory):
    for n in range(30):
        login(client, f"someone{n}@example.test", "wrong-password")
    factory.user(factory.tenant(), email="li@example.test")
    assert login(client, "li@example.test").status_code == 429


def test_logout_ends_the_session(client, factory):
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    login(client, "li@example.test")
    assert client.post("/logout").status_code == 302
    assert client.get(f"/t/{tenant.slug}/").status_code == 302  # back to the login page


def test_a_form_without_its_csrf_token_is_refused_with_a_clear_400(csrf_client, factory):
    factory.user(factory.tenant(), email="li@example.test")
    response = csrf_client.post("/login", data={"email": "li@example.test", "password": PASSWORD})
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)


def test_login_with_the_csrf_token_from_the_page_works(csrf_client, factory):
    factory.user(factory.tenant(), email="li@example.test")
    page = csrf_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = csrf_client.post("/login", data={"email": "li@example.test", "password": PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 302


def test_cookies_are_httponly_and_samesite_lax(client, factory):
    factory.user(factory.tenant(), email="li@example.test")
    response = login(client, "li@example.test")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_every_response_carries_security_headers(client):
    for path in ("/login", "/no-such-page", "/api/v1/me"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"


def test_anonymous_visitors_are_sent_to_login_whatever_the_slug(client, factory):
    tenant = factory.tenant()
    for slug in (tenant.slug, "no-such-tenant"):
        response = client.get(f"/t/{slug}/")
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_member_of_one_tenant_gets_404_in_another(client, factory):
    mine, other = factory.tenant(), factory.tenant()
    factory.user(mine, email="li@example.test")
    login(client, "li@example.test")
    assert client.get(f"/t/{mine.slug}/").status_code == 200
    assert client.get(f"/t/{other.slug}/").status_code == 404
    assert client.get("/t/no-such-tenant/").status_code == 404
    assert client.get("/admin/").status_code == 404


def test_the_tenant_switcher_lists_every_membership_and_each_page_uses_its_own_role(client, factory):
    lender, agency = factory.tenant("lender"), factory.tenant("agency")
    factory.user(lender, "lender_analyst", email="both@example.test")
    factory.user(agency, "agency_collector", email="both@example.test")
    response = login(client, "both@example.test")
    chooser = client.get(response.headers["Location"]).get_data(as_text=True)
    assert lender.name in chooser and agency.name in chooser
    agency_page = client.get(f"/t/{agency.slug}/").get_data(as_text=True)
    assert "My work queue" in agency_page and lender.name in agency_page  # switcher entry
    assert "Lender dashboard" in client.get(f"/t/{lender.slug}/").get_data(as_text=True)


def test_a_suspended_tenant_tells_its_members_so(client, factory):
    tenant = factory.tenant(status=TenantStatus.SUSPENDED)
    factory.user(tenant, email="li@example.test")
    login(client, "li@example.test")
    response = client.get(f"/t/{tenant.slug}/")
    assert response.status_code == 403
    assert "suspended" in response.get_data(as_text=True)


def test_roles_without_admin_rights_cannot_manage_tokens(client, factory):
    tenant = factory.tenant("agency")
    factory.user(tenant, "agency_collector", email="c@example.test")
    login(client, "c@example.test")
    assert client.get(f"/t/{tenant.slug}/tokens").status_code == 403


def test_open_redirects_after_login_are_refused(client, factory):
    factory.user(factory.tenant(), email="li@example.test")
    response = client.post("/login?next=//evil.example/x", data={"email": "li@example.test", "password": PASSWORD})
    assert response.headers["Location"].endswith("/choose")
