"""Disputes: opened by a collector, the lender or the API, a dispute holds collection (a `dispute` hold of the
conduct engine) and blocks recall until it is resolved; resolving it releases both. Its documents are evidence."""
import io
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from tenants.casework import disputes, evidence
from tenants.conduct.models import ConductHold
from tenants.context import tenant_scope
from tenants.db import db
from tenants.placements.models import Placement
from tests.factories import login
from tests.integration.test_settlements import bearer, db_session_events, placed_case

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def case(factory, db_session, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = placed_case(factory)
    return dict(lender=lender, agency=agency, account=account,
                agency_headers=bearer(factory.token(agency, "agency_collector")[1]),
                lender_headers=bearer(factory.token(lender, "lender_admin")[1]))


def call(client, case):
    return client.post(f"/api/v1/accounts/{case['account'].id}/contact-attempts", json={"channel": "call"},
                       headers=case["agency_headers"])


def recall(client, case):
    with tenant_scope(case["lender"].id):
        placement_id = db.session.scalar(select(Placement.id).where(Placement.account_id == case["account"].id))
    return client.post("/api/v1/placements/recall", headers=case["lender_headers"],
                       json={"placement_ids": [str(placement_id)], "reason": "moving it"})


def test_a_dispute_holds_contact_and_recall_until_resolved(client, case):
    opened = client.post(f"/api/v1/accounts/{case['account'].id}/disputes", headers=case["agency_headers"],
                         json={"category": "already_paid", "reason": "Says she paid the lender in October."})
    assert opened.status_code == 201, opened.json
    dispute = opened.json
    assert dispute["status"] == "open" and dispute["opened_by_tenant_id"] == str(case["agency"].id)
    holds = client.get(f"/api/v1/accounts/{case['account'].id}/holds", headers=case["agency_headers"]).json["items"]
    assert [(h["id"], h["type"], h["active"]) for h in holds] == [(dispute["hold_id"], "dispute", True)]
    with tenant_scope(case["lender"].id):
        assert db.session.get(type(case["account"]), case["account"].id).disputed is False, \
            "the hold stops collection; the lender's flag is its own"

    refused = call(client, case)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "conduct.hold.dispute"
    blocked = recall(client, case)
    assert blocked.status_code == 409 and blocked.json["error"]["code"] == "recall.blocked"
    assert list(blocked.json["error"]["details"]["blocked"].values()) == ["a dispute is open"]

    resolved = client.post(f"/api/v1/disputes/{dispute['id']}/resolve", headers=case["lender_headers"],
                           json={"outcome": "rejected", "resolution": "No payment found in October."})
    assert resolved.status_code == 200, resolved.json
    assert (resolved.json["status"], resolved.json["outcome"]) == ("resolved", "rejected")
    again = client.post(f"/api/v1/disputes/{dispute['id']}/resolve", headers=case["lender_headers"],
                        json={"outcome": "upheld", "resolution": "again"})
    assert again.status_code == 409
    assert call(client, case).status_code == 201, "collection resumes"
    assert recall(client, case).status_code == 200
    actions = [e.action for e in db_session_events(case["lender"].id)]
    assert "dispute.resolved" in actions and "hold.resolved" in actions


def test_a_dispute_raised_on_a_call_also_blocks_recall(client, case):
    attempt_id = call(client, case).json["attempt"]["id"]
    client.post(f"/api/v1/contact-attempts/{attempt_id}/outcome", json={"outcome_code": "dispute_raised"},
                headers=case["agency_headers"])
    blocked = recall(client, case)
    assert blocked.status_code == 409 and blocked.json["error"]["code"] == "recall.blocked"


def test_only_the_lender_or_the_opener_resolves_and_others_see_nothing(client, case, factory):
    opened = client.post(f"/api/v1/accounts/{case['account'].id}/disputes", headers=case["lender_headers"],
                         json={"category": "not_my_debt", "reason": "Identity documents do not match."})
    dispute_id = opened.json["id"]
    seen = client.get(f"/api/v1/disputes/{dispute_id}", headers=case["agency_headers"])
    assert seen.status_code == 200, "the agency holding the account sees the lender's dispute"
    by_agency = client.post(f"/api/v1/disputes/{dispute_id}/resolve", headers=case["agency_headers"],
                            json={"outcome": "withdrawn", "resolution": "debtor called back"})
    assert by_agency.status_code == 403 and by_agency.json["error"]["code"] == "dispute.not_writable"
    _, stranger, _ = placed_case(factory)
    for headers in (bearer(factory.token(stranger)[1]), bearer(factory.token(factory.tenant("lender"))[1])):
        assert client.get(f"/api/v1/disputes/{dispute_id}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/accounts/{case['account'].id}/disputes", headers=headers).status_code == 404
        assert client.post(f"/api/v1/disputes/{dispute_id}/resolve", headers=headers,
                           json={"outcome": "withdrawn", "resolution": "x"}).status_code == 404
    invalid = client.post(f"/api/v1/accounts/{case['account'].id}/disputes", headers=case["agency_headers"],
                          json={"category": "bored", "reason": "x"})
    assert invalid.status_code == 422


def test_the_lender_opens_a_dispute_with_a_document_from_its_account_page(client, case, factory):
    factory.user(case["lender"], "lender_manager", email="manager@dispute.test")
    login(client, "manager@dispute.test")
    account_id = case["account"].id
    sent = client.post(f"/t/{case['lender'].slug}/accounts/{account_id}/disputes", content_type="multipart/form-data",
                       data={"category": "wrong_amount", "reason": "Fees charged twice.",
                             "file": (io.BytesIO(b"statement"), "statement.pdf", "application/pdf")})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/accounts/{account_id}#disputes")
    with tenant_scope(case["lender"].id):
        dispute = disputes.for_account(account_id)[0]
        documents = [e for e in evidence.for_account(account_id) if e.dispute_id == dispute.id]
        hold = db.session.get(ConductHold, dispute.hold_id)
    assert [d.filename for d in documents] == ["statement.pdf"] and hold.resolved_at is None
    api_view = client.get(f"/api/v1/disputes/{dispute.id}", headers=case["agency_headers"]).json
    assert api_view["documents"] == [str(documents[0].id)]

    resolved = client.post(f"/t/{case['lender'].slug}/disputes/{dispute.id}/resolve",
                           data={"outcome": "upheld", "resolution": "Refunded the duplicate fee."})
    assert resolved.status_code == 302
    db.session.expire_all()
    with tenant_scope(case["lender"].id):
        assert db.session.get(ConductHold, dispute.hold_id).resolved_at is not None
