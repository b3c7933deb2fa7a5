"""A collector's day in Chromium: his work queue lists the case he may call now; he calls, the debtor promises to
pay, he records the promise, then the payment that came in — it waits for the lender's confirmation."""
import uuid
from datetime import timedelta

import pytest

from tenants.casework import assignment
from tenants.context import tenant_scope
from tenants.db import db
from tests.browser.conftest import SHANGHAI_10AM
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser



@pytest.fixture
def assigned_case(app, pinned_clock):
    with app.app_context():
        factory = Factory(db.session)
        lender, agency, account = factory.placed_account(time_zones=["Asia/Shanghai"],
                                                         subject_key=f"day-{uuid.uuid4().hex}")
        email = f"collector-{agency.slug}@example.test"
        collector, _ = factory.user(agency, "agency_collector", email=email)
        ids = (agency.id, agency.slug, account.id, account.external_ref, collector.id)
        with tenant_scope(agency.id):
            assignment.assign([account.id], collector.id, by_user_id=None)
        db.session.commit()
        db.session.remove()
    return dict(zip(("agency_id", "slug", "account_id", "ref", "collector_id"), ids), email=email)


def test_a_collector_goes_from_his_queue_to_a_recorded_payment(live_server, browser, assigned_case):
    slug, account_id = assigned_case["slug"], assigned_case["account_id"]
    page = browser.new_page(locale="en-US")
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", assigned_case["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**/t/{slug}/**")

    page.goto(f"{live_server}/t/{slug}/queue")
    row = page.locator(f"#queue-ready #queue-{account_id}")
    assert assigned_case["ref"] in row.inner_text()
    row.locator("a").first.click()
    page.wait_for_url(f"**/cases/{account_id}**")

    page.click("#call-button")  # the conduct engine decides, then the softphone gets its tel: link
    page.wait_for_selector("#dial-link")
    due = (SHANGHAI_10AM + timedelta(days=3)).date().isoformat()
    page.select_option("#wrap-outcome_code", "promise_to_pay")
    page.fill("#wrap-amount", "500.00")
    page.fill("#wrap-due_on", due)
    page.click("#save")
    page.wait_for_selector("text=Saved: the outcome and the promise.")

    page.click("#tab-payment")
    page.fill("#agency-payment-form input[name=payment-amount]", "500.00")
    page.fill("#agency-payment-form input[name=payment-reference]", "ALI-2026-0001")
    page.select_option("#agency-payment-form select[name=payment-method]", "alipay")
    page.click("#agency-payment-form button:not([name])")
    page.wait_for_selector("text=Payment recorded: it counts once the lender confirms it.")
    page.click("#section-link-history")
    assert "500.00" in page.locator("#promise-list").inner_text()
    payments = page.locator("#payment-list").inner_text()
    assert "ALI-2026-0001" in payments and "500.00" in payments
