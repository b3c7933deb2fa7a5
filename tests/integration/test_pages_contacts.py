"""The agency case page's contact panel: logging calls through the conduct engine, outcomes, the refusal shown
with its rule and next permitted time, holds that are not waited out, and another agency kept out."""
import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from tenants.conduct.models import ContactAttempt
from tenants.context import tenant_scope
from tests.factories import login

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def shared_debtor(factory, db_session, frozen_clock):
    """One person with loans at two lenders, each placed with a different agency (each with a collector)."""
    frozen_clock.set(SHANGHAI_10AM)
    debtor = dict(subject_key="person-zhang-san", time_zones=["Asia/Shanghai"])
    cases = []
    for n in range(2):
        _, agency, account = factory.placed_account(**debtor)
        factory.user(agency, "agency_collector", email=f"collector{n}@agency.test")
        cases.append((agency, account, f"collector{n}@agency.test"))
    return cases


def _call(client, agency, account):
    return client.post(f"/t/{agency.slug}/cases/{account.id}/contact",
                       data={"channel": "call", "target": "debtor", "phone_position": "0"})


def _pending_attempt_id(client, agency, account) -> str:
    page = client.get(f"/t/{agency.slug}/cases/{account.id}").get_data(as_text=True)
    found = re.search(r"/contact-attempts/([0-9a-f-]{36})/wrap-up", page)
    assert found, "an allowed call shows an outcome form"
    return found.group(1)


def _call_with_outcome(client, agency, account, outcome="right_party_contact"):
    response = _call(client, agency, account)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Go ahead: call allowed (rulebook" in page
    attempt_id = _pending_attempt_id(client, agency, account)
    done = client.post(f"/t/{agency.slug}/contact-attempts/{attempt_id}/wrap-up", data={"wrap-outcome_code": outcome})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/cases/{account.id}?tab=contact")
    return attempt_id


def test_the_contact_panel_shows_each_channel_allowed_now(client, shared_debtor):
    (agency, account, email), _ = shared_debtor
    login(client, email)
    page = client.get(f"/t/{agency.slug}/cases/{account.id}").get_data(as_text=True)
    assert 'id="contact-now"' in page and 'id="contact-form"' in page
    assert page.count("allowed now") == 3  # call, sms, letter
    assert "No contacts yet." in page


def test_three_connected_calls_then_the_fourth_is_refused_with_rule_and_next_time(client, shared_debtor,
                                                                                db_session):
    (agency, account, email), _ = shared_debtor
    login(client, email)
    for _ in range(3):
        _call_with_outcome(client, agency, account)
    refused = _call(client, agency, account)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'id="conduct-refusal"' in page and "CN.CALLS.CONNECTED" in page
    assert "Next permitted:" in page and "Asia/Shanghai" in page
    assert "not by waiting" not in page.split('id="conduct-refusal"')[1].split("</div>")[0]
    # the refusal is recorded for compliance and shown in the history; the panel shows when calls may resume
    with tenant_scope(agency.id):
        statuses = sorted(a.status for a in db_session.scalars(select(ContactAttempt)
                                                               .where(ContactAttempt.account_id == account.id)))
    # The clock is frozen: the four attempts share one decided_at, so their order is not the point.
    assert statuses == ["blocked", "completed", "completed", "completed"]
    page = client.get(f"/t/{agency.slug}/cases/{account.id}").get_data(as_text=True)
    history = page.split('id="contact-history"')[1].split("</table>")[0]
    assert "next at" in page and history.count("Spoke to the debtor") == 3


def test_the_refusal_is_in_the_ui_language(client, shared_debtor, factory):
    (agency, account, _email), _ = shared_debtor
    factory.user(agency, "agency_supervisor", email="zh@agency.test", locale="zh_CN")
    login(client, "zh@agency.test")
    for _ in range(3):
        response = _call(client, agency, account)
        attempt_id = _pending_attempt_id(client, agency, account)
        client.post(f"/t/{agency.slug}/contact-attempts/{attempt_id}/wrap-up",
                    data={"wrap-outcome_code": "right_party_contact"})
    refused = _call(client, agency, account)
    assert refused.status_code == 422 and response.status_code == 302
    assert "CN.CALLS.CONNECTED" in refused.get_data(as_text=True)


def test_a_call_at_2230_shanghai_is_refused_by_the_hours_rule(client, shared_debtor, frozen_clock):
    (agency, account, email), _ = shared_debtor
    frozen_clock.set(datetime(2026, 12, 1, 14, 30, tzinfo=timezone.utc))  # 22:30 Shanghai
    login(client, email)
    refused = _call(client, agency, account)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "CN.HOURS" in page and "Next permitted:" in page


def test_a_dispute_raised_stops_calls_not_by_waiting(client, shared_debtor):
    (agency, account, email), _ = shared_debtor
    login(client, email)
    _call_with_outcome(client, agency, account, outcome="dispute_raised")
    refused = _call(client, agency, account)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    refusal = page.split('id="conduct-refusal"')[1].split("</div>")[0]
    assert "Next permitted: not by waiting" in refusal
    assert "a dispute is open" in page  # the reason on the contact-now panel


def test_another_agency_gets_404_on_the_case_its_contact_route_and_attempts(client, shared_debtor):
    (agency_a, account_a, email_a), (agency_b, _account_b, email_b) = shared_debtor
    login(client, email_a)
    _call(client, agency_a, account_a)
    attempt_id = _pending_attempt_id(client, agency_a, account_a)
    client.post("/logout")
    login(client, email_b)
    assert _call(client, agency_b, account_a).status_code == 404
    assert client.get(f"/t/{agency_b.slug}/cases/{account_a.id}").status_code == 404
    assert client.post(f"/t/{agency_b.slug}/contact-attempts/{attempt_id}/wrap-up",
                       data={"wrap-outcome_code": "no_answer"}).status_code == 404
    assert client.post(f"/t/{agency_b.slug}/cases/00000000-0000-0000-0000-000000000000/contact",
                       data={"channel": "call"}).status_code == 404


def test_a_channel_the_placement_does_not_allow_is_a_form_error_not_a_500(client, shared_debtor):
    (agency, account, email), _ = shared_debtor
    login(client, email)
    response = client.post(f"/t/{agency.slug}/cases/{account.id}/contact",
                           data={"channel": "visit", "target": "debtor", "phone_position": "0"})
    assert response.status_code == 400
