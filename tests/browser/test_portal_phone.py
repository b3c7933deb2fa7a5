"""The debtor on a phone (375×812): opens the link from an approved SMS, asks for a code (it arrives in the
agency's outbox), enters it, proposes a three-month plan within the limits (accepted at once), signs the agreement
with a typed name, and pays the first instalment through the Stripe stand-in. The collector's queue and case, and
the lender's account page, show it."""
import re
import uuid

import pytest
from sqlalchemy import select

from tenants.casework import assignment
from tenants.context import tenant_scope
from tenants.db import db
from tenants.messaging import sending
from tenants.messaging.models import OutboundMessage
from tenants.portal.models import PortalCode
from tenants.tenancy.models import Tenant
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser


@pytest.fixture
def debtor_link(app, pinned_clock, stripe_settings):
    with app.app_context():
        factory = Factory(db.session)
        lender, agency, account = factory.placed_account(time_zones=["Asia/Shanghai"],
                                                         subject_key=f"portal-{uuid.uuid4().hex}")
        with tenant_scope(lender.id):
            row = db.session.get(Tenant, lender.id)
            row.settings = {"stripe_connected_account": "acct_1PhoneTest", "portal_payment_methods": ["card"]}
        template = factory.message_template(lender, body="{{ debtor_name }}您好：{{ portal_link }} 回复TD退订")
        collector, _ = factory.user(agency, "agency_collector", email=f"c-{agency.slug}@example.test")
        lender_admin, _ = factory.user(lender, "lender_admin", email=f"l-{lender.slug}@example.test")
        with tenant_scope(agency.id):
            assignment.assign([account.id], collector.id, by_user_id=None)
            message = sending.send_template(account.id, template.id)
            body = db.session.get(OutboundMessage, message.id).body
        db.session.commit()
        ids = dict(agency_id=agency.id, agency_slug=agency.slug, lender_slug=lender.slug, account_id=account.id,
                   ref=account.external_ref, collector=f"c-{agency.slug}@example.test",
                   lender_admin=f"l-{lender.slug}@example.test", path="/p/" + re.search(r"/p/(\S+)", body).group(1))
        db.session.remove()
    return ids


def _code(app, agency_id, account_id) -> str:
    with app.app_context():
        with tenant_scope(agency_id):
            row = db.session.scalar(select(PortalCode).where(PortalCode.account_id == account_id)
                                    .order_by(PortalCode.created_at.desc()))
            code = re.search(r"(\d{6})", row.body).group(1)
        db.session.remove()
    return code


def test_a_debtor_agrees_a_plan_signs_and_pays_on_a_phone(app, live_server, browser, debtor_link):
    phone = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN", is_mobile=True,
                                has_touch=True)
    page = phone.new_page()
    page.goto(live_server + debtor_link["path"])
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.click("#send-code")
    page.wait_for_selector("#code-sent")
    page.fill("#code", _code(app, debtor_link["agency_id"], debtor_link["account_id"]))
    page.click("#verify")
    page.wait_for_url("**/p/home")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
    page.click("#language-switch")  # English, then on
    page.wait_for_selector("text=What you owe")

    page.click("#action-plan")
    page.fill("#instalment_count", "3")
    page.select_option("#frequency", "monthly")
    page.click("#propose-plan")
    page.wait_for_selector("#done")
    page.click("#sign-link")
    page.check("#acknowledged")
    page.fill("#typed_name", "Debtor Himself")
    page.click("#sign")
    page.wait_for_selector("text=your agreement is signed")

    page.click("#action-pay")
    page.click("#continue-to-pay")
    page.fill("#card_number", "4242 4242 4242 4242")
    page.click("#pay-button")
    page.wait_for_selector("#paid")
    phone.close()

    staff = browser.new_page(locale="en-US")
    staff.goto(f"{live_server}/login")
    staff.fill("input[name=email]", debtor_link["collector"])
    staff.fill("input[name=password]", PASSWORD)
    staff.click("#login-form button[type=submit]")
    staff.wait_for_url(f"**/t/{debtor_link['agency_slug']}/**")
    staff.goto(f"{live_server}/t/{debtor_link['agency_slug']}/queue")
    assert debtor_link["ref"] in staff.content()  # on hold by the signed plan, listed with its rule
    staff.goto(f"{live_server}/t/{debtor_link['agency_slug']}/cases/{debtor_link['account_id']}")
    timeline = staff.locator("#case-timeline").inner_text()
    assert "proposed a payment plan" in timeline and "paid online" not in timeline  # the lender's row
    assert "signed the agreement" in timeline
    staff.close()

    lender = browser.new_page(locale="en-US")
    lender.goto(f"{live_server}/login")
    lender.fill("input[name=email]", debtor_link["lender_admin"])
    lender.fill("input[name=password]", PASSWORD)
    lender.click("#login-form button[type=submit]")
    lender.wait_for_url(f"**/t/{debtor_link['lender_slug']}/**")
    lender.goto(f"{live_server}/t/{debtor_link['lender_slug']}/accounts/{debtor_link['account_id']}")
    content = lender.content()
    assert "confirmed" in content and "Card" in content
