"""A collector in Chromium tries a fourth connected call of the day on a case: the page refuses it, naming the
rule (CN.CALLS.CONNECTED) and when a call is next permitted in the debtor's time zone."""
import uuid

import pytest

from tenants.conduct import service
from tenants.conduct.service import AttemptRequest
from tenants.context import tenant_scope
from tenants.db import db
from tenants.placements import services as placements
from tenants.placements.services import Selection
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser



@pytest.fixture
def case_with_three_calls(app, pinned_clock):
    with app.app_context():
        factory = Factory(db.session)
        lender = factory.tenant("lender", name="Browser Conduct Lending")
        agency = factory.tenant("agency", name="Browser Conduct Collect")
        factory.panel(lender, agency, channels=["call", "sms"])
        email = f"collector-{agency.slug}@example.test"
        factory.user(agency, "agency_collector", email=email)
        account = factory.account(lender, time_zones=["Asia/Shanghai"], subject_key=f"browser-{uuid.uuid4().hex}")
        account_id = account.id  # commits below expire the object; RLS would hide the reload on PostgreSQL
        with tenant_scope(lender.id):
            batch = placements.place(lender=lender, selection=Selection(external_refs=(account.external_ref,)),
                                     weights={agency.id: 1}, terms={}, created_by=None, seed=1,
                                     debtors_notified=True)
        db.session.commit()
        with tenant_scope(agency.id):
            placements.respond(batch.id, accept=True)
            db.session.commit()
            for _ in range(3):
                record, _decision = service.attempt(account_id, AttemptRequest(channel="call"),
                                                    collector_user_id=None)
                service.record_outcome(record.id, "right_party_contact")
                db.session.commit()
        result = (email, agency.slug, str(account_id))
        db.session.remove()
    return result


def test_a_fourth_connected_call_is_refused_on_the_case_page(live_server, browser, case_with_three_calls, app,
                                                             monkeypatch):
    monkeypatch.setitem(app.config, "TELEPHONY_GATEWAY", "standin")  # it would dial: the rules must stop it first
    email, slug, account_id = case_with_three_calls
    page = browser.new_page(locale="en-US")
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**/t/{slug}/**")

    page.goto(f"{live_server}/t/{slug}/cases/{account_id}")
    assert "next at" in page.inner_text("#next-call")
    assert "allowed now" in page.inner_text("#next-sms")
    page.click("#call-button")
    refusal = page.locator("#conduct-refusal")
    refusal.wait_for()
    text = refusal.inner_text()
    assert "CN.CALLS.CONNECTED" in text
    assert "Next permitted:" in text and "Asia/Shanghai" in text and "not by waiting" not in text
    page.click("#section-link-history")
    assert "blocked" in page.inner_text("#contact-history")
