"""Input PostgreSQL would refuse, or of the wrong shape, answers 4xx with the field named, never 500."""
import pytest

from tenants.tenancy.roles import TenantKind


@pytest.fixture
def lender(factory):
    return factory.world(TenantKind.LENDER)


def bearer(world):
    return {"Authorization": f"Bearer {world.token_secret}"}


def refused_field(response) -> str:
    assert response.status_code == 400, response.data[:300]
    assert response.json["error"]["code"] == "input.invalid_character"
    [field] = response.json["error"]["details"]["fields"]
    return field


def test_a_nul_anywhere_in_an_api_request_is_400_naming_the_field(client, lender):
    assert refused_field(client.get("/api/v1/accounts?q=a%00b", headers=bearer(lender))) == "q"
    account = lender.objects["account_id"]
    nested = client.post(f"/api/v1/accounts/{account}/holds", headers=bearer(lender),
                         json={"type": "hardship", "reason": "ok", "allow": ["fine", "bad\x00"]})
    assert refused_field(nested) == "allow[1]"
    assert refused_field(client.get("/api/v1/accounts/a%00b", headers=bearer(lender))) == "path"


def test_a_nul_in_a_form_is_a_400_page(client, lender):
    page = client.post(f"/t/{lender.tenant.slug}/portfolios", data={"name": "x\x00y"})
    assert page.status_code == 400 and b"input.invalid_character" in page.data


@pytest.mark.parametrize("body", [[], "text", 42, None, {"description": {"nested": 1}}])
def test_a_complaint_body_of_the_wrong_shape_is_4xx(client, lender, body):
    response = client.post("/api/v1/complaints", headers=bearer(lender), json=body)
    assert response.status_code in (400, 422), response.json
    assert response.json["error"]["code"] in ("validation.failed", "request.malformed")
