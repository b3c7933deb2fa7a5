"""The conduct API: contacts decided before they happen against the person's platform-wide ledger (one daily
count across agencies), refusals recorded and answered 422, outcomes that open holds, holds opened and resolved,
and every attempt or hold hidden from tenants that may not see it."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
TOMORROW_8AM = "2026-12-02T00:00"  # 08:00 Shanghai, in UTC


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def shared_debtor(factory, db_session, frozen_clock):
    """One person with loans at two lenders, each placed with a different agency: (lender, agency, account,
    agency headers, lender headers) per case."""
    frozen_clock.set(SHANGHAI_10AM)
    debtor = dict(subject_key="person-zhang-san", time_zones=["Asia/Shanghai"])
    cases = []
    for _ in range(2):
        lender, agency, account = factory.placed_account(**debtor)
        cases.append(dict(lender=lender, agency=agency, account=account,
                          headers=bearer(factory.token(agency, "agency_collector")[1]),
                          lender_headers=bearer(factory.token(lender, "lender_admin")[1])))
    return cases


def attempt(client, case, channel="call", headers=None, **body):
    return client.post(f"/api/v1/accounts/{case['account'].id}/contact-attempts", json={"channel": channel, **body},
                       headers=headers or case["headers"])


def outcome(client, case, attempt_id, code="right_party_contact"):
    return client.post(f"/api/v1/contact-attempts/{attempt_id}/outcome", json={"outcome_code": code},
                       headers=case["headers"])


def call(client, case, code="right_party_contact"):
    made = attempt(client, case)
    assert made.status_code == 201, made.json
    done = outcome(client, case, made.json["attempt"]["id"], code)
    assert done.status_code == 200, done.json
    return made.json


def listed(client, case, headers=None):
    response = client.get(f"/api/v1/accounts/{case['account'].id}/contact-attempts",
                          headers=headers or case["headers"])
    assert response.status_code == 200, response.json
    return response.json["items"]


def test_the_fourth_connected_call_is_refused_across_agencies_and_recorded_for_the_caller(client, shared_debtor,
                                                                                          frozen_clock):
    """GB/T 45251-2025: at most 3 connected collection calls per day per debtor, across agencies."""
    a, b = shared_debtor
    first = call(client, a)
    assert first["decision"]["outcome"] == "allow" and first["attempt"]["status"] == "pending"
    assert set(first["decision"]) == {"outcome", "rulebook_version", "earliest_allowed_at", "hits"}
    call(client, b)
    call(client, a)
    frozen_clock.advance(timedelta(minutes=5))

    refused = attempt(client, b)
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "conduct.cn.calls.connected"
    assert error["details"]["earliest_allowed_at"].startswith(TOMORROW_8AM)
    hit = next(h for h in error["details"]["hits"] if h["rule_id"] == "CN.CALLS.CONNECTED")
    assert set(hit) == {"rule_id", "action", "message_en", "message_zh", "earliest_allowed_at", "citation"}
    blocked_id = error["details"]["attempt_id"]

    b_items = listed(client, b)
    assert [i["status"] for i in b_items] == ["blocked", "completed"], "newest first, the refusal kept"
    assert b_items[0]["id"] == blocked_id and b_items[0]["earliest_allowed_at"].startswith(TOMORROW_8AM)
    a_items = listed(client, a)
    assert len(a_items) == 2 and blocked_id not in {i["id"] for i in a_items}

    detail = client.get(f"/api/v1/contact-attempts/{blocked_id}", headers=b["headers"])
    assert detail.status_code == 200
    inputs = detail.json["inputs"]
    assert inputs["request"]["channel"] == "call" and inputs["request"]["subject_key"]
    assert len(inputs["history"]) == 3, "the person's three calls today, whoever made them"
    others = [p for p in inputs["history"] if p["debt_id"] == "other"]
    assert len(others) == 2 and all("number_key" not in p for p in others), "the other agency's debt stays opaque"
    assert detail.json["hits"] and detail.json["decision"] == "block"

    # the other agency: neither the attempt nor the account it does not hold
    assert client.get(f"/api/v1/contact-attempts/{blocked_id}", headers=a["headers"]).status_code == 404
    assert outcome(client, a, blocked_id).status_code == 404
    assert client.get(f"/api/v1/accounts/{b['account'].id}/contact-attempts",
                      headers=a["headers"]).status_code == 404
    assert attempt(client, b, headers=a["headers"]).status_code == 404
    # the lender reads the attempts made on its account (the refusal too) but cannot record their outcomes
    lender_view = listed(client, b, headers=b["lender_headers"])
    assert [i["id"] for i in lender_view] == [i["id"] for i in b_items]
    made_by_agency = listed(client, a, headers=a["lender_headers"])[0]["id"]
    assert outcome(client, {**a, "headers": a["lender_headers"]}, made_by_agency).status_code == 403
    assert client.get(f"/api/v1/contact-attempts/{blocked_id}",
                      headers=b["lender_headers"]).json["decision"] == "block"


def test_a_dispute_raised_holds_collection_until_the_hold_is_resolved(client, shared_debtor):
    a, b = shared_debtor
    call(client, a, code="dispute_raised")
    holds = client.get(f"/api/v1/accounts/{a['account'].id}/holds", headers=a["headers"]).json["items"]
    assert [(h["type"], h["source"], h["active"]) for h in holds] == [("dispute", "contact_outcome", True)]

    refused = attempt(client, a)
    assert refused.status_code == 422
    assert refused.json["error"]["details"]["earliest_allowed_at"] is None, "a dispute is not waited out"
    assert client.get(f"/api/v1/accounts/{a['account'].id}/next-permitted",
                      headers=a["headers"]).json["call"] is None

    hold_id = holds[0]["id"]
    other = client.post(f"/api/v1/holds/{hold_id}/resolve", json={"resolution": "x"}, headers=b["headers"])
    assert other.status_code == 404
    resolved = client.post(f"/api/v1/holds/{hold_id}/resolve", json={"resolution": "debt verified"},
                           headers=a["headers"])
    assert resolved.status_code == 200, resolved.json
    assert resolved.json["resolved_at"] and resolved.json["resolution"] == "debt verified"
    assert not resolved.json["active"]
    again = client.post(f"/api/v1/holds/{hold_id}/resolve", json={"resolution": "again"}, headers=a["headers"])
    assert again.status_code == 409
    assert attempt(client, a).status_code == 201


def test_holds_opened_through_the_api_block_until_resolved(client, shared_debtor):
    a, b = shared_debtor
    url = f"/api/v1/accounts/{a['account'].id}/holds"
    opened = client.post(url, json={"type": "cease", "reason": "debtor asked in writing"}, headers=a["headers"])
    assert opened.status_code == 201, opened.json
    hold = opened.json
    assert (hold["type"], hold["source"], hold["resolved_at"], hold["active"]) == ("cease", "api", None, True)
    assert hold["lender_id"] == str(a["lender"].id) and hold["created_by_tenant_id"] == str(a["agency"].id)

    assert attempt(client, a, channel="sms").status_code == 422
    # the lender sees the agency's hold; the other agency does not
    assert [h["id"] for h in client.get(url, headers=a["lender_headers"]).json["items"]] == [hold["id"]]
    assert client.get(url, headers=b["headers"]).status_code == 404
    assert client.post(url, json={"type": "cease", "reason": "x"}, headers=b["headers"]).status_code == 404

    resolved = client.post(f"/api/v1/holds/{hold['id']}/resolve", json={"resolution": "withdrawn"},
                           headers=a["lender_headers"])
    assert resolved.status_code == 200, resolved.json
    allowed = attempt(client, a, channel="sms")
    assert allowed.status_code == 201, allowed.json
    assert allowed.json["decision"]["outcome"] in ("allow", "allow_with_warnings")


def test_a_lender_hold_cannot_be_resolved_by_the_agency(client, shared_debtor):
    a, _ = shared_debtor
    opened = client.post(f"/api/v1/accounts/{a['account'].id}/holds",
                         json={"type": "dispute", "reason": "complaint"}, headers=a["lender_headers"])
    assert opened.status_code == 201
    refused = client.post(f"/api/v1/holds/{opened.json['id']}/resolve", json={"resolution": "x"},
                          headers=a["headers"])
    assert refused.status_code == 403 and refused.json["error"]["code"] == "hold.not_writable"


def test_next_permitted_per_channel(client, shared_debtor):
    a, _ = shared_debtor
    url = f"/api/v1/accounts/{a['account'].id}/next-permitted"
    first = client.get(url, headers=a["headers"])
    assert first.status_code == 200
    assert set(first.json) == {"call", "sms", "letter"}, "the placement's channels"
    assert all(v.startswith("2026-12-01T02:00") for v in first.json.values())
    for _ in range(3):
        call(client, a)
    after = client.get(url, headers=a["headers"]).json
    assert after["call"].startswith(TOMORROW_8AM) and after["sms"].startswith("2026-12-01T02:00")


def test_the_same_idempotency_key_records_one_attempt(client, shared_debtor):
    a, b = shared_debtor
    key = {"Idempotency-Key": "retry-1"}
    first = attempt(client, a, channel="sms", headers={**a["headers"], **key})
    again = attempt(client, a, channel="sms", headers={**a["headers"], **key})
    assert first.status_code == again.status_code == 201
    assert first.json["attempt"]["id"] == again.json["attempt"]["id"]
    assert len(listed(client, a)) == 1
    # another tenant's key space is its own
    other = attempt(client, b, channel="sms", headers={**b["headers"], **key})
    assert other.status_code == 201 and other.json["attempt"]["id"] != first.json["attempt"]["id"]


def test_a_retried_refusal_is_refused_again_without_a_second_record(client, shared_debtor):
    a, _ = shared_debtor
    call(client, a, code="dispute_raised")
    key = {**a["headers"], "Idempotency-Key": "retry-2"}
    first, again = attempt(client, a, headers=key), attempt(client, a, headers=key)
    assert first.status_code == again.status_code == 422
    assert first.json["error"]["details"]["attempt_id"] == again.json["error"]["details"]["attempt_id"]
    assert len(listed(client, a)) == 2


def test_a_lender_contacts_its_own_account_and_roles_are_checked(client, factory, shared_debtor):
    a, _ = shared_debtor
    own = attempt(client, a, channel="letter", headers=a["lender_headers"])
    assert own.status_code == 201 and own.json["attempt"]["placement_id"] is None
    analyst = bearer(factory.token(a["lender"], "lender_analyst")[1])
    assert attempt(client, a, channel="letter", headers=analyst).status_code == 403
    assert client.get(f"/api/v1/accounts/{a['account'].id}/holds", headers=analyst).status_code == 200


def test_bad_input_is_422_with_fields_and_unknown_ids_404(client, shared_debtor):
    a, _ = shared_debtor
    bad = attempt(client, a, channel="fax", phone_position=-1)
    assert bad.status_code == 422 and set(bad.json["error"]["details"]["fields"]) == {"channel", "phone_position"}
    no_phone = attempt(client, a, phone_position=5)
    assert no_phone.status_code == 422 and "phone_position" in no_phone.json["error"]["details"]["fields"]
    third = attempt(client, a, target="third_party")
    assert third.status_code == 422 and "third_party_id" in third.json["error"]["details"]["fields"]
    stranger = attempt(client, a, target="third_party", third_party_id=str(uuid.uuid4()))
    assert stranger.status_code == 404 and "third_party_id" in stranger.json["error"]["details"]["fields"]
    not_allowed = attempt(client, a, channel="visit")
    assert not_allowed.status_code == 422 and not_allowed.json["error"]["code"] == "placement.channel_not_allowed"

    made = attempt(client, a, channel="sms").json["attempt"]["id"]
    wrong = outcome(client, a, made, code="nonsense")
    assert wrong.status_code == 422 and "outcome_code" in wrong.json["error"]["details"]["fields"]
    assert outcome(client, a, made, code="delivered").status_code == 200
    assert outcome(client, a, made, code="delivered").status_code == 409, "only a pending attempt"

    hold = client.post(f"/api/v1/accounts/{a['account'].id}/holds", json={"type": "holiday"}, headers=a["headers"])
    assert hold.status_code == 422 and set(hold.json["error"]["details"]["fields"]) == {"type", "reason"}
    past = client.post(f"/api/v1/accounts/{a['account'].id}/holds",
                       json={"type": "hardship", "reason": "x", "ends_at": "2026-01-01T00:00:00Z"},
                       headers=a["headers"])
    assert past.status_code == 422 and "ends_at" in past.json["error"]["details"]["fields"]
    assert client.get(f"/api/v1/accounts/{a['account'].id}/contact-attempts?cursor=zzz",
                      headers=a["headers"]).status_code == 422

    for url in (f"/api/v1/contact-attempts/{uuid.uuid4()}", f"/api/v1/accounts/{uuid.uuid4()}/next-permitted",
                f"/api/v1/accounts/{uuid.uuid4()}/holds"):
        assert client.get(url, headers=a["headers"]).status_code == 404
    assert client.post(f"/api/v1/holds/{uuid.uuid4()}/resolve", json={"resolution": "x"},
                       headers=a["headers"]).status_code == 404


def test_attempts_page_newest_first(client, shared_debtor, frozen_clock):
    a, _ = shared_debtor
    ids = []
    for _ in range(3):
        ids.append(attempt(client, a, channel="letter").json["attempt"]["id"])
        frozen_clock.advance(timedelta(minutes=1))
    url = f"/api/v1/accounts/{a['account'].id}/contact-attempts?limit=2"
    page = client.get(url, headers=a["headers"]).json
    rest = client.get(f"{url}&cursor={page['next_cursor']}", headers=a["headers"]).json
    seen = [i["id"] for i in page["items"] + rest["items"]]
    assert seen == ids[::-1] and rest["next_cursor"] is None


def test_the_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/accounts/{account_id}/contact-attempts", "/api/v1/contact-attempts/{attempt_id}",
                 "/api/v1/contact-attempts/{attempt_id}/outcome", "/api/v1/accounts/{account_id}/next-permitted",
                 "/api/v1/accounts/{account_id}/holds", "/api/v1/holds/{hold_id}/resolve"):
        assert path in paths, path
