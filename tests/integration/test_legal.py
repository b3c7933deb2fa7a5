"""Legal escalation: the conduct engine decides first (no legal steps on a time-barred debt, US.TIMEBARRED /
UK.STATUTEBARRED, recorded as a refused `legal` attempt), then the lender's manager approves or declines; only an
approved step is filed, and only while the rules still allow it."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tenants.casework.legal import LegalEscalation
from tenants.conduct.models import ContactAttempt
from tenants.context import tenant_scope
from tenants.db import db
from tests.factories import login
from tests.integration.test_settlements import bearer, db_session_events, placed_case

NOON_UTC = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
WITH_LEGAL = ("call", "sms", "letter", "legal")


def legal_case(factory, *, currency="USD", limitation_date=None, channels=WITH_LEGAL):
    lender, agency, account = placed_case(factory, channels=channels, lender_values={"currency": currency},
                                          time_zones=["America/New_York"], limitation_date=limitation_date)
    return dict(lender=lender, agency=agency, account=account,
                supervisor=bearer(factory.token(agency, "agency_supervisor")[1]),
                collector=bearer(factory.token(agency, "agency_collector")[1]),
                manager=bearer(factory.token(lender, "lender_manager")[1]),
                analyst=bearer(factory.token(lender, "lender_analyst")[1]))


@pytest.fixture(autouse=True)
def _noon(frozen_clock):
    frozen_clock.set(NOON_UTC)


def ask(client, case, headers=None, kind="lawyer_letter"):
    return client.post(f"/api/v1/accounts/{case['account'].id}/legal-escalations",
                       headers=headers or case["supervisor"],
                       json={"kind": kind, "reason": "No payment after three promises."})


@pytest.mark.parametrize("currency, code", [("USD", "conduct.us.timebarred"), ("GBP", "conduct.uk.statutebarred")])
def test_legal_steps_on_a_time_barred_debt_are_refused_and_recorded(client, factory, db_session, currency, code):
    case = legal_case(factory, currency=currency, limitation_date=date(2026, 6, 30))
    refused = ask(client, case)
    assert refused.status_code == 422 and refused.json["error"]["code"] == code
    attempt_id = refused.json["error"]["details"]["attempt_id"]
    with tenant_scope(case["agency"].id):
        attempt = db.session.get(ContactAttempt, uuid.UUID(attempt_id))
        assert (attempt.channel, attempt.status) == ("legal", "blocked")
        assert db.session.scalars(select(LegalEscalation)).all() == [], "nothing waits for the lender"


def test_a_request_the_rules_allow_waits_for_the_lenders_manager_then_is_filed(client, factory, db_session):
    case = legal_case(factory, limitation_date=date(2029, 1, 1))
    asked = ask(client, case)
    assert asked.status_code == 201, asked.json
    escalation = asked.json
    assert escalation["status"] == "requested" and escalation["rulebook_version"].startswith("us-")
    assert ask(client, case).status_code == 409, "one escalation under way at a time"

    early = client.post(f"/api/v1/legal-escalations/{escalation['id']}/filed", headers=case["supervisor"],
                        json={"reference": "L-1"})
    assert early.status_code == 409 and early.json["error"]["code"] == "legal.not_approved"
    assert client.post(f"/api/v1/legal-escalations/{escalation['id']}/decision", headers=case["analyst"],
                       json={"approve": True}).status_code == 403
    waiting = client.get("/api/v1/legal-escalations?status=requested", headers=case["manager"]).json["items"]
    assert [w["id"] for w in waiting] == [escalation["id"]]
    approved = client.post(f"/api/v1/legal-escalations/{escalation['id']}/decision", headers=case["manager"],
                           json={"approve": True, "note": "go ahead"})
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert "legal.approved" in [e.action for e in db_session_events(case["lender"].id)]

    filed = client.post(f"/api/v1/legal-escalations/{escalation['id']}/filed", headers=case["supervisor"],
                        json={"reference": "Letter 2026/118"})
    assert filed.status_code == 200, filed.json
    assert (filed.json["status"], filed.json["filed_reference"]) == ("filed", "Letter 2026/118")
    with tenant_scope(case["agency"].id):
        attempt = db.session.get(ContactAttempt, uuid.UUID(escalation["attempt_id"]))
        assert (attempt.channel, attempt.status, attempt.outcome_code) == ("legal", "completed", "delivered")


def test_a_declined_escalation_is_never_filed(client, factory, db_session):
    case = legal_case(factory)
    escalation_id = ask(client, case).json["id"]
    declined = client.post(f"/api/v1/legal-escalations/{escalation_id}/decision", headers=case["manager"],
                           json={"approve": False, "note": "offer a settlement first"})
    assert declined.json["status"] == "declined"
    assert client.post(f"/api/v1/legal-escalations/{escalation_id}/filed", headers=case["supervisor"],
                       json={"reference": "L-1"}).status_code == 409
    assert ask(client, case).status_code == 201, "a declined escalation leaves room for a new request"


def test_filing_is_refused_once_the_debt_became_time_barred_or_disputed(client, factory, db_session, frozen_clock):
    case = legal_case(factory, limitation_date=date(2026, 12, 10))
    escalation_id = ask(client, case).json["id"]
    client.post(f"/api/v1/legal-escalations/{escalation_id}/decision", headers=case["manager"], json={"approve": True})
    frozen_clock.advance(timedelta(days=10))
    barred = client.post(f"/api/v1/legal-escalations/{escalation_id}/filed", headers=case["supervisor"],
                         json={"reference": "L-1"})
    assert barred.status_code == 409 and barred.json["error"]["code"] == "legal.not_permitted"

    disputed = legal_case(factory)
    escalation_id = ask(client, disputed).json["id"]
    client.post(f"/api/v1/legal-escalations/{escalation_id}/decision", headers=disputed["manager"],
                json={"approve": True})
    client.post(f"/api/v1/accounts/{disputed['account'].id}/disputes", headers=disputed["collector"],
                json={"category": "wrong_amount", "reason": "Disputes the interest."})
    on_hold = client.post(f"/api/v1/legal-escalations/{escalation_id}/filed", headers=disputed["supervisor"],
                          json={"reference": "L-2"})
    assert on_hold.status_code == 409 and on_hold.json["error"]["code"] == "legal.not_permitted"


def test_who_may_ask_and_where(client, factory, db_session):
    case = legal_case(factory)
    assert ask(client, case, case["collector"]).status_code == 403, "a supervisor escalates, not a collector"
    assert ask(client, case, case["manager"]).status_code == 404, "an agency's route"
    without = legal_case(factory, channels=("call", "sms"))
    refused = ask(client, without)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "placement.channel_not_allowed"

    escalation_id = ask(client, case).json["id"]
    _, stranger, _ = placed_case(factory)
    for headers in (bearer(factory.token(stranger)[1]), bearer(factory.token(factory.tenant("lender"))[1])):
        assert client.get(f"/api/v1/legal-escalations/{escalation_id}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/accounts/{case['account'].id}/legal-escalations",
                          headers=headers).status_code == 404
    other_manager = bearer(factory.token(factory.tenant("lender"), "lender_manager")[1])
    assert client.post(f"/api/v1/legal-escalations/{escalation_id}/decision", headers=other_manager,
                       json={"approve": True}).status_code == 404


def test_the_pages_carry_a_request_to_the_lender_and_back(client, factory, db_session):
    case = legal_case(factory, currency="CNY")
    factory.user(case["agency"], "agency_supervisor", email="supervisor@legal.test")
    factory.user(case["lender"], "lender_manager", email="manager@legal.test")
    login(client, "supervisor@legal.test")
    account_id = case["account"].id
    sent = client.post(f"/t/{case['agency'].slug}/cases/{account_id}/legal",
                       data={"kind": "filing", "reason": "Refuses to pay."})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/cases/{account_id}?section=legal#legal")
    with tenant_scope(case["agency"].id):
        escalation = db.session.scalars(select(LegalEscalation)).one()

    login(client, "manager@legal.test")
    page = client.get(f"/t/{case['lender'].slug}/casework-decisions").get_data(as_text=True)
    assert f'id="escalation-{escalation.id}"' in page and "Refuses to pay." in page
    decided = client.post(f"/t/{case['lender'].slug}/legal-escalations/{escalation.id}/decision",
                          data={"decision": "decline", "note": "not yet", "next": "decisions"})
    assert decided.status_code == 302
    assert "No legal escalation is waiting for you." in \
        client.get(f"/t/{case['lender'].slug}/casework-decisions").get_data(as_text=True)


def test_the_case_page_says_why_the_rules_refused_legal_steps(client, factory, db_session):
    case = legal_case(factory, limitation_date=date(2026, 6, 30))
    factory.user(case["agency"], "agency_supervisor", email="supervisor@barred.test")
    login(client, "supervisor@barred.test")
    sent = client.post(f"/t/{case['agency'].slug}/cases/{case['account'].id}/legal",
                       data={"kind": "lawyer_letter", "reason": "Ignores every call."})
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Refused by the conduct rules" in page and "time-barred since 2026-06-30" in page
