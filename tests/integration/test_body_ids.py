"""Ids in request bodies are resolved as the caller sees them before anything is stored: another tenant's id and a
random one answer the same 404 (the field named, no existence oracle) and store nothing; a visible id of another
account of the caller's is refused (422)."""
import io
import uuid

import pytest

from tenants.tenancy.roles import TenantKind

PROMISE_DUE = "2026-12-05"  # a few days after the frozen clock's today


def bearer(world):
    return {"Authorization": f"Bearer {world.token_secret}"}


@pytest.fixture
def worlds(factory, frozen_clock):
    """Two agencies, each holding a case of its own lender with one of everything, and a third party on it."""
    mine, theirs = factory.world(TenantKind.AGENCY), factory.world(TenantKind.AGENCY)
    for world in (mine, theirs):
        world.objects["third_party_id"] = factory.third_party(world.objects["account_id"]).id
    return mine, theirs


def attempt(client, world, **body):
    return client.post(f"/api/v1/accounts/{world.objects['account_id']}/contact-attempts", headers=bearer(world),
                       json={"channel": "call", **body})


def attempts(client, world) -> list[dict]:
    listed = client.get(f"/api/v1/accounts/{world.objects['account_id']}/contact-attempts", headers=bearer(world))
    assert listed.status_code == 200, listed.json
    return listed.json["items"]


def assert_not_found(response, code: str, field: str):
    assert response.status_code == 404, response.json
    assert response.json["error"]["code"] == code
    assert field in response.json["error"]["details"]["fields"]


def foreign_and_random(theirs, name: str) -> list[str]:
    return [str(theirs.objects[name]), str(uuid.uuid4())]


def test_an_attempt_reaches_only_a_third_party_of_its_own_account(client, worlds):
    mine, theirs = worlds
    before = attempts(client, mine)
    for foreign in foreign_and_random(theirs, "third_party_id"):
        assert_not_found(attempt(client, mine, target="third_party", third_party_id=foreign),
                         "third_party.not_found", "third_party_id")
        assert_not_found(attempt(client, mine, target="debtor", third_party_id=foreign),
                         "third_party.not_found", "third_party_id")
    own = str(mine.objects["third_party_id"])
    to_the_debtor = attempt(client, mine, target="debtor", third_party_id=own)
    assert to_the_debtor.status_code == 422 and "third_party_id" in to_the_debtor.json["error"]["details"]["fields"]
    assert attempts(client, mine) == before, "nothing stored"

    decided = attempt(client, mine, target="third_party", third_party_id=own, purpose="locate")
    # refused (nothing shows the debtor unreachable, and the world's hardship hold): recorded all the same
    assert decided.status_code == 422 and decided.json["error"]["code"].startswith("conduct."), decided.json
    recorded = client.get(f"/api/v1/contact-attempts/{decided.json['error']['details']['attempt_id']}",
                          headers=bearer(mine))
    assert recorded.json["third_party_id"] == own


def test_a_lender_cannot_reach_a_third_party_of_another_of_its_accounts(client, factory, frozen_clock):
    lender = factory.world(TenantKind.LENDER)
    other_account = factory.account(lender.tenant)
    elsewhere = factory.third_party(other_account.id)
    refused = attempt(client, lender, target="third_party", third_party_id=str(elsewhere.id))
    assert refused.status_code == 422, refused.json
    assert refused.json["error"]["details"]["fields"]["third_party_id"] == ["Not a contact of this account."]


def test_an_attempt_names_only_a_member_and_an_approval_the_caller_sees(client, worlds):
    mine, theirs = worlds
    before = attempts(client, mine)
    for stranger in (str(theirs.admin.id), str(uuid.uuid4())):
        assert_not_found(attempt(client, mine, collector_user_id=stranger), "member.not_found", "collector_user_id")
    for approval in foreign_and_random(theirs, "approval_id"):
        assert_not_found(attempt(client, mine, channel="sms", approval_id=approval), "approval.not_found",
                         "approval_id")
    assert attempts(client, mine) == before


def test_a_promise_names_only_the_callers_attempt_and_member(client, worlds):
    mine, theirs = worlds
    url = f"/api/v1/accounts/{mine.objects['account_id']}/promises"
    before = client.get(url, headers=bearer(mine)).json["items"]
    body = {"amount": "1", "due_on": PROMISE_DUE}
    for foreign in foreign_and_random(theirs, "attempt_id"):
        assert_not_found(client.post(url, headers=bearer(mine), json={**body, "attempt_id": foreign}),
                         "contact_attempt.not_found", "attempt_id")
    for stranger in (str(theirs.admin.id), str(uuid.uuid4())):
        assert_not_found(client.post(url, headers=bearer(mine), json={**body, "taken_by_user_id": stranger}),
                         "member.not_found", "taken_by_user_id")
    assert client.get(url, headers=bearer(mine)).json["items"] == before


def test_a_plan_is_signed_only_with_evidence_of_its_own_account(client, worlds):
    mine, theirs = worlds
    plan_url = f"/api/v1/plans/{mine.objects['plan_id']}"
    for foreign in foreign_and_random(theirs, "evidence_id"):
        assert_not_found(client.post(f"{plan_url}/sign", headers=bearer(mine), json={"evidence_id": foreign}),
                         "evidence.not_found", "evidence_id")
    assert client.get(plan_url, headers=bearer(mine)).json["status"] == "proposed"


@pytest.mark.parametrize("field, code", [("attempt_id", "contact_attempt.not_found"),
                                         ("settlement_id", "settlement.not_found"),
                                         ("dispute_id", "dispute.not_found")])
def test_evidence_links_only_to_records_the_caller_sees(client, worlds, field, code):
    mine, theirs = worlds
    url = f"/api/v1/accounts/{mine.objects['account_id']}/evidence"
    before = client.get(url, headers=bearer(mine)).json["items"]
    for foreign in foreign_and_random(theirs, field):
        sent = client.post(url, headers=bearer(mine), content_type="multipart/form-data", data={
            "file": (io.BytesIO(b"a letter"), "letter.txt", "text/plain"), "kind": "letter", field: foreign})
        assert_not_found(sent, code, field)
    assert client.get(url, headers=bearer(mine)).json["items"] == before
