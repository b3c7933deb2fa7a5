"""Holds, debtor preferences and approval requests in the pages: an agency asks to visit, the lender's manager
approves on the Approvals page, the collector goes ahead once; holds opened and resolved from the case page stop
and restart contact; preferences captured once bind every later decision."""
import re
from datetime import datetime, timezone

import pytest

from tests.factories import login

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def visit_case(factory, db_session, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = factory.placed_account(channels=("call", "sms", "visit"), time_zones=["Asia/Shanghai"])
    factory.user(agency, "agency_collector", email="walker@agency.test")
    factory.user(lender, "lender_manager", email="manager@lender.test")
    factory.user(lender, "lender_analyst", email="analyst@lender.test")
    return lender, agency, account


def test_a_visit_is_approved_by_the_lender_manager_then_made_once(client, visit_case):
    lender, agency, account = visit_case
    case_url = f"/t/{agency.slug}/cases/{account.id}"
    login(client, "walker@agency.test")
    asked = client.post(f"{case_url}/contact", data={"channel": "visit", "target": "debtor", "phone_position": "0",
                                                     "staff_count": "2", "note": "Agreed to meet at home"},
                        follow_redirects=True).get_data(as_text=True)
    assert "needs the lender&#39;s approval first" in asked
    assert "waiting for the lender" in asked and "CN.VISIT" in asked

    client.post("/logout")
    login(client, "analyst@lender.test")
    assert "Approve" not in client.get(f"/t/{lender.slug}/approvals").get_data(as_text=True), "analysts only read"
    client.post("/logout")
    login(client, "manager@lender.test")
    queue = client.get(f"/t/{lender.slug}/approvals").get_data(as_text=True)
    assert "Agreed to meet at home" in queue
    approval_id = re.search(r"/approvals/([0-9a-f-]{36})/decision", queue).group(1)
    decided = client.post(f"/t/{lender.slug}/approvals/{approval_id}/decision",
                          data={"decision": "approve", "note": "Two staff, daytime"}, follow_redirects=True)
    assert "Approved: the agency may go ahead once" in decided.get_data(as_text=True)

    client.post("/logout")
    login(client, "walker@agency.test")
    page = client.get(case_url).get_data(as_text=True)
    assert "Go ahead (approved until" in page
    went = client.post(f"{case_url}/contact", data={"channel": "visit", "target": "debtor", "phone_position": "0",
                                                    "staff_count": "2", "approval_id": approval_id},
                       follow_redirects=True).get_data(as_text=True)
    assert "Go ahead: home visit allowed" in went
    again = client.post(f"{case_url}/contact", data={"channel": "visit", "target": "debtor", "phone_position": "0",
                                                     "staff_count": "2", "approval_id": approval_id})
    assert again.status_code == 409 and "already been used" in again.get_data(as_text=True)

    client.post("/logout")
    login(client, "manager@lender.test")
    history = client.get(f"/t/{lender.slug}/accounts/{account.id}").get_data(as_text=True)
    history = history[history.index('id="contact-history"'):]
    assert agency.name in history and "CN.VISIT" in history and "needs approval" in history, \
        "the lender reads the agency's contacts on its account"


def test_a_hold_opened_on_the_case_page_stops_contact_until_resolved(client, visit_case):
    lender, agency, account = visit_case
    case_url = f"/t/{agency.slug}/cases/{account.id}"
    login(client, "walker@agency.test")
    client.post(f"/t/{agency.slug}/accounts/{account.id}/holds",
                data={"type": "dispute", "reason": "Says the loan was repaid"})
    page = client.get(case_url).get_data(as_text=True)
    assert "Says the loan was repaid" in page and page.count("not by waiting") == 3
    hold_id = re.search(r"/holds/([0-9a-f-]{36})/resolve", page).group(1)
    client.post(f"/t/{agency.slug}/holds/{hold_id}/resolve", data={"resolution": "Receipt was for another loan"})
    page = client.get(case_url).get_data(as_text=True)
    assert page.count("allowed now") == 3 and "Receipt was for another loan" in page

    client.post("/logout")
    login(client, "manager@lender.test")
    lender_page = client.get(f"/t/{lender.slug}/accounts/{account.id}").get_data(as_text=True)
    assert "Says the loan was repaid" in lender_page, "the lender sees the agency's hold on its account"


def test_preferences_saved_on_the_case_page_bind_the_next_decision(client, visit_case):
    _, agency, account = visit_case
    case_url = f"/t/{agency.slug}/cases/{account.id}"
    login(client, "walker@agency.test")
    saved = client.post(f"/t/{agency.slug}/accounts/{account.id}/consent",
                        data={"agreed_from": "12:00", "agreed_to": "18:00"}, follow_redirects=True)
    assert "preferences are saved" in saved.get_data(as_text=True)
    refused = client.post(f"{case_url}/contact", data={"channel": "call", "target": "debtor", "phone_position": "0"})
    assert refused.status_code == 422, "10:00 is outside the hours the debtor agreed to"
    assert "12:00" in refused.get_data(as_text=True)
    bad = client.post(f"/t/{agency.slug}/accounts/{account.id}/consent",
                      data={"agreed_from": "18:00", "agreed_to": "09:00"}, follow_redirects=True)
    assert "agreed_hours" in bad.get_data(as_text=True)


def test_a_hold_past_its_end_date_reads_as_ended_not_as_resuming(client, visit_case, frozen_clock):
    from datetime import timedelta

    lender, agency, account = visit_case
    case_url = f"/t/{agency.slug}/cases/{account.id}?section=conduct"
    login(client, "walker@agency.test")
    client.post(f"/t/{agency.slug}/accounts/{account.id}/holds",
                data={"type": "hardship", "reason": "Lost his job", "ends_on": "2026-12-03"})
    page = client.get(case_url).get_data(as_text=True)
    assert "resumes automatically at" in page and "ended automatically at" not in page
    frozen_clock.set(SHANGHAI_10AM + timedelta(days=5))
    page = client.get(case_url).get_data(as_text=True)
    assert "ended automatically at" in page and "resumes automatically at" not in page
