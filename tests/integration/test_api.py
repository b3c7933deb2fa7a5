"""The JSON API: bearer tokens, the error shape, pagination, OpenAPI, tenant administration."""
import pytest

from tenants.context import platform_scope, tenant_scope


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def test_without_a_token_the_api_answers_401_in_the_error_shape(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "auth.missing_token"
    assert response.json["error"]["message"]


@pytest.mark.parametrize("header", ["Bearer rcv_nope", "Bearer nope", "Basic abc", "Bearer "])
def test_bad_tokens_are_401(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"]["code"].startswith("auth.")


def test_a_token_knows_its_tenant_and_role_and_records_its_last_use(client, factory, db_session):
    tenant = factory.tenant("agency")
    token, secret = factory.token(tenant, "agency_supervisor")
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 200
    assert response.json["tenant"]["slug"] == tenant.slug
    assert response.json["role"] == "agency_supervisor"
    with tenant_scope(tenant.id):
        db_session.refresh(token)
        assert token.last_used_at is not None


def test_token_secret_is_shown_once_stored_hashed_and_revocable(client, factory, db_session):
    tenant = factory.tenant()
    _, admin_secret = factory.token(tenant)
    created = client.post("/api/v1/tokens", json={"name": "ci", "role": "lender_analyst"},
                          headers=bearer(admin_secret))
    assert created.status_code == 201
    secret = created.json["secret"]
    assert client.get("/api/v1/me", headers=bearer(secret)).json["role"] == "lender_analyst"
    listed = client.get("/api/v1/tokens", headers=bearer(admin_secret)).json["items"]
    assert all("secret" not in item for item in listed)
    assert secret not in str(listed)
    revoked = client.delete(f"/api/v1/tokens/{created.json['id']}", headers=bearer(admin_secret))
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_a_role_cannot_be_from_another_kind_of_tenant(client, factory):
    _, secret = factory.token(factory.tenant("lender"))
    response = client.post("/api/v1/tokens", json={"name": "x", "role": "agency_collector"}, headers=bearer(secret))
    assert response.status_code == 422
    assert response.json["error"]["code"] == "token.bad_role"


def test_non_admin_tokens_are_forbidden_from_token_management(client, factory):
    _, secret = factory.token(factory.tenant("agency"), "agency_collector")
    response = client.get("/api/v1/tokens", headers=bearer(secret))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "auth.forbidden"


def test_malformed_json_is_a_400_not_a_500(client, factory):
    _, secret = factory.token(factory.tenant())
    response = client.post("/api/v1/tokens", data="{not json", headers={**bearer(secret),
                                                                         "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "request.malformed"


def test_invalid_fields_are_422_with_messages_per_field(client, factory):
    _, secret = factory.token(factory.tenant())
    response = client.post("/api/v1/invitations", json={"email": "nope"}, headers=bearer(secret))
    assert response.status_code == 422
    fields = response.json["error"]["details"]["fields"]
    assert set(fields) == {"email", "role"}


def test_lists_use_cursor_pagination(client, factory):
    tenant = factory.tenant()
    _, secret = factory.token(tenant)
    for _ in range(4):
        factory.user(tenant)
    seen, cursor = [], None
    while True:
        url = "/api/v1/members?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=bearer(secret)).json
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 4
    bad = client.get("/api/v1/members?cursor=garbage", headers=bearer(secret))
    assert bad.status_code == 422 and bad.json["error"]["code"] == "pagination.bad_cursor"


def test_unknown_api_paths_answer_json_404(client, factory):
    _, secret = factory.token(factory.tenant())
    response = client.get("/api/v1/nothing-here", headers=bearer(secret))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_the_openapi_document_describes_the_api(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["info"]["title"] == "Recoverly API"
    assert "/api/v1/tokens/{token_id}" in spec["paths"]
    assert "bearer" in spec["components"]["securitySchemes"]


def test_platform_admins_create_suspend_and_reactivate_tenants(client, factory, db_session):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    _, secret = factory.token(platform, "platform_admin")
    created = client.post("/api/v1/tenants", headers=bearer(secret), json={
        "kind": "agency", "slug": "new-agency-x", "name": "New Agency", "time_zone": "Asia/Shanghai",
        "locale": "zh_CN", "currency": "cny", "first_admin_email": "boss@agency.test"})
    assert created.status_code == 201, created.json
    assert created.json["currency"] == "CNY"
    assert "/invite/" in created.json["first_admin_accept_url"]
    duplicate = client.post("/api/v1/tenants", headers=bearer(secret), json={
        "kind": "agency", "slug": "new-agency-x", "name": "Again", "first_admin_email": "b@agency.test"})
    assert duplicate.status_code == 409 and duplicate.json["error"]["code"] == "tenant.slug_taken"

    from tenants.tenancy.models import Tenant
    with platform_scope("test: the tenant the platform created"):
        agency = db_session.get(Tenant, __import__("uuid").UUID(created.json["id"]))
    _, agency_secret = factory.token(agency)
    suspended = client.post(f"/api/v1/tenants/{agency.id}/suspend", json={"reason": "unpaid"},
                            headers=bearer(secret))
    assert suspended.json["status"] == "suspended"
    blocked = client.get("/api/v1/me", headers=bearer(agency_secret))
    assert blocked.status_code == 403 and blocked.json["error"]["code"] == "tenant.suspended"
    client.post(f"/api/v1/tenants/{agency.id}/reactivate", json={}, headers=bearer(secret))
    assert client.get("/api/v1/me", headers=bearer(agency_secret)).status_code == 200


@pytest.mark.parametrize("bad,field", [
    ({"slug": "Bad Slug"}, "slug"), ({"slug": "admin"}, "slug"), ({"time_zone": "Mars/Base"}, "time_zone"),
    ({"currency": "XXQ"}, "currency"), ({"kind": "platform"}, "kind"), ({"locale": "fr"}, "locale"),
])
def test_new_tenant_input_is_validated(client, factory, bad, field):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    _, secret = factory.token(platform, "platform_admin")
    body = {"kind": "lender", "slug": "fine-slug", "name": "Fine", "first_admin_email": "a@b.test", **bad}
    response = client.post("/api/v1/tenants", json=body, headers=bearer(secret))
    assert response.status_code == 422
    assert field in response.json["error"]["details"]["fields"]


def test_tenant_administration_does_not_exist_for_other_tokens(client, factory):
    _, secret = factory.token(factory.tenant("lender"))
    assert client.get("/api/v1/tenants", headers=bearer(secret)).status_code == 404
